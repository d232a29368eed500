/**
 * What the three stage services (keyframe, interpolation, decoder) share: the configuration of the
 * queue, the blob store and telemetry; reading input latents by reference (hash verified, errors
 * naming the task field); writing outputs under deterministic keys with the task's fingerprint, and
 * finding them again when a task runs a second time; the JetStream worker start-up.
 *
 * This file is kept identical in services/{keyframe,interpolation,decoder}/src/stage-kit.ts (the
 * services are thin shells that import only libs); it belongs in a shared package once one is made
 * for it (`cmp` of the three copies is part of each service's unit test).
 */
import { createHash } from "node:crypto";
import {
  type LatentRef as BlobLatentRef,
  type BlobStore,
  DEFAULT_TENSOR_NAME,
  FsBlobStore,
  getTensor,
  putTensor,
  S3BlobStore,
} from "@longshot/blob";
import {
  type Bus,
  busConfig,
  busOptionsFromConfig,
  connectBus,
  ensureTopology,
  JobStore,
  runStageWorker,
  type StageHandler,
  type StageName,
  type Worker,
} from "@longshot/bus";
import {
  type ConfigValues,
  defineConfig,
  IntegrityError,
  InvalidArgumentError,
  type Logger,
  LongshotError,
  NotFoundError,
  UnavailableError,
} from "@longshot/core";
import { dataTypeOf, dtypeOf, durationFromMs, type LatentRef, StageTask, type StageTimings } from "@longshot/proto";
import { telemetryConfig } from "@longshot/telemetry";
import { decodeSafetensors, type Tensor } from "@longshot/tensor";

/** Configuration fields of the queue, the blob store and telemetry; spread into each service's schema. */
export const stageKitConfig = defineConfig({
  ...busConfig,
  ...telemetryConfig,
  worker: {
    type: "bool",
    env: "LONGSHOT_WORKER",
    flag: "worker",
    default: true,
    description: "Pull tasks from the JetStream work queue (--no-worker: serve only the gRPC Run… call)",
  },
  workerConcurrency: {
    type: "int",
    env: "LONGSHOT_WORKER_CONCURRENCY",
    flag: "worker-concurrency",
    default: 1,
    min: 1,
    max: 64,
    description: "Tasks this process runs at once (1 per model worker)",
  },
  ackWait: {
    type: "duration",
    env: "LONGSHOT_ACK_WAIT",
    flag: "ack-wait",
    default: 30_000,
    min: 1000,
    max: 3_600_000,
    description: "AckWait of the stage consumers (set the same value in every process, the gateway's too)",
  },
  maxDeliver: {
    type: "int",
    env: "LONGSHOT_MAX_DELIVER",
    flag: "max-deliver",
    default: 5,
    min: 1,
    max: 100,
    description: "Deliveries of a task before it is dead-lettered (same value in every process)",
  },
  stopTimeout: {
    type: "duration",
    env: "LONGSHOT_STOP_TIMEOUT",
    flag: "stop-timeout",
    default: 30_000,
    min: 0,
    max: 3_600_000,
    description: "On SIGTERM, how long the task in flight may run before it is handed back to the queue",
  },
  blobDir: {
    type: "string",
    env: "LONGSHOT_BLOB_DIR",
    flag: "blob-dir",
    description: "Keep blobs in this directory instead of S3 (development; all processes must share it)",
  },
  s3Endpoint: {
    type: "url",
    env: "LONGSHOT_S3_ENDPOINT",
    flag: "s3-endpoint",
    default: "http://127.0.0.1:9000",
    protocols: ["http", "https"],
    description: "S3 API endpoint (MinIO), e.g. http://minio:9000",
  },
  s3Bucket: {
    type: "string",
    env: "LONGSHOT_S3_BUCKET",
    flag: "s3-bucket",
    default: "longshot",
    description: "Bucket holding latents and videos (created when missing)",
  },
  s3Region: {
    type: "string",
    env: "LONGSHOT_S3_REGION",
    flag: "s3-region",
    default: "us-east-1",
    description: "S3 region",
  },
  s3AccessKey: {
    type: "string",
    env: "LONGSHOT_S3_ACCESS_KEY",
    flag: "s3-access-key",
    description: "S3 access key id (required unless --blob-dir is set)",
  },
  s3SecretKey: {
    type: "string",
    env: "LONGSHOT_S3_SECRET_KEY",
    flag: "s3-secret-key",
    secret: true,
    description: "S3 secret key (required unless --blob-dir is set)",
  },
});

