import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Tensor } from "@longshot/tensor";
import { maxAbsDiff, sliceFrames } from "../latents.js";
import { randn } from "../noise.js";
import { blendWeights, blendWindows, checkWindowSizes, type FrameWindow, planWindows } from "./interpolate-windowed.js";

const w = (start: number, end: number): FrameWindow => ({ start, end });

describe("planWindows", () => {
  const table: Array<[number, number, number, FrameWindow[]]> = [
    [17, 17, 4, [w(0, 17)]],
    [65, 65, 0, [w(0, 65)]],
    [65, 129, 8, [w(0, 65)]],
    [65, 17, 0, [w(0, 17), w(16, 33), w(32, 49), w(48, 65)]],
    [65, 17, 4, [w(0, 17), w(12, 29), w(24, 41), w(36, 53), w(48, 65)]],
    [65, 17, 8, [w(0, 17), w(8, 25), w(16, 33), w(24, 41), w(32, 49), w(40, 57), w(48, 65)]],
    [65, 33, 8, [w(0, 33), w(24, 57), w(32, 65)]],
    [17, 9, 4, [w(0, 9), w(4, 13), w(8, 17)]],
    [17, 5, 0, [w(0, 5), w(4, 9), w(8, 13), w(12, 17)]],
  ];
  for (const [fout, win, ov, expected] of table) {
    test(`${fout} frames, window ${win}, overlap ${ov}`, () => {
      assert.deepEqual(planWindows(fout, win, ov), expected);
    });
  }

  test("every plan is anchored on known slots, covers the level and overlaps as asked", () => {
    for (const fout of [17, 65, 257]) {
      for (let win = 5; win <= 69; win += 4) {
        for (let ov = 0; ov <= win - 5; ov += 4) {
          const plan = planWindows(fout, win, ov);
          const first = plan[0] as FrameWindow;
          const last = plan[plan.length - 1] as FrameWindow;
          assert.equal(first.start, 0);
          assert.equal(last.end, fout);
          plan.forEach((x, k) => {
            assert.equal(x.start % 4, 0);
            assert.equal((x.end - 1) % 4, 0);
            assert.equal(x.end - x.start, Math.min(win, fout));
            const prev = plan[k - 1];
            if (prev) {
              assert.ok(x.start > prev.start && x.end > prev.end, `${fout}/${win}/${ov}: windows advance`);
              assert.ok(prev.end - x.start >= ov + 1, `${fout}/${win}/${ov}: neighbours share ≥ overlap + 1 frames`);
            }
          });
        }
      }
    }
  });

  test("rejects sizes off the known-slot grid, naming the field and the rule", () => {
    assert.throws(() => planWindows(65, 16, 4), {
      name: "InvalidArgumentError",
      message: /^window\.frames: .*≡ 1 \(mod 4\)/,
    });
    assert.throws(() => planWindows(65, 1, 0), { name: "InvalidArgumentError", message: /^window\.frames/ });
    assert.throws(() => planWindows(65, 17, 6), {
      name: "InvalidArgumentError",
      message: /^window\.overlap: .*multiple of 4 in \[0, 12\]/,
    });
    assert.throws(() => planWindows(65, 17, 16), { name: "InvalidArgumentError", message: /^window\.overlap/ });
    assert.throws(() => planWindows(65, 17, -4), { name: "InvalidArgumentError", message: /^window\.overlap/ });
    assert.throws(() => planWindows(64, 17, 4), { name: "InvalidArgumentError", message: /^frames/ });
    assert.throws(() => checkWindowSizes(17.5, 4), { name: "InvalidArgumentError" });
  });
});

describe("blendWeights", () => {
  test("linear cross-fade over the shared frames", () => {
    const [a, b] = blendWeights([w(0, 17), w(12, 29)], 29);
    assert.deepEqual([...(a as Float64Array).subarray(12)], [1, 0.75, 0.5, 0.25, 0]);
    assert.deepEqual([...(b as Float64Array).subarray(0, 5)], [0, 0.25, 0.5, 0.75, 1]);
    assert.ok((a as Float64Array).subarray(0, 12).every((v) => v === 1));
    assert.ok((b as Float64Array).subarray(5).every((v) => v === 1));
  });

  test("weights sum to 1 at every frame of every plan", () => {
    for (const fout of [17, 65, 257]) {
      for (let win = 5; win <= 37; win += 4) {
        for (let ov = 0; ov <= win - 5; ov += 4) {
          const plan = planWindows(fout, win, ov);
          const weights = blendWeights(plan, fout);
          const sum = new Float64Array(fout);
          plan.forEach((x, k) => {
            const wk = weights[k] as Float64Array;
            for (let j = x.start; j < x.end; j++) {
              assert.ok((wk[j - x.start] as number) >= 0);
              sum[j] = (sum[j] as number) + (wk[j - x.start] as number);
            }
          });
          for (let j = 0; j < fout; j++)
            assert.ok(Math.abs((sum[j] as number) - 1) < 1e-12, `${fout}/${win}/${ov} frame ${j}`);
        }
      }
    }
  });

  test("rejects plans with gaps, holes at the ends or unsorted windows", () => {
    assert.throws(() => blendWeights([w(0, 17), w(20, 37)], 37), {
      name: "InvalidArgumentError",
      message: /^windows\[1\]/,
    });
    assert.throws(() => blendWeights([w(4, 17)], 17), { name: "InvalidArgumentError", message: /^windows\[0\]/ });
    assert.throws(() => blendWeights([w(0, 17)], 21), {
      name: "InvalidArgumentError",
      message: /must end at frame 21/,
    });
    assert.throws(() => blendWeights([w(0, 17), w(4, 13)], 17), { name: "InvalidArgumentError" });
    assert.throws(() => blendWeights([w(0, 16)], 16), { name: "InvalidArgumentError", message: /known frames/ });
    assert.throws(() => blendWeights([], 17), { name: "InvalidArgumentError" });
  });
});

