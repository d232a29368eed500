/**
 * Tasks lost after they were published, against a real nats-server and S3 server: the gateway in
 * process on a clock the test moves (`TestClock`: the task timeout passes when the test advances past
 * it, never by waiting), and stage workers in process that speak the stage protocol of
 * @longshot/bus (`runStageWorker`: events, result publishing) around fake model outputs of the
 * right shapes, so the coordinator checks, stitches and finishes jobs as with the real services.
 *
 * - a task still waiting in its work queue is never published again, however long it waits;
 * - a task deleted from LONGSHOT_TASKS after its publish was recorded, and a task a worker
 *   acknowledged without publishing a result, are both published again (next attempt id) once the
 *   task timeout has passed, and the job completes;
 * - a task lost every time fails its job with DEADLINE_EXCEEDED after two re-publishes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Bus,
  connectBus,
  isTerminalState,
  runStageWorker,
  runWorker,
  TASKS_STREAM,
  type Worker,
} from "@longshot/bus";
import { createLogger, loadConfig } from "@longshot/core";
import { GenerateRequest, type Job, JobState, OutputFormat, Stage, StageTask } from "@longshot/proto";
import { startServers, TestClock, waitFor } from "@longshot/testing";
import { gatewayConfigSchema } from "./config.js";
import { fakeStage, recordedEvents } from "./fake-stages.js";
import type { TaskRecord } from "./run-record.js";
import { type GatewayService, RECONCILE_INTERVAL_MS, startGatewayService } from "./server.js";
import { gatewayArgs, type Servers } from "./test-args.js";

const TASK_TIMEOUT_MS = 10 * 60_000;
/**
 * Added to each advance past the task timeout: more than this file runs in real time, so the job
 * events' times (the NATS server's real clock) stay a task timeout behind the test's clock too.
 */
const SLACK_MS = 5 * 60_000;

const silent = createLogger("test", "silent");

interface Seen {
  taskId: string;
  task: StageTask;
  at: number;
}

