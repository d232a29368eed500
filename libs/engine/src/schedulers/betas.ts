import type { BetaScheduleConfig } from "./config.js";
import { cumprodF32, f32, sqrtF32, torchLinspaceF32 } from "./numerics.js";

/**
 * diffusers' `betas_for_alpha_bar(n, max_beta=0.999, alpha_transform_type="cosine")`: the
 * `squaredcos_cap_v2` schedule, computed in float64 and stored as float32.
 */
export function betasForAlphaBar(numDiffusionTimesteps: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number): number => Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2) ** 2;
  const betas = new Float32Array(numDiffusionTimesteps);
  for (let i = 0; i < numDiffusionTimesteps; i++) {
    const t1 = i / numDiffusionTimesteps;
    const t2 = (i + 1) / numDiffusionTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/**
 * diffusers' `rescale_zero_terminal_snr(betas)` (arXiv 2305.08891, Algorithm 1) with torch's float32
 * arithmetic.
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const alphas = new Float32Array(n);
  for (let i = 0; i < n; i++) alphas[i] = 1 - (betas[i] as number);
  const cumprod = cumprodF32(alphas);
  const sqrtBar = new Float32Array(n);
  for (let i = 0; i < n; i++) sqrtBar[i] = sqrtF32(cumprod[i] as number);
  const s0 = sqrtBar[0] as number;
  const sT = sqrtBar[n - 1] as number;
  const scale = f32(s0 / f32(s0 - sT));
  const bar = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = f32(f32((sqrtBar[i] as number) - sT) * scale);
    bar[i] = v * v;
  }
  const out = new Float32Array(n);
  out[0] = 1 - (bar[0] as number);
  for (let i = 1; i < n; i++) out[i] = 1 - f32((bar[i] as number) / (bar[i - 1] as number));
  return out;
}

/** The float32 betas of a training noise schedule, as the diffusers scheduler `__init__` builds them. */
export function makeBetas(config: BetaScheduleConfig): Float32Array {
  const n = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas !== null) {
    betas = Float32Array.from(config.trained_betas);
  } else if (config.beta_schedule === "linear") {
    betas = torchLinspaceF32(config.beta_start, config.beta_end, n);
  } else if (config.beta_schedule === "scaled_linear") {
    betas = torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n);
    for (let i = 0; i < n; i++) betas[i] = (betas[i] as number) * (betas[i] as number);
  } else {
    betas = betasForAlphaBar(n);
  }
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  return betas;
}

export interface NoiseSchedule {
  readonly betas: Float32Array;
  readonly alphas: Float32Array;
  /** `alphas_cumprod`, float32 like torch's. */
  readonly alphasCumprod: Float32Array;
}

/**
 * betas, `alphas = 1 - betas` and `alphas_cumprod`. With `rescale_betas_zero_snr`, diffusers' Euler,
 * Euler-ancestral and DPM-Solver schedulers (not DDIM) set the last `alphas_cumprod` to 2^-24 so that
 * the terminal sigma stays finite: pass `clampTerminal` for those.
 */
export function makeNoiseSchedule(config: BetaScheduleConfig, clampTerminal: boolean): NoiseSchedule {
  const betas = makeBetas(config);
  const alphas = new Float32Array(betas.length);
  for (let i = 0; i < betas.length; i++) alphas[i] = 1 - (betas[i] as number);
  const alphasCumprod = cumprodF32(alphas);
  if (clampTerminal && config.rescale_betas_zero_snr) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  return { betas, alphas, alphasCumprod };
}

/** `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` in float32, indexed by training timestep. */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  const out = new Float32Array(alphasCumprod.length);
  for (let i = 0; i < out.length; i++) {
    const a = alphasCumprod[i] as number;
    out[i] = sqrtF32(f32(f32(1 - a) / a));
  }
  return out;
}
