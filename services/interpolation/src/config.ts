/** Configuration of the interpolation service (flags, then LONGSHOT_* environment variables, then defaults). */
import type { ConfigValues } from "@longshot/core";
import { stageServiceConfig } from "@longshot/stage";

/** The fields every stage service has (see stageServiceConfig); the interpolation service adds none. */
export const interpolationConfigSchema = stageServiceConfig("interpolation");

export type InterpolationConfig = ConfigValues<typeof interpolationConfigSchema>;
