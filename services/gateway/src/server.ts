/**
 * The gateway process: the public longshot.v1.VideoService over gRPC (with grpc.health.v1 and
 * reflection) and the coordinator of the distributed pipeline.
 *
 * Start-up: verify the model packs; connect to NATS and create or reconcile the JetStream topology
 * (streams, consumers, the job and run buckets: `ensureTopology` of @longshot/bus); open the
 * S3 bucket and install the lifecycle backstop on `jobs/` (where the server supports it); start the
 * result consumer (`coordinator`), the DLQ consumer (`gateway`), the progress listener and the
 * reconciler; serve gRPC; report SERVING.
 *
 * Every replica runs all of it: any replica may answer any call and take any result.
 */
import { hostname } from "node:os";
import { S3BlobStore } from "@longshot/blob";
import {
  type Bus,
  busOptionsFromConfig,
  connectBus,
  type DeadLetterRecord,
  EVENTS_SUBJECT_PREFIX,
  ensureTopology,
  JobStore,
  PROGRESS_QUEUE_GROUP,
  type PullLoop,
  type ResultConsumer,
  startDeadLetterConsumer,
  startResultConsumer,
} from "@longshot/bus";
import { ConfigError, InvalidArgumentError, type Logger } from "@longshot/core";
import { checkWindowSizes } from "@longshot/engine/light";
import { checkListJobs, type GenerateLimits, generateInSpan, PackCatalog } from "@longshot/http-api";
import { loadPack, type Pack, type PackManifest } from "@longshot/pack";
import {
  type CallContext,
  type CancelJobRequest,
  createGrpcServer,
  type DrainResult,
  defineService,
  type GenerateRequest,
  type GetJobRequest,
  type GrpcServer,
  grpcServerCredentials,
  grpcServerTlsMode,
  JobEvent,
  type ListJobsRequest,
  VideoServiceService,
  type WatchJobRequest,
} from "@longshot/proto";
import { extractMetadataContext } from "@longshot/telemetry";
import type { Subscription } from "@nats-io/transport-node";
import { context } from "@opentelemetry/api";
import { type GatewayConfig, packDirs } from "./config.js";
import { type Clock, Coordinator, type PackShape, systemClock } from "./coordinator.js";
import { type HttpApi, httpsOptionsOf, s3VideoFiles, startHttpApi } from "./http-api.js";
import { JobService } from "./job-service.js";
import { RunStore } from "./run-store.js";

export interface GatewayService {
  readonly port: number;
  readonly packs: readonly Pack[];
  readonly catalog: PackCatalog;
  readonly server: GrpcServer;
  /** The HTTP JSON API (./http-api.ts); undefined with --no-http. */
  readonly http: HttpApi | undefined;
  readonly bus: Bus;
  readonly jobs: JobStore;
  readonly runs: RunStore;
  readonly store: S3BlobStore;
  readonly coordinator: Coordinator;
  readonly service: JobService;
  /**
   * Health NOT_SERVING, stop taking results, let running calls and HTTP requests finish (cancelled after
   * timeoutMs), close NATS.
   */
  drain(timeoutMs: number): Promise<DrainResult>;
}

/** What a test changes in the gateway besides its configuration. */
export interface GatewayServiceOptions {
  /** The coordinator's and reconciler's clock (task timeouts, the reconcile interval). Default systemClock. */
  clock?: Clock;
}

/** How often the reconciler runs `Coordinator.reconcile`. */
export const RECONCILE_INTERVAL_MS = 5000;

function s3StoreOf(endpoint: string, config: GatewayConfig): S3BlobStore {
  const url = new URL(endpoint);
  const useSSL = url.protocol === "https:";
  return new S3BlobStore({
    endPoint: url.hostname,
    port: url.port === "" ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: config.s3AccessKey,
    secretKey: config.s3SecretKey,
    bucket: config.s3Bucket,
    region: config.s3Region,
  });
}

function packShapeOf(manifest: PackManifest): PackShape {
  return {
    latentChannels: manifest.latent.channels,
    latentHeight: manifest.latent.height,
    latentWidth: manifest.latent.width,
    textTokens: manifest.text.maxTokens,
    textHidden: manifest.text.hiddenSize,
  };
}

/**
 * Checks the gRPC TLS files (LONGSHOT_GRPC_TLS_*), loads and verifies every configured pack, connects,
 * serves gRPC on grpcHost:grpcPort (plaintext, TLS or mutual TLS as those settings say) and reports SERVING.
 */
