/**
 * Windowed interpolation against the whole-sequence pass on a 65-frame level (17 → 65, pinned, seeded noise).
 *
 * Agreement bound. A window sees exactly the whole pass's inputs for its frames (input frames, hint, mask, noise
 * slice); it lacks only the temporal context beyond its edges, which the UNet's temporal convolutions and local
 * attention (pack `interpolation.attentionWindow`) would otherwise carry in, a few frames per layer and step.
 * So the two results may differ near window edges, and the difference must stay small against the scale of the
 * latents themselves: mean |Δ| ≤ 2 % and max |Δ| ≤ 20 % of the whole result's standard deviation. A windowing bug
 * (a wrong noise slice, hint or mask offset, stride, or blend weights) changes whole windows by O(std).
 *
 * Seams: see seams.ts (every seam jump ≤ SEAM_BOUND × the median frame step of the whole-sequence result).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Tensor } from "@longshot/tensor";
import { maxAbsDiff, meanAbsDiff } from "../latents.js";
import { Engine } from "../pipeline.js";
import { SEAM_BOUND, seamReport } from "../seams.js";
import { interpolationStream, seededStageNoise } from "../stage-noise.js";
import { readTensors, TEST_ASSETS, testPackDir } from "../test-support.js";
import { type InterpolationStageInput, interpolatePass } from "./interpolate.js";
import {
  blendWindows,
  interpolateWindowed,
  planWindows,
  runWindow,
  type WindowResult,
} from "./interpolate-windowed.js";

const WINDOW = 17;
const OVERLAP = 4;

let engine: Engine;
let input: InterpolationStageInput;
let whole: Tensor<"float32">;
let windowed: Tensor<"float32">;

before(async () => {
  engine = await Engine.create({ packDir: testPackDir(), threads: 2 });
  const ref = readTensors(TEST_ASSETS.fixtures, "latents.safetensors");
  const m = engine.pack.manifest;
  input = {
    unet: engine.sessions.interpolationUnet,
    sampler: "ddim",
    schedulerConfig: m.scheduler,
    // The pack's interpolation defaults (steps, guidance, strength): what a user's windows run.
    steps: m.defaults.interpolation.steps,
    strength: m.defaults.interpolation.strength,
    textEmbeddings: ref.text as Tensor,
    latents: ref.interp1 as Tensor,
    noise: seededStageNoise(11, interpolationStream(2), [1, m.latent.channels, 65, m.latent.height, m.latent.width]),
    frameStride: m.interpolation.strides["65"] as number,
    guidance: m.defaults.interpolation.guidance,
    mode: "pinned",
    factor: m.video.interpolationFactor,
    hint: m.interpolation.hint,
  };
  whole = await interpolatePass(input);
  windowed = await interpolateWindowed({ ...input, windowFrames: WINDOW, overlap: OVERLAP });
});
after(async () => {
  await engine?.close();
});

function std(a: Float32Array): number {
  let s = 0;
  let s2 = 0;
  for (const v of a) {
    s += v;
    s2 += v * v;
  }
  return Math.sqrt(s2 / a.length - (s / a.length) ** 2);
}

test(`windowed (${WINDOW} frames, overlap ${OVERLAP}) agrees with the whole-sequence pass`, (t) => {
  assert.deepEqual([...windowed.dims], [...whole.dims]);
  const sd = std(whole.data);
  const max = maxAbsDiff(windowed.data, whole.data);
  const mean = meanAbsDiff(windowed.data, whole.data);
  t.diagnostic(
    `65 frames, ${input.steps} steps at strength ${input.strength ?? 1}: max |Δ| ${max.toExponential(3)}, mean |Δ| ${mean.toExponential(3)}, std of the result ${sd.toFixed(4)} (${TEST_ASSETS.label})`,
  );
  assert.ok(mean <= 0.02 * sd, `mean |Δ| ${mean} > 2 % of std ${sd}`);
  assert.ok(max <= 0.2 * sd, `max |Δ| ${max} > 20 % of std ${sd}`);
  // Not trivially equal: the windows really ran without outside context.
  assert.ok(max > 0, "windowed and whole results are identical: were the windows run?");
});

test("seams are smooth: no seam jump above SEAM_BOUND × the median frame step", (t) => {
  const plan = planWindows(65, WINDOW, OVERLAP);
  const r = seamReport(windowed, whole, plan);
  t.diagnostic(
    `median step ${r.medianStep.toExponential(3)}, seam jumps ${r.borders.map((b) => `${b.frame}:${b.jump.toExponential(2)}`).join(" ")}`,
  );
  assert.equal(r.borders.length, 2 * (plan.length - 1));
  assert.ok(
    r.maxJump <= SEAM_BOUND * r.medianStep,
    `seam jump ${r.maxJump} > ${SEAM_BOUND} × median step ${r.medianStep}`,
  );
});

test("pinned windows keep the input frames bit-exactly at the known slots", () => {
  const [, c, fout, h, w] = windowed.dims as [number, number, number, number, number];
  const fin = (fout - 1) / 4 + 1;
  const hw = h * w;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < fin; i++) {
      assert.deepEqual(
        windowed.data.subarray((ch * fout + 4 * i) * hw, (ch * fout + 4 * i + 1) * hw),
        input.latents.data.subarray((ch * fin + i) * hw, (ch * fin + i + 1) * hw),
      );
    }
  }
});

const replicaResults: WindowResult[] = [];

test("windows run separately (as replicas would, in any order) and stitched equal the in-process windowed pass", async () => {
  const plan = planWindows(65, WINDOW, OVERLAP);
  for (const window of [...plan].reverse()) {
    // Each "replica" builds its own noise source from the seed: only its frames are generated.
    const noise = seededStageNoise(11, interpolationStream(2), input.noise.dims);
    replicaResults.push({ window, latents: await runWindow({ ...input, noise, window }) });
  }
  const stitched = blendWindows(replicaResults, { frames: 65, mode: "pinned", keyframes: input.latents });
  assert.deepEqual(stitched.data, windowed.data);
});

test("negative control: a window denoised from the wrong noise shows at its seams", async (t) => {
  assert.equal(replicaResults.length, planWindows(65, WINDOW, OVERLAP).length, "the replica test ran");
  const plan = planWindows(65, WINDOW, OVERLAP);
  const target = plan[2] as (typeof plan)[number];
  const wrong = await runWindow({
    ...input,
    noise: seededStageNoise(12, interpolationStream(2), input.noise.dims),
    window: target,
  });
  const results = replicaResults.map((r) => (r.window.start === target.start ? { ...r, latents: wrong } : r));
  const broken = blendWindows(results, { frames: 65, mode: "pinned", keyframes: input.latents });
  const sd = std(whole.data);
  const mean = meanAbsDiff(broken.data, whole.data);
  const r = seamReport(broken, whole, plan);
  t.diagnostic(
    `wrong-noise window: mean |Δ| ${mean.toExponential(3)} (bound ${(0.02 * sd).toExponential(3)}), max seam jump ${r.maxJump.toExponential(3)} (median step ${r.medianStep.toExponential(3)})`,
  );
  // Starting from the blended known frames, a trained model lands close to the same frames from other noise, so
  // the mean bound may let such a window through; the seam check must not.
  assert.ok(
    r.maxJump > SEAM_BOUND * r.medianStep,
    `seam jump ${r.maxJump} ≤ ${SEAM_BOUND} × median step ${r.medianStep}: the seam check misses it`,
  );
  const good = seamReport(windowed, whole, plan);
  assert.ok(r.maxJump > 5 * good.maxJump, `seam jump ${r.maxJump} is not ≫ the correct stitch's ${good.maxJump}`);
});

test("interpolation inputs are checked before any model call", async () => {
  const bad: Array<[Partial<InterpolationStageInput> & { window?: { start: number; end: number } }, RegExp]> = [
    [
      { noise: seededStageNoise(1, "interp2", [1, 4, 64, 16, 16]) },
      /^noise\.interp2: must have shape \[1, 4, 65, 16, 16\]/,
    ],
    [{ window: { start: 2, end: 19 } }, /^window: \[2, 19\) must start and end on known frames/],
    [{ window: { start: 0, end: 69 } }, /^window: \[0, 69\) is not a frame range within \[0, 65\)/],
    [{ latents: Tensor.zeros([2, 4, 17, 16, 16]) }, /^latents: batch must be 1/],
    [{ latents: Tensor.zeros([4, 17, 16, 16]) }, /^latents: must be \[B, C, F, H, W\]/],
    [{ mode: "loose" as "seed" }, /^mode: must be one of pinned, seed/],
    [{ textEmbeddings: Tensor.zeros([1, 32, 384]) }, /^textEmbeddings: must be float32 \[2, tokens, hidden\]/],
    [{ guidance: 0.5 }, /^interpolationGuidance: must be a finite number >= 1/],
    [{ frameStride: Number.NaN }, /^frameStride/],
    [{ sampler: "plms" as "ddim" }, /^sampler: unknown sampler "plms"/],
    [{ steps: 0 }, /num_inference_steps|steps/],
  ];
  for (const [patch, message] of bad) {
    const window = patch.window ?? { start: 0, end: 65 };
    await assert.rejects(runWindow({ ...input, ...patch, window }), { name: "InvalidArgumentError", message });
  }
});
