/**
 * The decoder service: the pack's VAE decoder (loaded at start, nothing else), the blob store, the
 * JetStream worker on the `decode` queue, and the gRPC side — grpc.health.v1, reflection and
 * longshot.v1.DecoderService (GetModelInfo; RunDecode runs the same handler as the queue, without
 * NATS: no events, no result message).
 */
import { hostname } from "node:os";
import type { BlobStore } from "@longshot/blob";
import type { Logger } from "@longshot/core";
import { findFfmpeg } from "@longshot/media";
import {
  DecoderServiceGetModelInfoResponse,
  DecoderServiceService,
  defineService,
  grpcServerCredentials,
  ModelInfo,
  type RunDecodeRequest,
  type RunDecodeResponse,
  Stage,
} from "@longshot/proto";
import { createModelRuntime, loadPack, type ModelRuntime, type Pack } from "@longshot/runtime";
import { openBlobStore, type StageServer, startStageServer } from "@longshot/stage";
import type { DecoderConfig } from "./config.js";
import { DecodeStage } from "./stage.js";
import { checkDecoderTask } from "./task.js";

/** The pack graphs this service runs (and the only ones it loads). */
export const DECODER_GRAPHS = ["vaeDecoder"] as const;

/** What GetModelInfo answers: the pack, the graphs and their sessions, the runtime and memory in use. */
export function decoderModelInfo(pack: Pack, runtime: ModelRuntime, workerId: string): ModelInfo {
  const described = runtime.describe();
  const memory = runtime.memoryInfo();
  const open = new Set(described.sessions.filter((s) => s.pack === pack.id).map((s) => s.graph));
  return ModelInfo.create({
    packName: pack.name,
    packVersion: pack.version,
    stage: Stage.STAGE_DECODE,
    graphs: DECODER_GRAPHS.map((name) => {
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
export interface DecoderService extends StageServer {
  readonly pack: Pack;
  readonly runtime: ModelRuntime;
  readonly store: BlobStore;
  readonly stage: DecodeStage;
  readonly workerId: string;
}

/**
 * Checks the gRPC TLS files (LONGSHOT_GRPC_TLS_*, before anything slow), loads and verifies the pack,
 * opens the stage's sessions (failing loudly if the execution provider cannot load), opens the blob
 * store, serves gRPC on grpcHost:grpcPort, starts the queue worker (unless `worker` is off) and
 * reports SERVING.
 */
export async function startDecoderService(config: DecoderConfig, logger: Logger): Promise<DecoderService> {
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
    const vae = await runtime.load(pack, "vaeDecoder");
    logger.info({ graphs: DECODER_GRAPHS, executionProvider: config.executionProvider }, "model sessions open");
    const store = await openBlobStore(config, logger);
    const ffmpeg = await findFfmpeg();
    logger.info({ ffmpeg: ffmpeg.path, version: ffmpeg.version }, "ffmpeg found");
    const stage = new DecodeStage({
      pack,
      vae,
      store,
      workerId,
      ffmpeg,
      decodeBatch: config.decodeBatch,
      presignExpirySeconds: Math.round(config.presignExpiry / 1000),
    });

    const service = defineService(DecoderServiceService, {
      async getModelInfo() {
        return DecoderServiceGetModelInfoResponse.create({ info: decoderModelInfo(pack, runtime, workerId) });
      },
      async runDecode(request: RunDecodeRequest, call): Promise<RunDecodeResponse> {
        const task = checkDecoderTask(request.task, pack);
        const log = logger.child({ jobId: task.jobId, taskId: task.taskId, via: "grpc" });
        return { result: await stage.run(task, { signal: call.signal, logger: log }) };
      },
    });
    const serving = await startStageServer({
      config,
      logger,
      credentials,
      service,
      stage: "decode",
      name: "decoder",
      workerId,
      handle: (task, ctx) => stage.run(checkDecoderTask(task, pack), ctx),
      release: () => runtime.close(),
    });
    return { ...serving, pack, runtime, store, stage, workerId };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}
