/**
 * The one resolver of a generation request against its pack: every check that names the bad field, and the
 * pack's defaults filled in (`video.defaultFrames`, `defaults.*`, a random seed). The embedded engine
 * (`resolveGenerateOptions`) and the gateway (`validateGenerateRequest`) both run it; each adds only what is its
 * own: the engine the pack's schedule, windows, supplied noise and the decode batch; the gateway the proto enums,
 * output formats, idempotency key and request size. They differ in the names their errors give the fields
 * (`keyframeSteps` here, `keyframe_steps` on the wire) and in their limits.
 *
 * No model runtime: this module is part of `@longshot/engine/light`.
 */
import { randomInt } from "node:crypto";
import { InvalidArgumentError } from "@longshot/core";
import type { DefaultsSpec } from "@longshot/pack";
import { isSchedulerName, SCHEDULER_NAMES, type SchedulerName } from "./schedulers/factory.js";
import {
  INTERPOLATION_MODES,
  type InterpolationMode,
  isInterpolationMode,
  strengthBeginIndex,
} from "./stages/interpolate.js";

/** What {@link resolveRequest} needs of a pack (a PackManifest from @longshot/pack satisfies it). */
export interface RequestPack {
  readonly name: string;
  readonly version: string;
  readonly video: { readonly frames: readonly number[]; readonly defaultFrames: number };
  readonly defaults: DefaultsSpec;
}

/** The request as a caller gave it: unchecked values, `undefined` for the pack's default. */
export interface RequestInput {
  readonly prompt: unknown;
  /** Default "". */
  readonly negativePrompt?: unknown;
  /** Integer in [0, 2^64) (a number up to 2^53 − 1 or a bigint); default `chooseSeed()`. */
  readonly seed?: unknown;
  readonly frames?: unknown;
  readonly mode?: unknown;
  readonly sampler?: unknown;
  readonly keyframeSteps?: unknown;
  readonly keyframeGuidance?: unknown;
  readonly interpolationSteps?: unknown;
  readonly interpolationGuidance?: unknown;
  /** Share of each interpolation pass's timesteps run, in (0, 1]; default the pack's (1 if it has none). */
  readonly interpolationStrength?: unknown;
}

export type RequestField = keyof RequestInput;

/** The name an error gives each field. */
export type RequestFieldNames = Readonly<Record<RequestField, string>>;

/** The field names of {@link RequestInput} itself (the engine's option names). */
export const REQUEST_FIELDS: RequestFieldNames = {
  prompt: "prompt",
  negativePrompt: "negativePrompt",
  seed: "seed",
  frames: "frames",
  mode: "mode",
  sampler: "sampler",
  keyframeSteps: "keyframeSteps",
  keyframeGuidance: "keyframeGuidance",
  interpolationSteps: "interpolationSteps",
  interpolationGuidance: "interpolationGuidance",
  interpolationStrength: "interpolationStrength",
};

export interface RequestLimits {
  /** Longest prompt and negative prompt, in characters (code points). */
  readonly maxPromptChars: number;
  /** Most denoising steps per stage. */
  readonly maxSteps: number;
  /** Largest classifier-free guidance scale. */
  readonly maxGuidance: number;
}

export interface ResolveRequestOptions {
  /** Names of the fields in errors; default {@link REQUEST_FIELDS}. */
  fields?: RequestFieldNames | undefined;
  /** Refuse prompts with control characters (tab, LF and CR are allowed); default false. */
  rejectControlCharacters?: boolean | undefined;
  /** Picks the seed of a request without one; default uniform in [0, 2^32). */
  chooseSeed?: (() => bigint) | undefined;
}

