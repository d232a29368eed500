/**
 * Stage 4: latents → RGB frames through the pack's VAE decoder, in bounded batches.
 *
 * `decodeBatches` is an async generator: it slices `batch` frames out of the `[1, C, F, h, w]` latents (dividing
 * by the pack's `scalingFactor`, as diffusers does before `vae.decode`), runs the decoder on `[batch, C, h, w]`,
 * converts the `[-1, 1]` image to interleaved RGB bytes `round((x + 1) · 127.5)` clamped to [0, 255] (float32,
 * round half to even, as numpy's `np.round`), and yields that batch before touching the next one. Apart from the
 * input latents, the decode holds at most one batch: memory does not grow with the frame count unless the caller
 * keeps the frames ({@link decodeFrames} does, because it returns them all).
 */
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import type { ModelSession } from "@longshot/runtime";
import {
  ATTR_LONGSHOT_DECODE_BATCH,
  ATTR_LONGSHOT_FRAMES,
  getTracer,
  recordError,
  SPAN_DECODE,
  type Span,
} from "@longshot/telemetry/light";
import { Tensor } from "@longshot/tensor";
import { latentDims } from "../latents.js";
import { type StageTraceInput, stageSpanAttributes, throwIfCancelled } from "./denoise.js";

/** Frames per decoder call when not given (the Python reference uses 16 too). */
export const DEFAULT_DECODE_BATCH = 16;

export interface DecodeInput extends StageTraceInput {
  /** The pack's `vaeDecoder` session. */
  vae: ModelSession;
  /** Final latents `[1, C, F, h, w]`. */
  latents: Tensor;
  /** The pack's `latent.scalingFactor`. */
  scalingFactor: number;
  /** Frames per decoder call; default {@link DEFAULT_DECODE_BATCH}. */
  batch?: number | undefined;
  /** Frames `[start, end)` to decode; default all. */
  start?: number | undefined;
  end?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface DecodedBatch {
  /** Index of the first frame of this batch in the video. */
  start: number;
  /** One `height · width · 3` RGB buffer per frame (row-major, interleaved). */
  frames: Uint8Array[];
  width: number;
  height: number;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `[N, 3, H, W]` float image in [-1, 1] → N interleaved RGB frames (uint8). */
export function imageToRgb(image: Float32Array, n: number, height: number, width: number): Uint8Array[] {
  const hw = height * width;
  if (image.length !== n * 3 * hw) {
    throw new InvalidArgumentError("image", `expected ${n * 3 * hw} values for ${n} frames, got ${image.length}`);
  }
  const frames: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const rgb = new Uint8Array(hw * 3);
    for (let ch = 0; ch < 3; ch++) {
      const base = (k * 3 + ch) * hw;
      for (let p = 0; p < hw; p++) {
        const v = roundHalfEven(Math.fround(Math.fround((image[base + p] as number) + 1) * 127.5));
        rgb[p * 3 + ch] = v < 0 ? 0 : v > 255 ? 255 : Number.isNaN(v) ? 0 : v;
      }
    }
    frames.push(rgb);
  }
  return frames;
}

/**
 * Decodes frame batches one at a time (see the module comment). Traced as the span `decode` (stage decode,
 * frames, batch, execution provider), a child of the context active when the first batch is asked for; it ends
 * when the generator does (the last batch was taken, it threw, or the caller stopped early).
 */
export async function* decodeBatches(input: DecodeInput): AsyncGenerator<DecodedBatch, void, undefined> {
  const span = getTracer().startSpan(SPAN_DECODE, { attributes: stageSpanAttributes("decode", input) });
  try {
    yield* runDecode(input, span);
  } catch (err) {
    recordError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

async function* runDecode(input: DecodeInput, span: Span): AsyncGenerator<DecodedBatch, void, undefined> {
  const { vae, signal } = input;
  const [b, c, f, h, w] = latentDims(input.latents, "latents");
  if (b !== 1) throw new InvalidArgumentError("latents", `batch must be 1, got ${b}`);
  const batch = input.batch ?? DEFAULT_DECODE_BATCH;
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new InvalidArgumentError("batch", `must be an integer >= 1, got ${String(batch)}`);
  }
  const scale = input.scalingFactor;
  if (typeof scale !== "number" || !Number.isFinite(scale) || scale <= 0) {
    throw new InvalidArgumentError("scalingFactor", `must be a finite number > 0, got ${String(scale)}`);
  }
  const start = input.start ?? 0;
  const end = input.end ?? f;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end > f || start >= end) {
    throw new InvalidArgumentError("frames", `[${start}, ${end}) is not a non-empty frame range within [0, ${f})`);
  }
  span.setAttributes({ [ATTR_LONGSHOT_FRAMES]: end - start, [ATTR_LONGSHOT_DECODE_BATCH]: batch });
  const s32 = Math.fround(scale);
  const hw = h * w;
  const data = input.latents.data as Float32Array;
  for (let first = start; first < end; first += batch) {
    throwIfCancelled(signal, "decode");
    const n = Math.min(batch, end - first);
    // [1, C, F, h, w] frames [first, first + n) → [n, C, h, w], divided by the scaling factor.
    const z = new Float32Array(n * c * hw);
    for (let k = 0; k < n; k++) {
      for (let ch = 0; ch < c; ch++) {
        const src = (ch * f + first + k) * hw;
        const dst = (k * c + ch) * hw;
        for (let p = 0; p < hw; p++) z[dst + p] = (data[src + p] as number) / s32;
      }
    }
    const out = await vae.run({ latent: new Tensor("float32", z, [n, c, h, w]) }, signal ? { signal } : {});
    const image = out.image;
    if (image?.dtype !== "float32" || image.dims.length !== 4 || image.dims[0] !== n || image.dims[1] !== 3) {
      throw new LongshotError(
        `${vae.name} (${vae.pack}) returned no float32 [${n}, 3, H, W] image (got ${image ? `[${image.dims.join(", ")}]` : "nothing"})`,
      );
    }
    const [, , height, width] = image.dims as [number, number, number, number];
    yield { start: first, frames: imageToRgb(image.data as Float32Array, n, height, width), width, height };
  }
}

/** Decodes every frame (or `[start, end)`) and returns them in order. */
export async function decodeFrames(
  input: DecodeInput & { onBatch?: ((done: number, total: number) => void) | undefined },
): Promise<{ frames: Uint8Array[]; width: number; height: number }> {
  const [, , f] = latentDims(input.latents, "latents");
  const total = (input.end ?? f) - (input.start ?? 0);
  const frames: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  for await (const b of decodeBatches(input)) {
    frames.push(...b.frames);
    width = b.width;
    height = b.height;
    input.onBatch?.(frames.length, total);
  }
  return { frames, width, height };
}
