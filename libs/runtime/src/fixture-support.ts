/**
 * Test support (not exported from the package): the committed tiny pack (fixtures/tiny-pack, written by
 * fixtures/make-fixtures.py), temp copies to tamper with, and plain-JS versions of the fixture graphs' formulas.
 */
import { fileURLToPath } from "node:url";
import { copyPack } from "@longshot/pack/testing";

export { editManifest } from "@longshot/pack/testing";

/** libs/runtime/fixtures/tiny-pack (this file runs from libs/runtime/dist/). */
export const TINY_PACK = fileURLToPath(new URL("../fixtures/tiny-pack", import.meta.url));

/** A fresh copy of the tiny pack in a temp dir; `dispose()` removes it. */
export const copyTinyPack = () => copyPack(TINY_PACK);

// --- reference formulas (keep in step with make-fixtures.py) ---------------------------------------------------

export const HIDDEN = 8;
export const LATENT = { c: 4, h: 4, w: 4, downsample: 4 };

/** textEncoder: out[b, t, h] = ((id * HIDDEN + h) / 100) * mask[b, t]. */
export function refTextEncoder(ids: BigInt64Array, mask: BigInt64Array, batch: number, tokens: number): Float32Array {
  const out = new Float32Array(batch * tokens * HIDDEN);
  for (let i = 0; i < batch * tokens; i++) {
    const id = Number(ids[i]);
    const m = Number(mask[i]);
    for (let h = 0; h < HIDDEN; h++) out[i * HIDDEN + h] = Math.fround(Math.fround((id * HIDDEN + h) / 100) * m);
  }
  return out;
}

function meanPerBatch(ehs: Float32Array, batch: number): number[] {
  const per = ehs.length / batch;
  return Array.from({ length: batch }, (_, b) => {
    let s = 0;
    for (let i = 0; i < per; i++) s += ehs[b * per + i] as number;
    return s / per;
  });
}

/** keyframeUnet: 0.5 * sample + 0.001 * t[b] + mean(ehs[b]). */
export function refKeyframeUnet(sample: Float32Array, t: Float32Array, ehs: Float32Array, batch: number): Float32Array {
  const per = sample.length / batch;
  const mean = meanPerBatch(ehs, batch);
  return sample.map((v, i) => {
    const b = Math.floor(i / per);
    return 0.5 * v + 0.001 * (t[b] as number) + (mean[b] as number);
  });
}

/** interpolationUnet: 0.5 * s[:, 0:4] + 0.25 * s[:, 4:8] + 0.1 * s[:, 8] + 0.01 * stride[b] + 0.001 * t[b] + mean(ehs[b]). */
export function refInterpolationUnet(
  sample: Float32Array,
  t: Float32Array,
  ehs: Float32Array,
  stride: Float32Array,
  dims: readonly [number, number, number, number, number],
): Float32Array {
  const [batch, cin, frames, h, w] = dims;
  const c = LATENT.c;
  const plane = frames * h * w;
  const mean = meanPerBatch(ehs, batch);
  const out = new Float32Array(batch * c * plane);
  for (let b = 0; b < batch; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < plane; i++) {
        const at = (k: number): number => sample[(b * cin + k) * plane + i] as number;
        out[(b * c + ch) * plane + i] =
          0.5 * at(ch) +
          0.25 * at(ch + c) +
          0.1 * at(2 * c) +
          0.01 * (stride[b] as number) +
          0.001 * (t[b] as number) +
          (mean[b] as number);
      }
    }
  }
  return out;
}

/** vaeDecoder: tanh(bias[c] + sum_k W[c, k] * latent[b, k, y // 4, x // 4]), W[c, k] = 0.1 (c + 1) - 0.05 k, bias[c] = 0.02 c - 0.01. */
export function refVaeDecoder(latent: Float32Array, batch: number): Float32Array {
  const { c: lc, h: lh, w: lw, downsample: ds } = LATENT;
  const H = lh * ds;
  const W = lw * ds;
  const out = new Float32Array(batch * 3 * H * W);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          let acc = 0.02 * c - 0.01;
          for (let k = 0; k < lc; k++) {
            acc +=
              (0.1 * (c + 1) - 0.05 * k) *
              (latent[((b * lc + k) * lh + Math.floor(y / ds)) * lw + Math.floor(x / ds)] as number);
          }
          out[((b * 3 + c) * H + y) * W + x] = Math.tanh(acc);
        }
      }
    }
  }
  return out;
}

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32). */
export function randomFloats(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
