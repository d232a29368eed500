/**
 * Seeded Gaussian noise that every machine and every replica computes identically, and that can be
 * produced for any slice of a tensor without generating what comes before it.
 *
 * Recipe (version 1; reproduced independently in libs/engine/reference/noise-goldens.py):
 * - Generator: Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel
 *   Random Numbers: As Easy as 1, 2, 3" (SC'11), exactly as in D. E. Shaw Research's Random123 library
 *   (`philox4x32_R` with R = 10; checked against its published known-answer vectors, `tests/kat_vectors`).
 *   It maps a 128-bit counter and a 64-bit key to four uint32 words.
 * - Key: the 64-bit seed, low word first: `key = [seed & 0xffffffff, seed >> 32]`.
 * - Counter: `[block & 0xffffffff, block >> 32, streamLo, streamHi]`, where element `n` of the flat
 *   row-major tensor lives in `block = floor(n / 4)`, lane `n % 4`, and `(streamLo, streamHi)` are the
 *   first 8 bytes of SHA-256(UTF-8 stream name) read as two little-endian uint32 words. The default
 *   stream is the empty string. Distinct names give independent streams (e.g. "keyframes",
 *   "interp-1/window-3").
 * - Normals: the four words `w0..w3` of a block become uniforms `u = (w + 0.5) / 2^32` in (0, 1), and
 *   Box-Muller turns each pair `(u0, u1)`, `(u2, u3)` into two standard normals, in float64:
 *   `r = sqrt(-2 ln u0)`, `z0 = r cos(2 pi u1)`, `z1 = r sin(2 pi u1)` (likewise z2, z3 from u2, u3).
 *   Element `n` is `z[n % 4]` of its block, rounded to float32.
 * Because element n depends only on (seed, stream, n), a window of frames [a, b) of a [B, C, F, H, W]
 * tensor is the same whether it is generated alone ({@link randnFrames}) or cut from the whole tensor.
 * The float64 transcendental functions are V8's own (fdlibm-derived, platform independent), so Node gives
 * the same float32 values on every machine.
 */
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "@longshot/core";
import { numel, Tensor } from "@longshot/tensor";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;
const INV_TWO_POW_32 = 1 / TWO_POW_32;
const TWO_PI = 2 * Math.PI;

/** High 32 bits of the 64-bit product of two uint32 values. */
function mulhi32(a: number, b: number): number {
  const aL = a & 0xffff;
  const aH = a >>> 16;
  const bL = b & 0xffff;
  const bH = b >>> 16;
  const ll = aL * bL;
  const lh = aL * bH;
  const hl = aH * bL;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32 with `rounds` rounds of (counter c0..c3, key k0, k1), written into `out`. */
function philoxInto(
  out: Uint32Array,
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  rounds: number,
): void {
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

function checkWord(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new InvalidArgumentError(field, `must hold uint32 words, got ${String(v)}`);
  }
  return v;
}

/**
 * Philox4x32-R (Random123 `philox4x32_R`): four uint32 words from a 4-word counter and a 2-word key.
 * `rounds` is 10 for the standard Philox4x32-10.
 */
export function philox4x32(counter: ArrayLike<number>, key: ArrayLike<number>, rounds = 10): Uint32Array {
  if (counter.length !== 4) throw new InvalidArgumentError("counter", `must have 4 words, got ${counter.length}`);
  if (key.length !== 2) throw new InvalidArgumentError("key", `must have 2 words, got ${key.length}`);
  if (!Number.isInteger(rounds) || rounds < 0 || rounds > 16) {
    throw new InvalidArgumentError("rounds", `must be an integer in [0, 16], got ${rounds}`);
  }
  const out = new Uint32Array(4);
  philoxInto(
    out,
    checkWord("counter", counter[0]),
    checkWord("counter", counter[1]),
    checkWord("counter", counter[2]),
    checkWord("counter", counter[3]),
    checkWord("key", key[0]),
    checkWord("key", key[1]),
    rounds,
  );
  return out;
}

const MAX_SEED = (1n << 64n) - 1n;

/** A seed as its Philox key words `[lo, hi]`. Seeds are integers in [0, 2^64). */
export function seedKey(seed: bigint | number): [lo: number, hi: number] {
  let s: bigint;
  if (typeof seed === "bigint") {
    s = seed;
  } else if (typeof seed === "number" && Number.isSafeInteger(seed)) {
    s = BigInt(seed);
  } else {
    throw new InvalidArgumentError(
      "seed",
      `must be an integer (a safe integer number or a bigint), got ${String(seed)}`,
    );
  }
  if (s < 0n || s > MAX_SEED) throw new InvalidArgumentError("seed", `must be in [0, 2^64), got ${s}`);
  return [Number(s & 0xffffffffn), Number(s >> 32n)];
}

/** A stream name as its two counter words: the first 8 bytes of SHA-256(UTF-8 name), little-endian. */
export function streamWords(stream: string): [lo: number, hi: number] {
  if (typeof stream !== "string") throw new InvalidArgumentError("stream", `must be a string, got ${typeof stream}`);
  const digest = createHash("sha256").update(stream, "utf8").digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4)];
}

