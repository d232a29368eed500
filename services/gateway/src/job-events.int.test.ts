/**
 * The events of a job, as WatchJob serves them, against a real nats-server and S3 server: the gateway in
 * process and stage workers in process that speak the stage protocol of @longshot/bus (`runStageWorker`:
 * events, step progress, result publishing) around fake model outputs (./fake-stages.ts), two
 * interpolation replicas taking windows side by side.
 *
 * A 65-frame job of the tiny pack runs keyframe, level 1 (one task), level 2 (five windows) and decode:
 * one stage_started / stage_completed pair per stage and level, in order, each started with the
 * total_tasks of its Job.stages entry (the level's window count), and every step_progress of a level
 * carrying its window's index and the window count.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Bus, connectBus, isTerminalState, type Worker } from "@longshot/bus";
import { createLogger, loadConfig } from "@longshot/core";
import { GenerateRequest, JobState, Stage, type StageTask } from "@longshot/proto";
import { startServers, waitFor } from "@longshot/testing";
import { gatewayConfigSchema } from "./config.js";
import { fakeStage, recordedEvents, startFakeWorker } from "./fake-stages.js";
import { type GatewayService, startGatewayService } from "./server.js";
import { gatewayArgs, type Servers } from "./test-args.js";

const silent = createLogger("test", "silent");

/** The steps a fake stage reports: its sampler steps (decode: its frames). */
function stepsOf(task: StageTask): number {
  const p = task.params;
  if (p?.$case === "decode") return p.value.frameEnd - p.value.frameStart;
  return Math.max(1, task.sampler?.steps ?? 1);
}

describe("job events (gateway in process, real NATS and S3, in-process stage workers)", { timeout: 180_000 }, () => {
  let servers: Servers;
  let gateway: GatewayService;
  let bus: Bus;
  const workers: Worker[] = [];

  before(async () => {
    servers = (await startServers({ nats: true, s3: true })) as Servers;
    const argv = gatewayArgs(servers, "job-events-test");
    gateway = await startGatewayService(loadConfig(gatewayConfigSchema, { env: {}, argv }), silent);
    bus = await connectBus({
      servers: servers.nats.url,
      name: "job-events-test",
      ...(servers.nats.user === undefined ? {} : { user: servers.nats.user, pass: servers.nats.pass }),
    });
    // One keyframe and one decode worker, two interpolation replicas: windows of a level run side by side.
    for (const consumer of ["keyframe", "interpolation", "interpolation", "decode"] as const) {
      workers.push(
        await startFakeWorker(bus, consumer, async (task, ctx) => {
          const total = stepsOf(task);
          for (let step = 1; step <= total; step++) {
            await new Promise((r) => setTimeout(r, 5));
            ctx.progress(step, total);
          }
          return fakeStage(gateway.store, task);
        }),
      );
    }
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await gateway?.drain(1000);
    await bus?.close();
    await servers?.stop();
  });

  it("65 frames: one stage_started / stage_completed per stage and level, window counts in total_tasks and step events", async () => {
    const { job: queued } = await gateway.service.generate(
      GenerateRequest.create({ prompt: "events", frames: 65, keyframeSteps: 2, interpolationSteps: 3 }),
    );
    assert.ok(queued);
    const planned = queued.stages.map((s) => [s.stage, s.level, s.totalTasks]);
    assert.deepEqual(planned, [
      [Stage.STAGE_KEYFRAME, 0, 1],
      [Stage.STAGE_INTERPOLATION, 1, 1],
      [Stage.STAGE_INTERPOLATION, 2, 5],
      [Stage.STAGE_DECODE, 0, 1],
    ]);
    const job = await waitFor(
      `job ${queued.id} to end`,
      async () => {
        const { job } = await gateway.jobs.get(queued.id);
        return isTerminalState(job.state) && job;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, `${job.error?.code} ${job.error?.reason}`);

    const events = await recordedEvents(bus, job.id);
    assert.deepEqual(
      events.map((e) => e.sequence),
      events.map((_, i) => BigInt(i + 1)),
      "numbered 1, 2, 3 … without gaps",
    );
    // One pair per stage and level, in order; started carries what GetJob's stage list plans.
    const pairs = events.flatMap((e) =>
      e.event?.$case === "stageStarted"
        ? [["started", e.event.value.stage, e.event.value.level, e.event.value.totalTasks]]
        : e.event?.$case === "stageCompleted"
          ? [["completed", e.event.value.stage, e.event.value.level]]
          : [],
    );
    assert.deepEqual(
      pairs,
      planned.flatMap(([stage, level, tasks]) => [
        ["started", stage, level, tasks],
        ["completed", stage, level],
      ]),
    );
    // Each stage's step events come between its pair.
    const at = (kind: "stageStarted" | "stageCompleted", stage: Stage, level: number) =>
      events.findIndex(
        (e) => e.event?.$case === kind && e.event.value.stage === stage && e.event.value.level === level,
      );
    for (const [stage, level] of planned as Array<[Stage, number, number]>) {
      const from = at("stageStarted", stage, level);
      const to = at("stageCompleted", stage, level);
      const steps = events
        .map((e, i) => ({ e, i }))
        .filter(
          ({ e }) =>
            e.event?.$case === "stepProgress" && e.event.value.stage === stage && e.event.value.level === level,
        );
      assert.ok(steps.length > 0, `step events of ${Stage[stage]} ${level}`);
      assert.ok(
        steps.every(({ i }) => from < i && i < to),
        `${Stage[stage]} ${level}: step events between its stage_started (#${from + 1}) and stage_completed (#${to + 1})`,
      );
    }
    // Interpolation step events carry their window: frames, index and the level's window count.
    const windows = (level: number) =>
      events.flatMap((e) =>
        e.event?.$case === "stepProgress" &&
        e.event.value.stage === Stage.STAGE_INTERPOLATION &&
        e.event.value.level === level
          ? [e.event.value.window]
          : [],
      );
    assert.deepEqual(
      new Set(windows(1).map((w) => JSON.stringify(w))),
      new Set([JSON.stringify({ start: 0, end: 17, index: 0, count: 1 })]),
    );
    const level2 = windows(2);
    assert.ok(level2.every((w) => w?.count === 5 && w.start === 12 * w.index && w.end === w.start + 17));
    assert.deepEqual([...new Set(level2.map((w) => w?.index))].sort(), [0, 1, 2, 3, 4]);
    // The level's stage_completed measures the level, not one window.
    const completed2 = events[at("stageCompleted", Stage.STAGE_INTERPOLATION, 2)]?.event;
    assert.ok(completed2?.$case === "stageCompleted");
    assert.ok(completed2.value.duration !== undefined);
    assert.equal(events.at(-1)?.event?.$case, "completed");
    assert.ok(job.stages.every((s) => s.completedTasks === s.totalTasks));
  });
});
