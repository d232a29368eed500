/**
 * The interpolation service: the pack's interpolation UNet (loaded at start, nothing else), the blob
 * store, the JetStream worker on the `interpolation` queue, and the gRPC side — grpc.health.v1,
 * reflection and longshot.v1.InterpolationService (GetModelInfo; RunInterpolation runs the same
 * handler as the queue, without NATS: no events, no result message). Any number of interpolation
 * processes share the queue; each task is one window of one level, so replicas split a long video.
 */
import { hostname } from "node:os";
import type { BlobStore } from "@longshot/blob";
import type { Logger } from "@longshot/core";
import {
  defineService,
  grpcServerCredentials,
  InterpolationServiceGetModelInfoResponse,
  InterpolationServiceService,
  ModelInfo,
  type RunInterpolationRequest,
  type RunInterpolationResponse,
  Stage,
} from "@longshot/proto";
import { createModelRuntime, loadPack, type ModelRuntime, type Pack } from "@longshot/runtime";
import { openBlobStore, type StageServer, startStageServer } from "@longshot/stage";
import type { InterpolationConfig } from "./config.js";
import { InterpolationStage } from "./stage.js";
import { checkInterpolationTask } from "./task.js";

/** The pack graphs this service runs (and the only ones it loads). */
export const INTERPOLATION_GRAPHS = ["interpolationUnet"] as const;

/** What GetModelInfo answers: the pack, the graphs and their sessions, the runtime and memory in use. */
export function interpolationModelInfo(pack: Pack, runtime: ModelRuntime, workerId: string): ModelInfo {
  const described = runtime.describe();
  const memory = runtime.memoryInfo();
  const open = new Set(described.sessions.filter((s) => s.pack === pack.id).map((s) => s.graph));
  return ModelInfo.create({
    packName: pack.name,
    packVersion: pack.version,
    stage: Stage.STAGE_INTERPOLATION,
    graphs: INTERPOLATION_GRAPHS.map((name) => {
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
export interface InterpolationService extends StageServer {
  readonly pack: Pack;
  readonly runtime: ModelRuntime;
  readonly store: BlobStore;
  readonly stage: InterpolationStage;
  readonly workerId: string;
}

/**
 * Checks the gRPC TLS files (LONGSHOT_GRPC_TLS_*, before anything slow), loads and verifies the pack,
 * opens the stage's sessions (failing loudly if the execution provider cannot load), opens the blob
 * store, serves gRPC on grpcHost:grpcPort, starts the queue worker (unless `worker` is off) and
 * reports SERVING.
 */
export async function startInterpolationService(
  config: InterpolationConfig,
  logger: Logger,
): Promise<InterpolationService> {
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
    const unet = await runtime.load(pack, "interpolationUnet");
    logger.info({ graphs: INTERPOLATION_GRAPHS, executionProvider: config.executionProvider }, "model sessions open");
    const store = await openBlobStore(config, logger);
    const stage = new InterpolationStage({ pack, unet, store, workerId });

    const service = defineService(InterpolationServiceService, {
      async getModelInfo() {
        return InterpolationServiceGetModelInfoResponse.create({
          info: interpolationModelInfo(pack, runtime, workerId),
        });
      },
      async runInterpolation(request: RunInterpolationRequest, call): Promise<RunInterpolationResponse> {
        const task = checkInterpolationTask(request.task, pack);
        const log = logger.child({ jobId: task.jobId, taskId: task.taskId, via: "grpc" });
        return { result: await stage.run(task, { signal: call.signal, logger: log }) };
      },
    });
    const serving = await startStageServer({
      config,
      logger,
      credentials,
      service,
      stage: "interpolation",
      name: "interpolation",
      workerId,
      handle: (task, ctx) => stage.run(checkInterpolationTask(task, pack), ctx),
      release: () => runtime.close(),
    });
    return { ...serving, pack, runtime, store, stage, workerId };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}
