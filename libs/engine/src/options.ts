/**
 * Generation options, their defaults (from the pack) and their checks (diffusers' `check_inputs`): every bad value
 * raises an InvalidArgumentError whose `field` is the option's name and whose message lists what is allowed.
 */
import { randomInt } from "node:crypto";
import { InvalidArgumentError } from "@longshot/core";
import type { PackManifest } from "@longshot/pack";
import { Tensor } from "@longshot/tensor";
import { createScheduler, isSchedulerName, SCHEDULER_NAMES, type SchedulerName } from "./schedulers/factory.js";
import { interpolationStream, KEYFRAME_STREAM } from "./stage-noise.js";
import {
  INTERPOLATION_MODES,
  type InterpolationMode,
  isInterpolationMode,
  strengthBeginIndex,
} from "./stages/interpolate.js";
import { checkWindowSizes } from "./stages/interpolate-windowed.js";

/** Longest prompt / negative prompt, in characters (as the stage-task contract). */
export const MAX_PROMPT_LENGTH = 2000;
/** Largest classifier-free guidance scale accepted. */
export const MAX_GUIDANCE = 30;

export interface WindowOptions {
  /** Window length in output frames, ≡ 1 (mod 4). */
  frames: number;
  /** Frame intervals neighbouring windows share, ≡ 0 (mod 4) (they share `overlap + 1` frames). */
  overlap: number;
}

export interface GenerateOptions {
  prompt: string;
  /** Unconditional text for classifier-free guidance; default "". */
  negativePrompt?: string | undefined;
  /** Integer in [0, 2^64); default a random one (reported in `settings.seed`). */
  seed?: number | bigint | undefined;
  /** One of the pack's `video.frames`; default `video.defaultFrames`. */
  frames?: number | undefined;
  mode?: InterpolationMode | undefined;
  sampler?: SchedulerName | undefined;
  keyframeSteps?: number | undefined;
  keyframeGuidance?: number | undefined;
  interpolationSteps?: number | undefined;
  interpolationGuidance?: number | undefined;
  /** Share of each interpolation pass's timesteps run, in (0, 1]; default the pack's (1 if it has none). */
  interpolationStrength?: number | undefined;
  /** Run each interpolation level longer than `window.frames` as overlapping windows; null/absent: whole passes. */
  window?: WindowOptions | null | undefined;
  /**
   * Initial noise instead of the seeded streams, e.g. from a safetensors file of the Python reference: keys
   * "keyframes" `[1, C, K, h, w]`, "interp1", "interp2", … `[1, C, F_level, h, w]`. Levels beyond the requested
   * frames are ignored. Step noise of ancestral samplers still comes from the seed.
   */
  noise?: Record<string, Tensor> | undefined;
  /** Frames per VAE decoder call; default 16. */
  decodeBatch?: number | undefined;
}

const KNOWN_KEYS = new Set([
  "prompt",
  "negativePrompt",
  "seed",
  "frames",
  "mode",
  "sampler",
  "keyframeSteps",
  "keyframeGuidance",
  "interpolationSteps",
  "interpolationGuidance",
  "interpolationStrength",
  "window",
  "noise",
  "decodeBatch",
]);

/** The settings a generation actually ran with (JSON-safe). */
export interface ResolvedSettings {
  prompt: string;
  negativePrompt: string;
  /** The seed as a number, or as a decimal string when above 2^53 − 1. */
  seed: number | string;
  frames: number;
  /** Frame count of each level: keyframes first, then each interpolation pass (e.g. [5, 17, 65]). */
  levels: number[];
  mode: InterpolationMode;
  sampler: SchedulerName;
  keyframeSteps: number;
  keyframeGuidance: number;
  interpolationSteps: number;
  interpolationGuidance: number;
  interpolationStrength: number;
  window: WindowOptions | null;
  /** Where the initial noise came from. */
  noise: "seed" | "supplied";
  decodeBatch: number;
  /** "name@version" of the pack. */
  pack: string;
}

export interface ResolvedGeneration {
  settings: ResolvedSettings;
  /** The seed, exactly. */
  seed: bigint;
  /** Supplied noise per stream name (only the streams this generation uses), checked. */
  noise: Record<string, Tensor<"float32">> | undefined;
}

