import { InvalidArgumentError } from "@longshot/core";

/**
 * A scheduler configuration as found in a diffusers `scheduler_config.json`: snake_case keys, JSON
 * values. Keys a scheduler does not know (`_class_name`, `_diffusers_version`, another scheduler's
 * options such as PNDM's `skip_prk_steps`) are ignored, as `SchedulerMixin.from_config` does; a JSON
 * `null` means "use the default". Every known key is type- and range-checked up front, and a bad value
 * raises an {@link InvalidArgumentError} whose `field` is the key.
 */
export type SchedulerConfigInput = Readonly<Record<string, unknown>>;

export const BETA_SCHEDULES = ["linear", "scaled_linear", "squaredcos_cap_v2"] as const;
export type BetaSchedule = (typeof BETA_SCHEDULES)[number];

export const TIMESTEP_SPACINGS = ["leading", "trailing", "linspace"] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

/** The keys every scheduler here shares: the training noise schedule. */
export interface BetaScheduleConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  trained_betas: readonly number[] | null;
  rescale_betas_zero_snr: boolean;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
}

export function asConfigObject(raw: unknown): SchedulerConfigInput {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new InvalidArgumentError("scheduler_config", `must be a JSON object, got ${describe(raw)}`);
  }
  return raw as SchedulerConfigInput;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return typeof v;
}

function present(raw: SchedulerConfigInput, key: string): boolean {
  return Object.hasOwn(raw, key) && raw[key] !== null && raw[key] !== undefined;
}

export function readBool(raw: SchedulerConfigInput, key: string, def: boolean): boolean {
  if (!present(raw, key)) return def;
  const v = raw[key];
  if (typeof v !== "boolean") throw new InvalidArgumentError(key, `must be true or false, got ${describe(v)}`);
  return v;
}

export function readInt(
  raw: SchedulerConfigInput,
  key: string,
  def: number,
  range: { min?: number; max?: number } = {},
): number {
  if (!present(raw, key)) return def;
  const v = raw[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new InvalidArgumentError(key, `must be an integer, got ${describe(v)}`);
  }
  checkRange(key, v, range);
  return v;
}

export function readNumber(
  raw: SchedulerConfigInput,
  key: string,
  def: number,
  range: { min?: number; max?: number; maxExclusive?: number } = {},
): number {
  if (!present(raw, key)) return def;
  const v = raw[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new InvalidArgumentError(key, `must be a finite number, got ${describe(v)}`);
  }
  checkRange(key, v, range);
  return v;
}

/** A number that may be absent (`null`), e.g. `sigma_min`. */
export function readOptionalNumber(
  raw: SchedulerConfigInput,
  key: string,
  range: { min?: number; max?: number; minExclusive?: number } = {},
): number | null {
  if (!present(raw, key)) return null;
  const v = raw[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new InvalidArgumentError(key, `must be a finite number or null, got ${describe(v)}`);
  }
  checkRange(key, v, range);
  return v;
}

function checkRange(
  key: string,
  v: number,
  range: { min?: number; max?: number; maxExclusive?: number; minExclusive?: number },
): void {
  if (range.min !== undefined && v < range.min)
    throw new InvalidArgumentError(key, `must be >= ${range.min}, got ${v}`);
  if (range.max !== undefined && v > range.max)
    throw new InvalidArgumentError(key, `must be <= ${range.max}, got ${v}`);
  if (range.maxExclusive !== undefined && v >= range.maxExclusive) {
    throw new InvalidArgumentError(key, `must be < ${range.maxExclusive}, got ${v}`);
  }
  if (range.minExclusive !== undefined && v <= range.minExclusive) {
    throw new InvalidArgumentError(key, `must be > ${range.minExclusive}, got ${v}`);
  }
}

export function readEnum<const T extends string>(
  raw: SchedulerConfigInput,
  key: string,
  def: T,
  allowed: readonly T[],
): T {
  if (!present(raw, key)) return def;
  const v = raw[key];
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(key, `unknown value ${describe(v)}; expected one of ${allowed.join(", ")}`);
  }
  return v as T;
}

/** Rejects a key whose non-default value this implementation does not support. */
export function rejectUnsupported(raw: SchedulerConfigInput, key: string, supported: unknown, why: string): void {
  if (!present(raw, key)) return;
  if (raw[key] !== supported) {
    throw new InvalidArgumentError(key, `${describe(raw[key])} is not supported (${why})`);
  }
}

/** Reads the keys of {@link BetaScheduleConfig}; `spacingDefault` differs per scheduler, as in diffusers. */
export function readBetaScheduleConfig(raw: SchedulerConfigInput, spacingDefault: TimestepSpacing): BetaScheduleConfig {
  const num_train_timesteps = readInt(raw, "num_train_timesteps", 1000, { min: 2, max: 100_000 });
  const beta_start = readNumber(raw, "beta_start", 0.0001, { min: 0, maxExclusive: 1 });
  const beta_end = readNumber(raw, "beta_end", 0.02, { min: 0, maxExclusive: 1 });
  const beta_schedule = readEnum(raw, "beta_schedule", "linear", BETA_SCHEDULES);
  let trained_betas: number[] | null = null;
  if (present(raw, "trained_betas")) {
    const v = raw.trained_betas;
    if (!Array.isArray(v))
      throw new InvalidArgumentError("trained_betas", `must be an array of numbers, got ${describe(v)}`);
    if (v.length !== num_train_timesteps) {
      throw new InvalidArgumentError(
        "trained_betas",
        `has ${v.length} values, num_train_timesteps is ${num_train_timesteps}; they must match`,
      );
    }
    trained_betas = v.map((b: unknown, i: number) => {
      if (typeof b !== "number" || !Number.isFinite(b) || b < 0 || b >= 1) {
        throw new InvalidArgumentError("trained_betas", `value ${i} must be a number in [0, 1), got ${describe(b)}`);
      }
      return b;
    });
  }
  const rescale_betas_zero_snr = readBool(raw, "rescale_betas_zero_snr", false);
  const timestep_spacing = readEnum(raw, "timestep_spacing", spacingDefault, TIMESTEP_SPACINGS);
  const steps_offset = readInt(raw, "steps_offset", 0, { min: 0, max: num_train_timesteps - 1 });
  return {
    num_train_timesteps,
    beta_start,
    beta_end,
    beta_schedule,
    trained_betas,
    rescale_betas_zero_snr,
    timestep_spacing,
    steps_offset,
  };
}

/** Checks the argument of `setTimesteps`. */
export function checkNumInferenceSteps(n: number, numTrainTimesteps: number): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError("num_inference_steps", `must be an integer >= 1, got ${n}`);
  }
  if (n > numTrainTimesteps) {
    throw new InvalidArgumentError(
      "num_inference_steps",
      `${n} cannot be larger than num_train_timesteps (${numTrainTimesteps}): the model was trained on that many timesteps`,
    );
  }
}
