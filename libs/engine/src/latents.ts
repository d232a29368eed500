/**
 * Small, allocation-explicit operations on video latents laid out as `[B, C, F, H, W]` float32 (the pack's
 * "BCFHW" layout), used by the stages. Every function returns new arrays; none modifies its inputs unless its
 * name says so (`...Into`).
 */
import { InvalidArgumentError } from "@longshot/core";
import { INTERPOLATION_HINTS, type InterpolationHint } from "@longshot/pack";
import { numel, Tensor } from "@longshot/tensor";

/** Dims of a video latent: batch, channels, frames, height, width. */
export type LatentDims = readonly [b: number, c: number, f: number, h: number, w: number];

/** Checks that `t` is a float32 `[B, C, F, H, W]` tensor and returns its dims. */
export function latentDims(t: Tensor, field: string): LatentDims {
  if (!(t instanceof Tensor)) throw new InvalidArgumentError(field, "must be a Tensor");
  if (t.dtype !== "float32") throw new InvalidArgumentError(field, `must be float32, got ${t.dtype}`);
  if (t.dims.length !== 5) {
    throw new InvalidArgumentError(field, `must be [B, C, F, H, W] (5 dimensions), got [${t.dims.join(", ")}]`);
  }
  return t.dims as unknown as LatentDims;
}

/** Asserts `t` has exactly `expected` dims (a shape check with a readable message). */
export function expectDims(t: Tensor, expected: readonly number[], field: string, what = ""): void {
  if (t.dims.length !== expected.length || t.dims.some((d, i) => d !== expected[i])) {
    throw new InvalidArgumentError(
      field,
      `must have shape [${expected.join(", ")}]${what ? ` (${what})` : ""}, got [${t.dims.join(", ")}]`,
    );
  }
}

/** Frames `[start, end)` of a `[B, C, F, H, W]` tensor, as a new `[B, C, end - start, H, W]` tensor. */
export function sliceFrames(t: Tensor<"float32">, start: number, end: number): Tensor<"float32"> {
  const [b, c, f, h, w] = latentDims(t, "latents");
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > f || start >= end) {
    throw new InvalidArgumentError("frames", `[${start}, ${end}) is not a non-empty frame range within [0, ${f})`);
  }
  const hw = h * w;
  const n = end - start;
  const out = new Float32Array(b * c * n * hw);
  for (let bc = 0; bc < b * c; bc++) {
    out.set(t.data.subarray((bc * f + start) * hw, (bc * f + end) * hw), bc * n * hw);
  }
  return new Tensor("float32", out, [b, c, n, h, w]);
}

/**
 * Frames `0, stride, 2·stride, …` (`x[:, :, 0::stride]`) of a flat `[B, C, F, H, W]` array, as a flat
 * `[B, C, ceil(F / stride), H, W]` array.
 */
export function gatherFrames(x: Float32Array, dims: LatentDims, stride: number): Float32Array {
  const [b, c, f, h, w] = dims;
  const hw = h * w;
  const k = Math.ceil(f / stride);
  const out = new Float32Array(b * c * k * hw);
  for (let bc = 0; bc < b * c; bc++) {
    for (let j = 0; j < k; j++) {
      const src = (bc * f + j * stride) * hw;
      out.set(x.subarray(src, src + hw), (bc * k + j) * hw);
    }
  }
  return out;
}

/** `x[:, :, 0::stride] = src` in place, with `src` a flat `[B, C, ceil(F / stride), H, W]` array. */
export function scatterFramesInto(x: Float32Array, dims: LatentDims, stride: number, src: Float32Array): void {
  const [b, c, f, h, w] = dims;
  const hw = h * w;
  const k = Math.ceil(f / stride);
  if (src.length !== b * c * k * hw) {
    throw new InvalidArgumentError("frames", `expected ${b * c * k * hw} values for ${k} frames, got ${src.length}`);
  }
  for (let bc = 0; bc < b * c; bc++) {
    for (let j = 0; j < k; j++) {
      const dst = (bc * f + j * stride) * hw;
      x.set(src.subarray((bc * k + j) * hw, (bc * k + j + 1) * hw), dst);
    }
  }
}

