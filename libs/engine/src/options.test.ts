import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { loadPack, type PackManifest } from "@longshot/pack";
import { Tensor } from "@longshot/tensor";
import { type GenerateOptions, levelFrames, resolveGenerateOptions } from "./options.js";
import { testPackDir } from "./test-support.js";

let manifest: PackManifest;
before(async () => {
  manifest = (await loadPack(testPackDir())).manifest;
});

const noiseFor = (frames: number[]): Record<string, Tensor> =>
  Object.fromEntries(
    frames.map((f, i) => [i === 0 ? "keyframes" : `interp${i}`, Tensor.zeros([1, 4, f, 16, 16])] as const),
  );

describe("resolveGenerateOptions", () => {
  test("fills every default from the pack", () => {
    const { settings, seed, noise } = resolveGenerateOptions(manifest, { prompt: "a red circle", seed: 7 });
    const d = manifest.defaults;
    assert.equal(seed, 7n);
    assert.equal(noise, undefined);
    assert.deepEqual(settings, {
      prompt: "a red circle",
      negativePrompt: "",
      seed: 7,
      frames: manifest.video.defaultFrames,
      levels: levelFrames(5, 4, manifest.video.defaultFrames),
      mode: d.mode,
      sampler: d.sampler,
      keyframeSteps: d.keyframe.steps,
      keyframeGuidance: d.keyframe.guidance,
      interpolationSteps: d.interpolation.steps,
      interpolationGuidance: d.interpolation.guidance,
      interpolationStrength: d.interpolation.strength ?? 1,
      window: null,
      noise: "seed",
      decodeBatch: 16,
      pack: `${manifest.name}@${manifest.version}`,
    });
    assert.deepEqual(levelFrames(5, 4, 257), [5, 17, 65, 257]);
  });

  test("a missing seed is drawn at random and reported; big seeds are kept exactly", () => {
    const a = resolveGenerateOptions(manifest, { prompt: "x" });
    assert.equal(typeof a.settings.seed, "number");
    assert.equal(BigInt(a.settings.seed), a.seed);
    const big = resolveGenerateOptions(manifest, { prompt: "x", seed: 2n ** 64n - 1n });
    assert.equal(big.settings.seed, "18446744073709551615");
    assert.equal(big.seed, 2n ** 64n - 1n);
    assert.doesNotThrow(() => JSON.stringify(big.settings));
  });

  test("accepts supplied noise for exactly the levels it needs", () => {
    const r = resolveGenerateOptions(manifest, { prompt: "x", frames: 17, noise: noiseFor([5, 17, 65]) });
    assert.deepEqual(Object.keys(r.noise ?? {}), ["keyframes", "interp1"]);
    assert.equal(r.settings.noise, "supplied");
  });

  const bad: Array<[string, Partial<GenerateOptions> & Record<string, unknown>, RegExp]> = [
    ["empty prompt", { prompt: "  " }, /^prompt: must not be empty/],
    ["non-string prompt", { prompt: 42 as unknown as string }, /^prompt: must be a string/],
    ["prompt too long", { prompt: "x".repeat(2001) }, /^prompt: is 2001 characters long; at most 2000/],
    ["negative prompt type", { negativePrompt: 3 as unknown as string }, /^negativePrompt: must be a string/],
    ["negative seed", { seed: -1 }, /^seed: must be an integer in \[0, 2\^64\)/],
    ["fractional seed", { seed: 1.5 }, /^seed:/],
    ["seed too big", { seed: 2n ** 64n }, /^seed: must be an integer in \[0, 2\^64\)/],
    ["seed as string", { seed: "7" as unknown as number }, /^seed:/],
    ["frames not in the pack", { frames: 33 }, /^frames: must be one of 17, 65, 257 for pack .*, got 33/],
    ["frames as string", { frames: "65" as unknown as number }, /^frames: must be one of 17, 65, 257/],
    ["unknown mode", { mode: "loose" as "seed" }, /^mode: must be one of pinned, seed, got "loose"/],
    [
      "unknown sampler",
      { sampler: "plms" as "ddim" },
      /^sampler: must be one of ddim, euler, euler-a, dpm\+\+2m, got "plms"/,
    ],
    ["zero steps", { keyframeSteps: 0 }, /^keyframeSteps: must be an integer in \[1, 1000\]/],
    ["too many steps", { interpolationSteps: 1001 }, /^interpolationSteps: must be an integer in \[1, 1000\]/],
    ["fractional steps", { keyframeSteps: 2.5 }, /^keyframeSteps:/],
    [
      "steps the schedule cannot place",
      { keyframeSteps: 1000 },
      /^keyframeSteps: 1000 steps do not fit the pack's ddim schedule/,
    ],
    ["guidance below 1", { keyframeGuidance: 0.5 }, /^keyframeGuidance: must be a number in \[1, 30\]/],
    ["guidance above 30", { interpolationGuidance: 31 }, /^interpolationGuidance: must be a number in \[1, 30\]/],
    ["guidance NaN", { interpolationGuidance: Number.NaN }, /^interpolationGuidance:/],
    ["window frames off grid", { window: { frames: 16, overlap: 4 } }, /^window\.frames: .*≡ 1 \(mod 4\)/],
    ["window overlap off grid", { window: { frames: 17, overlap: 3 } }, /^window\.overlap: must be a multiple of 4/],
    [
      "window overlap too big",
      { window: { frames: 17, overlap: 16 } },
      /^window\.overlap: must be a multiple of 4 in \[0, 12\]/,
    ],
    ["window not an object", { window: 17 as unknown as null }, /^window: must be null or \{frames, overlap\}/],
    ["decode batch", { decodeBatch: 0 }, /^decodeBatch: must be an integer in \[1, 1024\]/],
    ["unknown option", { steps: 5 }, /^steps: unknown option; known options: prompt, /],
    ["noise not an object", { noise: [] as unknown as Record<string, Tensor> }, /^noise: must map stream names/],
    ["unknown noise stream", { noise: { keyframe: Tensor.zeros([1]) } }, /^noise\.keyframe: unknown noise stream/],
    [
      "missing noise level",
      { frames: 65, noise: noiseFor([5, 17]) },
      /^noise\.interp2: is missing: 65 frames need a float32 tensor \[1, 4, 65, 16, 16\]/,
    ],
    [
      "noise of the wrong shape",
      { frames: 17, noise: { ...noiseFor([5]), interp1: Tensor.zeros([1, 4, 16, 16, 16]) } },
      /^noise\.interp1: must be float32 \[1, 4, 17, 16, 16\], got float32 \[1, 4, 16, 16, 16\]/,
    ],
  ];
  for (const [what, opts, message] of bad) {
    test(`rejects ${what}`, () => {
      assert.throws(() => resolveGenerateOptions(manifest, { prompt: "a red circle", ...opts } as GenerateOptions), {
        name: "InvalidArgumentError",
        message,
      });
    });
  }

  test("rejects a non-object", () => {
    assert.throws(() => resolveGenerateOptions(manifest, null as unknown as GenerateOptions), {
      name: "InvalidArgumentError",
      message: /^options: must be an object/,
    });
  });
});
