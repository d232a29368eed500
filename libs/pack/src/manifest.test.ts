import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { isSafeRelativePath, validateManifest } from "./manifest.js";
import { readManifestJson } from "./testing.js";

/** The runtime's test pack (libs/runtime/fixtures/tiny-pack; this file runs from libs/pack/dist/). */
const TINY_PACK = fileURLToPath(new URL("../../runtime/fixtures/tiny-pack", import.meta.url));
const readTinyManifest = () => readManifestJson(TINY_PACK);
/** The bundled pack (models/packs/shapes-mini). */
const BUNDLED_PACK = fileURLToPath(new URL("../../../models/packs/shapes-mini", import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: tests reach into arbitrary pack.json fields
async function mutated(edit: (m: any) => void): Promise<string[]> {
  const m = await readTinyManifest();
  edit(m);
  return validateManifest(m).problems;
}

describe("validateManifest", () => {
  it("accepts the tiny fixture pack and returns it typed", async () => {
    const json = await readTinyManifest();
    const { manifest, problems } = validateManifest(json);
    assert.deepEqual(problems, []);
    assert.equal(manifest?.graphs.vaeDecoder.inputs[0]?.name, "latent");
    assert.deepEqual(manifest?.video.frames, [17, 65]);
  });

  it("reports a bad dtype with its JSON path", async () => {
    const problems = await mutated((m) => {
      m.graphs.keyframeUnet.inputs[0].dtype = "f32";
    });
    assert.deepEqual(problems, [
      'pack.json: graphs.keyframeUnet.inputs[0].dtype: expected one of float32,float16,int64,int32, got "f32"',
    ]);
  });

  it("refuses an unknown format and reports nothing else", async () => {
    const problems = await mutated((m) => {
      m.format = "longshot.pack/v2";
      delete m.video;
    });
    assert.deepEqual(problems, [
      'pack.json: format: unsupported pack format "longshot.pack/v2" (this runtime reads "longshot.pack/v1")',
    ]);
    assert.match(validateManifest([]).problems[0] ?? "", /^pack\.json: \(root\): expected an object, got \[\]$/);
  });

  it("reports every problem at once, each with its path", async () => {
    const problems = await mutated((m) => {
      m.video.fps = 0;
      m.latent.scalingFactor = "0.5";
      delete m.text.hiddenSize;
      m.defaults.keyframe.stepz = 3;
      m.files[0].sha256 = "ABC";
    });
    assert.deepEqual(problems.sort(), [
      "pack.json: defaults.keyframe.stepz: unknown field (expected one of steps,guidance)",
      'pack.json: files[0].sha256: expected 64 lowercase hex digits, got "ABC"',
      'pack.json: latent.scalingFactor: expected a finite number > 0, got "0.5"',
      "pack.json: text.hiddenSize: expected an integer >= 1, got nothing (the field is missing)",
      "pack.json: video.fps: expected an integer >= 1, got 0",
    ]);
  });

  it("accepts an interpolation strength in (0, 1] and names one outside it", async () => {
    assert.deepEqual(
      await mutated((m) => {
        m.defaults.interpolation.strength = 0.6;
      }),
      [],
    );
    assert.deepEqual(
      await mutated((m) => {
        m.defaults.interpolation.strength = 1.5;
      }),
      ["pack.json: defaults.interpolation.strength: expected a number in (0, 1], got 1.5"],
    );
    assert.deepEqual(
      await mutated((m) => {
        m.defaults.interpolation.strength = 0;
      }),
      ["pack.json: defaults.interpolation.strength: expected a finite number > 0, got 0"],
    );
    assert.deepEqual(
      await mutated((m) => {
        m.defaults.keyframe.strength = 0.5;
      }),
      ["pack.json: defaults.keyframe.strength: unknown field (expected one of steps,guidance)"],
    );
  });

  it("accepts an interpolation hint the engine builds and names any other", async () => {
    for (const hint of ["repeat", "blend", undefined]) {
      assert.deepEqual(
        await mutated((m) => {
          m.interpolation.hint = hint;
        }),
        [],
      );
    }
    const problems = await mutated((m) => {
      m.interpolation.hint = "nearest";
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /^pack\.json: interpolation\.hint: .*repeat.*blend.*"nearest"/);
  });

  it("requires the four contract graphs with the contract's input and output names", async () => {
    const problems = await mutated((m) => {
      delete m.graphs.textEncoder;
      m.graphs.vaeDecoder.inputs[0].name = "latents";
      m.graphs.keyframeUnet.inputs[1].dtype = "int64";
      m.graphs.interpolationUnet.outputs[0].shape = ["batch", 4, "frames", 4];
    });
    assert.deepEqual(problems.sort(), [
      'pack.json: graphs.interpolationUnet.outputs[0].shape: "noise_pred" must have rank 5, got [batch, 4, frames, 4]',
      'pack.json: graphs.keyframeUnet.inputs[1].dtype: "timestep" must be one of float32,float16, got "int64"',
      'pack.json: graphs.vaeDecoder.inputs: missing "latent" (the contract requires latent)',
      'pack.json: graphs.vaeDecoder.inputs[0].name: unexpected "latents" (the contract has latent)',
      'pack.json: graphs: missing required graph "textEncoder"',
    ]);
  });

  it("checks fixed graph dims against the latent, video and text sections", async () => {
    const problems = await mutated((m) => {
      m.graphs.vaeDecoder.outputs[0].shape = ["batch", 3, 32, 16];
      m.graphs.textEncoder.outputs[0].shape = ["batch", "tokens", 16];
    });
    assert.deepEqual(problems.sort(), [
      "pack.json: graphs.textEncoder.outputs[0].shape[2]: must equal text.hiddenSize (8), got 16",
      "pack.json: graphs.vaeDecoder.outputs[0].shape[2]: must equal video.height (16), got 32",
    ]);
  });

  it("validates shapes: positive fixed sizes and identifier axis names", async () => {
    const problems = await mutated((m) => {
      m.graphs.stressMatmul.inputs[0].shape = ["rows", 0];
      m.graphs.stressMatmul.outputs[0].shape = ["row s", 512];
    });
    assert.deepEqual(problems, [
      "pack.json: graphs.stressMatmul.inputs[0].shape[1]: expected an integer >= 1, got 0",
      'pack.json: graphs.stressMatmul.outputs[0].shape[0]: a dynamic axis must be named by an identifier, got "row s"',
    ]);
  });

  it("refuses paths that escape the pack and graph files that are not listed", async () => {
    const problems = await mutated((m) => {
      m.graphs.vaeDecoder.file = "../vae_decoder.onnx";
      m.graphs.keyframeUnet.file = "other.onnx";
      m.files[1].path = "/etc/passwd";
    });
    assert.ok(
      problems.includes(
        'pack.json: graphs.vaeDecoder.file: must be a relative path inside the pack (no "..", ".", empty segment, leading "/" or "\\"), got "../vae_decoder.onnx"',
      ),
      problems.join("\n"),
    );
    assert.ok(
      problems.includes('pack.json: graphs.keyframeUnet.file: "other.onnx" is not listed in files'),
      problems.join("\n"),
    );
    assert.ok(
      problems.some(
        (p) =>
          p.startsWith("pack.json: files[1].path: must be a relative path inside the pack") &&
          p.endsWith('got "/etc/passwd"'),
      ),
      problems.join("\n"),
    );
  });

  it("requires tokenizer files to be listed, and refuses pack.json or duplicates in files", async () => {
    const problems = await mutated((m) => {
      m.files = m.files.filter((f: { path: string }) => f.path !== "tokenizer/tokenizer.json");
      m.files.push({ ...m.files[0] });
      m.files.push({ path: "pack.json", sha256: "0".repeat(64), bytes: 1 });
    });
    const n = problems.length;
    assert.ok(
      problems.includes('pack.json: text.tokenizer: "tokenizer/tokenizer.json" is not listed in files'),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => /^pack\.json: files\[\d+\]\.path: duplicate entry for "half_identity\.onnx"$/.test(p)),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => /^pack\.json: files\[\d+\]\.path: pack\.json must not list itself$/.test(p)),
      problems.join("\n"),
    );
    assert.equal(n, 3, problems.join("\n"));
  });

  it("checks frames, defaultFrames and interpolation strides against each other", async () => {
    const problems = await mutated((m) => {
      m.video.defaultFrames = 33;
      m.interpolation.strides = { "17": 1, "33": 0.5 };
    });
    assert.deepEqual(problems.sort(), [
      "pack.json: interpolation.strides: missing a stride for frame count 65 (video.frames)",
      'pack.json: interpolation.strides["33"]: frame count 33 is not in video.frames (17,65)',
      "pack.json: video.defaultFrames: must be one of video.frames (17,65), got 33",
    ]);
  });

  it("checks the scheduler's known keys but lets extra diffusers keys through", async () => {
    const problems = await mutated((m) => {
      m.scheduler._diffusers_version = "0.30.0";
      m.scheduler.trained_betas = null;
      m.scheduler.prediction_type = "eps";
    });
    assert.deepEqual(problems, [
      'pack.json: scheduler.prediction_type: expected one of epsilon,v_prediction,sample, got "eps"',
    ]);
  });

  it("accepts latent.previewRgb and text.vocabulary, and reads the bundled pack's", async () => {
    const problems = await mutated((m) => {
      m.latent.previewRgb = {
        weights: [
          [0.1, 0.2, 0.3, 0.4],
          [0, 0, 0, 0],
          [-1, 1, -1, 1],
        ],
        bias: [0.5, 0.5, 0.5],
      };
      m.text.vocabulary = ["a", "ball", "red", "été", "2"];
    });
    assert.deepEqual(problems, []);
    const bundled = validateManifest(await readManifestJson(BUNDLED_PACK));
    assert.deepEqual(bundled.problems, []);
    const preview = bundled.manifest?.latent.previewRgb;
    assert.equal(preview?.weights.length, 3);
    for (const row of preview?.weights ?? []) assert.equal(row.length, bundled.manifest?.latent.channels);
    const vocabulary = bundled.manifest?.text.vocabulary ?? [];
    assert.ok(vocabulary.includes("red") && vocabulary.includes("left"), vocabulary.join(","));
    assert.deepEqual([...vocabulary].sort(), vocabulary, "the bundled vocabulary is sorted");
  });

  it("reports a malformed previewRgb with its path", async () => {
    const problems = await mutated((m) => {
      m.latent.previewRgb = {
        weights: [
          [0.1, 0.2, 0.3],
          [0, 0, 0, 0],
          [0, 0, "1", 0],
        ],
        bias: [0.5, 0.5],
        gain: 2,
      };
    });
    assert.deepEqual(problems.sort(), [
      "pack.json: latent.previewRgb.bias: expected 3 numbers, got [0.5,0.5]",
      "pack.json: latent.previewRgb.gain: unknown field (expected one of weights,bias)",
      "pack.json: latent.previewRgb.weights[0]: expected 4 numbers (latent.channels), got 3",
      'pack.json: latent.previewRgb.weights[2][2]: expected a finite number, got "1"',
    ]);
    const rows = await mutated((m) => {
      m.latent.previewRgb = { weights: [[0, 0, 0, 0]], bias: [0, 0, 0] };
    });
    assert.deepEqual(rows, ["pack.json: latent.previewRgb.weights: expected 3 rows (R, G, B)"]);
  });

  it("reports vocabulary entries that are not lower-case words, and duplicates", async () => {
    const problems = await mutated((m) => {
      m.text.vocabulary = ["red", "Blue", "dark blue", 7, "red"];
    });
    assert.deepEqual(problems.sort(), [
      'pack.json: text.vocabulary[1]: expected a lower-case word of letters or digits, got "Blue"',
      'pack.json: text.vocabulary[2]: expected a lower-case word of letters or digits, got "dark blue"',
      "pack.json: text.vocabulary[3]: expected a string, got 7",
      'pack.json: text.vocabulary[4]: duplicate word "red"',
    ]);
    assert.deepEqual(
      await mutated((m) => {
        m.text.vocabulary = "red ball";
      }),
      ['pack.json: text.vocabulary: expected an array, got "red ball"'],
    );
  });

  it("reports unknown top-level fields", async () => {
    const problems = await mutated((m) => {
      m.grpahs = {};
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /^pack\.json: grpahs: unknown field \(expected one of format,name,/);
  });
});

describe("isSafeRelativePath", () => {
  it("accepts plain relative paths and refuses escapes", () => {
    for (const ok of ["a.onnx", "tokenizer/tokenizer.json", "a/b/c..d"]) assert.equal(isSafeRelativePath(ok), true, ok);
    for (const bad of ["", "/a", "../a", "a/../b", "a//b", "./a", "a/.", "a\\b", "C:x", "a\0b"]) {
      assert.equal(isSafeRelativePath(bad), false, JSON.stringify(bad));
    }
  });
});