export async function startGatewayService(
  config: GatewayConfig,
  logger: Logger,
  options: GatewayServiceOptions = {},
): Promise<GatewayService> {
  const clock = options.clock ?? systemClock;
  const tls = grpcServerTlsMode(config);
  const credentials = grpcServerCredentials(config);
  const dirs = packDirs(config.packDir);
  if (dirs.length === 0) throw new InvalidArgumentError("packDir", "names no pack directory");
  const packs: Pack[] = [];
  for (const dir of dirs) {
    const pack = await loadPack(dir);
    logger.info({ pack: pack.id, dir: pack.dir, frames: pack.allowedFrames }, "model pack verified");
    packs.push(pack);
  }
  const limits: GenerateLimits = {
    maxPromptChars: config.maxPromptChars,
    maxSteps: config.maxSteps,
    maxGuidance: config.maxGuidance,
    maxRequestBytes: config.maxRequestBytes,
  };
  const catalog = new PackCatalog(
    packs.map((p) => p.manifest),
    limits,
  );
  const window = { frames: config.windowFrames, overlap: config.windowOverlap };
  const manifests = new Map<string, PackManifest>();
  for (const p of packs) {
    try {
      checkWindowSizes(window.frames, window.overlap, p.manifest.video.interpolationFactor, "window");
    } catch (err) {
      throw new ConfigError(
        `--window-frames ${window.frames} / --window-overlap ${window.overlap} do not fit pack ${p.id}: ${(err as Error).message}`,
      );
    }
    manifests.set(p.name, p.manifest);
  }

  const bus = await connectBus(busOptionsFromConfig(config, `gateway:${hostname()}:${process.pid}`, logger));
  const stopAc = new AbortController();
  const background: Promise<unknown>[] = [];
  let resultConsumer: ResultConsumer | undefined;
  let deadLetters: PullLoop<DeadLetterRecord> | undefined;
  let eventsSub: Subscription | undefined;
  let server: GrpcServer | undefined;
  let http: HttpApi | undefined;
  try {
    await ensureTopology(bus.js, { ackWaitMs: config.ackWait, maxDeliver: config.maxDeliver, logger });
    const jobs = await JobStore.open(bus.js, { logger, maxUpdateAttempts: 50 });
    const runs = await RunStore.open(bus.js, { logger });

    const store = s3StoreOf(config.s3Endpoint, config);
    await store.ensureBucket();
    try {
      await store.setExpiry("jobs/", config.jobObjectsExpiryDays);
      logger.info({ prefix: "jobs/", days: config.jobObjectsExpiryDays }, "lifecycle expiry rule installed");
    } catch (err) {
      logger.warn(
        { err: (err as Error).message, prefix: "jobs/" },
        "the S3 server did not take a lifecycle rule (s3rver has none; MinIO does): ended jobs are still cleaned up, without the backstop",
      );
    }
    const presigner = config.s3PublicEndpoint === undefined ? store : s3StoreOf(config.s3PublicEndpoint, config);

    const coordinator = new Coordinator({
      js: bus.js,
      jsm: bus.jsm,
      nc: bus.nc,
      jobs,
      runs,
      store,
      presigner,
      presignExpirySeconds: Math.round(config.presignExpiry / 1000),
      packShape: (name) => {
        const m = manifests.get(name);
        return m === undefined ? undefined : packShapeOf(m);
      },
      logger,
      taskTimeoutMs: config.taskTimeout,
      clock,
    });
    const service = new JobService({
      js: bus.js,
      jsm: bus.jsm,
      jobs,
      runs,
      coordinator,
      catalog,
      limits,
      manifests,
      window,
      maxActiveJobs: config.maxActiveJobs,
      logger,
    });

    const video = defineService(VideoServiceService, {
      async generate(request: GenerateRequest, call: CallContext) {
        const parent = extractMetadataContext(call.metadata, context.active());
        return generateInSpan(service, request, parent, "longshot.v1.VideoService/Generate", {
          "rpc.system": "grpc",
          "rpc.method": "Generate",
        });
      },
      async *watchJob(request: WatchJobRequest, call: CallContext) {
        for await (const event of service.watchJob(request.jobId, request.fromSequence, call.signal)) {
          yield { event };
        }
      },
      async getJob(request: GetJobRequest) {
        return { job: await service.getJob(request.jobId) };
      },
      async cancelJob(request: CancelJobRequest) {
        return { job: await service.cancelJob(request.jobId, request.reason) };
      },
      async listJobs(request: ListJobsRequest) {
        checkListJobs(request);
        return service.listJobs(request);
      },
    });
    server = createGrpcServer({ services: [video], logger, credentials });
    const port = await server.listen(`${config.grpcHost}:${config.grpcPort}`);
    if (config.httpEnabled) {
      http = await startHttpApi(
        {
          jobs: service,
          files: s3VideoFiles(store, manifests),
          packs: new Map(packs.map((p) => [p.name, p.manifest.video])),
          logger: logger.child({ component: "http" }),
          maxBodyBytes: config.httpMaxBodyBytes,
          maxBodySetting: "LONGSHOT_HTTP_MAX_BODY_BYTES, --http-max-body-bytes",
          https: httpsOptionsOf(config),
        },
        config.httpHost ?? config.grpcHost,
        config.httpPort,
      );
    }

    resultConsumer = await startResultConsumer({
      js: bus.js,
      nc: bus.nc,
      concurrency: 4,
      logger,
      signal: stopAc.signal,
      handle: (result, ctx) => coordinator.handleResult(result, ctx.logger),
      onDeadLetter: async (result, reason, record) => {
        if (result === undefined) return;
        await coordinator.fail(
          result.jobId,
          record.code || "INTERNAL",
          `the result of task ${result.taskId} could not be handled: ${reason}`,
          result.stage,
        );
      },
    });
    deadLetters = await startDeadLetterConsumer({
      js: bus.js,
      nc: bus.nc,
      logger,
      signal: stopAc.signal,
      handle: (record) => coordinator.handleDeadLetter(record),
    });
    background.push(
      resultConsumer.done.catch((err: unknown) => logger.error({ err }, "result consumer ended")),
      deadLetters.done.catch((err: unknown) => logger.error({ err }, "dead-letter consumer ended")),
    );
    eventsSub = bus.nc.subscribe(`${EVENTS_SUBJECT_PREFIX}.*`, {
      queue: PROGRESS_QUEUE_GROUP,
      callback: (_err, m) => {
        if (m === undefined) return;
        let event: JobEvent;
        try {
          event = JobEvent.decode(m.data);
        } catch {
          return;
        }
        coordinator.onJobEvent(event).catch((err: unknown) => logger.debug({ err }, "progress event not applied"));
      },
    });
    background.push(
      (async () => {
        while (!stopAc.signal.aborted) {
          await clock.sleep(RECONCILE_INTERVAL_MS, stopAc.signal);
          if (stopAc.signal.aborted) break;
          await coordinator
            .reconcile()
            .catch((err: unknown) => logger.debug({ err }, "reconcile pass failed; next pass retries"));
        }
      })(),
    );

    server.setServing(true);
    logger.info(
      {
        port,
        tls,
        httpPort: http?.port ?? null,
        packs: catalog.names,
        defaultPack: catalog.defaultPack,
        window,
        maxActiveJobs: config.maxActiveJobs,
      },
      "gateway serving",
    );

    const grpc = server;
    const api = http;
    const rc = resultConsumer;
    const dlc = deadLetters;
    const sub = eventsSub;
    let draining: Promise<DrainResult> | undefined;
    return {
      port,
      packs,
      catalog,
      server: grpc,
      http: api,
      bus,
      jobs,
      runs,
      store,
      coordinator,
      service,
      drain(timeoutMs: number) {
        // Jobs live in JetStream and the KV buckets: a gateway stopping loses none of them.
        draining ??= (async () => {
          grpc.setServing(false);
          stopAc.abort();
          sub.unsubscribe();
          const [result, httpResult] = await Promise.all([
            grpc.drain(timeoutMs),
            api?.close(timeoutMs),
            rc.stop(),
            dlc.stop(),
          ]);
          await Promise.all(background);
          await bus.drain();
          return { ...result, forced: result.forced || httpResult?.forced === true };
        })();
        return draining;
      },
    };
  } catch (err) {
    stopAc.abort();
    eventsSub?.unsubscribe();
    await resultConsumer?.stop().catch(() => {});
    await deadLetters?.stop().catch(() => {});
    await server?.drain(0).catch(() => {});
    await http?.close(0).catch(() => {});
    await bus.close().catch(() => {});
    throw err;
  }
}
