/**
 * The spans of the stage functions: `encode prompt`, `denoise` (keyframes, whole passes, windows) and `decode`,
 * with their attributes, as children of the active span when a tracer provider is registered, an error recorded
 * with status ERROR, and nothing at all without a provider. Fake sessions keep the model work trivial; the last
 * test runs the embedded Engine on the test pack.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ModelSession } from "@longshot/runtime";
import { initTelemetry, type Telemetry } from "@longshot/telemetry";
import { Tensor } from "@longshot/tensor";
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { Engine } from "../pipeline.js";
import { seededStageNoise } from "../stage-noise.js";
import { testPackDir } from "../test-support.js";
import type { PromptTokenizer } from "../tokenizer.js";
import { decodeBatches, decodeFrames } from "./decode.js";
import { encodePrompt } from "./encode-prompt.js";
import { interpolateFrames, interpolatePass } from "./interpolate.js";
import { denoiseKeyframes } from "./keyframes.js";

const C = 4;
const H = 2;
const W = 2;
const SCHEDULER = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  steps_offset: 1,
};

/** A session whose `run` is `fn` (no contract checks, no worker). */
function fakeSession(name: string, fn: (feeds: Record<string, Tensor>) => Record<string, Tensor>): ModelSession {
  return {
    name,
    pack: "fake@1",
    inputNames: [],
    outputNames: [],
    contract: {},
    run: async (feeds: Record<string, Tensor>) => fn(feeds),
    release: async () => {},
  } as unknown as ModelSession;
}

/** The dims of a feed the fake sessions read (the stage functions always pass it). */
function dimsOf(t: Tensor | undefined): number[] {
  assert.ok(t, "the feed is passed");
  return [...t.dims];
}
const zeros = (dims: number[]) => new Tensor("float32", new Float32Array(dims.reduce((x, y) => x * y, 1)), dims);

/** A UNet predicting zero noise `[batch, C, F, h, w]` for a sample `[batch, C or 2C + 1, F, h, w]`. */
const unet = fakeSession("unet", ({ sample }) => {
  const [b = 0, , f = 0, h = 0, w = 0] = dimsOf(sample);
  return { noise_pred: zeros([b, C, f, h, w]) };
});
const failingUnet = fakeSession("unet", () => {
  throw new Error("the model failed");
});
/** A VAE returning a grey `[n, 3, h, w]` image for latents `[n, C, h, w]`. */
const vae = fakeSession("vae", ({ latent }) => {
  const [n = 0, , h = 0, w = 0] = dimsOf(latent);
  return { image: zeros([n, 3, h, w]) };
});
const textEncoder = fakeSession("textEncoder", () => ({
  last_hidden_state: new Tensor("float32", new Float32Array(2 * 3 * 8), [2, 3, 8]),
}));
const tokenizer = {
  encode: () => ({
    inputIds: new Tensor("int64", new BigInt64Array(6), [2, 3]),
    attentionMask: new Tensor("int64", new BigInt64Array(6), [2, 3]),
  }),
} as unknown as PromptTokenizer;
const text = new Tensor("float32", new Float32Array(2 * 3 * 8), [2, 3, 8]);
const keyframes = new Tensor("float32", new Float32Array(C * 5 * H * W), [1, C, 5, H, W]);

const common = { sampler: "ddim" as const, schedulerConfig: SCHEDULER, textEmbeddings: text };
const keyframeInput = {
  ...common,
  unet,
  steps: 3,
  noise: seededStageNoise(1, "keyframes", [1, C, 5, H, W]),
  guidance: 5,
  executionProvider: "cpu",
};
const interpolationInput = {
  ...common,
  unet,
  steps: 4,
  latents: keyframes,
  noise: seededStageNoise(1, "interp1", [1, C, 17, H, W]),
  frameStride: 4,
  guidance: 2,
  strength: 0.5,
  mode: "pinned" as const,
  hint: "blend" as const,
  executionProvider: "cpu",
};

test("without a tracer provider the stage functions make no recording span", async () => {
  const seen: Array<boolean | undefined> = [];
  const onStep = () => seen.push(trace.getActiveSpan()?.isRecording());
  await denoiseKeyframes({ ...keyframeInput, onStep });
  await interpolateFrames({ ...interpolationInput, onStep }, { start: 4, end: 13 });
  for await (const _ of decodeBatches({ vae, latents: keyframes, scalingFactor: 1 })) {
    seen.push(trace.getActiveSpan()?.isRecording());
  }
  assert.ok(seen.length > 0);
  assert.ok(
    seen.every((r) => r !== true),
    `no span records: ${JSON.stringify(seen)}`,
  );
});

