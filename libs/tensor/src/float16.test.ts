import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  float16ArrayToFloat32,
  float16BitsToFloat32,
  float32ArrayToFloat16,
  float32BitsToFloat16Bits,
  float32ToFloat16Bits,
  toFloat16,
  toFloat32,
} from "./float16.js";
import { Tensor } from "./tensor.js";

const f16round = (Math as unknown as { f16round?: (x: number) => number }).f16round;

function bitsOf(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0] as number;
}
function floatOf(bits: number): number {
  return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0] as number;
}

describe("float16 conversion", () => {
  it("converts known values", () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest half
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -24 * 1023, 0x03ff], // largest subnormal
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
    ];
    for (const [x, h] of cases) {
      assert.equal(float32ToFloat16Bits(x), h, `f16(${x})`);
    }
  });

  it("rounds to nearest, ties to even, overflowing to infinity and underflowing to zero", () => {
    assert.equal(float32ToFloat16Bits(65519.996), 0x7bff); // just below the midpoint to Infinity
    assert.equal(float32ToFloat16Bits(65520), 0x7c00); // the midpoint rounds to even: Infinity
    assert.equal(float32ToFloat16Bits(1e6), 0x7c00);
    assert.equal(float32ToFloat16Bits(-1e6), 0xfc00);
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00); // tie between 0x3c00 (even) and 0x3c01
    assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie between 0x3c01 and 0x3c02 (even)
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01); // above the tie
    assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000); // tie between 0 (even) and the smallest subnormal
    assert.equal(float32ToFloat16Bits(-(2 ** -25)), 0x8000);
    assert.equal(float32ToFloat16Bits(2 ** -25 * 1.0001), 0x0001);
    assert.equal(float32ToFloat16Bits(3 * 2 ** -25), 0x0002); // tie between 1 and 2 (even)
    assert.equal(float32ToFloat16Bits(1e-10), 0x0000);
    assert.equal(float32ToFloat16Bits(2 ** -14 - 2 ** -26), 0x0400); // largest subnormal + rounding carries to normal
  });

  it("keeps NaN a NaN, with sign and top payload bits", () => {
    assert.equal(float32ToFloat16Bits(Number.NaN) & 0x7c00, 0x7c00);
    assert.notEqual(float32ToFloat16Bits(Number.NaN) & 0x03ff, 0);
    assert.equal(float32BitsToFloat16Bits(0x7f800001), 0x7c01); // payload only in low bits: still NaN, not Infinity
    assert.equal(float32BitsToFloat16Bits(0xffc00000), 0xfe00); // negative quiet NaN
    assert.equal(float32BitsToFloat16Bits(0x7fa00000), 0x7d00); // signalling payload kept
    assert.ok(Number.isNaN(float16BitsToFloat32(0x7e00)));
    const back = float16ArrayToFloat32(new Uint16Array([0x7d00, 0xfe00]));
    const backBits = new Uint32Array(back.buffer);
    assert.equal(backBits[0], 0x7fa00000);
    assert.equal(backBits[1], 0xffc00000);
  });

  it("round-trips every float16 bit pattern exactly", () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < all.length; i++) all[i] = i;
    const f32 = float16ArrayToFloat32(all);
    const again = float32ArrayToFloat16(f32);
    assert.deepEqual(again, all);
    for (let h = 0; h < 65536; h++) {
      const v = float16BitsToFloat32(h);
      assert.equal(Object.is(v, f32[h]) || (Number.isNaN(v) && Number.isNaN(f32[h])), true, `h=${h}`);
    }
  });

  it("decodes values with the half formula", () => {
    for (let h = 0; h < 0x7c00; h++) {
      const exp = h >> 10;
      const mant = h & 0x3ff;
      const expected = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
      assert.equal(float16BitsToFloat32(h), expected, `h=${h.toString(16)}`);
      assert.equal(float16BitsToFloat32(h | 0x8000), -expected);
    }
    assert.equal(float16BitsToFloat32(0x7c00), Number.POSITIVE_INFINITY);
    assert.equal(float16BitsToFloat32(0xfc00), Number.NEGATIVE_INFINITY);
  });

  it("rounds every midpoint between adjacent halves to the even neighbour", () => {
    for (let h = 0; h < 0x7bff; h++) {
      const lo = float16BitsToFloat32(h);
      const hi = float16BitsToFloat32(h + 1);
      const mid = (lo + hi) / 2; // exact in float32 (one more mantissa bit than the half)
      assert.equal(floatOf(bitsOf(mid)), mid);
      const expected = h % 2 === 0 ? h : h + 1;
      assert.equal(float32ToFloat16Bits(mid), expected, `mid of ${h.toString(16)}`);
      assert.equal(float32ToFloat16Bits(-mid), expected | 0x8000);
    }
  });

  it("agrees with Math.f16round on a million random float32 bit patterns", (t) => {
    if (f16round === undefined) {
      t.skip("Math.f16round is not available in this Node version");
      return;
    }
    let seed = 0x12345678;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const n = 1_000_000;
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = next();
    const src = new Float32Array(bits.buffer);
    const halves = float32ArrayToFloat16(src);
    const decoded = float16ArrayToFloat32(halves);
    for (let i = 0; i < n; i++) {
      const x = src[i] as number;
      const expected = f16round(x);
      const got = decoded[i] as number;
      if (Number.isNaN(expected)) {
        assert.ok(Number.isNaN(got), `NaN bits ${bits[i]?.toString(16)}`);
      } else if (!Object.is(got, expected)) {
        assert.fail(`bits ${bits[i]?.toString(16)} (${x}): got ${got}, Math.f16round ${expected}`);
      }
    }
  });

  it("converts tensors and rejects other dtypes", () => {
    const t = new Tensor("float32", new Float32Array([1, 0.5, -3, 65504]), [2, 2]);
    const h = toFloat16(t);
    assert.equal(h.dtype, "float16");
    assert.deepEqual(h.dims, [2, 2]);
    assert.deepEqual([...h.data], [0x3c00, 0x3800, 0xc200, 0x7bff]);
    assert.deepEqual([...toFloat32(h).data], [1, 0.5, -3, 65504]);
    assert.equal(toFloat16(h), h);
    assert.equal(toFloat32(t), t);
    const ints = new Tensor("int32", new Int32Array([1]), [1]);
    assert.throws(() => toFloat16(ints), /cannot convert int32 to float16/);
    assert.throws(() => toFloat32(ints), /cannot convert int32 to float32/);
  });
});
