/**
 * A whole stage service from what differs between them (a `StageServiceSpec`: the stage, its
 * configuration schema, the pack graphs it runs, its task check and its worker factory):
 * `startStageService` builds and serves it, `runStageService` is its `main`.
 */
import { hostname } from "node:os";
import type { BlobStore } from "@longshot/blob";
import { type StageName, stageOf } from "@longshot/bus";
import {
  type ConfigSchema,
  type ConfigValues,
  configHelp,
  createLogger,
  describeConfig,
  type Logger,
  loadConfig,
} from "@longshot/core";
import {
  type AsyncServiceImplementation,
  type CallContext,
  defineService,
  grpcServerCredentials,
  ModelInfo,
  type ServiceDefinition,
  type StageResult,
  type StageTask,
} from "@longshot/proto";
import { createModelRuntime, loadPack, type ModelRuntime, type ModelSession, type Pack } from "@longshot/runtime";
import { initTelemetry, traceLogMixin } from "@longshot/telemetry";
import { openBlobStore } from "./blob-store.js";
import type { StageServiceConfig } from "./config.js";
import type { StageRunContext } from "./stage-queue.js";
import { type StageServer, startStageServer } from "./stage-server.js";
import { STAGE_SERVICES } from "./stage-services.js";

/** What runs a stage's checked tasks (KeyframeStage, InterpolationStage, DecodeStage). */
export interface StageWorker {
  run(task: StageTask, ctx: StageRunContext): Promise<StageResult>;
}

/** What a stage's worker factory gets: the configuration, the verified pack, its open sessions, the blob store. */
export interface StageWorkerContext<C, G extends string> {
  readonly config: C;
  readonly logger: Logger;
  readonly pack: Pack;
  /** One session per graph of the spec. */
  readonly sessions: Readonly<Record<G, ModelSession>>;
  readonly store: BlobStore;
  readonly workerId: string;
}

/** What one stage service is made of beyond what they all share. */
export interface StageServiceSpec<S extends ConfigSchema, G extends string, W extends StageWorker> {
  /** Its queue and consumer; its name, gRPC API and default port come from STAGE_SERVICES. */
  readonly stage: StageName;
  /** Its configuration schema: `stageServiceConfig(stage, { …its own fields })`. */
  readonly config: S;
  /** The pack graphs it runs, and the only ones it loads (in this order). */
  readonly graphs: readonly G[];
  /**
   * Checks a task (from the queue or a gRPC call) against the contract and the pack; returns it unchanged.
   * Throws InvalidArgumentError naming the field, or PackMismatchError.
   */
  checkTask(task: StageTask | undefined, pack: Pack): StageTask;
  /** Builds the stage's worker once the pack is verified, its sessions are open and the blob store is ready. */
  createWorker(ctx: StageWorkerContext<ConfigValues<S>, G>): W | Promise<W>;
}

/** Gives `spec` its types (the graph names and the worker from its fields); returns it unchanged. */
export function defineStageService<S extends ConfigSchema, const G extends string, W extends StageWorker>(
  spec: StageServiceSpec<S, G, W>,
): StageServiceSpec<S, G, W> {
  return spec;
}

/** The stage server (gRPC, queue worker, drain: see StageServer) and what the service built for it. */
export interface StageService<W extends StageWorker> extends StageServer {
  readonly pack: Pack;
  readonly runtime: ModelRuntime;
  readonly store: BlobStore;
  readonly stage: W;
  readonly workerId: string;
}

