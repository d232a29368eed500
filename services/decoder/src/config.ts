/** Configuration of the decoder service (flags, then LONGSHOT_* environment variables, then defaults). */
import { fileURLToPath } from "node:url";
import { type ConfigValues, defineConfig, loggingConfig } from "@longshot/core";
import { stageKitConfig } from "@longshot/stage";

/** The bundled pack, found from this file so the default works from any working directory. */
export const BUNDLED_PACK_DIR = fileURLToPath(new URL("../../../models/packs/shapes-mini", import.meta.url));

export const decoderConfigSchema = defineConfig({
  ...loggingConfig,
  ...stageKitConfig,
  grpcHost: {
    type: "string",
    env: "LONGSHOT_GRPC_HOST",
    flag: "grpc-host",
    default: "0.0.0.0",
    description: "Address the gRPC server binds",
  },
  grpcPort: {
    type: "int",
    env: "LONGSHOT_GRPC_PORT",
    flag: "grpc-port",
    default: 50054,
    min: 0,
    max: 65535,
    description: "gRPC port (0 picks a free one)",
  },
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
  decodeBatch: {
    type: "int",
    env: "LONGSHOT_DECODE_BATCH",
    flag: "decode-batch",
    default: 16,
    min: 1,
    max: 256,
    description: "Frames per VAE decoder call (bounds the decoder's memory)",
  },
  presignExpiry: {
    type: "duration",
    env: "LONGSHOT_PRESIGN_EXPIRY",
    flag: "presign-expiry",
    default: 24 * 3_600_000,
    min: 0,
    max: 7 * 24 * 3_600_000,
    description: "Lifetime of the presigned GET URLs of the artifacts (0: none; at most 7 days, the SigV4 limit)",
  },
  workerId: {
    type: "string",
    env: "LONGSHOT_WORKER_ID",
    flag: "worker-id",
    description: "This process's name in task results (default <hostname>:<pid>)",
  },
});

export type DecoderConfig = ConfigValues<typeof decoderConfigSchema>;