/** Frame counts of the levels up to `frames`: `[K, (K − 1)·f + 1, …, frames]`; throws if `frames` is not on it. */
export function levelFrames(keyframes: number, factor: number, frames: number): number[] {
  const levels = [keyframes];
  while ((levels[levels.length - 1] as number) < frames) {
    levels.push(((levels[levels.length - 1] as number) - 1) * factor + 1);
  }
  if (levels[levels.length - 1] !== frames) {
    throw new InvalidArgumentError("frames", `${frames} is not reachable from ${keyframes} keyframes ×${factor}`);
  }
  return levels;
}

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v === null) return "null";
  if (typeof v === "object") return Array.isArray(v) ? "an array" : "an object";
  return String(v);
}

function resolveSeed(seed: unknown): bigint {
  if (seed === undefined) return BigInt(randomInt(0, 2 ** 32));
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      fail("seed", `must be an integer in [0, 2^64) (numbers up to 2^53 − 1; bigint beyond), got ${describe(seed)}`);
    }
    return BigInt(seed);
  }
  if (typeof seed === "bigint") {
    if (seed < 0n || seed >= 1n << 64n) fail("seed", `must be an integer in [0, 2^64), got ${seed}`);
    return seed;
  }
  return fail("seed", `must be an integer in [0, 2^64), got ${describe(seed)}`);
}

function resolveSteps(v: unknown, def: number, field: string, sampler: SchedulerName, manifest: PackManifest): number {
  const steps = v ?? def;
  const nTrain = manifest.scheduler.num_train_timesteps;
  if (typeof steps !== "number" || !Number.isSafeInteger(steps) || steps < 1 || steps > nTrain) {
    fail(field, `must be an integer in [1, ${nTrain}] (the pack's num_train_timesteps), got ${describe(steps)}`);
  }
  try {
    createScheduler(sampler, manifest.scheduler).setTimesteps(steps);
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      fail(field, `${steps} steps do not fit the pack's ${sampler} schedule: ${err.message}`);
    }
    throw err;
  }
  return steps;
}

function resolveGuidance(v: unknown, def: number, field: string): number {
  const g = v ?? def;
  if (typeof g !== "number" || !Number.isFinite(g) || g < 1 || g > MAX_GUIDANCE) {
    fail(field, `must be a number in [1, ${MAX_GUIDANCE}] (1 = no classifier-free guidance), got ${describe(g)}`);
  }
  return g;
}

function resolveText(v: unknown, field: string, allowEmpty: boolean): string {
  if (typeof v !== "string") return fail(field, `must be a string, got ${describe(v)}`);
  if (!allowEmpty && v.trim() === "") fail(field, "must not be empty");
  const chars = [...v].length;
  if (chars > MAX_PROMPT_LENGTH) fail(field, `is ${chars} characters long; at most ${MAX_PROMPT_LENGTH}`);
  return v;
}

/**
 * Checks `opts` against the pack and fills in the defaults (`pack.defaults`, `video.defaultFrames`, a random
 * seed). Throws InvalidArgumentError naming the first bad option.
 */