function checkIndex(field: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(field, `must be an integer >= 0, got ${v}`);
}

/** Fills `out[0..count)` with elements `offset..offset+count` of the stream. */
function fillNormals(
  out: Float32Array,
  outStart: number,
  key: [number, number],
  stream: [number, number],
  offset: number,
  count: number,
): void {
  const words = new Uint32Array(4);
  const z = new Float64Array(4);
  const end = offset + count;
  let n = offset;
  let o = outStart;
  while (n < end) {
    const block = Math.floor(n / 4);
    philoxInto(words, block >>> 0, Math.floor(block / TWO_POW_32) >>> 0, stream[0], stream[1], key[0], key[1], 10);
    for (let p = 0; p < 4; p += 2) {
      const u0 = ((words[p] as number) + 0.5) * INV_TWO_POW_32;
      const u1 = ((words[p + 1] as number) + 0.5) * INV_TWO_POW_32;
      const r = Math.sqrt(-2 * Math.log(u0));
      const theta = TWO_PI * u1;
      z[p] = r * Math.cos(theta);
      z[p + 1] = r * Math.sin(theta);
    }
    const laneEnd = Math.min(4, end - block * 4);
    for (let lane = n - block * 4; lane < laneEnd; lane++) out[o++] = z[lane] as number;
    n = block * 4 + laneEnd;
  }
}

/**
 * `count` standard normals starting at flat element `offset` of stream `stream` of `seed`: equal to
 * `randn(seed, dims, { stream }).data.subarray(offset, offset + count)` for any dims that large, without
 * generating the prefix.
 */
export function randnAt(seed: bigint | number, stream: string, offset: number, count: number): Float32Array {
  const key = seedKey(seed);
  const words = streamWords(stream);
  checkIndex("offset", offset);
  checkIndex("count", count);
  if (offset + count > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError("offset", `offset + count must stay below 2^53, got ${offset} + ${count}`);
  }
  const out = new Float32Array(count);
  fillNormals(out, 0, key, words, offset, count);
  return out;
}

function checkDims(dims: readonly number[]): void {
  if (!Array.isArray(dims)) throw new InvalidArgumentError("dims", "must be an array of integers");
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new InvalidArgumentError("dims", `invalid dimension ${d} in [${dims.join(", ")}]`);
    }
  }
  if (numel(dims) > 2 ** 31) {
    throw new InvalidArgumentError("dims", `[${dims.join(", ")}] has more than 2^31 elements`);
  }
}

/** A float32 tensor of standard normals: element n (row-major) is element n of stream `stream` of `seed`. */
export function randn(
  seed: bigint | number,
  dims: readonly number[],
  options: { stream?: string } = {},
): Tensor<"float32"> {
  checkDims(dims);
  const data = randnAt(seed, options.stream ?? "", 0, numel(dims));
  return new Tensor("float32", data, dims);
}

/**
 * Frames `[frameStart, frameEnd)` of the noise tensor `randn(seed, dims, { stream })` with
 * `dims = [B, C, F, H, W]`, as a `[B, C, frameEnd - frameStart, H, W]` tensor, generating only those
 * frames. A replica denoising one window of a long clip gets exactly the noise a whole-sequence run
 * gives those frames.
 */
export function randnFrames(
  seed: bigint | number,
  stream: string,
  dims: readonly number[],
  frameStart: number,
  frameEnd: number,
): Tensor<"float32"> {
  checkDims(dims);
  if (dims.length !== 5) {
    throw new InvalidArgumentError("dims", `must be [B, C, F, H, W] (5 dimensions), got [${dims.join(", ")}]`);
  }
  const [b, c, f, h, w] = dims as [number, number, number, number, number];
  if (!Number.isSafeInteger(frameStart) || !Number.isSafeInteger(frameEnd) || frameStart < 0 || frameEnd > f) {
    throw new InvalidArgumentError("frames", `[${frameStart}, ${frameEnd}) must lie within [0, ${f}) frames`);
  }
  if (frameStart >= frameEnd) {
    throw new InvalidArgumentError("frames", `[${frameStart}, ${frameEnd}) is empty: frameEnd must be > frameStart`);
  }
  const key = seedKey(seed);
  const words = streamWords(stream);
  const frameSize = h * w;
  const nFrames = frameEnd - frameStart;
  const run = nFrames * frameSize;
  const out = new Float32Array(b * c * run);
  for (let bc = 0; bc < b * c; bc++) {
    fillNormals(out, bc * run, key, words, (bc * f + frameStart) * frameSize, run);
  }
  return new Tensor("float32", out, [b, c, nFrames, h, w]);
}
