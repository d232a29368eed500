/**
 * Stage 2: denoise the keyframes (the pack's `video.keyframes` frames) from noise, with classifier-free guidance.
 */
import { InvalidArgumentError } from "@longshot/core";
import type { ModelSession } from "@longshot/runtime";
import {
  ATTR_LONGSHOT_DENOISE_STEPS,
  ATTR_LONGSHOT_FRAMES,
  SPAN_DENOISE,
  type Span,
  withSpan,
} from "@longshot/telemetry/light";
import { Tensor } from "@longshot/tensor";
import type { StageNoise } from "../stage-noise.js";
import {
  checkGuidance,
  checkTextEmbeddings,
  denoiseSpanAttributes,
  guidedNoise,
  injectsNoise,
  makeScheduler,
  type SamplerSpec,
  type StageTraceInput,
  type StepCallback,
  throwIfCancelled,
} from "./denoise.js";

export interface KeyframeStageInput extends SamplerSpec, StageTraceInput {
  /** The pack's `keyframeUnet` session. */
  unet: ModelSession;
  /** `[2, T, H]` text embeddings (unconditional, conditional) from {@link encodePrompt}. */
  textEmbeddings: Tensor;
  /** Noise of the keyframe latent `[1, C, K, h, w]` (stream "keyframes"). */
  noise: StageNoise;
  guidance: number;
  signal?: AbortSignal | undefined;
  onStep?: StepCallback | undefined;
}

/**
 * Runs the keyframe denoising loop; returns the clean keyframe latents `[1, C, K, h, w]`. Traced as the span
 * `denoise` (stage keyframe, steps, frames, sampler, guidance, execution provider).
 */
export async function denoiseKeyframes(input: KeyframeStageInput): Promise<Tensor<"float32">> {
  return withSpan(SPAN_DENOISE, denoiseSpanAttributes("keyframe", input), (span) => runKeyframes(input, span));
}

async function runKeyframes(input: KeyframeStageInput, span: Span): Promise<Tensor<"float32">> {
  const { unet, noise, guidance, signal, onStep } = input;
  const ctx = checkTextEmbeddings(input.textEmbeddings);
  checkGuidance(guidance, "keyframeGuidance");
  const dims = noise.dims;
  if (dims[0] !== 1) throw new InvalidArgumentError("noise.keyframes", `batch must be 1, got ${dims[0]}`);
  const scheduler = makeScheduler(input);
  const x0 = noise.initial(0, dims[2]).data;
  const sigma = scheduler.initNoiseSigma;
  const sig = Math.fround(sigma);
  let x: Float32Array = sig === 1 ? x0.slice() : x0.map((v) => v * sig);
  const timesteps = Array.from(scheduler.timesteps);
  span.setAttributes({ [ATTR_LONGSHOT_DENOISE_STEPS]: timesteps.length, [ATTR_LONGSHOT_FRAMES]: dims[2] });
  const stepNoise = injectsNoise(input.sampler);
  for (let i = 0; i < timesteps.length; i++) {
    throwIfCancelled(signal, "keyframes");
    const t = timesteps[i] as number;
    const eps = await guidedNoise({
      unet,
      sample: scheduler.scaleModelInput(x, t),
      sampleDims: dims,
      timestep: t,
      textEmbeddings: ctx,
      guidance,
      signal,
    });
    x = scheduler.step(eps, t, x, stepNoise ? { noise: noise.step(i, 0, dims[2]) } : {}).prevSample;
    onStep?.(i + 1, timesteps.length);
  }
  return new Tensor("float32", x, dims);
}