export function resolveGenerateOptions(manifest: PackManifest, opts: GenerateOptions): ResolvedGeneration {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    fail("options", `must be an object with at least a prompt, got ${describe(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!KNOWN_KEYS.has(key) && (opts as unknown as Record<string, unknown>)[key] !== undefined) {
      fail(key, `unknown option; known options: ${[...KNOWN_KEYS].join(", ")}`);
    }
  }
  const { video, latent, defaults } = manifest;
  const prompt = resolveText(opts.prompt, "prompt", false);
  const negativePrompt = resolveText(opts.negativePrompt ?? "", "negativePrompt", true);
  const seed = resolveSeed(opts.seed);

  const frames = opts.frames ?? video.defaultFrames;
  const allowed = [...video.frames].sort((a, b) => a - b);
  if (typeof frames !== "number" || !allowed.includes(frames)) {
    fail(
      "frames",
      `must be one of ${allowed.join(", ")} for pack ${manifest.name}@${manifest.version}, got ${describe(frames)}`,
    );
  }
  if (manifest.interpolation.strides[String(frames)] === undefined) {
    fail("frames", `pack ${manifest.name}@${manifest.version} has no interpolation stride for ${frames} frames`);
  }
  const levels = levelFrames(video.keyframes, video.interpolationFactor, frames);

  const mode = opts.mode ?? defaults.mode;
  if (!isInterpolationMode(mode))
    fail("mode", `must be one of ${INTERPOLATION_MODES.join(", ")}, got ${describe(mode)}`);
  const sampler = opts.sampler ?? defaults.sampler;
  if (!isSchedulerName(sampler))
    fail("sampler", `must be one of ${SCHEDULER_NAMES.join(", ")}, got ${describe(sampler)}`);

  const keyframeSteps = resolveSteps(opts.keyframeSteps, defaults.keyframe.steps, "keyframeSteps", sampler, manifest);
  const interpolationSteps = resolveSteps(
    opts.interpolationSteps,
    defaults.interpolation.steps,
    "interpolationSteps",
    sampler,
    manifest,
  );
  const keyframeGuidance = resolveGuidance(opts.keyframeGuidance, defaults.keyframe.guidance, "keyframeGuidance");
  const interpolationGuidance = resolveGuidance(
    opts.interpolationGuidance,
    defaults.interpolation.guidance,
    "interpolationGuidance",
  );
  const interpolationStrength = opts.interpolationStrength ?? defaults.interpolation.strength ?? 1;
  strengthBeginIndex(interpolationSteps, interpolationStrength, "interpolationStrength");

  let window: WindowOptions | null = null;
  if (opts.window !== undefined && opts.window !== null) {
    const w = opts.window;
    if (typeof w !== "object" || Array.isArray(w)) {
      fail("window", `must be null or {frames, overlap}, got ${describe(w)}`);
    }
    checkWindowSizes(w.frames, w.overlap, video.interpolationFactor, "window");
    window = { frames: w.frames, overlap: w.overlap };
  }

  const decodeBatch = opts.decodeBatch ?? 16;
  if (typeof decodeBatch !== "number" || !Number.isSafeInteger(decodeBatch) || decodeBatch < 1 || decodeBatch > 1024) {
    fail("decodeBatch", `must be an integer in [1, 1024], got ${describe(decodeBatch)}`);
  }

  let noise: Record<string, Tensor<"float32">> | undefined;
  if (opts.noise !== undefined) {
    const given = opts.noise;
    if (given === null || typeof given !== "object" || Array.isArray(given)) {
      fail("noise", `must map stream names (keyframes, interp1, …) to tensors, got ${describe(given)}`);
    }
    for (const key of Object.keys(given)) {
      if (key !== KEYFRAME_STREAM && !/^interp[1-9][0-9]*$/.test(key)) {
        fail(`noise.${key}`, `unknown noise stream; expected ${KEYFRAME_STREAM}, interp1, interp2, …`);
      }
    }
    noise = {};
    levels.forEach((f, level) => {
      const name = level === 0 ? KEYFRAME_STREAM : interpolationStream(level);
      const expected = [1, latent.channels, f, latent.height, latent.width];
      const t = Object.hasOwn(given, name) ? given[name] : undefined;
      if (!(t instanceof Tensor)) {
        fail(`noise.${name}`, `is missing: ${frames} frames need a float32 tensor [${expected.join(", ")}]`);
      }
      if (t.dtype !== "float32" || t.dims.length !== 5 || t.dims.some((d, i) => d !== expected[i])) {
        fail(`noise.${name}`, `must be float32 [${expected.join(", ")}], got ${t.dtype} [${t.dims.join(", ")}]`);
      }
      (noise as Record<string, Tensor<"float32">>)[name] = t as Tensor<"float32">;
    });
  }

  const settings: ResolvedSettings = {
    prompt,
    negativePrompt,
    seed: seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed.toString(),
    frames,
    levels,
    mode,
    sampler,
    keyframeSteps,
    keyframeGuidance,
    interpolationSteps,
    interpolationGuidance,
    interpolationStrength,
    window,
    noise: noise ? "supplied" : "seed",
    decodeBatch,
    pack: `${manifest.name}@${manifest.version}`,
  };
  return { settings, seed, noise };
}
