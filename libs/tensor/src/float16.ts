import { InvalidArgumentError } from "@longshot/core";
import { Tensor } from "./tensor.js";

/*
 * IEEE 754 binary16 <-> binary32 conversion on raw bits.
 *
 * float32 -> float16 rounds to nearest, ties to even (the same rule as numpy's `astype(np.float16)`
 * and as `Math.f16round`): values past the largest half (65504) round to ±Infinity, values below half
 * the smallest subnormal (2^-25) flush to ±0, subnormals are produced exactly. NaN stays NaN with its
 * top 10 payload bits kept (forced non-zero so it never turns into Infinity); the sign is kept.
 * float16 -> float32 is exact (every half is a float32), NaN payloads included.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The bits of a float32 (given as its uint32 pattern) rounded to the nearest float16. */
export function float32BitsToFloat16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = f & 0x7f800000;
  const mant = f & 0x007fffff;

  if (exp >= 0x47800000) {
    // |x| >= 65536 (before rounding), Infinity or NaN.
    if (exp === 0x7f800000 && mant !== 0) {
      const payload = mant >>> 13;
      return sign | 0x7c00 | (payload === 0 ? 1 : payload);
    }
    return sign | 0x7c00;
  }

  if (exp <= 0x38000000) {
    // |x| < 2^-14: a half subnormal, or zero.
    if (exp < 0x33000000) return sign; // |x| < 2^-25: rounds to zero (2^-25 itself is a tie, to 0)
    const e = exp >>> 23; // 102..112
    const full = 0x00800000 | mant; // 24-bit significand with the implicit 1
    const shift = 126 - e; // 14..24: bits dropped to land on a multiple of 2^-24
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h += 1; // may carry into the smallest normal: correct
    return sign | h;
  }

  // Normal half range: rebias the exponent (127 -> 15) and keep the top 10 mantissa bits.
  let h = ((exp - 0x38000000) >>> 13) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1; // a carry into the exponent is correct (up to Infinity)
  return sign | h;
}

/** The nearest float16 (as raw bits) of `x` after rounding `x` to float32. */
export function float32ToFloat16Bits(x: number): number {
  scratchF32[0] = x;
  return float32BitsToFloat16Bits(scratchU32[0] as number);
}

/** The float32 bit pattern equal to a float16 bit pattern (exact). */
export function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x03ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Infinity / NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal half: normalise. The value is mant * 2^-24.
  let m = mant;
  let e = 113; // biased float32 exponent of 2^-14
  while ((m & 0x0400) === 0) {
    m <<= 1;
    e -= 1;
  }
  return (sign | (e << 23) | ((m & 0x03ff) << 13)) >>> 0;
}

/** The value of a float16 given as raw bits. */
export function float16BitsToFloat32(h: number): number {
  scratchU32[0] = float16BitsToFloat32Bits(h & 0xffff);
  return scratchF32[0] as number;
}

let halfToFloatTable: Uint32Array | undefined;
function table(): Uint32Array {
  if (halfToFloatTable === undefined) {
    const t = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = float16BitsToFloat32Bits(h);
    halfToFloatTable = t;
  }
  return halfToFloatTable;
}

/** Converts float32 values to float16 bits (round to nearest even). */
export function float32ArrayToFloat16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = float32BitsToFloat16Bits(bits[i] as number);
  return out;
}

/** Converts float16 bits to float32 values (exact). */
export function float16ArrayToFloat32(src: Uint16Array): Float32Array {
  const t = table();
  const out = new Float32Array(src.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) outBits[i] = t[src[i] as number] as number;
  return out;
}

/** A float16 copy of a float32 tensor (a float16 tensor is returned as is). */
export function toFloat16(t: Tensor): Tensor<"float16"> {
  if (t.dtype === "float16") return t as Tensor<"float16">;
  if (t.dtype !== "float32") {
    throw new InvalidArgumentError("tensor.dtype", `cannot convert ${t.dtype} to float16: only float32 converts`);
  }
  return new Tensor("float16", float32ArrayToFloat16(t.data as Float32Array), t.dims);
}

/** A float32 copy of a float16 tensor (a float32 tensor is returned as is). */
export function toFloat32(t: Tensor): Tensor<"float32"> {
  if (t.dtype === "float32") return t as Tensor<"float32">;
  if (t.dtype !== "float16") {
    throw new InvalidArgumentError("tensor.dtype", `cannot convert ${t.dtype} to float32: only float16 converts`);
  }
  return new Tensor("float32", float16ArrayToFloat32(t.data as Uint16Array), t.dims);
}