/** What GetModelInfo answers: the pack, the stage's graphs and their sessions, the runtime and memory in use. */
export function stageModelInfo(
  stage: StageName,
  graphs: readonly string[],
  pack: Pack,
  runtime: ModelRuntime,
  workerId: string,
): ModelInfo {
  const described = runtime.describe();
  const memory = runtime.memoryInfo();
  const open = new Set(described.sessions.filter((s) => s.pack === pack.id).map((s) => s.graph));
  return ModelInfo.create({
    packName: pack.name,
    packVersion: pack.version,
    stage: stageOf(stage),
    graphs: graphs.map((name) => {
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

/**
 * Checks the gRPC TLS files (LONGSHOT_GRPC_TLS_*, before anything slow), loads and verifies the pack,
 * opens the stage's sessions (failing loudly if the execution provider cannot load), opens the blob
 * store, builds the worker, serves gRPC on grpcHost:grpcPort (grpc.health.v1, reflection and the
 * stage's API: GetModelInfo; its Run… call runs the same handler as the queue, without NATS: no
 * events, no result message), starts the queue worker (unless `worker` is off) and reports SERVING.
 */
export async function startStageService<S extends ConfigSchema, G extends string, W extends StageWorker>(
  spec: StageServiceSpec<S, G, W>,
  config: ConfigValues<S> & StageServiceConfig,
  logger: Logger,
): Promise<StageService<W>> {
  const { name, grpc, run } = STAGE_SERVICES[spec.stage];
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
    const sessions = {} as Record<G, ModelSession>;
    for (const graph of spec.graphs) sessions[graph] = await runtime.load(pack, graph);
    logger.info({ graphs: spec.graphs, executionProvider: config.executionProvider }, "model sessions open");
    const store = await openBlobStore(config, logger);
    const stage = await spec.createWorker({ config, logger, pack, sessions, store, workerId });

    // The three APIs differ only in the name of their Run… call (STAGE_SERVICES' `run`).
    const implementation = {
      async getModelInfo() {
        return { info: stageModelInfo(spec.stage, spec.graphs, pack, runtime, workerId) };
      },
      async [run](request: { task: StageTask | undefined }, call: CallContext) {
        const task = spec.checkTask(request.task, pack);
        const log = logger.child({ jobId: task.jobId, taskId: task.taskId, via: "grpc" });
        return { result: await stage.run(task, { signal: call.signal, logger: log }) };
      },
    };
    const serving = await startStageServer({
      config,
      logger,
      credentials,
      service: defineService<ServiceDefinition>(
        grpc,
        implementation as unknown as AsyncServiceImplementation<ServiceDefinition>,
      ),
      stage: spec.stage,
      name,
      workerId,
      handle: (task, ctx) => stage.run(spec.checkTask(task, pack), ctx),
      release: () => runtime.close(),
    });
    return { ...serving, pack, runtime, store, stage, workerId };
  } catch (err) {
    await runtime.close();
    throw err;
  }
}

/**
 * The `main` of a stage service: `node dist/main.js [--flags]` (see --help). Loads the configuration,
 * prints it without secrets, sets up telemetry, starts the service (startStageService), and on
 * SIGTERM/SIGINT drains: health NOT_SERVING, the queue worker stops pulling (the task in flight
 * finishes or is handed back within --stop-timeout), running gRPC calls finish (cancelled after
 * --drain-timeout), sessions freed, NATS drained, exit 0. A second signal exits at once with code 1;
 * losing the NATS connection for good exits 1.
 */
export function runStageService<S extends ConfigSchema, G extends string, W extends StageWorker>(
  spec: StageServiceSpec<S, G, W>,
): void {
  const { name } = STAGE_SERVICES[spec.stage];
  let logger: Logger | undefined;
  serveStageService(spec, (log) => {
    logger = log;
  }).catch((err: unknown) => {
    // Bad configuration (no logger yet) or a failed start-up: one clear message on stderr, exit 1.
    logger?.fatal({ err }, "start-up failed");
    process.stderr.write(`${name}-service: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/** runStageService's work until the service serves; `onLogger` gets the logger once there is one. */
async function serveStageService<S extends ConfigSchema, G extends string, W extends StageWorker>(
  spec: StageServiceSpec<S, G, W>,
  onLogger: (logger: Logger) => void,
): Promise<void> {
  const { name } = STAGE_SERVICES[spec.stage];
  if (process.argv.includes("--help")) {
    process.stdout.write(`Usage: ${name}-service [flags]\n\n${configHelp(spec.config)}\n`);
    return;
  }
  // Every schema made by stageServiceConfig holds the StageServiceConfig fields.
  const config = loadConfig(spec.config) as ConfigValues<S> & StageServiceConfig;
  const log = createLogger(name, config.logLevel, { format: config.logFormat, mixin: traceLogMixin });
  onLogger(log);
  log.info(`configuration:\n${describeConfig(spec.config, config)}`);
  const telemetry = await initTelemetry({
    serviceName: name,
    otlpEndpoint: config.otlpEndpoint,
    sampleRatio: config.traceSampleRatio,
    ...(config.metricsPort === undefined ? {} : { prometheus: { port: config.metricsPort, host: config.metricsHost } }),
    logger: log,
  });
  const service = await startStageService(spec, config, log);

  let stopping = false;
  const stop = (reason: string, code: number): void => {
    if (stopping) {
      log.warn({ reason }, "second signal: exiting without finishing the drain");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason, timeoutMs: config.drainTimeout, stopTimeoutMs: config.stopTimeout }, "draining");
    service
      .drain(config.drainTimeout)
      .then(async ({ forced }) => {
        await telemetry.shutdown().catch(() => {});
        log.info({ forced }, "stopped");
        process.exit(code);
      })
      .catch((err: unknown) => {
        log.error({ err }, "drain failed");
        process.exit(1);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM", 0));
  process.on("SIGINT", () => stop("SIGINT", 0));
  service.queue?.worker.done.catch((err: unknown) => {
    if (stopping) return;
    log.fatal({ err }, "the queue worker stopped: NATS connection lost for good");
    stop("NATS connection lost", 1);
  });
}
