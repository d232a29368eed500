import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { REQUEST_FIELDS, type RequestLimits, type RequestPack, resolveRequest } from "./request.js";

const PACK: RequestPack = {
  name: "p",
  version: "1.0.0",
  video: { frames: [65, 17], defaultFrames: 65 },
  defaults: {
    sampler: "ddim",
    mode: "pinned",
    keyframe: { steps: 25, guidance: 5 },
    interpolation: { steps: 15, guidance: 2, strength: 0.8 },
  },
};
const LIMITS: RequestLimits = { maxPromptChars: 20, maxSteps: 50, maxGuidance: 10 };
const SNAKE = Object.fromEntries(
  Object.keys(REQUEST_FIELDS).map((k) => [k, k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]),
) as typeof REQUEST_FIELDS;

describe("resolveRequest", () => {
  test("fills every default from the pack and takes the seed from chooseSeed", () => {
    assert.deepEqual(resolveRequest(PACK, { prompt: "a red circle" }, LIMITS, { chooseSeed: () => 9n }), {
      prompt: "a red circle",
      negativePrompt: "",
      seed: 9n,
      frames: 65,
      mode: "pinned",
      sampler: "ddim",
      keyframeSteps: 25,
      keyframeGuidance: 5,
      interpolationSteps: 15,
      interpolationGuidance: 2,
      interpolationStrength: 0.8,
    });
  });

  test("keeps what was asked for", () => {
    const r = resolveRequest(
      PACK,
      { prompt: "x", seed: 0n, frames: 17, mode: "seed", sampler: "euler-a", keyframeSteps: 50, keyframeGuidance: 1 },
      LIMITS,
    );
    assert.deepEqual(
      [r.seed, r.frames, r.mode, r.sampler, r.keyframeSteps, r.keyframeGuidance],
      [0n, 17, "seed", "euler-a", 50, 1],
    );
  });

  test("checks against the limits given, and names fields as told", () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ prompt: "x".repeat(21) }, "prompt", /is 21 characters long; at most 20/],
      [{ negativePrompt: "y".repeat(21) }, "negative_prompt", /is 21 characters long; at most 20/],
      [{ keyframeSteps: 51 }, "keyframe_steps", /must be an integer in \[1, 50\], got 51/],
      [{ interpolationGuidance: 11 }, "interpolation_guidance", /must be a number in \[1, 10\]/],
      [{ interpolationSteps: 4, interpolationStrength: 0.2 }, "interpolation_strength", /0\.2 runs no step of 4/],
      [{ frames: 33 }, "frames", /must be one of 17, 65 for pack p@1\.0\.0, got 33/],
      [{ seed: -1 }, "seed", /must be an integer in \[0, 2\^64\)/],
    ];
    for (const [input, field, message] of cases) {
      assert.throws(() => resolveRequest(PACK, { prompt: "x", ...input }, LIMITS, { fields: SNAKE }), {
        name: "InvalidArgumentError",
        field,
        message: new RegExp(`^${field}: ${message.source}`),
      });
    }
  });

  test("refuses control characters only when asked to", () => {
    const input = { prompt: "red\u001b[31m circle" };
    assert.equal(resolveRequest(PACK, input, LIMITS).prompt, input.prompt);
    assert.throws(() => resolveRequest(PACK, input, LIMITS, { rejectControlCharacters: true }), {
      field: "prompt",
      message: /must not contain control characters/,
    });
    assert.doesNotThrow(() => resolveRequest(PACK, { prompt: "a\tb\r\nc" }, LIMITS, { rejectControlCharacters: true }));
  });

  test("a pack default the engine does not know is refused naming the field", () => {
    const pack = { ...PACK, defaults: { ...PACK.defaults, sampler: "pndm" } };
    assert.throws(() => resolveRequest(pack, { prompt: "x" }, LIMITS), { field: "sampler", message: /got "pndm"/ });
  });
});
