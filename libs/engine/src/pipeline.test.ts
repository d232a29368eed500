/**
 * The in-process pipeline on a real pack: seeded determinism, pinned-mode exactness, progress, validation before
 * work, guidance 1 without the unconditional half, and cancellation. Few steps, for speed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Tensor } from "@longshot/tensor";
import { blendKnownFrames, meanAbsDiff } from "./latents.js";
import { randn } from "./noise.js";
import { Engine, type GenerateResult, type ProgressEvent } from "./pipeline.js";
import { guidedNoise } from "./stages/denoise.js";
import { testPackDir } from "./test-support.js";

const PROMPT = "a red circle moving right on a dark blue background";
/** Few steps, every one of them run (strength 1: the pack's default strength would skip some). */
const FAST = { keyframeSteps: 3, interpolationSteps: 2, interpolationStrength: 1 } as const;

let engine: Engine;
before(async () => {
  engine = await Engine.create({ packDir: testPackDir(), threads: 2 });
});
after(async () => {
  await engine?.close();
});

function sameFrames(a: GenerateResult, b: GenerateResult): boolean {
  return (
    a.frames.length === b.frames.length && a.frames.every((f, i) => Buffer.from(f).equals(b.frames[i] as Uint8Array))
  );
}

/** Frames 0, 4, 8, … of a [1, C, F, h, w] latent, as one flat array. */
function slots(t: Tensor, stride = 4): Float32Array {
  const [, c, f, h, w] = t.dims as [number, number, number, number, number];
  const hw = h * w;
  const k = Math.ceil(f / stride);
  const out = new Float32Array(c * k * hw);
  for (let ch = 0; ch < c; ch++) {
    for (let j = 0; j < k; j++)
      out.set(
        t.data.subarray((ch * f + j * stride) * hw, (ch * f + j * stride + 1) * hw) as Float32Array,
        (ch * k + j) * hw,
      );
  }
  return out;
}

describe("seeded determinism", () => {
  /** Seed 42 and the progress it reported, made once for every test of this group (whichever of them runs). */
  let first: GenerateResult;
  const events: ProgressEvent[] = [];
  before(async () => {
    first = await engine.generate(
      { prompt: PROMPT, seed: 42, frames: 17, ...FAST },
      { onProgress: (e) => events.push(e) },
    );
  });

  test("the same seed gives the same video, bit for bit", async () => {
    const again = await engine.generate({ prompt: PROMPT, seed: 42, frames: 17, ...FAST });
    assert.equal(first.frames.length, 17);
    assert.equal(first.frames[0]?.length, first.width * first.height * 3);
    assert.ok(sameFrames(first, again), "frames differ between two runs with seed 42");
    for (const k of Object.keys(first.latents)) {
      assert.deepEqual(first.latents[k]?.data, again.latents[k]?.data, `latents ${k}`);
    }
    assert.equal(first.settings.seed, 42);
    assert.equal(first.settings.noise, "seed");
  });

  test("a different seed gives a different video", async () => {
    const other = await engine.generate({ prompt: PROMPT, seed: 43, frames: 17, ...FAST });
    assert.ok(!sameFrames(first, other), "seeds 42 and 43 gave the same frames");
  });

  test("the seeded noise is the documented Philox stream of the seed", async () => {
    const k = engine.pack.manifest.latent;
    const noise = {
      keyframes: randn(42, [1, k.channels, 5, k.height, k.width], { stream: "keyframes" }),
      interp1: randn(42, [1, k.channels, 17, k.height, k.width], { stream: "interp1" }),
    };
    const supplied = await engine.generate({ prompt: PROMPT, seed: 42, frames: 17, ...FAST, noise });
    assert.equal(supplied.settings.noise, "supplied");
    assert.ok(sameFrames(first, supplied));
  });

  test("progress reports every stage in order, with step counts", () => {
    const stages = events.map((e) => e.stage).filter((s, i, a) => a[i - 1] !== s);
    assert.deepEqual(stages, ["encode", "keyframes", "interpolate", "decode"]);
    const kf = events.filter((e) => e.stage === "keyframes");
    assert.deepEqual(
      kf.map((e) => [e.step, e.total]),
      [0, 1, 2, 3].map((s) => [s, 3]),
    );
    const interp = events.filter((e) => e.stage === "interpolate");
    assert.ok(interp.every((e) => e.level === 1 && e.frames === 17 && e.total === 2));
    const decode = events.filter((e) => e.stage === "decode");
    assert.deepEqual(decode.at(-1), { stage: "decode", step: 17, total: 17 });
  });
});

