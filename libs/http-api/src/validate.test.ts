import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, InvalidArgumentError } from "@longshot/core";
import { resolveRequest } from "@longshot/engine/light";
import { GenerateRequest, Mode, OutputFormat, Sampler } from "@longshot/proto";
import { type CatalogPack, type GenerateLimits, PackCatalog, validateGenerateRequest } from "./validate.js";

const LIMITS: GenerateLimits = { maxPromptChars: 200, maxSteps: 150, maxGuidance: 30, maxRequestBytes: 4096 };

function pack(name: string, change: Partial<CatalogPack> = {}): CatalogPack {
  return {
    name,
    version: "1.0.0",
    video: { frames: [17, 65, 257], defaultFrames: 65 },
    defaults: {
      sampler: "ddim",
      mode: "pinned",
      keyframe: { steps: 25, guidance: 5 },
      interpolation: { steps: 15, guidance: 2 },
    },
    ...change,
  };
}

const catalog = new PackCatalog(
  [pack("shapes-mini"), pack("other", { video: { frames: [17], defaultFrames: 17 } })],
  LIMITS,
);

function req(fields: Partial<GenerateRequest> = {}): GenerateRequest {
  return GenerateRequest.create({ prompt: "a red circle moving left on a dark blue background", ...fields });
}

describe("validateGenerateRequest: malformed requests are INVALID_ARGUMENT naming the field", () => {
  const table: [string, Partial<GenerateRequest>, string][] = [
    ["empty prompt", { prompt: "" }, "prompt"],
    ["blank prompt", { prompt: " \n\t " }, "prompt"],
    ["over-long prompt", { prompt: "x".repeat(201) }, "prompt"],
    ["prompt with a NUL", { prompt: "a red\u0000circle" }, "prompt"],
    ["prompt with an escape sequence", { prompt: "red \u001b[31m circle" }, "prompt"],
    ["over-long negative prompt", { negativePrompt: "y".repeat(201) }, "negative_prompt"],
    ["unknown pack", { pack: "sdxl" }, "pack"],
    ["frames not in the pack", { frames: 30 }, "frames"],
    ["frames allowed by another pack only", { pack: "other", frames: 65 }, "frames"],
    ["zero frames", { frames: 0 }, "frames"],
    ["zero keyframe steps", { keyframeSteps: 0 }, "keyframe_steps"],
    ["too many keyframe steps", { keyframeSteps: 151 }, "keyframe_steps"],
    ["too many interpolation steps", { interpolationSteps: 10_000 }, "interpolation_steps"],
    ["negative keyframe guidance", { keyframeGuidance: -1 }, "keyframe_guidance"],
    ["keyframe guidance below 1", { keyframeGuidance: 0.5 }, "keyframe_guidance"],
    ["NaN keyframe guidance", { keyframeGuidance: Number.NaN }, "keyframe_guidance"],
    ["infinite interpolation guidance", { interpolationGuidance: Number.POSITIVE_INFINITY }, "interpolation_guidance"],
    ["too large interpolation guidance", { interpolationGuidance: 31 }, "interpolation_guidance"],
    ["zero interpolation strength", { interpolationStrength: 0 }, "interpolation_strength"],
    ["interpolation strength above 1", { interpolationStrength: 1.01 }, "interpolation_strength"],
    ["strength that runs no step", { interpolationSteps: 4, interpolationStrength: 0.2 }, "interpolation_strength"],
    ["unknown sampler number", { sampler: 42 as Sampler }, "sampler"],
    ["UNRECOGNIZED sampler", { sampler: Sampler.UNRECOGNIZED }, "sampler"],
    ["unknown mode number", { mode: 9 as Mode }, "mode"],
    [
      "unspecified output format",
      { outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_UNSPECIFIED] },
      "output_formats[1]",
    ],
    ["unknown output format", { outputFormats: [77 as OutputFormat] }, "output_formats[0]"],
    ["over-long idempotency key", { idempotencyKey: "k".repeat(129) }, "idempotency_key"],
    ["idempotency key with spaces", { idempotencyKey: "my key" }, "idempotency_key"],
    ["idempotency key with non-ASCII", { idempotencyKey: "clé" }, "idempotency_key"],
    [
      "oversized request",
      { negativePrompt: "z".repeat(150), outputFormats: Array(4000).fill(OutputFormat.OUTPUT_FORMAT_MP4) },
      "request",
    ],
  ];
  for (const [name, fields, field] of table) {
    it(`${name} → ${field}`, () => {
      assert.throws(
        () => validateGenerateRequest(req(fields), catalog, LIMITS),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, String(err));
          assert.equal(err.code, "INVALID_ARGUMENT");
          assert.equal(err.field, field, err.message);
          assert.ok(err.message.startsWith(`${field}: `));
          return true;
        },
      );
    });
  }

  it("names the served packs when the pack is unknown", () => {
    assert.throws(() => validateGenerateRequest(req({ pack: "nope" }), catalog, LIMITS), /serves shapes-mini, other/);
  });

  it("names the allowed frame counts", () => {
    assert.throws(() => validateGenerateRequest(req({ frames: 30 }), catalog, LIMITS), /must be one of 17, 65, 257/);
  });

  it("says what the engine's resolver says, under the proto field name", () => {
    const engine = (fields: Record<string, unknown>) => {
      try {
        resolveRequest(pack("shapes-mini"), { prompt: "a red circle", ...fields }, LIMITS);
      } catch (err) {
        return (err as InvalidArgumentError).message;
      }
      assert.fail("the engine accepted it");
    };
    for (const [fields, field, message] of [
      [{ keyframeSteps: 0 }, "keyframe_steps", engine({ keyframeSteps: 0 })],
      [{ interpolationGuidance: 31 }, "interpolation_guidance", engine({ interpolationGuidance: 31 })],
      [{ frames: 30 }, "frames", engine({ frames: 30 })],
    ] as const) {
      assert.throws(() => validateGenerateRequest(req(fields), catalog, LIMITS), {
        field,
        message: message.replace(/^[A-Za-z]+:/, `${field}:`),
      });
    }
  });
});

