import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cumprodF32,
  fmaF32,
  interpArange,
  nextFloat32,
  numpyArange,
  numpyLinspace,
  roundHalfEven,
  torchLinspaceF32,
} from "./numerics.js";

/** Exact float32 rounding of a*b + c (float32 inputs) with BigInt arithmetic, as the reference. */
function exactFmaF32(a: number, b: number, c: number): number {
  const A = BigInt(a * 2 ** 150);
  const B = BigInt(b * 2 ** 150);
  const C = BigInt(c * 2 ** 300);
  const v = A * B + C;
  const approx = Math.fround(Number(v) / 2 ** 300);
  const candidates = [nextFloat32(approx, -Infinity), approx, nextFloat32(approx, Infinity)];
  let best = approx;
  let bestDist = -1n;
  for (const r of candidates) {
    const R = BigInt(r * 2 ** 300);
    const d = v > R ? v - R : R - v;
    const even = (new Uint32Array(new Float32Array([r]).buffer)[0] as number) % 2 === 0;
    if (bestDist < 0n || d < bestDist || (d === bestDist && even)) {
      best = r;
      bestDist = d;
    }
  }
  return best;
}

describe("numerics", () => {
  it("fmaF32 rounds once, also when the float64 sum lands on a float32 midpoint", () => {
    const a = 1 + 2 ** -23;
    const b = (1 - 2 ** -23) * 2 ** -18; // a * b = 2^-18 - 2^-64
    const c = 64 + 2 ** -17; // odd mantissa; the float64 sum rounds to the midpoint above it
    assert.equal(Math.fround(a * b + c), 64 + 2 ** -16); // double rounding goes up (wrong)
    assert.equal(fmaF32(a, b, c), 64 + 2 ** -17);
    assert.equal(exactFmaF32(a, b, c), 64 + 2 ** -17);
  });

  it("fmaF32 equals exact rounding on random float32 triples", () => {
    let state = 12345;
    const rnd = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    const f = (scale: number): number => Math.fround((rnd() * 2 - 1) * 2 ** Math.floor(rnd() * scale - scale / 2));
    for (let i = 0; i < 20000; i++) {
      const a = f(20);
      const b = f(20);
      // c near -a*b half the time, to exercise cancellation
      const c = i % 2 === 0 ? f(40) : Math.fround(-a * b * (1 + (rnd() - 0.5) * 2 ** -20));
      assert.equal(fmaF32(a, b, c), exactFmaF32(a, b, c), `fma(${a}, ${b}, ${c})`);
    }
  });

  it("torchLinspaceF32 meets both endpoints and is symmetric in its construction", () => {
    const v = torchLinspaceF32(0.0001, 0.02, 1000);
    assert.equal(v[0], Math.fround(0.0001));
    assert.equal(v[999], Math.fround(0.02));
    assert.deepEqual(Array.from(torchLinspaceF32(3, 7, 1)), [3]);
    assert.deepEqual(Array.from(torchLinspaceF32(0, 1, 5)), [0, 0.25, 0.5, 0.75, 1]);
  });

  it("numpyLinspace and numpyArange follow numpy", () => {
    assert.deepEqual(Array.from(numpyLinspace(0, 999, 4)), [0, 333, 666, 999]);
    assert.deepEqual(Array.from(numpyLinspace(5, 9, 1)), [5]);
    // np.arange(1000, 0, -1000/3) -> [1000, 666.67, 333.33]
    const a = numpyArange(1000, 0, -1000 / 3);
    assert.equal(a.length, 3);
    assert.equal(a[0], 1000);
    assert.ok(Math.abs((a[2] as number) - 333.3333333333333) < 1e-9);
    assert.equal(numpyArange(0, 0, 1).length, 0);
  });

  it("roundHalfEven rounds ties to even like np.round", () => {
    assert.deepEqual(
      [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, 333.5].map(roundHalfEven),
      [0, 2, 2, -0, -2, -2, 2, 3, 334],
    );
  });

  it("interpArange interpolates and clamps like np.interp over arange", () => {
    const fp = [0, 10, 30];
    assert.equal(interpArange(-1, fp), 0);
    assert.equal(interpArange(0.5, fp), 5);
    assert.equal(interpArange(1.25, fp), 15);
    assert.equal(interpArange(2, fp), 30);
    assert.equal(interpArange(7, fp), 30);
  });

  it("cumprodF32 accumulates in float64 and rounds each output", () => {
    const x = Float32Array.from([0.9999, 0.9999, 0.9999]);
    const out = cumprodF32(x);
    const p = Math.fround(0.9999);
    assert.equal(out[2], Math.fround(p * p * p));
  });
});
