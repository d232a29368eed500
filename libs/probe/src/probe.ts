/**
 * Eval probe: recover what a video shows (object colour, shape, centroid and size tracks) from its RGB frames, and
 * score it against a prompt. A faithful port of models/longshot_models/probe.py (checked against it by
 * probe-parity.int.test.ts); the thresholds are documented in docs/models.md.
 *
 *   1. background colour = per-channel median of the frame border pixels of each frame;
 *   2. object mask = pixels farther than 0.25 (RGB in [0, 1], Euclidean) from the background colour;
 *   3. colour = nearest palette colour to the mean of masked pixels; shape, on the frame where the object is
 *      largest: triangle when the mask's centroid lies low in its bounding box (the world's triangles point up:
 *      2/3 of the way down, circles and squares 1/2), else square or circle by the fill ratio of the mask in its
 *      bounding box (square ~1.0, circle ~0.79);
 *   4. tracks: centroid (x, y) and size sqrt(area) per frame; motion = the dominant of horizontal, vertical and
 *      size change between the first and last quarter of the clip;
 *   5. smoothness: the largest frame-to-frame step of (x, y, size) is at most 3x the median step (the median is
 *      floored at 0.5 px so pixel quantisation of a slow object is not called jumpy).
 *
 * Numerics follow numpy where it matters: the Python side works in float32 (frames / 255, border medians,
 * distances, centroids), which is emulated here with Math.fround and Float32Array, and medians of an even count
 * are the mean of the two middle values, as numpy's.
 */
import { InvalidArgumentError } from "@longshot/core";
import {
  BACKGROUNDS,
  backgroundWords,
  COLOURS,
  type Motion,
  motionPhrases,
  type Rgb,
  type Shape,
  shapeWords,
} from "./world.js";

export const MASK_THRESHOLD = 0.25;
export const SQUARE_MIN_FILL = 0.88;
/**
 * Where the centroid lies down the bounding box, 0 (top) to 1 (bottom), above which the object is a triangle
 * (measured per frame in docs/models.md, "Reading the shape").
 */
export const TRIANGLE_MIN_CENTROID_DROP = 0.56;
/** |log(size_end / size_start)| above this is approaching / receding. */
export const SIZE_CHANGE_MIN = 0.35;
export const MOVE_MIN_PX = 6.0;
export const MEDIAN_STEP_FLOOR = 0.5;
/** A clip is smooth when its largest step is at most this many median steps. */
export const MAX_SMOOTH_STEP_RATIO = 3.0;

/** RGB frames of one clip: `frames[t]` holds height * width * 3 bytes, row-major, channels last. */
export interface ProbeVideo {
  readonly frames: readonly Uint8Array[];
  readonly width: number;
  readonly height: number;
}

export interface ProbeResult {
  colour: string | null;
  shape: Shape | null;
  motion: Motion | null;
  background: string | null;
  smooth: boolean;
  /** Largest frame-to-frame step over the (floored) median step; Infinity when a frame has no object. */
  maxStepRatio: number;
  /** Centroid x per frame in pixels (pixel centres at +0.5); NaN where the frame shows no object. */
  xs: number[];
  ys: number[];
  /** sqrt(mask area) per frame; 0 where the frame shows no object. */
  sizes: number[];
}

/** What a prompt asks for; null where it says nothing. */
export interface PromptWants {
  colour: string | null;
  shape: Shape | null;
  motion: Motion | null;
  background: string | null;
}

export interface ProbeScore {
  want: PromptWants;
  got: PromptWants;
  colourOk: boolean;
  shapeOk: boolean;
  motionOk: boolean;
  backgroundOk: boolean;
  smooth: boolean;
  maxStepRatio: number;
  /** colourOk && shapeOk && motionOk && backgroundOk && smooth. */
  ok: boolean;
}

function checkVideo(video: ProbeVideo): void {
  const { frames, width, height } = video;
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new InvalidArgumentError("frames", `width and height must be positive integers, got ${width}x${height}`);
  }
  if (!Array.isArray(frames) || frames.length === 0) {
    throw new InvalidArgumentError("frames", "the probe needs at least one frame");
  }
  const want = width * height * 3;
  frames.forEach((f, i) => {
    if (!(f instanceof Uint8Array) || f.length !== want) {
      throw new InvalidArgumentError(
        `frames[${i}]`,
        `must be a Uint8Array of ${width}*${height}*3 = ${want} RGB bytes, got ${f instanceof Uint8Array ? `${f.length} bytes` : typeof f}`,
      );
    }
  });
}

