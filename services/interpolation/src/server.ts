/**
 * The interpolation service's gRPC side: grpc.health.v1, reflection and longshot.v1.InterpolationService
 * (GetModelInfo, RunInterpolation) over the pack's interpolation UNet, loaded at start. Any number
 * of interpolation processes may run; each takes whole levels or single windows of a level.
 */
import { hostname } from "node:os";
import { type Logger, LongshotError } from "@longshot/core";
import {
  createGrpcServer,
  type DrainResult,
  defineService,
  type GrpcServer,
  InterpolationServiceGetModelInfoResponse,
  InterpolationServiceService,
  ModelInfo,
  type RunInterpolationRequest,
  type RunInterpolationResponse,
  Stage,
} from "@longshot/proto";
import { createModelRuntime, loadPack, type ModelRuntime, type ModelSession, type Pack } from "@longshot/runtime";
import type { InterpolationConfig } from "./config.js";
import { checkInterpolationTask } from "./task.js";

/** The pack graphs this service runs (and the only ones it loads). */
export const INTERPOLATION_GRAPHS = ["interpolationUnet"] as const;

/** Why RunInterpolation answers UNIMPLEMENTED for now. */
export const RUN_INTERPOLATION_UNIMPLEMENTED =
  "RunInterpolation is not wired yet: the (windowed) interpolation stage function comes with the engine issue (#4) " +
  "and is connected to this service, with the blob store for its input and output latents, in the distributed-pipeline issue (#5)";

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

export interface InterpolationService {
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
export async function startInterpolationService(
  config: InterpolationConfig,
  logger: Logger,
): Promise<InterpolationService> {
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
    for (const graph of INTERPOLATION_GRAPHS) sessions.push(await runtime.load(pack, graph));
    logger.info(
      { graphs: sessions.map((s) => s.name), executionProvider: config.executionProvider },
      "model sessions open",
    );

    const service = defineService(InterpolationServiceService, {
      async getModelInfo() {
        return InterpolationServiceGetModelInfoResponse.create({
          info: interpolationModelInfo(pack, runtime, workerId),
        });
      },
      async runInterpolation(request: RunInterpolationRequest): Promise<RunInterpolationResponse> {
        checkInterpolationTask(request.task, pack);
        throw new LongshotError(RUN_INTERPOLATION_UNIMPLEMENTED, { code: "UNIMPLEMENTED" });
      },
    });
    const server = createGrpcServer({ services: [service], logger });
    const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`);
    server.setServing(true);
    logger.info({ port, workerId }, "interpolation service serving");

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
