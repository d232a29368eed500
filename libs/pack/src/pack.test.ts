import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFile, mkdir, readFile, realpath, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError, IntegrityError, InvalidArgumentError, NotFoundError } from "@longshot/core";
import { loadPack, PackIntegrityError, PackManifestError, sha256File } from "./pack.js";
import { copyPack, editManifest } from "./testing.js";

/** The runtime's test pack (libs/runtime/fixtures/tiny-pack; this file runs from libs/pack/dist/). */
const TINY_PACK = fileURLToPath(new URL("../../runtime/fixtures/tiny-pack", import.meta.url));

async function withCopy(fn: (dir: string) => Promise<void>): Promise<void> {
  const copy = await copyPack(TINY_PACK);
  try {
    await fn(copy.dir);
  } finally {
    await copy.dispose();
  }
}

describe("loadPack", () => {
  it("loads and verifies the tiny pack", async () => {
    const pack = await loadPack(TINY_PACK);
    assert.equal(pack.id, "tiny-pack@1.0.0");
    assert.equal(pack.dir, TINY_PACK);
    assert.deepEqual(pack.allowedFrames, [17, 65]);
    assert.equal(pack.defaultFrames, 17);
    assert.equal(pack.strideFor(17), 1);
    assert.equal(pack.strideFor(65), 0.25);
    assert.deepEqual(pack.graphNames.slice(0, 4), ["textEncoder", "keyframeUnet", "interpolationUnet", "vaeDecoder"]);
    const vae = pack.graphFile("vaeDecoder");
    assert.equal(vae.absPath, path.join(TINY_PACK, "vae_decoder.onnx"));
    assert.equal(
      vae.sha256,
      createHash("sha256")
        .update(await readFile(vae.absPath))
        .digest("hex"),
    );
    assert.equal(pack.tokenizerFile.absPath, path.join(TINY_PACK, "tokenizer", "tokenizer.json"));
    assert.equal(pack.tokenizerConfigFile.path, "tokenizer/tokenizer_config.json");
    assert.equal(pack.files.length, 8);
  });

  it("rejects frame counts the pack does not offer, naming the allowed ones", async () => {
    const pack = await loadPack(TINY_PACK);
    assert.throws(
      () => pack.strideFor(33),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.equal(err.field, "frames");
        assert.equal(err.message, "frames: must be one of 17, 65 for pack tiny-pack@1.0.0, got 33");
        return true;
      },
    );
  });

  it("names the graphs it has when asked for one it lacks", async () => {
    const pack = await loadPack(TINY_PACK);
    assert.throws(
      () => pack.graph("refiner"),
      (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.match(
          err.message,
          /has no graph "refiner" \(graphs: textEncoder, keyframeUnet, interpolationUnet, vaeDecoder,/,
        );
        return true;
      },
    );
    assert.throws(() => pack.graph("toString"), NotFoundError);
  });

  it("refuses a file with one flipped byte, naming the file and both hashes", async () => {
    await withCopy(async (dir) => {
      const file = path.join(dir, "vae_decoder.onnx");
      const bytes = await readFile(file);
      const expected = createHash("sha256").update(bytes).digest("hex");
      bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0x01;
      await writeFile(file, bytes);
      const actual = createHash("sha256").update(bytes).digest("hex");
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof PackIntegrityError);
        assert.ok(err instanceof IntegrityError);
        assert.equal(err.code, "DATA_LOSS");
        assert.deepEqual(err.problems, [
          `file "vae_decoder.onnx" is corrupt or modified: sha256 expected ${expected}, got ${actual}`,
        ]);
        assert.match(
          err.message,
          /^model pack tiny-pack@1\.0\.0 \(.*\) failed verification \(1 problem\):\n {2}file "vae_decoder\.onnx"/,
        );
        return true;
      });
    });
  });

  it("refuses a file whose size differs from pack.json", async () => {
    await withCopy(async (dir) => {
      const file = path.join(dir, "tokenizer", "tokenizer_config.json");
      const before = (await stat(file)).size;
      await appendFile(file, " ");
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof PackIntegrityError);
        assert.deepEqual(err.problems, [
          `file "tokenizer/tokenizer_config.json" has ${before + 1} bytes, pack.json says ${before}`,
        ]);
        return true;
      });
    });
  });

  it("refuses a missing file and an unlisted extra file, reporting both", async () => {
    await withCopy(async (dir) => {
      await rm(path.join(dir, "keyframe_unet.onnx"));
      await writeFile(path.join(dir, "tokenizer", "vocab.txt"), "red\n");
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof PackIntegrityError);
        assert.deepEqual(err.problems, [
          'file "keyframe_unet.onnx" listed in pack.json is missing',
          'file "tokenizer/vocab.txt" is in the pack directory but not listed in pack.json files',
        ]);
        return true;
      });
    });
  });

  it("refuses a listed file that is a symlink leading outside the pack", async () => {
    await withCopy(async (dir) => {
      const outside = path.join(path.dirname(dir), "outside.onnx");
      const target = path.join(dir, "half_identity.onnx");
      await writeFile(outside, await readFile(target));
      await rm(target);
      await symlink(outside, target);
      const resolved = await realpath(outside);
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof PackIntegrityError);
        assert.deepEqual(err.problems, [
          `file "half_identity.onnx" resolves to ${resolved}, outside the pack directory`,
        ]);
        return true;
      });
    });
  });

  it("refuses a listed path that is a directory", async () => {
    await withCopy(async (dir) => {
      await rm(path.join(dir, "half_identity.onnx"));
      await mkdir(path.join(dir, "half_identity.onnx"));
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof PackIntegrityError);
        assert.deepEqual(err.problems, ['file "half_identity.onnx" is not a regular file']);
        return true;
      });
    });
  });

  it("reports manifest problems with their JSON path as a ConfigError", async () => {
    await withCopy(async (dir) => {
      await editManifest(dir, (m) => {
        m.graphs.keyframeUnet.inputs[0].dtype = "f32";
        m.latent.layout = "BFCHW";
      });
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof PackManifestError);
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          'pack.json: latent.layout: expected one of BCFHW, got "BFCHW"',
          'pack.json: graphs.keyframeUnet.inputs[0].dtype: expected one of float32,float16,int64,int32, got "f32"',
        ]);
        assert.ok(
          err.message.startsWith(`invalid model pack ${dir} (2 problems):\n  pack.json: latent.layout:`),
          err.message,
        );
        return true;
      });
    });
  });

  it("refuses an unknown pack format", async () => {
    await withCopy(async (dir) => {
      await editManifest(dir, (m) => {
        m.format = "longshot.pack/v0";
      });
      await assert.rejects(loadPack(dir), /pack\.json: format: unsupported pack format "longshot\.pack\/v0"/);
    });
  });

  it("reports pack.json that is not JSON, and a missing pack or pack.json", async () => {
    await withCopy(async (dir) => {
      await writeFile(path.join(dir, "pack.json"), '{ "format": ');
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof PackManifestError);
        assert.match(err.problems[0] ?? "", /^pack\.json: not valid JSON: /);
        return true;
      });
      await rm(path.join(dir, "pack.json"));
      await assert.rejects(loadPack(dir), (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.equal(err.message, `model pack ${dir} has no readable pack.json`);
        return true;
      });
      await assert.rejects(loadPack(path.join(dir, "nope")), NotFoundError);
    });
  });
});

describe("sha256File", () => {
  it("streams a file's hash", async () => {
    const file = path.join(TINY_PACK, "stress_matmul.onnx");
    assert.equal(
      await sha256File(file),
      createHash("sha256")
        .update(await readFile(file))
        .digest("hex"),
    );
  });
});
