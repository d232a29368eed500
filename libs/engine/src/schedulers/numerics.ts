/**
 * Bit-level emulation of the few numpy / torch (CPU) primitives that diffusers' schedulers build their
 * tables with, so that TypeScript schedulers land on the same float32 values as Python diffusers.
 *
 * Conventions: every value that is a float32 tensor in torch is kept as a JS number that has been
 * through `Math.fround` after every arithmetic operation (IEEE-754 binary32, round-to-nearest-even);
 * values that numpy keeps in float64 stay plain JS numbers. Facts this module encodes (checked against
 * torch 2.13.0+cpu / numpy 2.4, see libs/engine/reference/scheduler-goldens.py):
 * - `torch.linspace(a, b, n, dtype=float32)` computes `step = (b - a) / (n - 1)` in float32 and then
 *   `a + step * i` for the first half and `b - step * (n - 1 - i)` for the second half, each as a fused
 *   multiply-add (the CPU kernel is compiled with FMA contraction): {@link torchLinspaceF32}.
 * - `torch.cumprod` of a float32 tensor on CPU accumulates in float64 and rounds each output to float32:
 *   {@link cumprodF32}.
 * - `np.linspace`, `np.arange` with a float step, `np.round` (half to even) and `np.interp` are
 *   reproduced operation by operation in float64.
 * torch's own float32 sqrt/log/exp kernels are not always correctly rounded (they differ from the
 * correctly rounded result by one ulp for some inputs, and by CPU capability); here they are correctly
 * rounded, which is where the remaining ulp-level differences against diffusers come from.
 */

export const f32 = Math.fround;

const F32_BUF = new Float32Array(1);
const U32_BUF = new Uint32Array(F32_BUF.buffer);

/** The next float32 after the float32 value `x` in the direction of `toward` (like C `nextafterf`). */
export function nextFloat32(x: number, toward: number): number {
  if (Number.isNaN(x) || Number.isNaN(toward)) return Number.NaN;
  if (x === toward) return x;
  if (x === 0) return toward > 0 ? 1.401298464324817e-45 : -1.401298464324817e-45;
  F32_BUF[0] = x;
  const bits = U32_BUF[0] as number;
  // For positive x, moving up increments the bit pattern; for negative x, moving up decrements it.
  U32_BUF[0] = toward > x === x > 0 ? bits + 1 : bits - 1;
  return F32_BUF[0] as number;
}

/** Correctly rounded float32 `a * b + c` for float32 inputs (C `fmaf`). */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b; // exact: two 24-bit significands fit in 53 bits
  const s = p + c;
  // Two-sum: s + err === p + c exactly.
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  const r = f32(s);
  if (err === 0 || r === s || !Number.isFinite(s)) return r;
  // s is not a float32; rounding s instead of s + err is only wrong when s sits exactly halfway
  // between two float32 values (then err decides the direction).
  const other = nextFloat32(r, s);
  if (Math.abs(s - r) !== Math.abs(other - s)) return r;
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}

/** `torch.linspace(start, end, steps, dtype=torch.float32)` on CPU, bit for bit. */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  const a = f32(start);
  const b = f32(end);
  if (steps === 1) {
    out[0] = a;
    return out;
  }
  const step = f32(f32(b - a) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? fmaF32(step, i, a) : fmaF32(-step, steps - i - 1, b);
  }
  return out;
}

/** `np.linspace(start, stop, num)` (endpoint=True) in float64. */
export function numpyLinspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  if (div > 0) {
    const step = (stop - start) / div;
    for (let i = 0; i < num; i++) out[i] = i * step + start;
    out[num - 1] = stop;
  } else if (num === 1) {
    out[0] = start;
  }
  return out;
}

/** `np.arange(start, stop, step)` for float arguments: `start + i * ((start + step) - start)`. */
export function numpyArange(start: number, stop: number, step: number): Float64Array {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(len);
  if (len === 0) return out;
  out[0] = start;
  if (len === 1) return out;
  const delta = start + step - start;
  for (let i = 1; i < len; i++) out[i] = start + i * delta;
  return out;
}

/** `np.round(x)`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** `np.interp(x, np.arange(len(fp)), fp)` in float64 for one point. */
export function interpArange(x: number, fp: ArrayLike<number>): number {
  const n = fp.length;
  const last = n - 1;
  if (x >= last) return fp[last] as number;
  if (x < 0) return fp[0] as number;
  const j = Math.floor(x);
  const y0 = fp[j] as number;
  if (j === x) return y0;
  const slope = (fp[j + 1] as number) - y0; // / (j + 1 - j)
  return slope * (x - j) + y0;
}

/** `torch.cumprod(x, 0)` for a float32 tensor on CPU: float64 accumulator, float32 outputs. */
export function cumprodF32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) {
    acc *= values[i] as number;
    out[i] = acc;
  }
  return out;
}

/** Float32 `sqrt`, correctly rounded. */
export function sqrtF32(x: number): number {
  return f32(Math.sqrt(x));
}

/** Float32 natural log, correctly rounded (to the precision of the float64 `Math.log`). */
export function logF32(x: number): number {
  return f32(Math.log(x));
}

/** Float32 exp, correctly rounded (to the precision of the float64 `Math.exp`). */
export function expF32(x: number): number {
  return f32(Math.exp(x));
}