describe("lost tasks (gateway in process, real NATS and S3, in-process stage workers)", { timeout: 180_000 }, () => {
  let servers: Servers;
  let gateway: GatewayService;
  let bus: Bus;
  const workers: Worker[] = [];
  const clock = new TestClock();

  before(async () => {
    servers = (await startServers({ nats: true, s3: true })) as Servers;
    const argv = gatewayArgs(servers, "lost-task-test", [`--task-timeout=${TASK_TIMEOUT_MS}ms`]);
    gateway = await startGatewayService(loadConfig(gatewayConfigSchema, { env: {}, argv }), silent, { clock });
    bus = await connectBus({
      servers: servers.nats.url,
      name: "lost-task-test",
      ...(servers.nats.user === undefined ? {} : { user: servers.nats.user, pass: servers.nats.pass }),
    });
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await gateway?.drain(1000);
    await bus?.close();
    await servers?.stop();
  });

  /** A stage worker as a stage service runs it; records every task it gets. */
  async function stageWorker(consumer: "keyframe" | "interpolation" | "decode", seen: Seen[]): Promise<Worker> {
    const w = await runStageWorker({
      js: bus.js,
      nc: bus.nc,
      consumer,
      logger: silent,
      pullExpiresMs: 1000,
      stopTimeoutMs: 1000,
      handle: async (task) => {
        seen.push({ taskId: task.taskId, task, at: clock.now() });
        return fakeStage(gateway.store, task);
      },
    });
    workers.push(w);
    return w;
  }

  /** A worker that acknowledges every task it gets without running it or publishing a result (it "died" after the ack). */
  async function swallower(consumer: "keyframe" | "interpolation", seen: Seen[]): Promise<Worker> {
    const w = await runWorker({
      js: bus.js,
      nc: bus.nc,
      consumer,
      logger: silent,
      pullExpiresMs: 1000,
      stopTimeoutMs: 1000,
      handle: async (task) => {
        seen.push({ taskId: task.taskId, task, at: clock.now() });
      },
    });
    workers.push(w);
    return w;
  }

  async function generate(prompt: string): Promise<string> {
    const { job } = await gateway.service.generate(GenerateRequest.create({ prompt, frames: 17 }));
    assert.ok(job);
    return job.id;
  }

  async function taskRecord(jobId: string, suffix: string): Promise<TaskRecord> {
    const t = (await gateway.runs.get(jobId)).run.tasks[`${jobId}:${suffix}`];
    assert.ok(t, `task ${suffix} of ${jobId} is recorded`);
    return t;
  }

  /** Moves the gateway's clock `ms` on, then runs the reconcile pass its reconciler runs every RECONCILE_INTERVAL_MS. */
  async function passTime(ms: number): Promise<void> {
    clock.advance(ms);
    await gateway.coordinator.reconcile();
  }

  /** The job once it ended; `each` runs before every look (time passing, say). */
  async function ended(jobId: string, timeoutMs: number, each?: () => Promise<void>): Promise<Job> {
    return waitFor(
      `job ${jobId} to end`,
      async () => {
        await each?.();
        const { job } = await gateway.jobs.get(jobId);
        return isTerminalState(job.state) && job;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  it("a task still waiting in its work queue is not published again, however long it waits", async () => {
    const jobId = await generate("queued for long");
    const published = await taskRecord(jobId, "keyframe");
    await passTime(3 * TASK_TIMEOUT_MS);
    const kf = await taskRecord(jobId, "keyframe");
    assert.equal(kf.attempt, 1);
    assert.equal(kf.republished, undefined);
    assert.equal(kf.publishedAt, published.publishedAt);
    const msg = await bus.jsm.streams.getMessage(TASKS_STREAM, { seq: kf.streamSeq });
    assert.equal(msg === null ? undefined : StageTask.decode(msg.data).taskId, `${jobId}:keyframe`);
    // Out of the way of the next tests: cancelled, and its task taken off the queue.
    await gateway.coordinator.cancel(jobId, "test done");
    await bus.jsm.streams.deleteMessage(TASKS_STREAM, kf.streamSeq);
  });

  it("a task deleted from the queue and one acked without a result are published again after the task timeout; the job completes", async () => {
    const jobId = await generate("lost twice");
    const kf1 = await taskRecord(jobId, "keyframe");
    const stored = await bus.jsm.streams.getMessage(TASKS_STREAM, { seq: kf1.streamSeq });
    assert.ok(stored, "the keyframe task is in the work queue");
    const original = StageTask.decode(stored.data);
    assert.equal(await bus.jsm.streams.deleteMessage(TASKS_STREAM, kf1.streamSeq), true);
    const lostAt = clock.now();

    // Within the timeout nothing happens.
    await passTime(TASK_TIMEOUT_MS / 2);
    const early = await taskRecord(jobId, "keyframe");
    assert.equal(early.attempt, 1, "not published again before the task timeout");
    assert.equal(early.pending, true);

    const keyframes: Seen[] = [];
    const swallowed: Seen[] = [];
    const windows: Seen[] = [];
    const decodes: Seen[] = [];
    await stageWorker("keyframe", keyframes);
    const eater = await swallower("interpolation", swallowed);
    await stageWorker("decode", decodes);
    // Past the timeout the keyframe task is published again.
    await passTime(TASK_TIMEOUT_MS / 2 + SLACK_MS);

    // The interpolation task is acked by a worker that publishes no result; then a real one takes over.
    await waitFor("the window task to be swallowed", () => swallowed.length > 0, 30_000);
    const interp1 = await taskRecord(jobId, "interp1:0-17");
    await eater.stop();
    await stageWorker("interpolation", windows);
    await passTime(TASK_TIMEOUT_MS + SLACK_MS);

    const job = await ended(jobId, 60_000);
    assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, `${job.error?.code} ${job.error?.reason}`);
    assert.equal(job.artifacts.filter((a) => a.format === OutputFormat.OUTPUT_FORMAT_MP4).length, 1);

    // Keyframe: the deleted copy never reached a worker; the re-published one did, after the timeout.
    assert.deepEqual(
      keyframes.map((s) => s.taskId),
      [`${jobId}:keyframe.r2`],
    );
    const kfAgain = keyframes[0] as Seen;
    assert.ok(kfAgain.at - Date.parse(kf1.publishedAt) >= TASK_TIMEOUT_MS, "re-published only after the timeout");
    assert.deepEqual(
      { ...kfAgain.task, taskId: "" },
      { ...original, taskId: "" },
      "the same task (output key, fingerprint), a new id",
    );
    // Window: the swallowed copy, then the re-published one.
    assert.deepEqual(
      swallowed.map((s) => s.taskId),
      [`${jobId}:interp1:0-17`],
    );
    assert.deepEqual(
      windows.map((s) => s.taskId),
      [`${jobId}:interp1:0-17.r2`],
    );
    const winAgain = windows[0] as Seen;
    assert.ok(winAgain.at - Date.parse(interp1.publishedAt) >= TASK_TIMEOUT_MS, "re-published only after the timeout");
    assert.deepEqual(
      decodes.map((s) => s.taskId),
      [`${jobId}:decode`],
    );

    const run = (await gateway.runs.get(jobId)).run;
    const summary = Object.values(run.tasks)
      .map((t) => [t.taskId.slice(jobId.length + 1), t.attempt, t.republished ?? 0, t.result !== undefined])
      .sort();
    assert.deepEqual(summary, [
      ["decode", 1, 0, true],
      ["interp1:0-17", 2, 1, true],
      ["keyframe", 2, 1, true],
    ]);
    const terminal = (await recordedEvents(bus, jobId)).filter((e) =>
      ["completed", "failed", "cancelled"].includes(e.event?.$case ?? ""),
    );
    assert.deepEqual(
      terminal.map((e) => e.event?.$case),
      ["completed"],
    );
    console.log(
      `# keyframe deleted from the queue: re-published ${((kfAgain.at - lostAt) / 1000).toFixed(1)} s later; ` +
        `window acked without a result: re-published ${((winAgain.at - (swallowed[0] as Seen).at) / 1000).toFixed(1)} s later ` +
        `(task timeout ${TASK_TIMEOUT_MS / 1000} s, on the test's clock; the gateway reconciles every ${RECONCILE_INTERVAL_MS / 1000} s)`,
    );
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  it("a task lost every time fails its job with DEADLINE_EXCEEDED after two re-publishes, naming stage and task", async () => {
    const swallowed: Seen[] = [];
    await swallower("keyframe", swallowed);
    const t0 = clock.now();
    const jobId = await generate("never comes back");
    // Each look at the job comes a task timeout later (a copy not yet taken from the queue is not lost).
    const job = await ended(jobId, 90_000, () => passTime(TASK_TIMEOUT_MS + SLACK_MS));
    const took = clock.now() - t0;
    assert.equal(job.state, JobState.JOB_STATE_FAILED);
    assert.equal(job.error?.code, "DEADLINE_EXCEEDED");
    assert.equal(job.error?.stage, Stage.STAGE_KEYFRAME);
    assert.match(
      job.error?.reason ?? "",
      new RegExp(`^keyframe task ${jobId}:keyframe was lost 3 times \\(attempt 3\\)`),
    );
    assert.match(job.error?.reason ?? "", /gave up after 2 re-publishes/);
    assert.deepEqual(
      swallowed.map((s) => s.taskId),
      [`${jobId}:keyframe`, `${jobId}:keyframe.r2`, `${jobId}:keyframe.r3`],
    );
    assert.ok(took >= 3 * TASK_TIMEOUT_MS, `failed after ${took} ms, before three task timeouts`);
    const kf = await taskRecord(jobId, "keyframe");
    assert.equal(kf.republished, 2);
    const failed = (await recordedEvents(bus, jobId)).at(-1)?.event;
    assert.ok(failed?.$case === "failed", `last event ${failed?.$case}`);
    assert.equal(failed.value.code, "DEADLINE_EXCEEDED");
    assert.equal(failed.value.stage, Stage.STAGE_KEYFRAME);
    console.log(
      `# a task lost every time: job FAILED DEADLINE_EXCEEDED after ${(took / 1000).toFixed(1)} s on the test's clock`,
    );
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });
});