/** A request with every default filled in and the seed fixed. */
export interface ResolvedRequest {
  prompt: string;
  negativePrompt: string;
  seed: bigint;
  frames: number;
  mode: InterpolationMode;
  sampler: SchedulerName;
  keyframeSteps: number;
  keyframeGuidance: number;
  interpolationSteps: number;
  interpolationGuidance: number;
  interpolationStrength: number;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
const CONTROL_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

/** A value as an error message shows it. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v === null) return "null";
  if (typeof v === "object") return Array.isArray(v) ? "an array" : "an object";
  return String(v);
}

function resolveText(v: unknown, field: string, allowEmpty: boolean, limits: RequestLimits, o: ResolveRequestOptions) {
  if (typeof v !== "string") return fail(field, `must be a string, got ${describeValue(v)}`);
  if (!allowEmpty && v.trim() === "") fail(field, "must not be empty");
  const chars = [...v].length;
  if (chars > limits.maxPromptChars) fail(field, `is ${chars} characters long; at most ${limits.maxPromptChars}`);
  if (o.rejectControlCharacters === true && CONTROL_RE.test(v)) fail(field, "must not contain control characters");
  return v;
}

function resolveSeed(seed: unknown, field: string, chooseSeed: (() => bigint) | undefined): bigint {
  if (seed === undefined) return chooseSeed ? chooseSeed() : BigInt(randomInt(0, 2 ** 32));
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      fail(
        field,
        `must be an integer in [0, 2^64) (numbers up to 2^53 − 1; bigint beyond), got ${describeValue(seed)}`,
      );
    }
    return BigInt(seed);
  }
  if (typeof seed === "bigint") {
    if (seed < 0n || seed >= 1n << 64n) fail(field, `must be an integer in [0, 2^64), got ${seed}`);
    return seed;
  }
  return fail(field, `must be an integer in [0, 2^64), got ${describeValue(seed)}`);
}

function resolveSteps(v: unknown, def: number, field: string, limits: RequestLimits): number {
  const steps = v ?? def;
  if (typeof steps !== "number" || !Number.isSafeInteger(steps) || steps < 1 || steps > limits.maxSteps) {
    fail(field, `must be an integer in [1, ${limits.maxSteps}], got ${describeValue(steps)}`);
  }
  return steps;
}

function resolveGuidance(v: unknown, def: number, field: string, limits: RequestLimits): number {
  const g = v ?? def;
  if (typeof g !== "number" || !Number.isFinite(g) || g < 1 || g > limits.maxGuidance) {
    fail(
      field,
      `must be a number in [1, ${limits.maxGuidance}] (1 = no classifier-free guidance), got ${describeValue(g)}`,
    );
  }
  return g;
}

/**
 * Checks `input` against `pack` and `limits` and fills in the pack's defaults. Throws InvalidArgumentError naming
 * the first bad field (as `options.fields` names it).
 */
export function resolveRequest(
  pack: RequestPack,
  input: RequestInput,
  limits: RequestLimits,
  options: ResolveRequestOptions = {},
): ResolvedRequest {
  const names = options.fields ?? REQUEST_FIELDS;
  const { video, defaults } = pack;
  const prompt = resolveText(input.prompt, names.prompt, false, limits, options);
  const negativePrompt = resolveText(input.negativePrompt ?? "", names.negativePrompt, true, limits, options);
  const seed = resolveSeed(input.seed, names.seed, options.chooseSeed);

  const frames = input.frames ?? video.defaultFrames;
  const allowed = [...video.frames].sort((a, b) => a - b);
  if (typeof frames !== "number" || !allowed.includes(frames)) {
    fail(
      names.frames,
      `must be one of ${allowed.join(", ")} for pack ${pack.name}@${pack.version}, got ${describeValue(frames)}`,
    );
  }

  const mode = input.mode ?? defaults.mode;
  if (!isInterpolationMode(mode)) {
    fail(names.mode, `must be one of ${INTERPOLATION_MODES.join(", ")}, got ${describeValue(mode)}`);
  }
  const sampler = input.sampler ?? defaults.sampler;
  if (!isSchedulerName(sampler)) {
    fail(names.sampler, `must be one of ${SCHEDULER_NAMES.join(", ")}, got ${describeValue(sampler)}`);
  }

  const keyframeSteps = resolveSteps(input.keyframeSteps, defaults.keyframe.steps, names.keyframeSteps, limits);
  const interpolationSteps = resolveSteps(
    input.interpolationSteps,
    defaults.interpolation.steps,
    names.interpolationSteps,
    limits,
  );
  const keyframeGuidance = resolveGuidance(
    input.keyframeGuidance,
    defaults.keyframe.guidance,
    names.keyframeGuidance,
    limits,
  );
  const interpolationGuidance = resolveGuidance(
    input.interpolationGuidance,
    defaults.interpolation.guidance,
    names.interpolationGuidance,
    limits,
  );
  const interpolationStrength = input.interpolationStrength ?? defaults.interpolation.strength ?? 1;
  strengthBeginIndex(interpolationSteps, interpolationStrength as number, names.interpolationStrength);

  return {
    prompt,
    negativePrompt,
    seed,
    frames,
    mode,
    sampler,
    keyframeSteps,
    keyframeGuidance,
    interpolationSteps,
    interpolationGuidance,
    interpolationStrength: interpolationStrength as number,
  };
}
