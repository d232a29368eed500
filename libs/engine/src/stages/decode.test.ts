import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { loadPack } from "@longshot/pack";
import { createModelRuntime, type ModelRuntime, type ModelSession } from "@longshot/runtime";
import { Tensor } from "@longshot/tensor";
import { randn } from "../noise.js";
import { testPackDir } from "../test-support.js";
import { decodeBatches, decodeFrames, imageToRgb } from "./decode.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let runtime: ModelRuntime;
let vae: ModelSession;
let scalingFactor: number;
before(async () => {
  const pack = await loadPack(testPackDir());
  scalingFactor = pack.manifest.latent.scalingFactor;
  runtime = createModelRuntime({ threads: 2 });
  vae = await runtime.load(pack, "vaeDecoder");
});
after(async () => {
  await runtime?.close();
});

test("imageToRgb: round((x + 1) · 127.5) half to even, clamped, interleaved", () => {
  // 1 frame of 1×2 pixels, planar RGB.
  const image = new Float32Array([-1, 1, 0, 2, -2, 0.0039215689]);
  const [frame] = imageToRgb(image, 1, 1, 2);
  // x = 0 → 127.5 → 128 (half to even); x = 0.0039215689 → 128.0000... → 128; 2 → 255 (clamp); -2 → 0.
  assert.deepEqual([...(frame as Uint8Array)], [0, 128, 0, 255, 255, 128]);
  assert.throws(() => imageToRgb(new Float32Array(5), 1, 1, 2), { name: "InvalidArgumentError" });
});

const FRAMES = 257;
const BATCH = 8;

test(`decoding ${FRAMES} frames holds at most one batch of ${BATCH} frames`, async (t) => {
  const latents = randn(3, [1, 4, FRAMES, 16, 16], { stream: "decode-test" });
  let frameBytes = 0;
  gc();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let next = 0;
  let checksum = 0;
  for await (const b of decodeBatches({ vae, latents, scalingFactor, batch: BATCH })) {
    assert.equal(b.start, next, "batches arrive in order, without gaps");
    assert.ok(b.frames.length >= 1 && b.frames.length <= BATCH, `batch of ${b.frames.length} frames`);
    next += b.frames.length;
    frameBytes = b.width * b.height * 3;
    for (const f of b.frames) checksum += f[0] as number;
    gc();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
  }
  assert.equal(next, FRAMES);
  assert.ok(checksum > 0);
  // What keeping every frame would cost (uint8 frames alone; the float images are 4× more).
  const allFrames = FRAMES * frameBytes;
  t.diagnostic(
    `peak ArrayBuffer growth ${(peak / 1024).toFixed(0)} KiB while streaming; all ${FRAMES} frames would be ${(allFrames / 1024).toFixed(0)} KiB`,
  );
  assert.ok(peak < allFrames / 2, `decode held ${peak} bytes of buffers: more than half of all frames (${allFrames})`);

  // The measurement does see frames that are kept. Settle first: buffers of the streaming run above are freed
  // by a collection and its finalizers, and a late free inside the measurement would hide kept frames.
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  const base2 = process.memoryUsage().arrayBuffers;
  const kept = await decodeFrames({ vae, latents, scalingFactor, batch: 64 });
  gc();
  const grown = process.memoryUsage().arrayBuffers - base2;
  t.diagnostic(`keeping all frames: ${(grown / 1024).toFixed(0)} KiB`);
  assert.equal(kept.frames.length, FRAMES);
  // 90 %: the kept frames are exactly allFrames bytes, and an unrelated free of a few KiB must not fail this.
  assert.ok(grown >= allFrames * 0.9, `the buffers of kept frames are counted (${grown} < 0.9 × ${allFrames})`);
});

test("batch size does not change the frames (beyond ±1 from onnxruntime kernels) and ranges decode alone", async () => {
  const latents = randn(4, [1, 4, 20, 16, 16], { stream: "decode-test-2" });
  const a = await decodeFrames({ vae, latents, scalingFactor, batch: 3 });
  const b = await decodeFrames({ vae, latents, scalingFactor, batch: 16 });
  const part = await decodeFrames({ vae, latents, scalingFactor, batch: 4, start: 5, end: 9 });
  assert.equal(a.frames.length, 20);
  assert.equal(part.frames.length, 4);
  assert.equal(a.width, 64);
  assert.equal(a.height, 64);
  let worst = 0;
  a.frames.forEach((f, i) => {
    const g = b.frames[i] as Uint8Array;
    for (let p = 0; p < f.length; p++) worst = Math.max(worst, Math.abs((f[p] as number) - (g[p] as number)));
  });
  assert.ok(worst <= 1, `frames differ by ${worst} between batch sizes`);
  part.frames.forEach((f, i) => {
    const g = a.frames[5 + i] as Uint8Array;
    for (let p = 0; p < f.length; p++) assert.ok(Math.abs((f[p] as number) - (g[p] as number)) <= 1);
  });
});

test("rejects bad decode inputs", async () => {
  const latents = Tensor.zeros([1, 4, 3, 16, 16]);
  const drain = async (opts: Partial<Parameters<typeof decodeBatches>[0]>) => {
    for await (const _ of decodeBatches({ vae, latents, scalingFactor, ...opts })) {
      // drain
    }
  };
  await assert.rejects(drain({ batch: 0 }), { name: "InvalidArgumentError", message: /^batch/ });
  await assert.rejects(drain({ scalingFactor: 0 }), { name: "InvalidArgumentError", message: /^scalingFactor/ });
  await assert.rejects(drain({ start: 2, end: 2 }), { name: "InvalidArgumentError", message: /^frames/ });
  await assert.rejects(drain({ latents: Tensor.zeros([2, 4, 3, 16, 16]) }), {
    name: "InvalidArgumentError",
    message: /^latents: batch/,
  });
  await assert.rejects(drain({ latents: Tensor.zeros([4, 3, 16, 16]) }), {
    name: "InvalidArgumentError",
    message: /^latents/,
  });
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(drain({ signal: ac.signal }), { name: "CancelledError" });
});
