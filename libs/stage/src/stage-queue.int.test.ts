/**
 * startStageQueue against a real nats-server: topology, the stage worker with its result, a task of
 * another pack handed back to the queue (not dead-lettered), and a clean close.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Bus,
  connectBus,
  DLQ_STREAM,
  ensureTopology,
  listDeadLetters,
  publishTask,
  RESULTS_STREAM,
  type ResultConsumer,
  startResultConsumer,
  TASKS_STREAM,
} from "@longshot/bus";
import { createLogger, loadConfig, UnavailableError } from "@longshot/core";
import { DataType, Stage, StageResult, StageTask } from "@longshot/proto";
import { startServers, type TestServers, waitFor } from "@longshot/testing";
import { stageKitConfig } from "./config.js";
import { PackMismatchError, startStageQueue } from "./stage-queue.js";

const silent = createLogger("test", "silent");

function keyframeTask(jobId: string): StageTask {
  return StageTask.create({
    jobId,
    taskId: `${jobId}/keyframe`,
    outputKey: `jobs/${jobId}/keyframes.safetensors`,
    stage: Stage.STAGE_KEYFRAME,
    packName: "shapes-mini",
    packVersion: "1.0.0",
    seed: 7n,
    params: { $case: "keyframe", value: { prompt: "a red circle", numFrames: 5 } },
  });
}

function resultFor(task: StageTask): StageResult {
  return StageResult.fromPartial({
    jobId: task.jobId,
    taskId: task.taskId,
    stage: task.stage,
    latents: {
      uri: `s3://longshot/${task.outputKey}`,
      shape: [1, 4, 5, 16, 16],
      dtype: DataType.DATA_TYPE_FLOAT32,
      sha256: "b".repeat(64),
      bytes: 20_560n,
    },
  });
}

describe("startStageQueue (real nats-server)", { timeout: 120_000 }, () => {
  let servers: TestServers<{ nats: true }>;
  let observer: Bus;
  let results: ResultConsumer;
  const received: StageResult[] = [];

  before(async () => {
    servers = (await startServers({ nats: true, log: () => {} })) as TestServers<{ nats: true }>;
    observer = await connectBus({ ...servers.nats.connectOptions(), name: "stage-queue-test" });
    // The same queue settings as config() below: the queues' ensureTopology finds nothing to change.
    await ensureTopology(observer.js, { ackWaitMs: 2000, maxDeliver: 3 });
    for (const s of [TASKS_STREAM, RESULTS_STREAM, DLQ_STREAM]) await observer.jsm.streams.purge(s);
    results = await startResultConsumer({
      js: observer.js,
      pullExpiresMs: 1000,
      logger: silent,
      handle: async (r) => {
        received.push(r);
      },
    });
  });
  after(async () => {
    await results?.stop();
    await observer?.close();
    await servers?.stop();
  });

  function config() {
    const nats = servers.nats;
    return loadConfig(stageKitConfig, {
      env: {
        LONGSHOT_NATS_URL: nats.url,
        ...(nats.user === undefined ? {} : { LONGSHOT_NATS_USER: nats.user, LONGSHOT_NATS_PASSWORD: nats.pass }),
      },
      argv: ["--ack-wait=2s", "--max-deliver=3", "--stop-timeout=1s"],
    });
  }

  it("pulls the stage's tasks and publishes each handler's result with the worker id", async () => {
    const seen: string[] = [];
    const queue = await startStageQueue({
      config: config(),
      logger: silent,
      stage: "keyframe",
      workerId: "kf-1",
      handle: async (task, ctx) => {
        seen.push(task.taskId);
        ctx.progress(1, 1);
        return resultFor(task);
      },
    });
    try {
      assert.equal(queue.worker.stage, "keyframe");
      assert.equal(queue.worker.ackWaitMs, 2000);
      await publishTask(observer.js, keyframeTask("sq1"));
      await waitFor("the result of sq1/keyframe", () => received.some((r) => r.taskId === "sq1/keyframe"), 20_000);
      const r = received.find((x) => x.taskId === "sq1/keyframe");
      assert.equal(r?.workerId, "kf-1");
      assert.deepEqual(seen, ["sq1/keyframe"]);
    } finally {
      await queue.close();
    }
    assert.equal(queue.bus.nc.isClosed(), true);
  });

  it("hands a task planned for another pack back to the queue (retried, never dead-lettered)", async () => {
    const deliveries: number[] = [];
    const queue = await startStageQueue({
      config: config(),
      logger: silent,
      stage: "keyframe",
      workerId: "kf-2",
      handle: async (task, ctx) => {
        deliveries.push(ctx.deliveryCount);
        if (ctx.deliveryCount === 1) throw new PackMismatchError(`task ${task.taskId} is for pack other-pack 9.9.9`);
        return resultFor(task);
      },
    });
    try {
      await publishTask(observer.js, keyframeTask("sq2"));
      await waitFor("the result of sq2/keyframe", () => received.some((r) => r.taskId === "sq2/keyframe"), 20_000);
      assert.deepEqual(deliveries, [1, 2]);
      assert.equal(queue.worker.stats.retried, 1);
      assert.equal(queue.worker.stats.dead_lettered, 0);
      assert.deepEqual(await listDeadLetters(observer.js, { stage: "keyframe" }), []);
    } finally {
      await queue.close();
    }
  });

  it("fails to start with UnavailableError when no NATS server answers, naming the server", async () => {
    const bad = loadConfig(stageKitConfig, { env: { LONGSHOT_NATS_URL: "nats://127.0.0.1:1" }, argv: [] });
    await assert.rejects(
      startStageQueue({
        config: bad,
        logger: silent,
        stage: "keyframe",
        workerId: "kf-3",
        handle: async (task) => resultFor(task),
      }),
      (err: unknown) => err instanceof UnavailableError && /127\.0\.0\.1:1/.test(err.message),
    );
  });
});
