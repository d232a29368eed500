/** Configuration of the gateway (flags, then LONGSHOT_* environment variables, then defaults). */
import { fileURLToPath } from "node:url";
import { type ConfigValues, defineConfig, loggingConfig } from "@longshot/core";

/** The bundled pack, found from this file so the default works from any working directory. */
export const BUNDLED_PACK_DIR = fileURLToPath(new URL("../../../models/packs/shapes-mini", import.meta.url));

export const gatewayConfigSchema = defineConfig({
  ...loggingConfig,
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
    default: 50051,
    min: 0,
    max: 65535,
    description: "gRPC port (0 picks a free one)",
  },
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
    min: 0,
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
