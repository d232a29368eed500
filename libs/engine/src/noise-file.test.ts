import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { encodeSafetensors, Tensor } from "@longshot/tensor";
import { readNoiseFile } from "./noise-file.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "longshot-noise-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("reads float32 noise tensors by stream name", async () => {
  const file = path.join(dir, "ok.safetensors");
  const kf = new Tensor(
    "float32",
    Float32Array.from({ length: 20 }, (_, i) => i / 3),
    [1, 4, 5, 1, 1],
  );
  await writeFile(file, encodeSafetensors({ keyframes: kf }));
  const noise = await readNoiseFile(file);
  assert.deepEqual(Object.keys(noise), ["keyframes"]);
  assert.deepEqual([...(noise.keyframes?.dims ?? [])], [1, 4, 5, 1, 1]);
  assert.deepEqual(noise.keyframes?.data, kf.data);
});

test("names the problem: missing file, not safetensors, wrong dtype", async () => {
  await assert.rejects(readNoiseFile(path.join(dir, "absent.safetensors")), { name: "NotFoundError" });
  const junk = path.join(dir, "junk.safetensors");
  await writeFile(junk, "not a safetensors file at all");
  await assert.rejects(readNoiseFile(junk), {
    name: "InvalidArgumentError",
    message: /^noise: .* is not a valid safetensors file/,
  });
  const ints = path.join(dir, "ints.safetensors");
  await writeFile(ints, encodeSafetensors({ interp1: new Tensor("int32", new Int32Array(4), [1, 4, 1, 1, 1]) }));
  await assert.rejects(readNoiseFile(ints), {
    name: "InvalidArgumentError",
    message: /^noise\.interp1: .*must be float32/,
  });
});
