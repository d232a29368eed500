/**
 * The decoder service's gRPC side: grpc.health.v1, reflection and longshot.v1.DecoderService
 * (GetModelInfo, RunDecode) over the pack's VAE decoder, loaded at start.
 */
import { hostname } from "node:os";
import { type Logger, LongshotError } from "@longshot/core";
import {
  createGrpcServer,
  DecoderServiceGetModelInfoResponse,
  DecoderServiceService,
  type DrainResult,
  defineService,
  type GrpcServer,
  ModelInfo,
  type RunDecodeRequest,
  type RunDecodeResponse,
  Stage,
} from "@longshot/proto";
import { createModelRuntime, loadPack, type ModelRuntime, type ModelSession, type Pack } from "@longshot/runtime";
import type { DecoderConfig } from "./config.js";
import { checkDecoderTask } from "./task.js";

/** The pack graphs this service runs (and the only ones it loads). */
export const DECODER_GRAPHS = ["vaeDecoder"] as const;

/** Why RunDecode answers UNIMPLEMENTED for now. */
export const RUN_DECODE_UNIMPLEMENTED =
  "RunDecode is not wired yet: the decode stage function and the MP4/GIF/PNG writers come with the engine issue (#4) " +
  "and are connected to this service, with the blob store for latents and artifacts, in the distributed-pipeline issue (#5)";

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

export interface DecoderService {
  readonly port: number;
  readonly pack: Pack;
  readonly runtime: ModelRuntime;
  readonly server: GrpcServer;
  readonly workerId: string;
  /** Health NOT_SERVING, finish running calls (cancelled after timeoutMs), free the model sessions. */
  drain(timeoutMs: number): Promise<DrainResult>;
}

/**
 * Loads and verifies the pack, opens the stage's sessions (failing loudly if the execution provider
 * cannot load), serves gRPC on grpcHost:grpcPort and reports SERVING.
 */
export async function startDecoderService(config: DecoderConfig, logger: Logger): Promise<DecoderService> {
  const workerId = config.workerId ?? `${hostname()}:${process.pid}`;
  const pack = await loadPack(config.packDir);
  logger.info({ pack: pack.id, dir: pack.dir }, "model pack verified");
  const runtime = createModelRuntime({
    executionProvider: config.executionProvider,
    ...(config.executionProvider === "cuda" ? { deviceId: config.cudaDevice } : {}),
    ...(config.ortThreads === undefined ? {} : { threads: config.ortThreads }),
  });
  try {
    const sessions: ModelSession[] = [];
    for (const graph of DECODER_GRAPHS) sessions.push(await runtime.load(pack, graph));
    logger.info(
      { graphs: sessions.map((s) => s.name), executionProvider: config.executionProvider },
      "model sessions open",
    );

    const service = defineService(DecoderServiceService, {
      async getModelInfo() {
        return DecoderServiceGetModelInfoResponse.create({ info: decoderModelInfo(pack, runtime, workerId) });
      },
      async runDecode(request: RunDecodeRequest): Promise<RunDecodeResponse> {
        checkDecoderTask(request.task, pack);
        throw new LongshotError(RUN_DECODE_UNIMPLEMENTED, { code: "UNIMPLEMENTED" });
      },
    });
    const server = createGrpcServer({ services: [service], logger });
    const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`);
    server.setServing(true);
    logger.info({ port, workerId }, "decoder service serving");

    let draining: Promise<DrainResult> | undefined;
    return {
      port,
      pack,
      runtime,
      server,
      workerId,
      drain(timeoutMs: number) {
        draining ??= (async () => {
          server.setServing(false);
          // The JetStream worker (distributed-pipeline issue) stops pulling here and hands back or
          // finishes its task before the sessions are freed.
          const result = await server.drain(timeoutMs);
          await runtime.close();
          return result;
        })();
        return draining;
      },
    };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}
