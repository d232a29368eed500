/**
 * Cross-language check against the reference implementation: Python's `safetensors` (with numpy) from
 * the models venv reads what this package writes, and writes what this package reads.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { float16ArrayToFloat32, float32ArrayToFloat16 } from "./float16.js";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.js";
import { numel, Tensor } from "./tensor.js";

const LATENT_DIMS = [1, 4, 65, 16, 16];
const PYTHON_REL = "models/.venv/bin/python";

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg)) {
      const json = JSON.parse(readFileSync(pkg, "utf8")) as { name?: string; workspaces?: unknown };
      if (json.workspaces !== undefined) return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no npm workspace root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

const PY_SCRIPT = `
import sys, warnings
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save, save_file

warnings.simplefilter("ignore")
mode, file = sys.argv[1], sys.argv[2]
LATENT = (1, 4, 65, 16, 16)

def same_half(actual, expected, what):
    a, e = actual.view(np.uint16), expected.view(np.uint16)
    a_nan, e_nan = np.isnan(actual), np.isnan(expected)
    assert (a_nan == e_nan).all(), f"{what}: NaN positions differ"
    bad = np.nonzero((a != e) & ~e_nan)[0]
    assert bad.size == 0, f"{what}: {bad.size} halves differ, first at {bad[0]}: {a[bad[0]]:#06x} vs {e[bad[0]]:#06x}"

if mode == "check-ts":
    t = load_file(file)
    with safe_open(file, framework="np") as f:
        meta = f.metadata()
    assert meta == {"producer": "longshot-ts"}, meta
    assert set(t) == {"latent", "latent_f16", "src", "half", "ids", "mask"}, sorted(t)
    i = np.arange(int(np.prod(LATENT)), dtype=np.int64)
    expected = ((i * 7919) % 2001 - 1000).astype(np.float32) / np.float32(64)
    assert t["latent"].dtype == np.float32 and t["latent"].shape == LATENT, (t["latent"].dtype, t["latent"].shape)
    assert np.array_equal(t["latent"].reshape(-1), expected), "latent values differ"
    assert t["latent_f16"].dtype == np.float16 and t["latent_f16"].shape == LATENT
    same_half(t["latent_f16"], t["latent"].astype(np.float16), "latent_f16")
    with np.errstate(all="ignore"):
        same_half(t["half"], t["src"].astype(np.float16), "half (random float32 bits)")
    assert t["ids"].dtype == np.int64 and t["ids"].tolist() == [[-(2**63), 2**63 - 1], [0, 123456789012345]]
    assert t["mask"].dtype == np.int32 and t["mask"].tolist() == [-(2**31), 2**31 - 1, 7]
    # The reference writer produces the very same bytes for the same tensors and metadata.
    assert save(t, metadata=meta) == open(file, "rb").read(), "python re-encoding differs byte-wise"
    print("ok")
elif mode == "write-py":
    i = np.arange(int(np.prod(LATENT)), dtype=np.int64)
    latent = (i % 1000).astype(np.float32) * np.float32(0.37)
    rng = np.random.default_rng(7)
    src = rng.integers(0, 2**32, size=4096, dtype=np.uint64).astype(np.uint32).view(np.float32)
    src[:8] = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65520.0, 2.0**-25, 2.0**-24 * 3 / 2], dtype=np.float32)
    with np.errstate(all="ignore"):
        half = src.astype(np.float16)
    save_file({
        "py_latent": latent.reshape(LATENT),
        "py_latent_f16": latent.reshape(LATENT).astype(np.float16),
        "py_src": src,
        "py_half": half,
        "py_ids": np.array([[1, -2, 3]], dtype=np.int64),
        "py_mask": np.array([[0], [1]], dtype=np.int32),
    }, file, metadata={"producer": "python", "format": "np", "note": "ünïcode ✓"})
    print("ok")
else:
    raise SystemExit(f"unknown mode {mode}")
`;

let python = "";
let dir = "";

function runPython(mode: string, file: string): void {
  const res = spawnSync(python, ["-c", PY_SCRIPT, mode, file], { encoding: "utf8", timeout: 120_000 });
  if (res.error) throw new Error(`running ${python}: ${res.error.message}`);
  assert.equal(res.status, 0, `python ${mode} failed (exit ${res.status}):\n${res.stderr}${res.stdout}`);
  assert.equal(res.stdout.trim(), "ok");
}

function sameHalves(actual: Uint16Array, expected: Uint16Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const aNaN = (a & 0x7c00) === 0x7c00 && (a & 0x3ff) !== 0;
    const eNaN = (e & 0x7c00) === 0x7c00 && (e & 0x3ff) !== 0;
    if (aNaN || eNaN) assert.ok(aNaN && eNaN, `${what}[${i}]: ${a.toString(16)} vs ${e.toString(16)}`);
    else if (a !== e) assert.fail(`${what}[${i}]: ${a.toString(16)} vs numpy ${e.toString(16)}`);
  }
}

describe("safetensors interop with Python's safetensors", { timeout: 120_000 }, () => {
  before(() => {
    python = path.join(repoRoot(), PYTHON_REL);
    if (!existsSync(python)) {
      throw new Error(
        `Python interpreter not found at ${python}: create the models venv (./setup.sh) with safetensors and numpy`,
      );
    }
    dir = mkdtempSync(path.join(tmpdir(), "longshot-safetensors-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("Python reads what TypeScript writes, byte-identical to its own writer", () => {
    const n = numel(LATENT_DIMS);
    const latent = new Float32Array(n);
    for (let i = 0; i < n; i++) latent[i] = (((i * 7919) % 2001) - 1000) / 64;
    // Random float32 bit patterns (NaNs, infinities, subnormals included) to check rounding against numpy.
    const srcBits = new Uint32Array(8192);
    let s = 0x9e3779b9;
    for (let i = 0; i < srcBits.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      srcBits[i] = s >>> 0;
    }
    const src = new Float32Array(srcBits.buffer);
    src.set([0, -0, Number.POSITIVE_INFINITY, Number.NaN, 65520, 65519.99, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11], 0);
    const file = path.join(dir, "from-ts.safetensors");
    const bytes = encodeSafetensors(
      {
        latent: new Tensor("float32", latent, LATENT_DIMS),
        latent_f16: new Tensor("float16", float32ArrayToFloat16(latent), LATENT_DIMS),
        src: new Tensor("float32", src, [src.length]),
        half: new Tensor("float16", float32ArrayToFloat16(src), [src.length]),
        ids: new Tensor("int64", new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, 123456789012345n]), [2, 2]),
        mask: new Tensor("int32", new Int32Array([-(2 ** 31), 2 ** 31 - 1, 7]), [3]),
      },
      { producer: "longshot-ts" },
    );
    writeFileSync(file, bytes);
    runPython("check-ts", file);
  });

  it("TypeScript reads what Python writes", () => {
    const file = path.join(dir, "from-py.safetensors");
    runPython("write-py", file);
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(file)));
    assert.deepEqual(metadata, { producer: "python", format: "np", note: "ünïcode ✓" });
    assert.deepEqual(Object.keys(tensors).sort(), [
      "py_half",
      "py_ids",
      "py_latent",
      "py_latent_f16",
      "py_mask",
      "py_src",
    ]);

    const latent = tensors.py_latent as Tensor<"float32">;
    assert.equal(latent.dtype, "float32");
    assert.deepEqual(latent.dims, LATENT_DIMS);
    const f037 = Math.fround(0.37);
    for (let i = 0; i < latent.data.length; i++) {
      const expected = Math.fround((i % 1000) * f037);
      if (latent.data[i] !== expected) assert.fail(`py_latent[${i}] = ${latent.data[i]}, expected ${expected}`);
    }
    const latent16 = tensors.py_latent_f16 as Tensor<"float16">;
    assert.equal(latent16.dtype, "float16");
    assert.deepEqual(latent16.dims, LATENT_DIMS);
    sameHalves(float32ArrayToFloat16(latent.data), latent16.data, "py_latent_f16");
    const widened = float16ArrayToFloat32(latent16.data);
    for (let i = 0; i < widened.length; i++) {
      const err = Math.abs((widened[i] as number) - (latent.data[i] as number));
      if (err > 0.25) assert.fail(`py_latent_f16[${i}] widened to ${widened[i]}, far from ${latent.data[i]}`);
    }

    const src = tensors.py_src as Tensor<"float32">;
    const half = tensors.py_half as Tensor<"float16">;
    assert.equal(src.data.length, 4096);
    sameHalves(float32ArrayToFloat16(src.data), half.data, "py_half");

    const ids = tensors.py_ids as Tensor<"int64">;
    assert.equal(ids.dtype, "int64");
    assert.deepEqual(ids.dims, [1, 3]);
    assert.deepEqual([...ids.data], [1n, -2n, 3n]);
    const mask = tensors.py_mask as Tensor<"int32">;
    assert.equal(mask.dtype, "int32");
    assert.deepEqual(mask.dims, [2, 1]);
    assert.deepEqual([...mask.data], [0, 1]);
  });
});