/** numpy's median of float32 values: the middle value, or the float32 mean of the two middle values. */
function medianF32(values: Float32Array): number {
  const s = Float32Array.from(values).sort();
  const n = s.length;
  const mid = n >> 1;
  if (n % 2 === 1) return s[mid] as number;
  return Math.fround((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** numpy's median of float64 values. */
function medianF64(values: readonly number[]): number {
  const s = Float64Array.from(values).sort();
  const n = s.length;
  const mid = n >> 1;
  if (n % 2 === 1) return s[mid] as number;
  return ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** numpy's pairwise summation of float64 values (the order np.sum / np.mean add them in). */
function pairwiseSum(a: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i] as number;
    return res;
  }
  if (n <= 128) {
    const r = new Float64Array(8);
    for (let j = 0; j < 8; j++) r[j] = a[start + j] as number;
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) (r[j] as number) += a[start + i + j] as number;
    }
    let res =
      (r[0] as number) +
      (r[1] as number) +
      ((r[2] as number) + (r[3] as number)) +
      ((r[4] as number) + (r[5] as number) + ((r[6] as number) + (r[7] as number)));
    for (; i < n; i++) res += a[start + i] as number;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

function meanF64(values: readonly number[]): number {
  return pairwiseSum(values, 0, values.length) / values.length;
}

/** The palette entry nearest to `rgb` (squared Euclidean distance; the first one wins a tie). */
function nearest(rgb: readonly number[], palette: Readonly<Record<string, Rgb>>): string {
  let best = "";
  let bestD = Number.POSITIVE_INFINITY;
  for (const [name, c] of Object.entries(palette)) {
    const d = (c[0] - (rgb[0] as number)) ** 2 + (c[1] - (rgb[1] as number)) ** 2 + (c[2] - (rgb[2] as number)) ** 2;
    if (d < bestD) {
      bestD = d;
      best = name;
    }
  }
  return best;
}

/** What the clip shows. Frames are RGB bytes; like probe.py, values are divided by 255 unless all are <= 1.5. */
export function probe(video: ProbeVideo): ProbeResult {
  checkVideo(video);
  const { frames, width: w, height: h } = video;
  const t = frames.length;
  const hw = h * w;

  let max = 0;
  for (const f of frames) for (let i = 0; i < f.length; i++) if ((f[i] as number) > max) max = f[i] as number;
  // float32 value of each byte, as numpy's `frames.astype(float32) / 255.0` (or without the division).
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = max > 1.5 ? v / 255 : v;

  const nBorder = 2 * h + 2 * w;
  const border = [new Float32Array(nBorder), new Float32Array(nBorder), new Float32Array(nBorder)] as const;
  const bg = [new Float32Array(t), new Float32Array(t), new Float32Array(t)] as const;
  const dist = new Float32Array(t * hw);
  const xs: number[] = [];
  const ys: number[] = [];
  const sizes: number[] = [];

  for (let k = 0; k < t; k++) {
    const f = frames[k] as Uint8Array;
    // Border: top row, bottom row, left column, right column (corners counted twice, as in probe.py).
    let n = 0;
    const take = (y: number, x: number) => {
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) (border[c] as Float32Array)[n] = lut[f[o + c] as number] as number;
      n++;
    };
    for (let x = 0; x < w; x++) take(0, x);
    for (let x = 0; x < w; x++) take(h - 1, x);
    for (let y = 0; y < h; y++) take(y, 0);
    for (let y = 0; y < h; y++) take(y, w - 1);
    const b0 = medianF32(border[0]);
    const b1 = medianF32(border[1]);
    const b2 = medianF32(border[2]);
    bg[0][k] = b0;
    bg[1][k] = b1;
    bg[2][k] = b2;

    let area = 0;
    let sumX = 0;
    let sumY = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const o = p * 3;
        const d0 = Math.fround((lut[f[o] as number] as number) - b0);
        const d1 = Math.fround((lut[f[o + 1] as number] as number) - b1);
        const d2 = Math.fround((lut[f[o + 2] as number] as number) - b2);
        const sq = Math.fround(Math.fround(Math.fround(d0 * d0) + Math.fround(d1 * d1)) + Math.fround(d2 * d2));
        const d = Math.fround(Math.sqrt(sq));
        dist[k * hw + p] = d;
        if (d > MASK_THRESHOLD) {
          area++;
          sumX += x + 0.5;
          sumY += y + 0.5;
        }
      }
    }
    if (area < 2) {
      xs.push(Number.NaN);
      ys.push(Number.NaN);
      sizes.push(0);
    } else {
      xs.push(Math.fround(sumX / area));
      ys.push(Math.fround(sumY / area));
      sizes.push(Math.sqrt(area));
    }
  }

  const background = nearest([medianF32(bg[0]), medianF32(bg[1]), medianF32(bg[2])], BACKGROUNDS);
  if (!sizes.some((s) => s > 0)) {
    return {
      colour: null,
      shape: null,
      motion: null,
      background,
      smooth: false,
      maxStepRatio: Number.POSITIVE_INFINITY,
      xs,
      ys,
      sizes,
    };
  }

  let big = 0;
  for (let k = 1; k < t; k++) if ((sizes[k] as number) > (sizes[big] as number)) big = k;
  const f = frames[big] as Uint8Array;
  const off = big * hw;
  let coreCount = 0;
  for (let p = 0; p < hw; p++) if ((dist[off + p] as number) > 2 * MASK_THRESHOLD) coreCount++;
  const useCore = coreCount >= 4;
  const sum = [0, 0, 0];
  let count = 0;
  let rMin = h;
  let rMax = -1;
  let cMin = w;
  let cMax = -1;
  let maskCount = 0;
  let rowSum = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const d = dist[off + p] as number;
      if (!(d > MASK_THRESHOLD)) continue;
      maskCount++;
      rowSum += y;
      if (y < rMin) rMin = y;
      if (y > rMax) rMax = y;
      if (x < cMin) cMin = x;
      if (x > cMax) cMax = x;
      if (useCore && !(d > 2 * MASK_THRESHOLD)) continue;
      for (let c = 0; c < 3; c++) (sum[c] as number) += lut[f[p * 3 + c] as number] as number;
      count++;
    }
  }
  const colour = nearest(
    sum.map((s) => Math.fround(s / count)),
    COLOURS,
  );
  const height = rMax - rMin + 1;
  const drop = (rowSum / maskCount - rMin + 0.5) / height;
  const fill = maskCount / (height * (cMax - cMin + 1));
  const shape: Shape = drop >= TRIANGLE_MIN_CENTROID_DROP ? "triangle" : fill >= SQUARE_MIN_FILL ? "square" : "circle";
  const motion = motionOf(xs, ys, sizes);
  const maxStepRatio = maxStepRatioOf(xs, ys, sizes);
  return {
    colour,
    shape,
    motion,
    background,
    smooth: maxStepRatio <= MAX_SMOOTH_STEP_RATIO,
    maxStepRatio,
    xs,
    ys,
    sizes,
  };
}

