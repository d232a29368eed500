/**
 * Stage 3, windowed: one interpolation pass run as overlapping windows of output frames instead of one
 * whole-sequence model call per step. This is the unit the interpolation replicas share: the distributed
 * pipeline sends each window ({@link runWindow}) to a replica and stitches the results ({@link blendWindows});
 * {@link interpolateWindowed} does both in one process.
 *
 * Window plan ({@link planWindows}). `window` is a window's length in output frames and `overlap` the span two
 * neighbouring windows share, measured in frame intervals: windows start and end on known slots (frames
 * `i % factor == 0`, which hold the previous level's frames), so `window ≡ 1 (mod factor)` and
 * `overlap ≡ 0 (mod factor)`, and two neighbours share `overlap + 1` frames, the first and last of them known
 * slots. Window k starts at `k · (window − 1 − overlap)`; the last window is moved back to end exactly on the
 * level's last frame (so it may overlap its neighbour more). `overlap = 0` gives windows that touch on one
 * known frame.
 *
 * Each window is an independent, full denoising loop over its frames, with its slice of the *same* level noise
 * (same seed and stream, {@link StageNoise}), its input frames, hint and mask: see `interpolateFrames`.
 *
 * Blending ({@link blendWindows}). In the frames two windows share, the result is a linear cross-fade: the earlier
 * window's weight falls linearly from 1 at the first shared frame to 0 at the last, the later window's rises
 * from 0 to 1 (weights are normalised per frame, which matters only where a moved last window overlaps more
 * than two windows). In pinned mode the known slots are then restored bit-exactly from the input frames.
 */
import { InvalidArgumentError } from "@longshot/core";
import { Tensor } from "@longshot/tensor";
import { latentDims, scatterFramesInto } from "../latents.js";
import {
  checkWindow,
  type FrameWindow,
  type InterpolationMode,
  type InterpolationStageInput,
  interpolatedFrames,
  interpolateFrames,
} from "./interpolate.js";

export type { FrameWindow } from "./interpolate.js";

/** Where a window sits in its plan, for progress reports. */
export interface WindowInfo extends FrameWindow {
  index: number;
  count: number;
}

/**
 * Checks window sizes for a factor: `window ≡ 1 (mod factor)`, `window ≥ factor + 1`, `overlap ≡ 0 (mod factor)`,
 * `0 ≤ overlap ≤ window − 1 − factor` (so consecutive windows advance by at least one interval).
 * `field` prefixes the error fields (e.g. "window" → "window.frames", "window.overlap").
 */
export function checkWindowSizes(window: number, overlap: number, factor = 4, field = "window"): void {
  if (!Number.isSafeInteger(window) || window < factor + 1 || window % factor !== 1) {
    throw new InvalidArgumentError(
      `${field}.frames`,
      `must be an integer ≥ ${factor + 1} with frames ≡ 1 (mod ${factor}) (e.g. ${factor + 1}, ${4 * factor + 1}, ${8 * factor + 1}), got ${String(window)}`,
    );
  }
  if (!Number.isSafeInteger(overlap) || overlap < 0 || overlap % factor !== 0 || overlap > window - 1 - factor) {
    throw new InvalidArgumentError(
      `${field}.overlap`,
      `must be a multiple of ${factor} in [0, ${window - 1 - factor}] for windows of ${window} frames, got ${String(overlap)}`,
    );
  }
}

/**
 * The windows of a pass with `fout` output frames (see the module comment). One window `[0, fout)` when
 * `window ≥ fout`.
 */
export function planWindows(fout: number, window: number, overlap: number, factor = 4): FrameWindow[] {
  if (!Number.isSafeInteger(fout) || fout < factor + 1 || fout % factor !== 1) {
    throw new InvalidArgumentError(
      "frames",
      `an interpolation level has (F − 1) · ${factor} + 1 frames (≥ ${factor + 1}), got ${String(fout)}`,
    );
  }
  checkWindowSizes(window, overlap, factor);
  if (window >= fout) return [{ start: 0, end: fout }];
  const advance = window - 1 - overlap;
  const plan: FrameWindow[] = [];
  for (let start = 0; ; start += advance) {
    if (start + window >= fout) {
      plan.push({ start: fout - window, end: fout });
      return plan;
    }
    plan.push({ start, end: start + window });
  }
}