describe("validateGenerateRequest: valid requests", () => {
  it("fills every default from the default pack and picks a seed", () => {
    const { pack: p, request } = validateGenerateRequest(req(), catalog, LIMITS, { chooseSeed: () => 1234n });
    assert.equal(p.name, "shapes-mini");
    assert.deepEqual(request, {
      prompt: "a red circle moving left on a dark blue background",
      negativePrompt: undefined,
      seed: 1234n,
      frames: 65,
      keyframeSteps: 25,
      interpolationSteps: 15,
      keyframeGuidance: 5,
      interpolationGuidance: 2,
      interpolationStrength: 1,
      sampler: Sampler.SAMPLER_DDIM,
      mode: Mode.MODE_PINNED,
      pack: "shapes-mini",
      idempotencyKey: "",
      outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4],
    });
  });

  it("keeps what the client chose, including seed 0, guidance 1 and a named pack", () => {
    const { request } = validateGenerateRequest(
      req({
        seed: 0n,
        frames: 17,
        keyframeSteps: 1,
        interpolationSteps: 150,
        keyframeGuidance: 1,
        interpolationGuidance: 30,
        interpolationStrength: 0.5,
        sampler: Sampler.SAMPLER_DPMPP_2M,
        mode: Mode.MODE_SEED,
        pack: "other",
        idempotencyKey: "client-42:retry",
        negativePrompt: "",
        outputFormats: [OutputFormat.OUTPUT_FORMAT_GIF, OutputFormat.OUTPUT_FORMAT_PNG, OutputFormat.OUTPUT_FORMAT_GIF],
      }),
      catalog,
      LIMITS,
    );
    assert.equal(request.seed, 0n);
    assert.equal(request.frames, 17);
    assert.equal(request.keyframeGuidance, 1);
    assert.equal(request.interpolationStrength, 0.5);
    assert.equal(request.sampler, Sampler.SAMPLER_DPMPP_2M);
    assert.equal(request.mode, Mode.MODE_SEED);
    assert.equal(request.pack, "other");
    assert.equal(request.negativePrompt, "");
    assert.deepEqual(
      request.outputFormats,
      [OutputFormat.OUTPUT_FORMAT_GIF, OutputFormat.OUTPUT_FORMAT_PNG],
      "duplicates dropped",
    );
  });

  it("counts prompt length in characters, not bytes or UTF-16 units", () => {
    validateGenerateRequest(req({ prompt: "🟥".repeat(200) }), catalog, LIMITS);
    assert.throws(() => validateGenerateRequest(req({ prompt: "🟥".repeat(201) }), catalog, LIMITS), {
      field: "prompt",
    });
  });

  it("picks seeds in [0, 2^32) by default", () => {
    for (let i = 0; i < 20; i++) {
      const { request } = validateGenerateRequest(req(), catalog, LIMITS);
      assert.ok(request.seed !== undefined && request.seed >= 0n && request.seed < 2n ** 32n);
    }
  });
});

describe("PackCatalog", () => {
  it("uses the first pack as the default", () => {
    assert.equal(catalog.defaultPack, "shapes-mini");
    assert.deepEqual(catalog.names, ["shapes-mini", "other"]);
  });

  it("refuses packs it cannot serve, naming the pack", () => {
    assert.throws(() => new PackCatalog([], LIMITS), ConfigError);
    assert.throws(() => new PackCatalog([pack("a"), pack("a")], LIMITS), /configured twice/);
    const sampler = pack("p", { defaults: { ...pack("p").defaults, sampler: "pndm" } });
    assert.throws(() => new PackCatalog([sampler], LIMITS), /p@1.0.0: default sampler "pndm"/);
    const mode = pack("p", { defaults: { ...pack("p").defaults, mode: "blend" } });
    assert.throws(() => new PackCatalog([mode], LIMITS), /default mode "blend"/);
    const steps = pack("p", { defaults: { ...pack("p").defaults, keyframe: { steps: 500, guidance: 5 } } });
    assert.throws(() => new PackCatalog([steps], LIMITS), /keyframe steps 500 exceed/);
  });

  it("accepts pack.json spellings of samplers", () => {
    const c = new PackCatalog([pack("p", { defaults: { ...pack("p").defaults, sampler: "euler_ancestral" } })], LIMITS);
    assert.equal(validateGenerateRequest(req(), c, LIMITS).request.sampler, Sampler.SAMPLER_EULER_ANCESTRAL);
  });
});
