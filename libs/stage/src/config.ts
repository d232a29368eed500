/**
 * The configuration every stage service shares: the queue (NATS, the stage worker), telemetry, the
 * blob store and the gRPC server's TLS. Each service spreads `stageKitConfig` into its own schema
 * (and adds where gRPC listens: grpcHost, grpcPort).
 */
import { s3Config } from "@longshot/blob";
import { busConfig } from "@longshot/bus";
import { type ConfigValues, defineConfig } from "@longshot/core";
import { grpcTlsConfig } from "@longshot/proto";
import { telemetryConfig } from "@longshot/telemetry";

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