export type StageKitConfig = ConfigValues<typeof stageKitConfig>;

type BlobConfig = Pick<
  StageKitConfig,
  "blobDir" | "s3Endpoint" | "s3Bucket" | "s3Region" | "s3AccessKey" | "s3SecretKey"
>;

/** The blob store the configuration names: a directory (`blobDir`) or an S3 bucket, created when missing. */
export async function openBlobStore(config: BlobConfig, logger: Logger): Promise<BlobStore> {
  if (config.blobDir !== undefined) {
    logger.info({ dir: config.blobDir }, "blob store: directory");
    return new FsBlobStore(config.blobDir);
  }
  const missing = [
    config.s3AccessKey === undefined ? "s3AccessKey (LONGSHOT_S3_ACCESS_KEY, --s3-access-key)" : "",
    config.s3SecretKey === undefined ? "s3SecretKey (LONGSHOT_S3_SECRET_KEY, --s3-secret-key)" : "",
  ].filter((m) => m !== "");
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      missing[0]?.split(" ")[0] ?? "s3AccessKey",
      `is required for the S3 blob store (missing: ${missing.join(", ")}); or set LONGSHOT_BLOB_DIR`,
    );
  }
  const url = new URL(config.s3Endpoint);
  const useSSL = url.protocol === "https:";
  const store = new S3BlobStore({
    endPoint: url.hostname,
    port: url.port === "" ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: config.s3AccessKey as string,
    secretKey: config.s3SecretKey as string,
    bucket: config.s3Bucket,
    region: config.s3Region,
  });
  await store.ensureBucket();
  logger.info({ endpoint: config.s3Endpoint, bucket: config.s3Bucket }, "blob store: S3");
  return store;
}

/** A proto LatentRef as @longshot/blob's LatentRef. */
export function blobLatentRef(ref: LatentRef, field: string): BlobLatentRef {
  return {
    uri: ref.uri,
    shape: [...ref.shape],
    dtype: dtypeOf(ref.dtype, `${field}.dtype`),
    sha256: ref.sha256,
    bytes: Number(ref.bytes),
  };
}

/** @longshot/blob's LatentRef as a proto LatentRef. */
export function protoLatentRef(ref: BlobLatentRef): LatentRef {
  return {
    uri: ref.uri,
    shape: [...ref.shape],
    dtype: dataTypeOf(ref.dtype),
    sha256: ref.sha256,
    bytes: BigInt(ref.bytes),
  };
}

/**
 * Reads an input tensor by reference, verifying size, SHA-256, dtype and shape. Errors name the
 * task field and the object: IntegrityError (corrupt: permanent for this task), NotFoundError
 * (missing), InvalidArgumentError (`<field>.uri` not in this store), UnavailableError (retry).
 */
export async function readLatent(store: BlobStore, ref: LatentRef, field: string): Promise<Tensor> {
  const blobRef = blobLatentRef(ref, field);
  try {
    return await getTensor(store, blobRef);
  } catch (err) {
    if (err instanceof IntegrityError) throw new IntegrityError(`${field}: ${err.message}`, { cause: err });
    if (err instanceof NotFoundError) throw new NotFoundError(`${field}: ${err.message}`, { cause: err });
    if (err instanceof InvalidArgumentError) {
      throw new InvalidArgumentError(`${field}.uri`, err.message.slice(err.field.length + 2), { cause: err });
    }
    throw err;
  }
}

/** Safetensors metadata key holding the fingerprint of the task that wrote the file. */
export const FINGERPRINT_METADATA = "longshot.task";

/**
 * The fingerprint of what a task computes: SHA-256 of the task without its task id and trace context
 * (job, seed, pack, sampler, params with the input hashes). Two tasks with the same fingerprint write
 * the same output.
 */
export function taskFingerprint(task: StageTask): string {
  const bytes = StageTask.encode({ ...task, taskId: "", traceContext: {} }).finish();
  return createHash("sha256").update(bytes).digest("hex");
}

/** Writes a tensor as a safetensors object under `key`, stamped with the task's fingerprint. */
export function putLatent(store: BlobStore, key: string, tensor: Tensor, fingerprint: string): Promise<BlobLatentRef> {
  return putTensor(store, tensor, { key, metadata: { [FINGERPRINT_METADATA]: fingerprint } });
}

/**
 * The output a previous run of the same task left under `key`, when it is intact and was written
 * for this fingerprint; undefined otherwise (then the task computes it again and overwrites the key).
 * Needs the store to keep each object's SHA-256 (S3 metadata): a directory store never reuses.
 */