function quarterMean(v: readonly number[], first: boolean): number {
  const n = Math.max(1, Math.floor(v.length / 4));
  const part = (first ? v.slice(0, n) : v.slice(v.length - n)).filter((x) => !Number.isNaN(x));
  return part.length > 0 ? meanF64(part) : Number.NaN;
}

function motionOf(xs: readonly number[], ys: readonly number[], sizes: readonly number[]): Motion | null {
  const dx = quarterMean(xs, false) - quarterMean(xs, true);
  const dy = quarterMean(ys, false) - quarterMean(ys, true);
  const s0 = quarterMean(sizes, true);
  const s1 = quarterMean(sizes, false);
  if (Number.isNaN(dx) || Number.isNaN(dy) || s0 <= 0 || s1 <= 0) return null;
  const growth = Math.log(s1 / s0);
  const move = Math.max(Math.abs(dx), Math.abs(dy));
  if (Math.abs(growth) > SIZE_CHANGE_MIN && move < MOVE_MIN_PX * 2) return growth > 0 ? "approaching" : "receding";
  if (move < MOVE_MIN_PX) return null;
  if (Math.abs(dx) >= Math.abs(dy)) return dx > 0 ? "right" : "left";
  return dy > 0 ? "down" : "up";
}

function maxStepRatioOf(xs: readonly number[], ys: readonly number[], sizes: readonly number[]): number {
  if (xs.some(Number.isNaN) || ys.some(Number.isNaN) || sizes.some(Number.isNaN)) return Number.POSITIVE_INFINITY;
  const steps: number[] = [];
  for (let i = 1; i < xs.length; i++) {
    const dx = (xs[i] as number) - (xs[i - 1] as number);
    const dy = (ys[i] as number) - (ys[i - 1] as number);
    const ds = (sizes[i] as number) - (sizes[i - 1] as number);
    steps.push(Math.sqrt(dx * dx + dy * dy + ds * ds));
  }
  if (steps.length === 0) return 0;
  const med = Math.max(medianF64(steps), MEDIAN_STEP_FLOOR);
  return Math.max(...steps) / med;
}