/**
 * The interpolation conditioning of one pass from `fin` frames to `fout = (fin - 1) · factor + 1`, for batch 1:
 * `mask[:, 0, i] = 0` at the known slots (`i % factor == 0`), 1 elsewhere, and the hint (C channels) built as
 * `hint` says (`repeat`, or `blend`: {@link blendKnownFrames}). Returned as the flat `[1, 1 + C, fout, H, W]` block
 * that follows the noisy sample in the model input (`cat[x, mask, hint]` along channels).
 */
export function interpolationConditioning(
  latents: Tensor<"float32">,
  factor: number,
  hint: InterpolationHint = "repeat",
): Float32Array {
  const [b, c, fin, h, w] = latentDims(latents, "latents");
  if (b !== 1) throw new InvalidArgumentError("latents", `batch must be 1, got ${b}`);
  if (!(INTERPOLATION_HINTS as readonly string[]).includes(hint)) {
    throw new InvalidArgumentError("hint", `must be one of ${INTERPOLATION_HINTS.join(", ")}, got ${String(hint)}`);
  }
  const fout = (fin - 1) * factor + 1;
  const hw = h * w;
  const out = new Float32Array((1 + c) * fout * hw);
  for (let i = 0; i < fout; i++) {
    if (i % factor !== 0) out.fill(1, i * hw, (i + 1) * hw);
  }
  if (hint === "blend") {
    out.set(blendKnownFrames(latents, factor), fout * hw);
    return out;
  }
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < fout; i++) {
      const src = (ch * fin + Math.floor(i / factor)) * hw;
      out.set(latents.data.subarray(src, src + hw), ((1 + ch) * fout + i) * hw);
    }
  }
  return out;
}

/**
 * The known frames blended linearly across each gap, `[1, C, Fout, h, w]`: output frame `i` between known frames
 * `k = floor(i / factor)` and `k + 1` is `(1 − a)·latents[k] + a·latents[k + 1]` with `a = (i mod factor) / factor`
 * (float32 arithmetic, as numpy). Where an interpolation pass of strength < 1 starts from, and the `blend` hint.
 */
export function blendKnownFrames(latents: Tensor<"float32">, factor: number): Float32Array {
  const [b, c, fin, h, w] = latentDims(latents, "latents");
  if (b !== 1) throw new InvalidArgumentError("latents", `batch must be 1, got ${b}`);
  const fout = (fin - 1) * factor + 1;
  const hw = h * w;
  const src = latents.data;
  const out = new Float32Array(c * fout * hw);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < fout; i++) {
      const k = Math.floor(i / factor);
      const a = Math.fround((i % factor) / factor);
      const here = (ch * fin + k) * hw;
      const next = (ch * fin + Math.min(k + 1, fin - 1)) * hw;
      const o = (ch * fout + i) * hw;
      if (a === 0) {
        out.set(src.subarray(here, here + hw), o);
        continue;
      }
      const ra = Math.fround(1 - a);
      for (let j = 0; j < hw; j++) {
        out[o + j] = Math.fround(ra * (src[here + j] as number)) + Math.fround(a * (src[next + j] as number));
      }
    }
  }
  return out;
}

/** Concatenates flat per-batch-item blocks along the channel axis for batch 1 (plain concatenation). */
export function concat(parts: readonly Float32Array[]): Float32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `copies` back-to-back copies of `x` (a batch of identical items). */
export function repeatBatch(x: Float32Array, copies: number): Float32Array {
  const out = new Float32Array(x.length * copies);
  for (let i = 0; i < copies; i++) out.set(x, i * x.length);
  return out;
}

/** Maximum absolute difference of two equally long arrays (for tests and reports). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new InvalidArgumentError("arrays", `lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (d > m || Number.isNaN(d)) m = d;
  }
  return m;
}

/** Mean absolute difference of two equally long arrays. */
export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new InvalidArgumentError("arrays", `lengths differ: ${a.length} vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs((a[i] as number) - (b[i] as number));
  return a.length === 0 ? 0 : s / a.length;
}

/** A float32 tensor of the given dims filled from `data` (checked length). */
export function f32Tensor(data: Float32Array, dims: readonly number[]): Tensor<"float32"> {
  if (data.length !== numel(dims)) {
    throw new InvalidArgumentError(
      "data",
      `has ${data.length} elements, dims [${dims.join(", ")}] need ${numel(dims)}`,
    );
  }
  return new Tensor("float32", data, dims);
}