export async function findReusableLatent(
  store: BlobStore,
  key: string,
  fingerprint: string,
  logger: Logger,
): Promise<BlobLatentRef | undefined> {
  const stat = await statOrUndefined(store, key);
  if (stat?.sha256 === undefined) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = await store.get(store.refFor(key, stat.sha256, stat.bytes));
  } catch (err) {
    if (err instanceof IntegrityError || err instanceof NotFoundError) {
      logger.warn({ key, err: (err as Error).message }, "previous output is damaged; computing it again");
      return undefined;
    }
    throw err;
  }
  let tensors: Record<string, Tensor>;
  let metadata: Record<string, string> | undefined;
  try {
    ({ tensors, metadata } = decodeSafetensors(bytes));
  } catch {
    logger.warn({ key }, "previous output is not a safetensors file; computing it again");
    return undefined;
  }
  if (metadata?.[FINGERPRINT_METADATA] !== fingerprint) return undefined;
  const tensor = tensors[DEFAULT_TENSOR_NAME];
  if (tensor === undefined) return undefined;
  return { uri: stat.uri, shape: [...tensor.dims], dtype: tensor.dtype, sha256: stat.sha256, bytes: stat.bytes };
}

/** stat(), with a missing key as undefined. */
export async function statOrUndefined(store: BlobStore, key: string) {
  try {
    return await store.stat(key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** Where a task's time goes: reading inputs (load), model work (compute), writing outputs (store). */
export class TaskClock {
  readonly startTime = new Date();
  readonly #ms = { load: 0, compute: 0, store: 0 };

  async time<T>(phase: "load" | "compute" | "store", fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.#ms[phase] += performance.now() - t;
    }
  }

  timings(): StageTimings {
    return {
      startTime: this.startTime,
      endTime: new Date(),
      load: durationFromMs(this.#ms.load),
      compute: durationFromMs(this.#ms.compute),
      store: durationFromMs(this.#ms.store),
    };
  }
}

/** What a stage handler gets besides the task (from the queue worker or a gRPC call). */
export interface StageRunContext {
  signal?: AbortSignal | undefined;
  /** `step` of `total` steps (decode: frames) done. */
  progress?: ((step: number, total: number) => void) | undefined;
  logger: Logger;
}

/** A task planned for another pack than this process runs. */
export class PackMismatchError extends LongshotError {
  constructor(message: string) {
    super(message, { code: "FAILED_PRECONDITION" });
    this.name = "PackMismatchError";
  }
}

export interface StageQueue {
  readonly bus: Bus;
  readonly worker: Worker;
  /** Stops pulling (the task in flight finishes or is handed back within stopTimeout), then closes NATS. */
  close(): Promise<void>;
}

/**
 * Connects to NATS, creates or reconciles the topology, and starts pulling the stage's queue with
 * `handle`. A task planned for another pack goes back to the queue for a replica that has it
 * (UNAVAILABLE, retried until MaxDeliver).
 */
export async function startStageQueue(options: {
  config: StageKitConfig;
  logger: Logger;
  stage: StageName;
  workerId: string;
  handle: StageHandler;
}): Promise<StageQueue> {
  const { config, logger, stage, workerId, handle } = options;
  const bus = await connectBus(busOptionsFromConfig(config, `${stage}:${workerId}`, logger));
  try {
    await ensureTopology(bus.js, { ackWaitMs: config.ackWait, maxDeliver: config.maxDeliver, logger });
    const jobs = await JobStore.open(bus.js, { logger });
    const worker = await runStageWorker({
      js: bus.js,
      nc: bus.nc,
      consumer: stage,
      stage,
      jobs,
      concurrency: config.workerConcurrency,
      stopTimeoutMs: config.stopTimeout,
      // Idle pulls end every 2 s: a stop (SIGTERM) of an idle worker takes at most that long.
      pullExpiresMs: 2000,
      workerId,
      logger,
      handle: async (task, ctx) => {
        try {
          return await handle(task, ctx);
        } catch (err) {
          if (err instanceof PackMismatchError) {
            throw new UnavailableError(`${err.message}; handing it back for a replica that runs that pack`, {
              cause: err,
            });
          }
          throw err;
        }
      },
    });
    logger.info({ stage, concurrency: config.workerConcurrency, ackWaitMs: worker.ackWaitMs }, "pulling tasks");
    return {
      bus,
      worker,
      async close() {
        await worker.stop();
        await bus.drain();
      },
    };
  } catch (err) {
    await bus.close();
    throw err;
  }
}