/** Motion phrases in the order probe.py tries them (a plain substring test, first match wins): world.py's. */
export const MOTION_PHRASES: ReadonlyArray<readonly [phrase: string, motion: Motion]> = Object.freeze(
  motionPhrases().map((e) => Object.freeze(e)),
);

// Python's `\b` on str patterns: word characters are Unicode letters, numbers and "_".
const NOT_WORD_BEFORE = "(?<![\\p{L}\\p{N}_])";
const NOT_WORD_AFTER = "(?![\\p{L}\\p{N}_])";

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Background words longest first (stable), as probe.py tries them, with the background each one means. */
const BACKGROUND_ORDER = backgroundWords()
  .map(([word, background], i) => ({ word, background, i }))
  .sort((a, b) => b.word.length - a.word.length || a.i - b.i)
  .map((e) => [e.word, e.background] as const);

/** Shape words in world.py `shape_words()`'s order (first match wins). */
const SHAPE_WORD_ORDER = shapeWords();

/** What a world prompt asks for: colour, shape, motion, background (null where it says nothing). */
export function parsePrompt(prompt: string): PromptWants {
  if (typeof prompt !== "string") throw new InvalidArgumentError("prompt", "must be a string");
  const p = prompt.toLowerCase();
  let background: string | null = null;
  let pObj = p;
  for (const [w, b] of BACKGROUND_ORDER) {
    const m = new RegExp(`${NOT_WORD_BEFORE}${escapeRegExp(w)}\\s+background`, "u").exec(p);
    if (m) {
      background = b;
      pObj = p.slice(0, m.index) + p.slice(m.index + m[0].length);
      break;
    }
  }
  const word = (s: string) => new RegExp(`${NOT_WORD_BEFORE}${escapeRegExp(s)}${NOT_WORD_AFTER}`, "u").test(pObj);
  const colour = Object.keys(COLOURS).find(word) ?? null;
  const shape = SHAPE_WORD_ORDER.find(([w]) => word(w))?.[1] ?? null;
  const motion = MOTION_PHRASES.find(([phrase]) => pObj.includes(phrase))?.[1] ?? null;
  return { colour, shape, motion, background };
}

/** Whether a prompt names an object the probe can check: a palette colour, a shape and a motion. */
export function isWorldPrompt(prompt: string): boolean {
  const want = parsePrompt(prompt);
  return want.colour !== null && want.shape !== null && want.motion !== null;
}

/** Probes the clip and compares what it shows with what the prompt asks for (probe.py `score`). */
export function score(video: ProbeVideo, prompt: string): ProbeScore {
  const want = parsePrompt(prompt);
  const got = probe(video);
  const colourOk = got.colour === want.colour;
  const shapeOk = got.shape === want.shape;
  const motionOk = got.motion === want.motion;
  const backgroundOk = got.background === want.background;
  return {
    want,
    got: { colour: got.colour, shape: got.shape, motion: got.motion, background: got.background },
    colourOk,
    shapeOk,
    motionOk,
    backgroundOk,
    smooth: got.smooth,
    maxStepRatio: got.maxStepRatio,
    ok: colourOk && shapeOk && motionOk && backgroundOk && got.smooth,
  };
}