describe("blendWindows", () => {
  const fout = 65;
  const full = randn(1, [1, 4, fout, 4, 4], { stream: "blend-test" });
  const keyframes = new Tensor(
    "float32",
    new Float32Array(4 * 17 * 16).map((_, i) => i / 7),
    [1, 4, 17, 4, 4],
  );

  test("windows cut from one tensor blend back to it", () => {
    const plan = planWindows(fout, 17, 4);
    const results = plan.map((window) => ({ window, latents: sliceFrames(full, window.start, window.end) }));
    const out = blendWindows(results.reverse(), { frames: fout, mode: "seed" });
    assert.deepEqual([...out.dims], [1, 4, fout, 4, 4]);
    assert.ok(maxAbsDiff(out.data, full.data) <= 1e-6);
  });

  test("disagreeing windows are cross-faded; pinned mode restores known slots bit-exactly", () => {
    const plan = planWindows(fout, 17, 4);
    // Window k is the tensor plus k: in shared frames the blend interpolates between k and k + 1.
    const results = plan.map((window, k) => {
      const part = sliceFrames(full, window.start, window.end);
      return {
        window,
        latents: new Tensor(
          "float32",
          part.data.map((v) => v + k),
          part.dims,
        ),
      };
    });
    const seed = blendWindows(results, { frames: fout, mode: "seed" });
    const hw = 16;
    const at = (t: Tensor, ch: number, f: number) =>
      (t.data[(ch * fout + f) * hw] as number) - (full.data[(ch * fout + f) * hw] as number);
    // Frames 12..16 are shared by windows 0 and 1: offsets 0, .25, .5, .75, 1.
    assert.deepEqual(
      [12, 13, 14, 15, 16].map((f) => Math.round(at(seed, 2, f) * 1e4) / 1e4),
      [0, 0.25, 0.5, 0.75, 1],
    );
    assert.ok(Math.abs(at(seed, 0, 20) - 1) < 1e-5);
    const pinned = blendWindows(results, { frames: fout, mode: "pinned", keyframes });
    for (let ch = 0; ch < 4; ch++) {
      for (let i = 0; i < 17; i++) {
        const got = pinned.data.subarray((ch * fout + 4 * i) * hw, (ch * fout + 4 * i + 1) * hw);
        const want = keyframes.data.subarray((ch * 17 + i) * hw, (ch * 17 + i + 1) * hw);
        assert.deepEqual(got, want);
      }
    }
    assert.equal(pinned.data[(1 * fout + 13) * hw], seed.data[(1 * fout + 13) * hw]);
  });

  test("checks shapes and pinned inputs", () => {
    const plan = planWindows(fout, 33, 8);
    const ok = plan.map((window) => ({ window, latents: sliceFrames(full, window.start, window.end) }));
    assert.throws(() => blendWindows(ok, { frames: fout, mode: "pinned" }), {
      name: "InvalidArgumentError",
      message: /^keyframes/,
    });
    assert.throws(() => blendWindows(ok, { frames: fout, mode: "pinned", keyframes: sliceFrames(keyframes, 0, 5) }), {
      name: "InvalidArgumentError",
      message: /^keyframes: must be \[1, 4, 17, 4, 4\]/,
    });
    const bad = ok.map((r, k) => (k === 1 ? { ...r, latents: sliceFrames(full, 0, 17) } : r));
    assert.throws(() => blendWindows(bad, { frames: fout, mode: "seed" }), {
      name: "InvalidArgumentError",
      message: /^results\[1\]\.latents/,
    });
    assert.throws(() => blendWindows([], { frames: fout, mode: "seed" }), { name: "InvalidArgumentError" });
  });
});
