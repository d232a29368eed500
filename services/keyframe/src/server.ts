/**
 * The keyframe service's gRPC side: grpc.health.v1, reflection and longshot.v1.KeyframeService
 * (GetModelInfo, RunKeyframe) over the pack's text encoder and keyframe UNet, loaded at start.
 */
import { hostname } from "node:os";
import { type Logger, LongshotError } from "@longshot/core";
import {
  createGrpcServer,
  type DrainResult,
  defineService,
  type GrpcServer,
  KeyframeServiceGetModelInfoResponse,
  KeyframeServiceService,
  ModelInfo,
  type RunKeyframeRequest,
  type RunKeyframeResponse,
  Stage,
} from "@longshot/proto";
import { createModelRuntime, loadPack, type ModelRuntime, type ModelSession, type Pack } from "@longshot/runtime";
import type { KeyframeConfig } from "./config.js";
import { checkKeyframeTask } from "./task.js";

/** The pack graphs this service runs (and the only ones it loads). */
export const KEYFRAME_GRAPHS = ["textEncoder", "keyframeUnet"] as const;

/** Why RunKeyframe answers UNIMPLEMENTED for now. */
export const RUN_KEYFRAME_UNIMPLEMENTED =
  "RunKeyframe is not wired yet: the keyframe stage function comes with the engine issue (#4) and is connected " +
  "to this service, with the blob store for its output latents, in the distributed-pipeline issue (#5)";

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

export interface KeyframeService {
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
export async function startKeyframeService(config: KeyframeConfig, logger: Logger): Promise<KeyframeService> {
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
    for (const graph of KEYFRAME_GRAPHS) sessions.push(await runtime.load(pack, graph));
    logger.info(
      { graphs: sessions.map((s) => s.name), executionProvider: config.executionProvider },
      "model sessions open",
    );

    const service = defineService(KeyframeServiceService, {
      async getModelInfo() {
        return KeyframeServiceGetModelInfoResponse.create({ info: keyframeModelInfo(pack, runtime, workerId) });
      },
      async runKeyframe(request: RunKeyframeRequest): Promise<RunKeyframeResponse> {
        checkKeyframeTask(request.task, pack);
        throw new LongshotError(RUN_KEYFRAME_UNIMPLEMENTED, { code: "UNIMPLEMENTED" });
      },
    });
    const server = createGrpcServer({ services: [service], logger });
    const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`);
    server.setServing(true);
    logger.info({ port, workerId }, "keyframe service serving");

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
