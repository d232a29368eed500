/** Configuration of the keyframe service (flags, then LONGSHOT_* environment variables, then defaults). */
import type { ConfigValues } from "@longshot/core";
import { stageServiceConfig } from "@longshot/stage";

/** The fields every stage service has (see stageServiceConfig); the keyframe service adds none. */
export const keyframeConfigSchema = stageServiceConfig("keyframe");

export type KeyframeConfig = ConfigValues<typeof keyframeConfigSchema>;
