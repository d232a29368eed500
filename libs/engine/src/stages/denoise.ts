/**
 * What the denoising stages share: the classifier-free-guided model call and cancellation between steps.
 */
import { CancelledError, InvalidArgumentError, LongshotError } from "@longshot/core";
import type { ModelSession } from "@longshot/runtime";
import {
  ATTR_LONGSHOT_DENOISE_GUIDANCE,
  ATTR_LONGSHOT_DENOISE_SAMPLER,
  ATTR_LONGSHOT_EXECUTION_PROVIDER,
  ATTR_LONGSHOT_STAGE,
} from "@longshot/telemetry/light";
import { Tensor } from "@longshot/tensor";
import { repeatBatch } from "../latents.js";
import { createScheduler, isSchedulerName, SCHEDULER_NAMES, type SchedulerName } from "../schedulers/factory.js";
import type { Scheduler } from "../schedulers/types.js";

/** Progress of one denoising loop: `step` of `total` steps are done (called after each step). */
export type StepCallback = (step: number, total: number) => void;

/** The sampler of a denoising stage: a scheduler name and the pack's diffusers scheduler config. */
export interface SamplerSpec {
  sampler: SchedulerName;
  /** The pack's `scheduler` object (a diffusers `scheduler_config.json`). */
  schedulerConfig: unknown;
  steps: number;
}

/**
 * What a stage function records on its span about where it runs; tracing only, no effect on the result. The
 * spans (`encode prompt`, `denoise`, `decode`) go to the tracer provider of the process, and are no-ops
 * without one.
 */
export interface StageTraceInput {
  /** The execution provider of the stage's sessions ("cpu", "cuda"): the span's `longshot.execution_provider`. */
  executionProvider?: string | undefined;
}

/** `longshot.stage` and, when known, `longshot.execution_provider` of a stage function's span. */
export function stageSpanAttributes(stage: string, input: StageTraceInput): Record<string, string> {
  return {
    [ATTR_LONGSHOT_STAGE]: stage,
    ...(input.executionProvider === undefined ? {} : { [ATTR_LONGSHOT_EXECUTION_PROVIDER]: input.executionProvider }),
  };
}

/** The attributes a `denoise` span starts with: stage, execution provider, sampler, guidance. */
export function denoiseSpanAttributes(
  stage: "keyframe" | "interpolation",
  input: SamplerSpec & StageTraceInput & { guidance: number },
): Record<string, string | number> {
  return {
    ...stageSpanAttributes(stage, input),
    [ATTR_LONGSHOT_DENOISE_SAMPLER]: input.sampler,
    [ATTR_LONGSHOT_DENOISE_GUIDANCE]: input.guidance,
  };
}

/** Samplers that inject fresh noise at every step (they need `StageNoise.step`). */
export function injectsNoise(sampler: SchedulerName): boolean {
  return sampler === "euler-a";
}

/** A fresh scheduler with its timesteps set (each denoising loop, and each window, has its own). */
export function makeScheduler(spec: SamplerSpec, field = "sampler"): Scheduler {
  if (!isSchedulerName(spec.sampler)) {
    throw new InvalidArgumentError(
      field,
      `unknown sampler ${JSON.stringify(spec.sampler)}; expected one of ${SCHEDULER_NAMES.join(", ")}`,
    );
  }
  const s = createScheduler(spec.sampler, spec.schedulerConfig);
  s.setTimesteps(spec.steps);
  return s;
}

/** Throws CancelledError if `signal` was aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new CancelledError(`${where}: cancelled`, { cause: signal.reason });
}

/** Checks a `[2, T, H]` text-embedding tensor (unconditional, conditional). */
export function checkTextEmbeddings(t: Tensor, field = "textEmbeddings"): Tensor<"float32"> {
  if (!(t instanceof Tensor) || t.dtype !== "float32" || t.dims.length !== 3 || t.dims[0] !== 2) {
    const got = t instanceof Tensor ? `${t.dtype} [${t.dims.join(", ")}]` : typeof t;
    throw new InvalidArgumentError(
      field,
      `must be float32 [2, tokens, hidden] (unconditional, conditional), got ${got}`,
    );
  }
  return t as Tensor<"float32">;
}

export function checkGuidance(g: number, field = "guidance"): void {
  if (typeof g !== "number" || !Number.isFinite(g) || g < 1) {
    throw new InvalidArgumentError(field, `must be a finite number >= 1, got ${String(g)}`);
  }
}

export interface GuidedCall {
  unet: ModelSession;
  /** The model input of one batch item (flat `[1, channels, F, H, W]`). */
  sample: Float32Array;
  sampleDims: readonly number[];
  timestep: number;
  textEmbeddings: Tensor<"float32">;
  guidance: number;
  /** Extra scalar-per-batch-item inputs (e.g. `frame_stride`). */
  scalars?: Record<string, number>;
  signal?: AbortSignal | undefined;
}

/**
 * One classifier-free-guided noise prediction: the batch `[uncond, cond]` through the UNet, then
 * `eps = eps_u + g · (eps_c − eps_u)` in float32 (as numpy does it). With `g == 1` exactly, only the conditional
 * half runs (batch 1): the formula then reduces to `eps_c`.
 */
export async function guidedNoise(call: GuidedCall): Promise<Float32Array> {
  const { unet, sample, sampleDims, timestep, guidance } = call;
  const uncondFree = guidance === 1;
  const batch = uncondFree ? 1 : 2;
  const [, t, hidden] = call.textEmbeddings.dims as [number, number, number];
  const ctx = uncondFree
    ? new Tensor("float32", call.textEmbeddings.data.slice(t * hidden), [1, t, hidden])
    : call.textEmbeddings;
  const feeds: Record<string, Tensor> = {
    sample: new Tensor("float32", uncondFree ? sample : repeatBatch(sample, 2), [batch, ...sampleDims.slice(1)]),
    timestep: new Tensor("float32", new Float32Array(batch).fill(timestep), [batch]),
    encoder_hidden_states: ctx,
  };
  for (const [name, v] of Object.entries(call.scalars ?? {})) {
    feeds[name] = new Tensor("float32", new Float32Array(batch).fill(v), [batch]);
  }
  const out = await unet.run(feeds, call.signal ? { signal: call.signal } : {});
  const pred = out.noise_pred;
  if (pred?.dtype !== "float32") {
    throw new LongshotError(`${unet.name} (${unet.pack}) returned no float32 noise_pred`);
  }
  const eps = pred.data as Float32Array;
  const n = eps.length / batch;
  if (uncondFree) return eps;
  const g = Math.fround(guidance);
  const res = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = eps[i] as number;
    const c = eps[n + i] as number;
    res[i] = u + Math.fround(g * Math.fround(c - u));
  }
  return res;
}
