/**
 * Seam measurements for windowed interpolation (tests and benchmarks).
 *
 * A frame step is the change of the latent from frame f to f + 1, taken per value, `s[f] = x[:, f + 1] − x[:, f]`,
 * and measured by its root mean square. A window border is a frame where a window's cross-fade weight starts or
 * stops changing: every `start` of a window but the first and every `end − 1` of a window but the last. The seam
 * jump at a border b is how much windowing changed the steps next to it, `max(rms(s_win[b − 1] − s_whole[b − 1]),
 * rms(s_win[b] − s_whole[b]))`: a windowed result with a visible seam has a step there that the whole-sequence
 * result does not. Seams are "smooth" when every seam jump is at most SEAM_BOUND times the median step
 * `median_f rms(s_whole[f])` of the whole-sequence result, the typical frame-to-frame change of the video itself.
 *
 * Per value, not of the frame's mean: an object moving across a flat background barely changes the mean latent,
 * so a mean-based step is the size of the noise, not of the motion, and depends on the clip's direction.
 */
import { InvalidArgumentError } from "@longshot/core";
import type { Tensor } from "@longshot/tensor";
import { latentDims } from "./latents.js";
import type { FrameWindow } from "./stages/interpolate.js";

/**
 * Seam jumps above this fraction of the median step are seams. Measured on the 65-frame level of the 1.2.0 and 1.3.0
 * reference fixtures (windows of 17, overlap 4): a correct stitch's largest seam jump is 0.10–0.12 of the median
 * step, a stitch with one window denoised from the wrong noise 0.95–0.96; ¼ leaves a margin of 2× or more to both.
 */
export const SEAM_BOUND = 0.25;

/** Per-frame steps `x[:, f + 1] − x[:, f]` of a `[1, C, F, h, w]` latent: `[F − 1][C·h·w]`. */
export function frameSteps(latents: Tensor): Float64Array[] {
  const [b, c, f, h, w] = latentDims(latents, "latents");
  if (b !== 1) throw new InvalidArgumentError("latents", `batch must be 1, got ${b}`);
  const hw = h * w;
  const data = latents.data as Float32Array;
  const steps: Float64Array[] = [];
  for (let i = 0; i + 1 < f; i++) {
    const s = new Float64Array(c * hw);
    for (let ch = 0; ch < c; ch++) {
      const o = (ch * f + i) * hw;
      for (let p = 0; p < hw; p++) s[ch * hw + p] = (data[o + hw + p] as number) - (data[o + p] as number);
    }
    steps.push(s);
  }
  return steps;
}

/** Root mean square of `a − b` (of `a` alone without `b`). */
export function rms(a: Float64Array, b?: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b ? (b[i] as number) : 0);
    s += d * d;
  }
  return Math.sqrt(s / Math.max(1, a.length));
}

export function median(values: ArrayLike<number>): number {
  const v = Array.from(values).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** The border frames of a window plan (see the module comment), ascending. */
export function windowBorders(plan: readonly FrameWindow[]): number[] {
  const borders = new Set<number>();
  plan.forEach((win, k) => {
    if (k > 0) borders.add(win.start);
    if (k < plan.length - 1) borders.add(win.end - 1);
  });
  return [...borders].sort((a, b) => a - b);
}

export interface SeamReport {
  /** `median_f rms(s_whole[f])`. */
  medianStep: number;
  /** One entry per border frame. */
  borders: Array<{ frame: number; jump: number; windowedStep: number; wholeStep: number }>;
  /** Largest seam jump. */
  maxJump: number;
}

/** Seam jumps of a windowed result against the whole-sequence result of the same pass. */
export function seamReport(windowed: Tensor, whole: Tensor, plan: readonly FrameWindow[]): SeamReport {
  const sw = frameSteps(windowed);
  const sh = frameSteps(whole);
  if (sw.length !== sh.length) throw new InvalidArgumentError("windowed", "has a different frame count than whole");
  const medianStep = median(sh.map((x) => rms(x)));
  const borders = windowBorders(plan).map((frame) => {
    let jump = 0;
    let windowedStep = 0;
    let wholeStep = 0;
    for (const i of [frame - 1, frame]) {
      if (i < 0 || i >= sw.length) continue;
      const d = rms(sw[i] as Float64Array, sh[i] as Float64Array);
      if (d >= jump) {
        jump = d;
        windowedStep = rms(sw[i] as Float64Array);
        wholeStep = rms(sh[i] as Float64Array);
      }
    }
    return { frame, jump, windowedStep, wholeStep };
  });
  return { medianStep, borders, maxJump: Math.max(0, ...borders.map((b) => b.jump)) };
}
