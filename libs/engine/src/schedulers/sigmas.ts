import { logF32, numpyLinspace } from "./numerics.js";

/** `np.log(sigmas)` of a float32 array: float32 results. */
export function logSigmasF32(sigmas: Float32Array): Float32Array {
  const out = new Float32Array(sigmas.length);
  for (let i = 0; i < out.length; i++) out[i] = logF32(sigmas[i] as number);
  return out;
}

/**
 * diffusers' `_sigma_to_t`: the (fractional) training timestep whose sigma is `sigma`, by linear
 * interpolation in log-sigma. `logSigmas` is the float32 `np.log` of the training sigmas (ascending).
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low_idx = cumsum(dists >= 0).argmax(): the last index whose log-sigma is <= logSigma (0 if none).
  let lowIdx = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - (logSigmas[i] as number) >= 0) lowIdx = i;
  lowIdx = Math.min(lowIdx, logSigmas.length - 2);
  const low = logSigmas[lowIdx] as number;
  const high = logSigmas[lowIdx + 1] as number;
  let w = (low - logSigma) / Math.fround(low - high);
  w = Math.min(Math.max(w, 0), 1);
  return (1 - w) * lowIdx + w * (lowIdx + 1);
}

/** Karras et al. (2022) sigmas, diffusers' `_convert_to_karras` (rho = 7), float64. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, numInferenceSteps: number): Float64Array {
  const rho = 7.0;
  const ramp = numpyLinspace(0, 1, numInferenceSteps);
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  const out = new Float64Array(numInferenceSteps);
  for (let i = 0; i < numInferenceSteps; i++)
    out[i] = (maxInvRho + (ramp[i] as number) * (minInvRho - maxInvRho)) ** rho;
  return out;
}
