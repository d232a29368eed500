/**
 * Parity with the Python reference pipeline (models/longshot_models/reference.py): given the same initial noise,
 * every stage's output must match: tokens exactly, text embeddings and latents within 1e-3 (max abs, fp32),
 * frames within 1 (uint8).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Tensor } from "@longshot/tensor";
import { maxAbsDiff, meanAbsDiff } from "./latents.js";
import { readNoiseFile } from "./noise-file.js";
import { Engine, type GenerateResult } from "./pipeline.js";
import { readFixtureSettings, readTensors, readU8, requireAsset, TEST_ASSETS, testPackDir } from "./test-support.js";

const LATENT_TOLERANCE = 1e-3;

let engine: Engine;
before(async () => {
  engine = await Engine.create({ packDir: testPackDir(), threads: 2 });
});
after(async () => {
  await engine?.close();
});

function compareTensor(
  t: { diagnostic: (m: string) => void },
  name: string,
  actual: Tensor,
  expected: Tensor | undefined,
): number {
  assert.ok(expected, `fixture has no "${name}"`);
  assert.deepEqual([...actual.dims], [...expected.dims], `${name}: shape`);
  const max = maxAbsDiff(actual.data as Float32Array, expected.data as Float32Array);
  t.diagnostic(
    `${name}: max abs diff ${max.toExponential(3)}, mean ${meanAbsDiff(actual.data as Float32Array, expected.data as Float32Array).toExponential(3)}`,
  );
  assert.ok(max <= LATENT_TOLERANCE, `${name}: max abs diff ${max} > ${LATENT_TOLERANCE}`);
  return max;
}

for (const which of ["fixtures", "fixtures65Seed"] as const) {
  describe(`parity with the Python reference (${which}, ${TEST_ASSETS.label})`, () => {
    const dir = TEST_ASSETS[which];
    let result: GenerateResult;

    test("tokens equal the reference tokenizer's", () => {
      const s = readFixtureSettings(dir);
      const ref = readTensors(dir, "tokens.safetensors");
      const { inputIds, attentionMask } = engine.tokenizer.encode(["", s.prompt]);
      assert.deepEqual([...inputIds.dims], [...(ref.input_ids?.dims ?? [])]);
      assert.deepEqual(inputIds.data, ref.input_ids?.data);
      assert.deepEqual(attentionMask.data, ref.attention_mask?.data);
    });

    test("every stage's latents match within 1e-3, frames within 1", async (t) => {
      const s = readFixtureSettings(dir);
      const noise = await readNoiseFile(requireAsset(dir, "noise.safetensors"));
      const ref = readTensors(dir, "latents.safetensors");
      assert.equal(s.sampler, "ddim");
      const t0 = performance.now();
      result = await engine.generate({
        prompt: s.prompt,
        seed: s.seed,
        frames: s.frames,
        mode: s.mode,
        sampler: "ddim",
        keyframeSteps: s.keyframe_steps,
        keyframeGuidance: s.keyframe_guidance,
        interpolationSteps: s.interp_steps,
        interpolationGuidance: s.interp_guidance,
        interpolationStrength: s.interp_strength,
        noise,
      });
      t.diagnostic(`generate ${s.frames} frames (${s.mode}) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      assert.equal(result.settings.noise, "supplied");
      compareTensor(t, "text", result.textEmbeddings, ref.text);
      const levels = Object.keys(result.latents);
      assert.deepEqual(
        [...levels].sort(),
        Object.keys(ref)
          .filter((k) => k !== "text")
          .sort(),
      );
      for (const name of levels) compareTensor(t, name, result.latents[name] as Tensor, ref[name]);

      const frames = readU8(dir, "frames.safetensors", "frames");
      const [f, h, w, c] = frames.dims as [number, number, number, number];
      assert.equal(result.frames.length, f);
      assert.equal(result.height, h);
      assert.equal(result.width, w);
      assert.equal(c, 3);
      let worst = 0;
      let off = 0;
      result.frames.forEach((frame, i) => {
        const expected = frames.data.subarray(i * h * w * 3, (i + 1) * h * w * 3);
        for (let p = 0; p < frame.length; p++) {
          const d = Math.abs((frame[p] as number) - (expected[p] as number));
          if (d > worst) worst = d;
          if (d !== 0) off++;
        }
      });
      t.diagnostic(`frames: max diff ${worst} (uint8), ${off} of ${f * h * w * 3} values differ`);
      assert.ok(worst <= 1, `frames differ by up to ${worst} > 1`);
    });

    test("the result reports what it ran", () => {
      const s = readFixtureSettings(dir);
      assert.ok(result, "the parity generation ran");
      assert.equal(result.settings.frames, s.frames);
      assert.equal(result.settings.mode, s.mode);
      assert.equal(result.fps, engine.pack.manifest.video.fps);
      const k = engine.pack.manifest.video.keyframes;
      const stride = (s.frames - 1) / (k - 1);
      assert.deepEqual(
        result.keyframeIndices,
        Array.from({ length: k }, (_, i) => i * stride),
      );
      for (const key of ["encode", "keyframes", "interpolate", "decode", "total"] as const) {
        assert.ok(result.timings[key] >= 0, `timings.${key}`);
      }
      assert.equal(result.timings.interpolateLevels.length, result.settings.levels.length - 1);
    });
  });
}