describe("pinned mode", () => {
  test("every level holds the previous level's frames bit-exactly at slots 0::4 (dpm++2m, 65 frames)", async () => {
    const r = await engine.generate({
      prompt: PROMPT,
      seed: 5,
      frames: 65,
      mode: "pinned",
      sampler: "dpm++2m",
      ...FAST,
    });
    const { keyframes, interp1, interp2 } = r.latents as Record<string, Tensor>;
    assert.ok(keyframes && interp1 && interp2);
    assert.deepEqual(slots(interp1 as Tensor), keyframes.data);
    assert.deepEqual(slots(interp2 as Tensor), interp1.data);
    assert.deepEqual(slots(interp2 as Tensor, 16), keyframes.data);
    assert.deepEqual(r.keyframeIndices, [0, 16, 32, 48, 64]);
  });

  test("seed mode regenerates the slots (so the check above can fail)", async () => {
    const r = await engine.generate({ prompt: PROMPT, seed: 5, frames: 17, mode: "seed", ...FAST });
    assert.notDeepEqual(slots(r.latents.interp1 as Tensor), r.latents.keyframes?.data);
  });

  test("euler-a with windows is deterministic too (step noise is seeded per frame)", async () => {
    const opts = {
      prompt: PROMPT,
      seed: 9,
      frames: 17,
      sampler: "euler-a",
      window: { frames: 9, overlap: 4 },
      ...FAST,
    } as const;
    const a = await engine.generate(opts);
    const b = await engine.generate(opts);
    assert.ok(sameFrames(a, b));
    assert.deepEqual(slots(a.latents.interp1 as Tensor), a.latents.keyframes?.data);
  });
});

describe("interpolation strength", () => {
  test("runs the last floor(steps · strength) steps, from the keyframes blended across each gap", async () => {
    const steps: number[] = [];
    // Keyframe guidance 5 (the 1.4.0 default), as when the bounds below were measured: at 2 steps, guidance 2 gives
    // flat keyframes whose blend a pass from noise also lands near (strength 1: 0.022 from it instead of 0.066).
    const opts = { prompt: PROMPT, seed: 3, frames: 17, keyframeSteps: 2, keyframeGuidance: 5, interpolationSteps: 10 };
    const full = await engine.generate({ ...opts, interpolationStrength: 1 });
    const low = await engine.generate(
      { ...opts, interpolationStrength: 0.1 },
      {
        onProgress: (e) => {
          if (e.stage === "interpolate") steps.push(e.total);
        },
      },
    );
    assert.ok(steps.length > 0 && steps.every((t) => t === 1), `totals ${steps.join(",")}`);
    assert.equal(low.settings.interpolationStrength, 0.1);
    assert.deepEqual(low.latents.keyframes?.data, full.latents.keyframes?.data);
    // One step from t = 1 barely moves the blend; from noise the frames are far from it.
    const blend = blendKnownFrames(low.latents.keyframes as Tensor<"float32">, 4);
    const near = meanAbsDiff(low.latents.interp1?.data as Float32Array, blend);
    const far = meanAbsDiff(full.latents.interp1?.data as Float32Array, blend);
    assert.ok(near < 0.05 && far > 3 * near, `mean |interp1 − blend|: strength 0.1 ${near}, strength 1 ${far}`);
  });

  test("a strength that runs no step is refused before any work, naming the option", async () => {
    await assert.rejects(engine.generate({ prompt: PROMPT, interpolationSteps: 4, interpolationStrength: 0.2 }), {
      name: "InvalidArgumentError",
      field: "interpolationStrength",
    });
    await assert.rejects(engine.generate({ prompt: PROMPT, interpolationStrength: 1.5 }), {
      name: "InvalidArgumentError",
      field: "interpolationStrength",
    });
  });
});

