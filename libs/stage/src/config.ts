/**
 * The configuration every stage service shares: the queue (NATS, the stage worker), telemetry, the
 * blob store and the gRPC server's TLS (`stageKitConfig`); and a stage service's whole schema
 * (`stageServiceConfig`): logging, the stage kit, where gRPC listens, the model pack and its runtime,
 * the drain, the service's own fields and its worker id.
 */
import { fileURLToPath } from "node:url";
import { s3Config } from "@longshot/blob";
import { busConfig, type StageName } from "@longshot/bus";
import { type ConfigSchema, type ConfigValues, defineConfig, grpcListenConfig, loggingConfig } from "@longshot/core";
import { grpcTlsConfig } from "@longshot/proto";
import { telemetryConfig } from "@longshot/telemetry";
import { STAGE_SERVICES } from "./stage-services.js";

/** Configuration fields of the queue, the blob store, telemetry and gRPC TLS; spread into each service's schema. */
export const stageKitConfig = defineConfig({
  ...busConfig,
  ...telemetryConfig,
  ...grpcTlsConfig,
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
  ...s3Config,
  s3AccessKey: { ...s3Config.s3AccessKey, description: "S3 access key id (required unless --blob-dir is set)" },
  s3SecretKey: { ...s3Config.s3SecretKey, description: "S3 secret key (required unless --blob-dir is set)" },
});

export type StageKitConfig = ConfigValues<typeof stageKitConfig>;

/** The bundled pack, found from this file so the default works from any working directory. */
export const BUNDLED_PACK_DIR = fileURLToPath(new URL("../../../models/packs/shapes-mini", import.meta.url));

/** The fields of every stage service before its own ones; `grpcPort` is the stage's default port. */
function stageServiceFields(grpcPort: number) {
  return defineConfig({
    ...loggingConfig,
    ...stageKitConfig,
    ...grpcListenConfig(grpcPort),
    packDir: {
      type: "string",
      env: "LONGSHOT_PACK_DIR",
      flag: "pack",
      default: BUNDLED_PACK_DIR,
      description: "Model pack directory (pack.json and its graphs)",
    },
    executionProvider: {
      type: "enum",
      values: ["cpu", "cuda"],
      env: "LONGSHOT_EXECUTION_PROVIDER",
      flag: "execution-provider",
      default: "cpu",
      description: "onnxruntime execution provider; start-up fails if cuda is asked for and cannot load",
    },
    cudaDevice: {
      type: "int",
      env: "LONGSHOT_CUDA_DEVICE",
      flag: "cuda-device",
      default: 0,
      min: 0,
      max: 63,
      description: "CUDA device ordinal (with --execution-provider=cuda)",
    },
    ortThreads: {
      type: "int",
      env: "LONGSHOT_ORT_THREADS",
      flag: "ort-threads",
      min: 1,
      max: 256,
      description: "Intra-op threads per onnxruntime session (default: onnxruntime decides)",
    },
    drainTimeout: {
      type: "duration",
      env: "LONGSHOT_DRAIN_TIMEOUT",
      flag: "drain-timeout",
      default: 30_000,
      min: 0,
      max: 3_600_000,
      description: "On SIGTERM/SIGINT, how long running gRPC calls may finish before they are cancelled",
    },
  });
}

/** The last field of every stage service (after its own ones). */
const workerIdConfig = defineConfig({
  workerId: {
    type: "string",
    env: "LONGSHOT_WORKER_ID",
    flag: "worker-id",
    description: "This process's name in task results (default <hostname>:<pid>)",
  },
});

/**
 * The configuration schema of the service of `stage`: the fields every stage service has (gRPC on the
 * stage's default port from STAGE_SERVICES), then `fields`, the service's own ones, then workerId.
 */
export function stageServiceConfig<const F extends ConfigSchema = Record<never, never>>(stage: StageName, fields?: F) {
  return defineConfig({ ...stageServiceFields(STAGE_SERVICES[stage].grpcPort), ...(fields as F), ...workerIdConfig });
}

/** What every stage service's configuration holds (`runStageService` and `startStageService` read these). */
export type StageServiceConfig = ConfigValues<ReturnType<typeof stageServiceFields> & typeof workerIdConfig>;
