/**
 * runStageWorker against a real nats-server: job events around a task, the result on
 * longshot.results.<stage>, and skipping tasks of finished jobs.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { IntegrityError } from "@longshot/core";
import { DataType, Job, type JobEvent, JobState, Stage, StageResult, type StageTask } from "@longshot/proto";
import { waitFor } from "@longshot/testing";
import type { Bus } from "./connect.js";
import { listDeadLetters } from "./dead-letter.js";
import { replayEvents } from "./events.js";
import { JobStore } from "./job-store.js";
import { RESULTS_STREAM } from "./names.js";
import { publishTask } from "./publish.js";
import { type ResultConsumer, startResultConsumer } from "./results.js";
import { runStageWorker, taskPosition } from "./stage-worker.js";
import { delay, makeTask, type NatsServers, resetTopology, startNats, testLogger } from "./test-support.js";
import type { Worker } from "./worker.js";

function resultFor(task: StageTask): StageResult {
  return StageResult.fromPartial({
    jobId: task.jobId,
    taskId: task.taskId,
    stage: task.stage,
    latents: {
      uri: `s3://longshot/${task.outputKey}`,
      shape: [1, 4, 9, 16, 16],
      dtype: DataType.DATA_TYPE_FLOAT32,
      sha256: "b".repeat(64),
      bytes: 37_000n,
    },
  });
}

async function eventsOf(bus: Bus, jobId: string): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 1500);
  for await (const ev of replayEvents(bus.js, jobId, 1, { signal: ac.signal, untilTerminal: false })) out.push(ev);
  clearTimeout(timer);
  return out;
}

describe("runStageWorker (real nats-server)", { timeout: 90_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;
  let results: ResultConsumer;
  const received: StageResult[] = [];
  const workers: Worker[] = [];

  before(async () => {
    ({ servers, bus } = await startNats());
    await resetTopology(bus, { ackWaitMs: 2000, maxDeliver: 3 });
    await bus.jsm.streams.purge(RESULTS_STREAM);
    results = await startResultConsumer({
      js: bus.js,
      pullExpiresMs: 1000,
      logger: testLogger("results"),
      handle: async (r) => {
        received.push(r);
      },
    });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });
  after(async () => {
    await results?.stop();
    await bus?.close();
    await servers?.stop();
  });

  /** A worker whose tasks run 20 steps of 25 ms, reporting each step. */
  function steppingWorker(consumer: "keyframe" | "interpolation") {
    return runStageWorker({
      js: bus.js,
      consumer,
      pullExpiresMs: 1000,
      progressIntervalMs: 200,
      workerId: "test-host/42",
      logger: testLogger("stage-worker"),
      handle: async (task, ctx) => {
        for (let step = 1; step <= 20; step++) {
          await delay(25);
          ctx.progress(step, 20);
        }
        return resultFor(task);
      },
    });
  }

  it("reports stage_started, throttled step_progress and stage_completed, then publishes the result", async () => {
    const w = await steppingWorker("keyframe");
    workers.push(w);
    const task = makeTask("ev1", "keyframe", "ev1/keyframe");
    await publishTask(bus.js, task);
    await waitFor("the result", () => received.some((r) => r.taskId === task.taskId));
    const result = received.find((r) => r.taskId === task.taskId);
    assert.equal(result?.workerId, "test-host/42");
    assert.equal(result?.latents?.sha256, "b".repeat(64));

    const events = await eventsOf(bus, "ev1");
    const kinds = events.map((e) => e.event?.$case);
    assert.equal(kinds[0], "stageStarted");
    assert.equal(kinds[kinds.length - 1], "stageCompleted");
    assert.equal(kinds.filter((k) => k === "stageStarted" || k === "stageCompleted").length, 2);
    const steps = events.flatMap((e) => (e.event?.$case === "stepProgress" ? [e.event.value] : []));
    // 20 steps in ~500 ms with one event per 200 ms at most: a handful, the last one being step 20.
    assert.ok(steps.length >= 2 && steps.length <= 6, `step events: ${steps.map((s) => s.step).join(",")}`);
    assert.deepEqual(
      steps.map((s) => s.step),
      [...steps.map((s) => s.step)].sort((a, b) => a - b),
    );
    const last = steps[steps.length - 1];
    assert.deepEqual(
      { step: last?.step, total: last?.total, level: last?.level, window: last?.window, taskId: last?.taskId },
      { step: 20, total: 20, level: 0, window: undefined, taskId: "ev1/keyframe" },
    );
    assert.equal(last?.stage, Stage.STAGE_KEYFRAME);
    const started = events[0]?.event;
    assert.ok(started?.$case === "stageStarted");
    assert.deepEqual(started.value, { stage: Stage.STAGE_KEYFRAME, level: 0, totalTasks: 1 });
    assert.deepEqual(
      events.map((e) => e.sequence),
      events.map((_, i) => BigInt(i + 1)),
    );
  });

  it("an interpolation window reports only step_progress, with its window, index and the level's window count", async () => {
    const w = await steppingWorker("interpolation");
    workers.push(w);
    const task = makeTask("ev2", "interpolation", "ev2/interp1/w4-13");
    const windowTask: StageTask = {
      ...task,
      params:
        task.params?.$case === "interpolation"
          ? {
              $case: "interpolation",
              value: { ...task.params.value, windowStart: 4, windowEnd: 13, windowIndex: 1, windowCount: 3 },
            }
          : task.params,
    };
    await publishTask(bus.js, windowTask);
    await waitFor("the result", () => received.some((r) => r.taskId === windowTask.taskId));
    const result = received.find((r) => r.taskId === windowTask.taskId);
    assert.equal(result?.windowStart, 4);
    assert.equal(result?.windowEnd, 13);

    // The level's stage_started / stage_completed pair is the gateway's (it knows the plan).
    const events = await eventsOf(bus, "ev2");
    assert.deepEqual(new Set(events.map((e) => e.event?.$case)), new Set(["stepProgress"]));
    const steps = events.flatMap((e) => (e.event?.$case === "stepProgress" ? [e.event.value] : []));
    const last = steps[steps.length - 1];
    assert.deepEqual(
      { step: last?.step, total: last?.total, level: last?.level, window: last?.window, taskId: last?.taskId },
      { step: 20, total: 20, level: 1, window: { start: 4, end: 13, index: 1, count: 3 }, taskId: "ev2/interp1/w4-13" },
    );
    assert.ok(steps.every((s) => s.stage === Stage.STAGE_INTERPOLATION && s.window?.count === 3));
  });

  it("publishes no result and no stage_completed when the handler fails; the task is dead-lettered", async () => {
    const w = await runStageWorker({
      js: bus.js,
      consumer: "decode",
      pullExpiresMs: 1000,
      logger: testLogger("stage-worker"),
      handle: async (task, ctx) => {
        ctx.progress(1, 4);
        throw new IntegrityError(`input ${task.outputKey} is corrupt`);
      },
    });
    workers.push(w);
    await publishTask(bus.js, makeTask("fail1", "decode"));
    await waitFor("the dead letter", () => w.stats.dead_lettered === 1);
    await delay(300);
    assert.ok(!received.some((r) => r.jobId === "fail1"));
    const kinds = (await eventsOf(bus, "fail1")).map((e) => e.event?.$case);
    assert.deepEqual(kinds, ["stageStarted", "stepProgress"]);
    const dlq = await listDeadLetters(bus.js, { stage: "decode" });
    assert.match(
      dlq.find((r) => r.jobId === "fail1")?.reason ?? "",
      /input jobs\/fail1\/decode.safetensors is corrupt/,
    );
  });

  it("skips the tasks of a job whose record is in a terminal state (jobs option)", async () => {
    const jobs = await JobStore.open(bus.js);
    await jobs.create(Job.fromPartial({ id: "gone1", state: JobState.JOB_STATE_QUEUED, request: { prompt: "p" } }));
    await jobs.update("gone1", (j) => ({ ...j, state: JobState.JOB_STATE_CANCELLED }));
    const ran: string[] = [];
    const w = await runStageWorker({
      js: bus.js,
      consumer: "keyframe",
      pullExpiresMs: 1000,
      jobs,
      logger: testLogger("stage-worker"),
      handle: async (task) => {
        ran.push(task.jobId);
        return resultFor(task);
      },
    });
    workers.push(w);
    await publishTask(bus.js, makeTask("gone1", "keyframe"));
    await publishTask(bus.js, makeTask("live1", "keyframe")); // no record: runs
    await waitFor("both settled", () => w.stats.cancelled === 1 && w.stats.acked === 1);
    assert.deepEqual(ran, ["live1"]);
    assert.equal((await eventsOf(bus, "gone1")).length, 0);
    await waitFor("the live result", () => received.some((r) => r.jobId === "live1"));
    assert.equal((await bus.jsm.streams.info(RESULTS_STREAM)).state.messages, 0);
  });

  it("derives a task's position from its params", () => {
    assert.deepEqual(taskPosition(makeTask("p", "keyframe")), {
      stage: Stage.STAGE_KEYFRAME,
      level: 0,
      window: undefined,
      totalTasks: 1,
    });
    // A whole pass: window 0 of 1, even from a gateway that did not set window_index / window_count.
    assert.deepEqual(taskPosition(makeTask("p", "interpolation")), {
      stage: Stage.STAGE_INTERPOLATION,
      level: 1,
      window: { start: 0, end: 17, index: 0, count: 1 },
      totalTasks: 1,
    });
    const w = makeTask("p", "interpolation");
    const p = w.params;
    assert.ok(p?.$case === "interpolation");
    const window = (windowIndex: number, windowCount: number): StageTask => ({
      ...w,
      params: {
        $case: "interpolation",
        value: { ...p.value, outputFrames: 65, windowStart: 12, windowEnd: 29, windowIndex, windowCount },
      },
    });
    assert.deepEqual(taskPosition(window(1, 5)), {
      stage: Stage.STAGE_INTERPOLATION,
      level: 1,
      window: { start: 12, end: 29, index: 1, count: 5 },
      totalTasks: 5,
    });
    assert.deepEqual(taskPosition(window(0, 0)).window, { start: 12, end: 29, index: 0, count: 0 });
  });
});
