/** Conversions between generated messages and the rest of longshot. */
import { InvalidArgumentError } from "@longshot/core";
import type { DType } from "@longshot/tensor";
import type { Duration } from "./gen/google/protobuf/duration.js";
import { DataType, dataTypeToJSON, Mode, Sampler } from "./gen/longshot/v1/common.js";

/** A google.protobuf.Duration of `ms` milliseconds (non-negative, finite). */
export function durationFromMs(ms: number): Duration {
  if (!(Number.isFinite(ms) && ms >= 0))
    throw new InvalidArgumentError("ms", `must be a finite number >= 0, got ${ms}`);
  const whole = Math.floor(ms / 1000);
  return { seconds: BigInt(whole), nanos: Math.round((ms - whole * 1000) * 1e6) };
}

/** Milliseconds of a google.protobuf.Duration. */
export function durationToMs(duration: Duration): number {
  return Number(duration.seconds) * 1000 + duration.nanos / 1e6;
}

const TO_DTYPE: ReadonlyMap<DataType, DType> = new Map([
  [DataType.DATA_TYPE_FLOAT32, "float32"],
  [DataType.DATA_TYPE_FLOAT16, "float16"],
  [DataType.DATA_TYPE_INT32, "int32"],
  [DataType.DATA_TYPE_INT64, "int64"],
]);

/** The tensor dtype of a LatentRef's dtype; `field` names the message field in the error. */
export function dtypeOf(dataType: DataType, field = "dtype"): DType {
  const dtype = TO_DTYPE.get(dataType);
  if (!dtype) throw new InvalidArgumentError(field, `unsupported tensor data type ${dataTypeToJSON(dataType)}`);
  return dtype;
}

/** The proto DataType of a tensor dtype. */
export function dataTypeOf(dtype: DType): DataType {
  for (const [dataType, d] of TO_DTYPE) if (d === dtype) return dataType;
  throw new InvalidArgumentError("dtype", `unknown dtype ${String(dtype)}`);
}

/** Sampler names as the CLI spells them (`--sampler`), with the enum each stands for. */
export const SAMPLER_NAMES: ReadonlyMap<string, Sampler> = new Map([
  ["ddim", Sampler.SAMPLER_DDIM],
  ["euler", Sampler.SAMPLER_EULER],
  ["euler-a", Sampler.SAMPLER_EULER_ANCESTRAL],
  ["dpm++2m", Sampler.SAMPLER_DPMPP_2M],
]);

/** Spellings folded to one key: lower case, only letters and digits ("euler_ancestral" → "eulerancestral"). */
function fold(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

const SAMPLER_ALIASES: ReadonlyMap<string, Sampler> = new Map([
  ["ddim", Sampler.SAMPLER_DDIM],
  ["euler", Sampler.SAMPLER_EULER],
  ["eulera", Sampler.SAMPLER_EULER_ANCESTRAL],
  ["eulerancestral", Sampler.SAMPLER_EULER_ANCESTRAL],
  ["dpm2m", Sampler.SAMPLER_DPMPP_2M], // "dpm++2m"
  ["dpmpp2m", Sampler.SAMPLER_DPMPP_2M], // "dpmpp_2m" (pack.json identifiers)
  ["dpmsolver2m", Sampler.SAMPLER_DPMPP_2M],
]);

/**
 * The Sampler a name stands for: CLI spellings ("euler-a", "dpm++2m"), pack.json identifiers
 * ("euler_ancestral", "dpmpp_2m") and enum names ("SAMPLER_DDIM"); undefined for anything else.
 */
export function samplerFromName(name: string): Sampler | undefined {
  const key = fold(name.replace(/^SAMPLER_/i, ""));
  return SAMPLER_ALIASES.get(key);
}

/** The CLI spelling of a sampler ("ddim", "euler", "euler-a", "dpm++2m"). */
export function samplerName(sampler: Sampler): string {
  for (const [name, value] of SAMPLER_NAMES) if (value === sampler) return name;
  throw new InvalidArgumentError("sampler", `has no name: ${String(sampler)}`);
}

/** The Mode a name stands for ("pinned", "seed", "MODE_PINNED"); undefined for anything else. */
export function modeFromName(name: string): Mode | undefined {
  switch (fold(name.replace(/^MODE_/i, ""))) {
    case "pinned":
      return Mode.MODE_PINNED;
    case "seed":
      return Mode.MODE_SEED;
    default:
      return undefined;
  }
}
