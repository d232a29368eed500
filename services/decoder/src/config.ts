/** Configuration of the decoder service (flags, then LONGSHOT_* environment variables, then defaults). */
import type { ConfigValues } from "@longshot/core";
import { stageServiceConfig } from "@longshot/stage";

/** The fields every stage service has (see stageServiceConfig) and the decoder's own. */
export const decoderConfigSchema = stageServiceConfig("decode", {
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
});

export type DecoderConfig = ConfigValues<typeof decoderConfigSchema>;