export interface WindowStageInput extends InterpolationStageInput {
  /** The output frames this window produces; both ends on known slots (a window of {@link planWindows}). */
  window: FrameWindow;
}

/**
 * Runs one window of an interpolation pass: `input.latents` and `input.noise` are the whole level's (only the
 * window's frames are read, and only the window's noise is generated). Returns `[1, C, end − start, h, w]`.
 */
export function runWindow(input: WindowStageInput): Promise<Tensor<"float32">> {
  return interpolateFrames(input, input.window);
}

export interface WindowResult {
  window: FrameWindow;
  /** `[1, C, end − start, h, w]`, as returned by {@link runWindow}. */
  latents: Tensor;
}

export interface BlendOptions {
  /** Output frames of the level. */
  frames: number;
  mode: InterpolationMode;
  /** The level's input frames `[1, C, Fin, h, w]`: required in pinned mode (known slots are restored from them). */
  keyframes?: Tensor | undefined;
  factor?: number | undefined;
}

function rampUp(j: number, a: number, b: number): number {
  if (b <= a) return j <= a ? 0 : 1;
  return Math.min(1, Math.max(0, (j - a) / (b - a)));
}

function rampDown(j: number, a: number, b: number): number {
  if (b <= a) return 1;
  return Math.min(1, Math.max(0, (b - j) / (b - a)));
}

/**
 * Cross-fade weights of a plan: `weights[k][j − start_k]` is window k's weight at output frame j. Windows must be
 * sorted, cover `[0, fout)` and each overlap its predecessor by at least one frame; at every frame the weights of
 * the windows covering it sum to 1.
 */
export function blendWeights(windows: readonly FrameWindow[], fout: number, factor = 4): Float64Array[] {
  if (windows.length === 0) throw new InvalidArgumentError("windows", "no windows to blend");
  for (let k = 0; k < windows.length; k++) {
    const win = windows[k] as FrameWindow;
    checkWindow(win, fout, factor, `windows[${k}]`);
    const prev = windows[k - 1];
    if (k === 0 && win.start !== 0) {
      throw new InvalidArgumentError("windows[0]", `must start at frame 0, starts at ${win.start}`);
    }
    if (prev && (win.start > prev.end - 1 || win.end <= prev.end)) {
      throw new InvalidArgumentError(
        `windows[${k}]`,
        `[${win.start}, ${win.end}) must overlap [${prev.start}, ${prev.end}) and extend past it (sorted, no gaps)`,
      );
    }
  }
  const last = windows[windows.length - 1] as FrameWindow;
  if (last.end !== fout) {
    throw new InvalidArgumentError(`windows[${windows.length - 1}]`, `must end at frame ${fout}, ends at ${last.end}`);
  }
  const raw = windows.map((win, k) => {
    const prev = windows[k - 1];
    const next = windows[k + 1];
    const wts = new Float64Array(win.end - win.start);
    for (let j = win.start; j < win.end; j++) {
      const up = prev ? rampUp(j, win.start, prev.end - 1) : 1;
      const down = next ? rampDown(j, next.start, win.end - 1) : 1;
      wts[j - win.start] = up * down;
    }
    return wts;
  });
  const sum = new Float64Array(fout);
  windows.forEach((win, k) => {
    const wts = raw[k] as Float64Array;
    for (let j = win.start; j < win.end; j++) sum[j] = (sum[j] as number) + (wts[j - win.start] as number);
  });
  for (let j = 0; j < fout; j++) {
    if (!((sum[j] as number) > 0)) throw new InvalidArgumentError("windows", `no window has weight at frame ${j}`);
  }
  windows.forEach((win, k) => {
    const wts = raw[k] as Float64Array;
    for (let j = win.start; j < win.end; j++) wts[j - win.start] = (wts[j - win.start] as number) / (sum[j] as number);
  });
  return raw;
}

