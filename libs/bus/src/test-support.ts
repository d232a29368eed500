/**
 * Helpers for this package's integration tests (not exported from the package index).
 */
import { createLogger, type Logger } from "@longshot/core";
import { Stage, type StageTask } from "@longshot/proto";
import { startServers, type TestServers } from "@longshot/testing";
import { type Bus, connectBus } from "./connect.js";
import { DLQ_STREAM, EVENTS_STREAM, type StageName, TASKS_STREAM } from "./names.js";
import { sleep } from "./retry.js";
import { ensureTopology } from "./topology.js";
import type { TopologyConfig } from "./topology-config.js";

export type NatsServers = TestServers<{ nats: true; otlp: boolean }>;

/** Test log lines are off; LONGSHOT_TEST_LOG=debug (or info, warn…) sends them to stderr. */
export function testLogger(name: string): Logger {
  const level = (process.env.LONGSHOT_TEST_LOG ?? "silent") as "silent";
  return createLogger(name, level, {
    format: "json",
    destination: { write: (s: string) => void process.stderr.write(s) },
  });
}

export async function startNats(otlp = false): Promise<{ servers: NatsServers; bus: Bus }> {
  const servers = (await startServers({ nats: true, otlp, log: () => {} })) as NatsServers;
  const bus = await connectBus({
    ...servers.nats.connectOptions(),
    name: "bus-test",
    reconnectTimeWaitMs: 200,
    logger: testLogger("bus-test"),
  });
  return { servers, bus };
}

/** Applies `cfg` and empties the streams, so each test starts from clean queues. */
export async function resetTopology(bus: Bus, cfg: TopologyConfig): Promise<void> {
  await ensureTopology(bus.js, cfg);
  for (const s of [TASKS_STREAM, DLQ_STREAM, EVENTS_STREAM]) await bus.jsm.streams.purge(s);
}

const STAGE_ENUM: Record<StageName, Stage> = {
  keyframe: Stage.STAGE_KEYFRAME,
  interpolation: Stage.STAGE_INTERPOLATION,
  decode: Stage.STAGE_DECODE,
};

/** A valid task; `taskId` defaults to `<jobId>/<stage>`. */
export function makeTask(jobId: string, stage: StageName = "keyframe", taskId?: string): StageTask {
  const base: StageTask = {
    jobId,
    taskId: taskId ?? `${jobId}/${stage}`,
    outputKey: `jobs/${jobId}/${stage}.safetensors`,
    stage: STAGE_ENUM[stage],
    traceContext: {},
    packName: "shapes-mini",
    packVersion: "1",
    seed: 42n,
    sampler: undefined,
    params: undefined,
  };
  switch (stage) {
    case "keyframe":
      return {
        ...base,
        params: { $case: "keyframe", value: { prompt: "a red ball", negativePrompt: undefined, numFrames: 5 } },
      };
    case "interpolation":
      return {
        ...base,
        params: {
          $case: "interpolation",
          value: {
            inputLatents: undefined,
            textEmbeddings: undefined,
            level: 1,
            outputFrames: 17,
            windowStart: 0,
            windowEnd: 17,
            anchorFrames: [0, 4, 8, 12, 16],
            frameStride: 4,
            mode: 1,
            strength: 0.7,
            windowIndex: 0,
            windowCount: 0,
          },
        },
      };
    case "decode":
      return {
        ...base,
        params: { $case: "decode", value: { latents: undefined, frameStart: 0, frameEnd: 65, outputFormats: [1] } },
      };
  }
}

/** Waits `ms` (the bus's one sleep). */
export function delay(ms: number): Promise<void> {
  return sleep(ms);
}