test("guidance 1 runs only the conditional half, equal to the conditional half of the CFG batch", async () => {
  const m = engine.pack.manifest;
  const dims = [1, m.latent.channels, m.video.keyframes, m.latent.height, m.latent.width];
  const sample = randn(1, dims, { stream: "g1" }).data;
  const ctx = randn(2, [2, m.text.maxTokens, m.text.hiddenSize], { stream: "g1-ctx" });
  const batches: number[] = [];
  const unet = engine.sessions.keyframeUnet;
  const spy = {
    ...unet,
    name: unet.name,
    pack: unet.pack,
    run: (feeds: Parameters<typeof unet.run>[0], o?: Parameters<typeof unet.run>[1]) => {
      batches.push(feeds.sample?.dims[0] as number);
      return unet.run(feeds, o);
    },
  };
  const call = { unet: spy, sample, sampleDims: dims, timestep: 500, textEmbeddings: ctx };
  const g1 = await guidedNoise({ ...call, guidance: 1 });
  // With g = 1 + 2^-20 the CFG formula is eps_c + 2^-20 (eps_c − eps_u): within 1e-4 of eps_c.
  const near = await guidedNoise({ ...call, guidance: 1 + 2 ** -20 });
  assert.deepEqual(batches, [1, 2]);
  let worst = 0;
  for (let i = 0; i < g1.length; i++) worst = Math.max(worst, Math.abs((g1[i] as number) - (near[i] as number)));
  assert.ok(worst < 1e-4, `batch-1 conditional prediction differs by ${worst}`);
});

test("options are checked before any work", async () => {
  const events: ProgressEvent[] = [];
  await assert.rejects(engine.generate({ prompt: PROMPT, frames: 33 }, { onProgress: (e) => events.push(e) }), {
    name: "InvalidArgumentError",
    message: /^frames: must be one of 17, 65, 257/,
  });
  await assert.rejects(engine.generate({ prompt: "" }), { name: "InvalidArgumentError", message: /^prompt/ });
  assert.equal(events.length, 0);
});

describe("cancellation", () => {
  test("an aborted signal stops before any work", async () => {
    const ac = new AbortController();
    ac.abort();
    const events: ProgressEvent[] = [];
    await assert.rejects(
      engine.generate(
        { prompt: PROMPT, frames: 17, ...FAST },
        { signal: ac.signal, onProgress: (e) => events.push(e) },
      ),
      {
        name: "CancelledError",
      },
    );
    assert.equal(events.length, 0);
  });

  test("aborting between steps stops at the next step", async () => {
    const ac = new AbortController();
    const events: ProgressEvent[] = [];
    await assert.rejects(
      engine.generate(
        { prompt: PROMPT, frames: 65, ...FAST },
        {
          signal: ac.signal,
          onProgress: (e) => {
            events.push(e);
            if (e.stage === "keyframes" && e.step === 1) ac.abort();
          },
        },
      ),
      { name: "CancelledError" },
    );
    assert.deepEqual(events.at(-1), { stage: "keyframes", step: 1, total: 3 });
  });

  test("aborting during a step rejects within that step, and the engine stays usable", async (t) => {
    const ac = new AbortController();
    let stepStart = 0;
    let abortedAt = 0;
    let stepMs = 0;
    const run = engine.generate(
      { prompt: PROMPT, frames: 65, keyframeSteps: 1, interpolationSteps: 3 },
      {
        signal: ac.signal,
        onProgress: (e) => {
          if (e.stage !== "interpolate" || e.level !== 2) return;
          const now = performance.now();
          if (e.step === 1) stepMs = now - stepStart;
          stepStart = now;
          if (e.step === 1) {
            // Abort a little into step 2 of the 65-frame level.
            setTimeout(() => {
              abortedAt = performance.now();
              ac.abort();
            }, stepMs / 4);
          }
        },
      },
    );
    await assert.rejects(run, { name: "CancelledError" });
    const latency = performance.now() - abortedAt;
    assert.ok(abortedAt > 0, "the abort fired");
    t.diagnostic(`cancelled ${latency.toFixed(1)} ms after the abort; a 65-frame step takes ${stepMs.toFixed(0)} ms`);
    assert.ok(latency < stepMs, `cancellation took ${latency.toFixed(0)} ms, a step takes ${stepMs.toFixed(0)} ms`);
    const after = await engine.generate({
      prompt: PROMPT,
      seed: 1,
      frames: 17,
      keyframeSteps: 1,
      interpolationSteps: 1,
      interpolationStrength: 1,
    });
    assert.equal(after.frames.length, 17);
  });
});