/** Stitches window results into the level's `[1, C, fout, h, w]` latents (see the module comment). */
export function blendWindows(results: readonly WindowResult[], options: BlendOptions): Tensor<"float32"> {
  const fout = options.frames;
  const factor = options.factor ?? 4;
  if (!Array.isArray(results) || results.length === 0) {
    throw new InvalidArgumentError("results", "no window results to blend");
  }
  const sorted = [...results].sort((a, b) => a.window.start - b.window.start);
  const weights = blendWeights(
    sorted.map((r) => r.window),
    fout,
    factor,
  );
  const [, c, , h, w] = latentDims(sorted[0]?.latents as Tensor, "results[0].latents");
  sorted.forEach((r, k) => {
    const d = latentDims(r.latents, `results[${k}].latents`);
    const n = r.window.end - r.window.start;
    if (d[0] !== 1 || d[1] !== c || d[2] !== n || d[3] !== h || d[4] !== w) {
      throw new InvalidArgumentError(
        `results[${k}].latents`,
        `must be [1, ${c}, ${n}, ${h}, ${w}] for window [${r.window.start}, ${r.window.end}), got [${d.join(", ")}]`,
      );
    }
  });
  const hw = h * w;
  const acc = new Float64Array(c * fout * hw);
  sorted.forEach((r, k) => {
    const wts = weights[k] as Float64Array;
    const { start } = r.window;
    const n = r.window.end - start;
    const src = r.latents.data as Float32Array;
    for (let ch = 0; ch < c; ch++) {
      for (let j = 0; j < n; j++) {
        const wt = wts[j] as number;
        if (wt === 0) continue;
        const s = (ch * n + j) * hw;
        const o = (ch * fout + start + j) * hw;
        for (let p = 0; p < hw; p++) acc[o + p] = (acc[o + p] as number) + wt * (src[s + p] as number);
      }
    }
  });
  const out = Float32Array.from(acc);
  const dims = [1, c, fout, h, w] as const;
  if (options.mode === "pinned") {
    const kf = options.keyframes;
    if (!kf) throw new InvalidArgumentError("keyframes", "pinned mode needs the level's input frames to restore");
    const kd = latentDims(kf, "keyframes");
    const fin = (fout - 1) / factor + 1;
    if (kd[0] !== 1 || kd[1] !== c || kd[2] !== fin || kd[3] !== h || kd[4] !== w) {
      throw new InvalidArgumentError("keyframes", `must be [1, ${c}, ${fin}, ${h}, ${w}], got [${kd.join(", ")}]`);
    }
    scatterFramesInto(out, dims, factor, kf.data as Float32Array);
  }
  return new Tensor("float32", out, dims);
}

export interface WindowedInterpolationInput extends InterpolationStageInput {
  /** Window length in output frames (≡ 1 mod factor). */
  windowFrames: number;
  /** Frame intervals neighbouring windows share (≡ 0 mod factor). */
  overlap: number;
  /** Progress per window (in addition to `onStep`, which sees each window's steps). */
  onWindowStep?: ((step: number, total: number, window: WindowInfo) => void) | undefined;
}

/** The whole pass as windows, run one after the other in this process, then blended. */
export async function interpolateWindowed(input: WindowedInterpolationInput): Promise<Tensor<"float32">> {
  const factor = input.factor ?? 4;
  const [, , fin] = latentDims(input.latents, "latents");
  const fout = interpolatedFrames(fin, factor);
  const plan = planWindows(fout, input.windowFrames, input.overlap, factor);
  const results: WindowResult[] = [];
  for (let index = 0; index < plan.length; index++) {
    const window = plan[index] as FrameWindow;
    const info: WindowInfo = { ...window, index, count: plan.length };
    const latents = await runWindow({
      ...input,
      window,
      onStep: (step, total) => {
        input.onStep?.(step, total);
        input.onWindowStep?.(step, total, info);
      },
    });
    results.push({ window, latents });
  }
  return blendWindows(results, { frames: fout, mode: input.mode, keyframes: input.latents, factor });
}
