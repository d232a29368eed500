/**
 * Generation options, their defaults (from the pack) and their checks (diffusers' `check_inputs`): every bad value
 * raises an InvalidArgumentError whose `field` is the option's name and whose message lists what is allowed.
 * The request fields the gateway takes too (prompt, seed, frames, sampler, steps, …) go through the shared
 * {@link resolveRequest}; the options of the embedded run only (window, noise, decode batch) and the pack's
 * schedule are checked here.
 */
import { InvalidArgumentError } from "@longshot/core";
import type { PackManifest } from "@longshot/pack";
import { Tensor } from "@longshot/tensor";
import { describeValue, type ResolvedRequest, resolveRequest } from "./request.js";
import { createScheduler, type SchedulerName } from "./schedulers/factory.js";
import { interpolationStream, KEYFRAME_STREAM } from "./stage-noise.js";
import type { InterpolationMode } from "./stages/interpolate.js";
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
export interface ResolvedSettings extends Omit<ResolvedRequest, "seed"> {
  /** The seed as a number, or as a decimal string when above 2^53 − 1. */
  seed: number | string;
  /** Frame count of each level: keyframes first, then each interpolation pass (e.g. [5, 17, 65]). */
  levels: number[];
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

/** Throws naming `field` when the pack's `sampler` schedule cannot place `steps` timesteps. */
function checkSchedule(steps: number, field: string, sampler: SchedulerName, manifest: PackManifest): void {
  try {
    createScheduler(sampler, manifest.scheduler).setTimesteps(steps);
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      fail(field, `${steps} steps do not fit the pack's ${sampler} schedule: ${err.message}`);
    }
    throw err;
  }
}

/**
 * Checks `opts` against the pack and fills in the defaults (`pack.defaults`, `video.defaultFrames`, a random
 * seed). Throws InvalidArgumentError naming the first bad option.
 */
export function resolveGenerateOptions(manifest: PackManifest, opts: GenerateOptions): ResolvedGeneration {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    fail("options", `must be an object with at least a prompt, got ${describeValue(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (!KNOWN_KEYS.has(key) && (opts as unknown as Record<string, unknown>)[key] !== undefined) {
      fail(key, `unknown option; known options: ${[...KNOWN_KEYS].join(", ")}`);
    }
  }
  const { video, latent } = manifest;
  const request = resolveRequest(manifest, opts, {
    maxPromptChars: MAX_PROMPT_LENGTH,
    maxSteps: manifest.scheduler.num_train_timesteps,
    maxGuidance: MAX_GUIDANCE,
  });
  const { frames, sampler, seed } = request;
  if (manifest.interpolation.strides[String(frames)] === undefined) {
    fail("frames", `pack ${manifest.name}@${manifest.version} has no interpolation stride for ${frames} frames`);
  }
  const levels = levelFrames(video.keyframes, video.interpolationFactor, frames);
  checkSchedule(request.keyframeSteps, "keyframeSteps", sampler, manifest);
  checkSchedule(request.interpolationSteps, "interpolationSteps", sampler, manifest);

  let window: WindowOptions | null = null;
  if (opts.window !== undefined && opts.window !== null) {
    const w = opts.window;
    if (typeof w !== "object" || Array.isArray(w)) {
      fail("window", `must be null or {frames, overlap}, got ${describeValue(w)}`);
    }
    checkWindowSizes(w.frames, w.overlap, video.interpolationFactor, "window");
    window = { frames: w.frames, overlap: w.overlap };
  }

  const decodeBatch = opts.decodeBatch ?? 16;
  if (typeof decodeBatch !== "number" || !Number.isSafeInteger(decodeBatch) || decodeBatch < 1 || decodeBatch > 1024) {
    fail("decodeBatch", `must be an integer in [1, 1024], got ${describeValue(decodeBatch)}`);
  }

  let noise: Record<string, Tensor<"float32">> | undefined;
  if (opts.noise !== undefined) {
    const given = opts.noise;
    if (given === null || typeof given !== "object" || Array.isArray(given)) {
      fail("noise", `must map stream names (keyframes, interp1, …) to tensors, got ${describeValue(given)}`);
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
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    seed: seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed.toString(),
    frames,
    levels,
    mode: request.mode,
    sampler,
    keyframeSteps: request.keyframeSteps,
    keyframeGuidance: request.keyframeGuidance,
    interpolationSteps: request.interpolationSteps,
    interpolationGuidance: request.interpolationGuidance,
    interpolationStrength: request.interpolationStrength,
    window,
    noise: noise ? "supplied" : "seed",
    decodeBatch,
    pack: `${manifest.name}@${manifest.version}`,
  };
  return { settings, seed, noise };
}
