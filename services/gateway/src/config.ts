/** Configuration of the gateway (flags, then LONGSHOT_* environment variables, then defaults). */
import { fileURLToPath } from "node:url";
import { s3Config } from "@longshot/blob";
import { busConfig } from "@longshot/bus";
import { type ConfigValues, defineConfig, loggingConfig } from "@longshot/core";
import { grpcTlsConfig } from "@longshot/proto";
import { telemetryConfig } from "@longshot/telemetry";
import { httpConfig } from "./http-config.js";

/** The bundled pack, found from this file so the default works from any working directory. */
export const BUNDLED_PACK_DIR = fileURLToPath(new URL("../../../models/packs/shapes-mini", import.meta.url));

export const gatewayConfigSchema = defineConfig({
  ...loggingConfig,
  ...busConfig,
  ...telemetryConfig,
  grpcHost: {
    type: "string",
    env: "LONGSHOT_GRPC_HOST",
    flag: "grpc-host",
    default: "0.0.0.0",
    description: "Address the gRPC server binds, and the HTTP API unless httpHost is set",
  },
  grpcPort: {
    type: "int",
    env: "LONGSHOT_GRPC_PORT",
    flag: "grpc-port",
    default: 50051,
    min: 0,
    max: 65535,
    description: "gRPC port (0 picks a free one)",
  },
  ...grpcTlsConfig,
  ...httpConfig,
  packDir: {
    type: "string",
    env: "LONGSHOT_PACK_DIR",
    flag: "pack",
    default: BUNDLED_PACK_DIR,
    description: "Model pack directories a request may name, comma-separated; the first is the default pack",
  },
  maxPromptChars: {
    type: "int",
    env: "LONGSHOT_MAX_PROMPT_CHARS",
    flag: "max-prompt-chars",
    default: 1000,
    min: 1,
    max: 100_000,
    description: "Longest prompt (and negative prompt) accepted, in characters",
  },
  maxSteps: {
    type: "int",
    env: "LONGSHOT_MAX_STEPS",
    flag: "max-steps",
    default: 150,
    min: 1,
    max: 1000,
    description: "Most denoising steps a request may ask for, per stage",
  },
  maxGuidance: {
    type: "float",
    env: "LONGSHOT_MAX_GUIDANCE",
    flag: "max-guidance",
    default: 30,
    min: 1,
    max: 100,
    description: "Largest classifier-free guidance scale a request may ask for",
  },
  maxRequestBytes: {
    type: "int",
    env: "LONGSHOT_MAX_REQUEST_BYTES",
    flag: "max-request-bytes",
    default: 16_384,
    min: 256,
    max: 4_194_304,
    description: "Largest encoded Generate request accepted",
  },
  maxActiveJobs: {
    type: "int",
    env: "LONGSHOT_MAX_ACTIVE_JOBS",
    flag: "max-active-jobs",
    default: 16,
    min: 1,
    max: 10_000,
    description:
      "Most jobs queued or running at once (all gateway replicas together); more are refused RESOURCE_EXHAUSTED",
  },
  windowFrames: {
    type: "int",
    env: "LONGSHOT_WINDOW_FRAMES",
    flag: "window-frames",
    default: 17,
    min: 2,
    max: 4096,
    description:
      "Interpolation window length in output frames (≡ 1 mod the pack's factor): a level longer than this is split into window tasks any replica may take",
  },
  windowOverlap: {
    type: "int",
    env: "LONGSHOT_WINDOW_OVERLAP",
    flag: "window-overlap",
    default: 4,
    min: 0,
    max: 4096,
    description: "Frame intervals two neighbouring windows share (≡ 0 mod the pack's factor); they are cross-faded",
  },
  ...s3Config,
  s3AccessKey: { ...s3Config.s3AccessKey, required: true },
  s3SecretKey: { ...s3Config.s3SecretKey, required: true },
  s3PublicEndpoint: {
    type: "url",
    env: "LONGSHOT_S3_PUBLIC_ENDPOINT",
    flag: "s3-public-endpoint",
    protocols: ["http", "https"],
    description:
      "S3 endpoint as clients reach it, for presigned URLs (e.g. https://media.example.com); unset: s3Endpoint",
  },
  presignExpiry: {
    type: "duration",
    env: "LONGSHOT_PRESIGN_EXPIRY",
    flag: "presign-expiry",
    default: 24 * 3_600_000,
    min: 1000,
    max: 604_800_000,
    description: "Lifetime of the presigned artifact URLs (SigV4 allows at most 7 days)",
  },
  jobObjectsExpiryDays: {
    type: "int",
    env: "LONGSHOT_JOB_OBJECTS_EXPIRY_DAYS",
    flag: "job-objects-expiry-days",
    default: 7,
    min: 1,
    max: 3650,
    description:
      "Lifecycle rule installed on jobs/ (where the S3 server supports it): the backstop that removes objects of any job after this many days",
  },
  ackWait: {
    type: "duration",
    env: "LONGSHOT_ACK_WAIT",
    flag: "ack-wait",
    default: 30_000,
    min: 1000,
    max: 3_600_000,
    description: "AckWait of the stage and result consumers (a task not heartbeated in this time is redelivered)",
  },
  maxDeliver: {
    type: "int",
    env: "LONGSHOT_MAX_DELIVER",
    flag: "max-deliver",
    default: 5,
    min: 1,
    max: 100,
    description: "Deliveries of one task before it is dead-lettered",
  },
  taskTimeout: {
    type: "duration",
    env: "LONGSHOT_TASK_TIMEOUT",
    flag: "task-timeout",
    default: 30 * 60_000,
    min: 1000,
    max: 7 * 24 * 3_600_000,
    description:
      "A published task that has no result, is no longer in its work queue and whose job has had no event for this long was lost: it is published again (twice at most), then its job fails DEADLINE_EXCEEDED. Keep it above the longest stage task and the ack wait",
  },
  drainTimeout: {
    type: "duration",
    env: "LONGSHOT_DRAIN_TIMEOUT",
    flag: "drain-timeout",
    default: 30_000,
    min: 0,
    max: 3_600_000,
    description: "On SIGTERM/SIGINT, how long running calls (WatchJob streams) may go on before they are cancelled",
  },
});

export type GatewayConfig = ConfigValues<typeof gatewayConfigSchema>;

/** The pack directories of a `packDir` value: comma-separated, blanks ignored. */
export function packDirs(value: string): string[] {
  return value
    .split(",")
    .map((d) => d.trim())
    .filter((d) => d !== "");
}
