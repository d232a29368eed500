import { InvalidArgumentError, LongshotError } from "@longshot/core";

/** Extra inputs of one denoising step. */
export interface StepOptions {
  /**
   * Standard-normal noise with the sample's shape, for the steps that inject noise: every Euler-ancestral
   * step, and DDIM steps with `eta > 0`. Schedulers never draw random numbers themselves; derive it from
   * `randn`/`randnFrames` (noise.ts) so that replicas agree.
   */
  noise?: Float32Array;
  /** DDIM only: weight of the injected noise (0 = deterministic DDIM, 1 = DDPM-like). Default 0. */
  eta?: number;
  /** DDIM only: recompute epsilon from the clipped x0 (diffusers' `use_clipped_model_output`). */
  useClippedModelOutput?: boolean;
}

export interface StepOutput {
  /** x_{t-1}: the next sample, input of the next step. */
  prevSample: Float32Array;
  /** The model's current estimate of x_0 (for previews and guidance). */
  predOriginalSample: Float32Array;
}

/**
 * The diffusers scheduler contract (`SchedulerMixin`), over flat float32 arrays: a sample is any
 * tensor (e.g. latents `[B, C, F, H, W]`) seen as its row-major data, since every scheduler here works
 * element by element.
 *
 * Use, as a diffusers pipeline does:
 * ```ts
 * s.setTimesteps(steps);
 * let x = randn(...) scaled by s.initNoiseSigma;
 * for (const t of s.timesteps) {
 *   const eps = unet(s.scaleModelInput(x, t), t);
 *   x = s.step(eps, t, x, { noise }).prevSample;
 * }
 * ```
 */
export interface Scheduler {
  /** The resolved configuration, snake_case keys as in `scheduler_config.json`. */
  readonly config: Readonly<object>;
  /** Model evaluations per timestep (1 for every scheduler here). */
  readonly order: number;
  /** The timesteps to visit, in order (integers for DDIM and DPM-Solver, float32 values for Euler). */
  readonly timesteps: Float32Array | number[];
  /** Standard deviation of the initial noise: scale `randn` by it before the first step. */
  readonly initNoiseSigma: number;
  /** Index of the next step in `timesteps`; null until the first `scaleModelInput`/`step`. */
  readonly stepIndex: number | null;
  /** Number of inference steps of the last `setTimesteps`, or null before it. */
  readonly numInferenceSteps: number | null;
  setTimesteps(numInferenceSteps: number): void;
  /** Starts stepping at `timesteps[beginIndex]` (img2img / partial denoising), as `set_begin_index`. */
  setBeginIndex(beginIndex: number): void;
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, opts?: StepOptions): StepOutput;
  /** Forward diffusion: the clean `original` noised with `noise` to the level of `timestep`. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array;
}

/** A scheduler method was called in a state that does not allow it (e.g. `step` before `setTimesteps`). */
export class SchedulerStateError extends LongshotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "FAILED_PRECONDITION", ...options });
    this.name = "SchedulerStateError";
  }
}

export function checkSameLength(field: string, a: Float32Array, sample: Float32Array): void {
  if (!(a instanceof Float32Array)) throw new InvalidArgumentError(field, "must be a Float32Array");
  if (a.length !== sample.length) {
    throw new InvalidArgumentError(field, `has ${a.length} elements, the sample has ${sample.length}`);
  }
}

export function checkSample(sample: Float32Array): void {
  if (!(sample instanceof Float32Array)) throw new InvalidArgumentError("sample", "must be a Float32Array");
}

export function checkTimestepNumber(timestep: number): void {
  if (typeof timestep !== "number" || !Number.isFinite(timestep)) {
    throw new InvalidArgumentError("timestep", `must be a finite number, got ${String(timestep)}`);
  }
}

export function checkBeginIndex(beginIndex: number, numTimesteps: number): void {
  if (!Number.isSafeInteger(beginIndex) || beginIndex < 0 || beginIndex >= numTimesteps) {
    throw new InvalidArgumentError(
      "begin_index",
      `must be an integer in [0, ${numTimesteps - 1}] (an index into timesteps), got ${beginIndex}`,
    );
  }
}

/**
 * diffusers' `index_for_timestep`: the position of `timestep` in the schedule; when it occurs more than
 * once (possible with Karras sigmas) the second occurrence, so that a schedule started in the middle
 * (img2img) does not skip a sigma. Returns -1 when absent.
 */
export function indexForTimestep(timesteps: ArrayLike<number>, timestep: number): number {
  let first = -1;
  for (let i = 0; i < timesteps.length; i++) {
    if (timesteps[i] === timestep) {
      if (first >= 0) return i;
      first = i;
    }
  }
  return first;
}
