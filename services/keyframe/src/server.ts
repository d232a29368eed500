/**
 * The keyframe service: the pack's text encoder and keyframe UNet (loaded at start, nothing else),
 * the blob store, the JetStream worker on the `keyframe` queue, and the gRPC side — grpc.health.v1,
 * reflection and longshot.v1.KeyframeService (GetModelInfo; RunKeyframe runs the same handler as the
 * queue, without NATS: no events, no result message).
 */
import { hostname } from "node:os";
import type { BlobStore } from "@longshot/blob";
import type { Logger } from "@longshot/core";
import { PromptTokenizer } from "@longshot/engine";
import {
  defineService,
  grpcServerCredentials,
  KeyframeServiceGetModelInfoResponse,
  KeyframeServiceService,
  ModelInfo,
  type RunKeyframeRequest,
  type RunKeyframeResponse,
  Stage,
} from "@longshot/proto";
import { createModelRuntime, loadPack, type ModelRuntime, type Pack } from "@longshot/runtime";
import { openBlobStore, type StageServer, startStageServer } from "@longshot/stage";
import type { KeyframeConfig } from "./config.js";
import { KeyframeStage } from "./stage.js";
import { checkKeyframeTask } from "./task.js";

/** The pack graphs this service runs (and the only ones it loads). */
export const KEYFRAME_GRAPHS = ["textEncoder", "keyframeUnet"] as const;

/** What GetModelInfo answers: the pack, the graphs and their sessions, the runtime and memory in use. */
export function keyframeModelInfo(pack: Pack, runtime: ModelRuntime, workerId: string): ModelInfo {
  const described = runtime.describe();
  const memory = runtime.memoryInfo();
  const open = new Set(described.sessions.filter((s) => s.pack === pack.id).map((s) => s.graph));
  return ModelInfo.create({
    packName: pack.name,
    packVersion: pack.version,
    stage: Stage.STAGE_KEYFRAME,
    graphs: KEYFRAME_GRAPHS.map((name) => {
      const file = pack.graphFile(name);
      return { name, file: file.path, sha256: file.sha256, bytes: BigInt(file.bytes), sessionOpen: open.has(name) };
    }),
    executionProvider: described.executionProvider,
    onnxruntimeVersion: described.onnxruntimeVersion,
    memoryRssBytes: BigInt(memory.rss),
    memoryHeapUsedBytes: BigInt(memory.heapUsed),
    memoryExternalBytes: BigInt(memory.external),
    workerId,
  });
}

/** The stage server (gRPC, queue worker, drain: see StageServer) and what this service built for it. */
export interface KeyframeService extends StageServer {
  readonly pack: Pack;
  readonly runtime: ModelRuntime;
  readonly store: BlobStore;
  readonly stage: KeyframeStage;
  readonly workerId: string;
}

/**
 * Checks the gRPC TLS files (LONGSHOT_GRPC_TLS_*, before anything slow), loads and verifies the pack,
 * opens the stage's sessions (failing loudly if the execution provider cannot load), opens the blob
 * store, serves gRPC on grpcHost:grpcPort, starts the queue worker (unless `worker` is off) and
 * reports SERVING.
 */
export async function startKeyframeService(config: KeyframeConfig, logger: Logger): Promise<KeyframeService> {
  const credentials = grpcServerCredentials(config);
  const workerId = config.workerId ?? `${hostname()}:${process.pid}`;
  const pack = await loadPack(config.packDir);
  logger.info({ pack: pack.id, dir: pack.dir }, "model pack verified");
  const runtime = createModelRuntime({
    executionProvider: config.executionProvider,
    ...(config.executionProvider === "cuda" ? { deviceId: config.cudaDevice } : {}),
    ...(config.ortThreads === undefined ? {} : { threads: config.ortThreads }),
  });
  try {
    const textEncoder = await runtime.load(pack, "textEncoder");
    const unet = await runtime.load(pack, "keyframeUnet");
    const tokenizer = await PromptTokenizer.fromPack(pack);
    logger.info({ graphs: KEYFRAME_GRAPHS, executionProvider: config.executionProvider }, "model sessions open");
    const store = await openBlobStore(config, logger);
    const stage = new KeyframeStage({ pack, textEncoder, unet, tokenizer, store, workerId });

    const service = defineService(KeyframeServiceService, {
      async getModelInfo() {
        return KeyframeServiceGetModelInfoResponse.create({ info: keyframeModelInfo(pack, runtime, workerId) });
      },
      async runKeyframe(request: RunKeyframeRequest, call): Promise<RunKeyframeResponse> {
        const task = checkKeyframeTask(request.task, pack);
        const log = logger.child({ jobId: task.jobId, taskId: task.taskId, via: "grpc" });
        return { result: await stage.run(task, { signal: call.signal, logger: log }) };
      },
    });
    const serving = await startStageServer({
      config,
      logger,
      credentials,
      service,
      stage: "keyframe",
      name: "keyframe",
      workerId,
      handle: (task, ctx) => stage.run(checkKeyframeTask(task, pack), ctx),
      release: () => runtime.close(),
    });
    return { ...serving, pack, runtime, store, stage, workerId };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}
