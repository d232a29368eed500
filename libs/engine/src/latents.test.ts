import assert from "node:assert/strict";
import { test } from "node:test";
import { Tensor } from "@longshot/tensor";
import {
  blendKnownFrames,
  gatherFrames,
  interpolationConditioning,
  type LatentDims,
  scatterFramesInto,
  sliceFrames,
} from "./latents.js";

/** A [1, C, F, H, W] tensor whose value encodes its index: c·1000 + f·10 + p (p = pixel). */
function indexed(c: number, f: number, hw: number): Tensor<"float32"> {
  const data = new Float32Array(c * f * hw);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < f; i++) for (let p = 0; p < hw; p++) data[(ch * f + i) * hw + p] = ch * 1000 + i * 10 + p;
  }
  return new Tensor("float32", data, [1, c, f, 1, hw]);
}

test("sliceFrames cuts frames of every channel", () => {
  const t = indexed(2, 9, 2);
  const s = sliceFrames(t, 4, 7);
  assert.deepEqual([...s.dims], [1, 2, 3, 1, 2]);
  assert.deepEqual([...s.data], [40, 41, 50, 51, 60, 61, 1040, 1041, 1050, 1051, 1060, 1061]);
  assert.throws(() => sliceFrames(t, 5, 5), { name: "InvalidArgumentError" });
  assert.throws(() => sliceFrames(t, 0, 10), { name: "InvalidArgumentError" });
});

test("gatherFrames / scatterFramesInto are x[:, :, 0::s] and its assignment", () => {
  const t = indexed(2, 9, 1);
  const dims: LatentDims = [1, 2, 9, 1, 1];
  const g = gatherFrames(t.data, dims, 4);
  assert.deepEqual([...g], [0, 40, 80, 1000, 1040, 1080]);
  const x = t.data.slice();
  scatterFramesInto(x, dims, 4, new Float32Array([-1, -2, -3, -4, -5, -6]));
  assert.deepEqual([...x], [-1, 10, 20, 30, -2, 50, 60, 70, -3, -4, 1010, 1020, 1030, -5, 1050, 1060, 1070, -6]);
  assert.throws(() => scatterFramesInto(x, dims, 4, new Float32Array(5)), { name: "InvalidArgumentError" });
});

test("interpolationConditioning is [mask, hint] with hint[i] = latents[i // 4], mask 0 at i % 4 == 0", () => {
  const lat = indexed(2, 3, 1); // frames 0, 10, 20 (+1000 for channel 1)
  const cond = interpolationConditioning(lat, 4);
  const fout = 9;
  assert.equal(cond.length, 3 * fout);
  assert.deepEqual([...cond.subarray(0, fout)], [0, 1, 1, 1, 0, 1, 1, 1, 0]);
  assert.deepEqual([...cond.subarray(fout, 2 * fout)], [0, 0, 0, 0, 10, 10, 10, 10, 20]);
  assert.deepEqual([...cond.subarray(2 * fout)], [1000, 1000, 1000, 1000, 1010, 1010, 1010, 1010, 1020]);
});

test("interpolationConditioning with the blend hint places each frame between its known frames", () => {
  const lat = indexed(2, 3, 1);
  const cond = interpolationConditioning(lat, 4, "blend");
  const fout = 9;
  assert.deepEqual([...cond.subarray(0, fout)], [0, 1, 1, 1, 0, 1, 1, 1, 0]);
  assert.deepEqual([...cond.subarray(fout)], [...blendKnownFrames(lat, 4)]);
  assert.deepEqual([...cond.subarray(fout, 2 * fout)], [0, 2.5, 5, 7.5, 10, 12.5, 15, 17.5, 20]);
  assert.throws(() => interpolationConditioning(lat, 4, "nearest" as "blend"), {
    name: "InvalidArgumentError",
    message: /hint.*repeat, blend.*nearest/,
  });
});

test("blendKnownFrames fills each gap linearly: (1 - a)·latents[k] + a·latents[k + 1], a = (i % 4) / 4", () => {
  const lat = indexed(2, 3, 1); // frames 0, 10, 20 (+1000 for channel 1)
  const out = blendKnownFrames(lat, 4);
  assert.deepEqual([...out.subarray(0, 9)], [0, 2.5, 5, 7.5, 10, 12.5, 15, 17.5, 20]);
  assert.deepEqual([...out.subarray(9)], [1000, 1002.5, 1005, 1007.5, 1010, 1012.5, 1015, 1017.5, 1020]);
  assert.throws(() => blendKnownFrames(new Tensor("float32", new Float32Array(2), [2, 1, 1, 1, 1]), 4), {
    name: "InvalidArgumentError",
  });
});
