/**
 * Test assets of the engine tests: a model pack and fixtures written from it by the Python reference pipeline
 * (`models/longshot_models/reference.py`). Not exported from the package.
 *
 * TEST_ASSET_SETS is the single place that says where they are: the first set whose pack exists is used, the
 * committed shapes-mini pack and fixtures first, then the development pack with random weights in /tmp/smoke.
 * `LONGSHOT_TEST_PACK` + `LONGSHOT_TEST_FIXTURES` (+ `LONGSHOT_TEST_FIXTURES_65_SEED`) override them. A missing
 * pack or fixture fails the test that needs it, saying which file and how to make it: nothing is skipped.
 *
 * Fixtures are made with (from models/):
 *   .venv/bin/python -m longshot_models.reference --pack PACK --fixtures DIR --frames 17 --interp-strength 0.7
 *   .venv/bin/python -m longshot_models.reference --pack PACK --fixtures DIR_65_SEED --frames 65 --mode seed \
 *       --keyframe-steps 4 --interp-steps 3 --interp-guidance 2.0
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeSafetensors, type Tensor } from "@longshot/tensor";

/** The repository root (this file is libs/engine/{src,dist}/test-support.*). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export interface TestAssetSet {
  label: string;
  pack: string;
  /** 17 frames, pinned mode (reference.py defaults). */
  fixtures: string;
  /** 65 frames, seed mode, 4 keyframe / 3 interpolation steps. */
  fixtures65Seed: string;
}

export const TEST_ASSET_SETS: readonly TestAssetSet[] = [
  {
    label: "committed shapes-mini pack",
    pack: path.join(REPO_ROOT, "models/packs/shapes-mini"),
    fixtures: path.join(REPO_ROOT, "models/fixtures/reference"),
    fixtures65Seed: path.join(REPO_ROOT, "models/fixtures/reference-65-seed"),
  },
  {
    label: "development pack with random weights (/tmp/smoke)",
    pack: "/tmp/smoke/pack",
    fixtures: "/tmp/smoke/fixtures",
    fixtures65Seed: "/tmp/smoke/fixtures-65-seed",
  },
];

function chooseAssets(): TestAssetSet {
  const env = process.env;
  if (env.LONGSHOT_TEST_PACK) {
    return {
      label: "LONGSHOT_TEST_PACK",
      pack: env.LONGSHOT_TEST_PACK,
      fixtures: env.LONGSHOT_TEST_FIXTURES ?? path.join(env.LONGSHOT_TEST_PACK, "../fixtures"),
      fixtures65Seed: env.LONGSHOT_TEST_FIXTURES_65_SEED ?? path.join(env.LONGSHOT_TEST_PACK, "../fixtures-65-seed"),
    };
  }
  return (
    TEST_ASSET_SETS.find((s) => existsSync(path.join(s.pack, "pack.json"))) ?? (TEST_ASSET_SETS[0] as TestAssetSet)
  );
}

export const TEST_ASSETS: TestAssetSet = chooseAssets();

/** `file` inside the asset directory `dir`, or an error saying what is missing and how to make it. */
export function requireAsset(dir: string, file = ""): string {
  const p = path.join(dir, file);
  if (!existsSync(p)) {
    throw new Error(
      `engine test asset ${p} is missing (asset set: ${TEST_ASSETS.label}). Build the pack, then write the ` +
        "fixtures with models/longshot_models/reference.py (see libs/engine/src/test-support.ts).",
    );
  }
  return p;
}

export function testPackDir(): string {
  requireAsset(TEST_ASSETS.pack, "pack.json");
  return TEST_ASSETS.pack;
}

/** Tensors of a safetensors fixture file (F32/F16/I64/I32). */
export function readTensors(dir: string, file: string): Record<string, Tensor> {
  return decodeSafetensors(new Uint8Array(readFileSync(requireAsset(dir, file)))).tensors;
}

/** A U8 tensor of a safetensors file (the frames fixture), which @longshot/tensor does not model. */
export function readU8(dir: string, file: string, name: string): { dims: number[]; data: Uint8Array } {
  const bytes = readFileSync(requireAsset(dir, file));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const info = header[name];
  if (info?.dtype !== "U8") throw new Error(`${file}: no U8 tensor "${name}"`);
  const [a, b] = info.data_offsets;
  return { dims: info.shape, data: new Uint8Array(bytes.subarray(8 + n + a, 8 + n + b)) };
}

export interface FixtureSettings {
  prompt: string;
  seed: number;
  sampler: string;
  keyframe_steps: number;
  keyframe_guidance: number;
  interp_steps: number;
  interp_guidance: number;
  interp_strength: number;
  mode: "pinned" | "seed";
  frames: number;
  pack: string;
  packVersion: string;
}

export function readFixtureSettings(dir: string): FixtureSettings {
  return JSON.parse(readFileSync(requireAsset(dir, "fixture.json"), "utf8")) as FixtureSettings;
}
