/**
 * The noise of one denoising stage (the keyframes, or one interpolation level), addressable by frame range so
 * that a replica running one window of a level draws exactly the frames a whole-sequence run would give it.
 *
 * Stream names (see noise.ts for the generator): a stage's initial noise is stream `keyframes` or `interp<n>`
 * (n = 1 for keyframes → first level, 2 for the next, …) of the job's seed, over the stage's whole latent
 * `[1, C, F, H, W]`; the fresh noise an ancestral sampler injects at step i is stream `<stage>/step-<i>` over the
 * same dims. The safetensors noise files of the Python reference use the same names as keys.
 */
import { InvalidArgumentError } from "@longshot/core";
import type { Tensor } from "@longshot/tensor";
import { type LatentDims, latentDims, sliceFrames } from "./latents.js";
import { randnFrames, seedKey } from "./noise.js";

/** Stream (and noise-file key) of the keyframe stage. */
export const KEYFRAME_STREAM = "keyframes";

/** Stream (and noise-file key) of interpolation level `level` (1 = keyframes → first level). */
export function interpolationStream(level: number): string {
  if (!Number.isSafeInteger(level) || level < 1) {
    throw new InvalidArgumentError("level", `must be an integer >= 1, got ${String(level)}`);
  }
  return `interp${level}`;
}

/** Stream of the noise an ancestral sampler injects at step `step` of stage stream `stream`. */
export function stepStream(stream: string, step: number): string {
  return `${stream}/step-${step}`;
}

export interface StageNoise {
  /** Stream name of the stage ("keyframes", "interp1", …), for errors and reports. */
  readonly stream: string;
  /** Dims of the whole stage's latent, `[1, C, F, H, W]`. */
  readonly dims: LatentDims;
  /** Initial noise of frames `[start, end)`, `[1, C, end - start, H, W]`. */
  initial(start: number, end: number): Tensor<"float32">;
  /** Noise injected at step `step` (ancestral samplers) for frames `[start, end)`, flat `[1, C, end - start, H, W]`. */
  step(step: number, start: number, end: number): Float32Array;
}

/** Both kinds of noise derived from `seed`: initial stream `stream`, step noise `stream/step-i`. */
export function seededStageNoise(seed: number | bigint, stream: string, dims: readonly number[]): StageNoise {
  seedKey(seed); // validates the seed now rather than at the first draw
  const d = checkStageDims(dims);
  return {
    stream,
    dims: d,
    initial: (start, end) => randnFrames(seed, stream, d, start, end),
    step: (step, start, end) => randnFrames(seed, stepStream(stream, step), d, start, end).data,
  };
}

/**
 * Initial noise given as a tensor (e.g. read from a safetensors file for parity with the Python reference).
 * Step noise, needed only by ancestral samplers, still comes from `seed` when one is given; without a seed,
 * asking for it throws.
 */
export function tensorStageNoise(
  noise: Tensor,
  stream: string,
  options: { seed?: number | bigint | undefined } = {},
): StageNoise {
  const d = latentDims(noise, `noise.${stream}`);
  checkStageDims(d);
  const t = noise as Tensor<"float32">;
  const seed = options.seed;
  if (seed !== undefined) seedKey(seed);
  return {
    stream,
    dims: d,
    initial: (start, end) => (start === 0 && end === d[2] ? t : sliceFrames(t, start, end)),
    step: (step, start, end) => {
      if (seed === undefined) {
        throw new InvalidArgumentError(
          "seed",
          `the sampler injects noise at every step; noise "${stream}" was supplied as a tensor, so a seed is needed for the step noise`,
        );
      }
      return randnFrames(seed, stepStream(stream, step), d, start, end).data;
    },
  };
}

function checkStageDims(dims: readonly number[]): LatentDims {
  if (!Array.isArray(dims) || dims.length !== 5 || dims.some((x) => !Number.isSafeInteger(x) || x < 1)) {
    throw new InvalidArgumentError("dims", `must be [1, C, F, H, W] with positive sizes, got [${String(dims)}]`);
  }
  if (dims[0] !== 1) throw new InvalidArgumentError("dims", `batch must be 1, got ${dims[0]}`);
  return dims as unknown as LatentDims;
}
