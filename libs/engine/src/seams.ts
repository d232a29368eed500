/**
 * Seam measurements for windowed interpolation (tests and benchmarks).
 *
 * The trajectory of a `[1, C, F, h, w]` latent is its per-frame mean `m[f]` (over channels and pixels); its steps
 * are `s[f] = m[f + 1] − m[f]`. A window border is a frame where a window's cross-fade weight starts or stops
 * changing: every `start` of a window but the first and every `end − 1` of a window but the last. The seam jump at
 * a border b is how much windowing changed the trajectory's steps next to it,
 * `max(|s_win[b − 1] − s_whole[b − 1]|, |s_win[b] − s_whole[b]|)`: a windowed result with a visible seam has a
 * step there that the whole-sequence result does not. Seams are "smooth" when every seam jump is at most the
 * median step `median_f |s_whole[f]|` of the whole-sequence trajectory, i.e. smaller than the typical
 * frame-to-frame change of the video itself.
 */
import { InvalidArgumentError } from "@longshot/core";
import type { Tensor } from "@longshot/tensor";
import { latentDims } from "./latents.js";
import type { FrameWindow } from "./stages/interpolate.js";

/** Per-frame mean of a `[1, C, F, h, w]` latent. */
export function latentTrajectory(latents: Tensor): Float64Array {
  const [b, c, f, h, w] = latentDims(latents, "latents");
  if (b !== 1) throw new InvalidArgumentError("latents", `batch must be 1, got ${b}`);
  const hw = h * w;
  const data = latents.data as Float32Array;
  const m = new Float64Array(f);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < f; i++) {
      let s = 0;
      const o = (ch * f + i) * hw;
      for (let p = 0; p < hw; p++) s += data[o + p] as number;
      m[i] = (m[i] as number) + s;
    }
  }
  for (let i = 0; i < f; i++) m[i] = (m[i] as number) / (c * hw);
  return m;
}

/** Signed steps `m[f + 1] − m[f]` of a trajectory. */
export function trajectorySteps(m: Float64Array): Float64Array {
  const s = new Float64Array(Math.max(0, m.length - 1));
  for (let i = 0; i < s.length; i++) s[i] = (m[i + 1] as number) - (m[i] as number);
  return s;
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
  /** `median_f |s_whole[f]|`. */
  medianStep: number;
  /** One entry per border frame. */
  borders: Array<{ frame: number; jump: number; windowedStep: number; wholeStep: number }>;
  /** Largest seam jump. */
  maxJump: number;
}

/** Seam jumps of a windowed result against the whole-sequence result of the same pass. */
export function seamReport(windowed: Tensor, whole: Tensor, plan: readonly FrameWindow[]): SeamReport {
  const sw = trajectorySteps(latentTrajectory(windowed));
  const sh = trajectorySteps(latentTrajectory(whole));
  if (sw.length !== sh.length) throw new InvalidArgumentError("windowed", "has a different frame count than whole");
  const medianStep = median(sh.map(Math.abs));
  const borders = windowBorders(plan).map((frame) => {
    let jump = 0;
    let windowedStep = 0;
    let wholeStep = 0;
    for (const i of [frame - 1, frame]) {
      if (i < 0 || i >= sw.length) continue;
      const d = Math.abs((sw[i] as number) - (sh[i] as number));
      if (d >= jump) {
        jump = d;
        windowedStep = sw[i] as number;
        wholeStep = sh[i] as number;
      }
    }
    return { frame, jump, windowedStep, wholeStep };
  });
  return { medianStep, borders, maxJump: Math.max(0, ...borders.map((b) => b.jump)) };
}