describe("with a tracer provider", () => {
  let telemetry: Telemetry;
  const memory = new InMemorySpanExporter();
  before(async () => {
    telemetry = await initTelemetry({ serviceName: "engine-test", spanExporters: [memory] });
  });
  after(async () => {
    await telemetry?.shutdown();
  });

  /** Runs `fn` under a fresh parent span; returns the spans that ended below it. */
  async function under(fn: () => Promise<unknown>): Promise<{ parent: ReadableSpan; children: ReadableSpan[] }> {
    memory.reset();
    const parent = trace.getTracer("test").startSpan("process longshot.tasks.test");
    await context.with(trace.setSpan(context.active(), parent), async () => {
      await fn().catch(() => undefined);
    });
    parent.end();
    const spans = memory.getFinishedSpans();
    const root = spans.find((s) => s.name === "process longshot.tasks.test") as ReadableSpan;
    return { parent: root, children: spans.filter((s) => s !== root) };
  }

  test("encode prompt, denoise (keyframes, a whole pass, a window) and decode: children with their attributes", async () => {
    const { parent, children } = await under(async () => {
      await encodePrompt({ textEncoder, tokenizer, prompt: "a red circle", executionProvider: "cpu" });
      await denoiseKeyframes(keyframeInput);
      await interpolatePass(interpolationInput);
      await interpolateFrames(interpolationInput, { start: 4, end: 13 });
      await decodeFrames({ vae, latents: keyframes, scalingFactor: 1, batch: 2, executionProvider: "cpu" });
    });
    assert.deepEqual(
      children.map((s) => s.name),
      ["encode prompt", "denoise", "denoise", "denoise", "decode"],
    );
    for (const s of children) {
      assert.equal(s.parentSpanContext?.spanId, parent.spanContext().spanId, `${s.name} is a child of the task's span`);
      assert.equal(s.status.code, SpanStatusCode.UNSET);
      assert.equal(s.attributes["longshot.execution_provider"], "cpu");
    }
    const [encode, kf, whole, window, decode] = children as [
      ReadableSpan,
      ReadableSpan,
      ReadableSpan,
      ReadableSpan,
      ReadableSpan,
    ];
    assert.equal(encode.attributes["longshot.stage"], "keyframe");
    assert.deepEqual(kf.attributes, {
      "longshot.stage": "keyframe",
      "longshot.execution_provider": "cpu",
      "longshot.denoise.sampler": "ddim",
      "longshot.denoise.guidance": 5,
      "longshot.denoise.steps": 3,
      "longshot.frames": 5,
    });
    // Strength 0.5 of 4 steps runs 2; the whole pass has no window attributes.
    assert.deepEqual(whole.attributes, {
      "longshot.stage": "interpolation",
      "longshot.execution_provider": "cpu",
      "longshot.denoise.sampler": "ddim",
      "longshot.denoise.guidance": 2,
      "longshot.denoise.steps": 2,
      "longshot.frames": 17,
    });
    assert.deepEqual(
      [
        window.attributes["longshot.frames"],
        window.attributes["longshot.window.start"],
        window.attributes["longshot.window.end"],
      ],
      [9, 4, 13],
    );
    assert.deepEqual(decode.attributes, {
      "longshot.stage": "decode",
      "longshot.execution_provider": "cpu",
      "longshot.frames": 5,
      "longshot.decode.batch": 2,
    });
  });

  test("a failing model call or a bad input: the span has status ERROR, the exception and error.type", async () => {
    const { children } = await under(() => denoiseKeyframes({ ...keyframeInput, unet: failingUnet }));
    const [denoise] = children;
    assert.equal(denoise?.name, "denoise");
    assert.equal(denoise.status.code, SpanStatusCode.ERROR);
    assert.equal(denoise.status.message, "the model failed");
    assert.equal(denoise.events[0]?.name, "exception");
    assert.equal(denoise.attributes["error.type"], "Error");

    const bad = await under(() => decodeFrames({ vae, latents: keyframes, scalingFactor: 1, batch: 0 }));
    assert.equal(bad.children[0]?.name, "decode");
    assert.equal(bad.children[0]?.status.code, SpanStatusCode.ERROR);
    assert.equal(bad.children[0]?.attributes["error.type"], "InvalidArgumentError");
  });

  test("decode: a caller that stops after the first batch still ends the span", async () => {
    const { children } = await under(async () => {
      for await (const _ of decodeBatches({ vae, latents: keyframes, scalingFactor: 1, batch: 2 })) break;
    });
    assert.deepEqual(
      children.map((s) => [s.name, s.status.code]),
      [["decode", SpanStatusCode.UNSET]],
    );
  });

  test("the embedded Engine: one `generate` span holding the same stage spans, windows included", async () => {
    const engine = await Engine.create({ packDir: testPackDir(), threads: 1 });
    try {
      memory.reset();
      await engine.generate({
        prompt: "a red circle moving right",
        seed: 3,
        frames: 17,
        keyframeSteps: 1,
        interpolationSteps: 1,
        interpolationStrength: 1,
        window: { frames: 9, overlap: 4 },
      });
    } finally {
      await engine.close();
    }
    const spans = memory.getFinishedSpans();
    const root = spans.find((s) => s.name === "generate");
    assert.ok(root, spans.map((s) => s.name).join(", "));
    assert.equal(root.parentSpanContext, undefined, "generate is the root of the run's trace");
    assert.equal(root.attributes["longshot.frames"], 17);
    const children = spans.filter((s) => s !== root);
    assert.ok(children.every((s) => s.parentSpanContext?.spanId === root.spanContext().spanId));
    assert.deepEqual(
      children.map((s) => [s.name, s.attributes["longshot.stage"], s.attributes["longshot.window.start"]]),
      [
        ["encode prompt", "keyframe", undefined],
        ["denoise", "keyframe", undefined],
        ["denoise", "interpolation", 0],
        ["denoise", "interpolation", 4],
        ["denoise", "interpolation", 8],
        ["decode", "decode", undefined],
      ],
    );
    assert.ok(children.every((s) => s.attributes["longshot.execution_provider"] === "cpu"));
  });
});
