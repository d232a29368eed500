/**
 * Parity with the Python probe: clips rendered by models/longshot_models/world.py (libs/probe/reference/
 * parity-clips.py) must get the same colour, shape, motion, background and smoothness from this port, with tracks
 * within 1e-3; the palette, words and phrases (synonyms included), make_prompt, constants and parse_prompt must
 * agree too. Needs models/.venv (./setup.sh).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  MASK_THRESHOLD,
  MEDIAN_STEP_FLOOR,
  MOTION_PHRASES,
  MOVE_MIN_PX,
  parsePrompt,
  probe,
  SIZE_CHANGE_MIN,
  SQUARE_MIN_FILL,
  score,
  TRIANGLE_MIN_CENTROID_DROP,
} from "./probe.js";
import {
  BACKGROUND_WORDS,
  BACKGROUNDS,
  backgroundWords,
  COLOURS,
  MORE_MOTION_WORDS,
  MOTION_WORDS,
  MOTIONS,
  type Motion,
  makePrompt,
  motionPhrases,
  PROMPT_TEMPLATES,
  SHAPE_WORDS,
  SHAPES,
  type Shape,
  shapeWords,
  TEMPLATE_COUNT,
} from "./world.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PYTHON = path.join(ROOT, "models", ".venv", "bin", "python");
const SCRIPT = path.join(ROOT, "libs", "probe", "reference", "parity-clips.py");

type Num = number | null | "Infinity" | "-Infinity";
interface PyProbe {
  colour: string | null;
  shape: string | null;
  motion: string | null;
  background: string | null;
  smooth: boolean;
  max_step_ratio: Num;
  xs: Num[];
  ys: Num[];
  sizes: Num[];
}
interface PyClip {
  label: string;
  prompt: string;
  offset: number;
  frames: number;
  height: number;
  width: number;
  probe: PyProbe;
  score: Record<string, unknown>;
}
interface Meta {
  clips: PyClip[];
  world: Record<string, unknown> & { make_prompt: Array<[string, Shape, Motion, string, number, string]> };
  probe: Record<string, unknown>;
  parse_prompt: Array<[string, Record<string, string | null>]>;
}

function num(v: Num): number {
  if (v === null) return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  return v;
}

function assertClose(got: number, want: number, what: string): void {
  if (Number.isNaN(want) || !Number.isFinite(want)) {
    assert.ok(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `${what}: ${got} vs ${want}`);
    return;
  }
  assert.ok(Math.abs(got - want) <= 1e-3, `${what}: ${got} vs ${want} (|diff| ${Math.abs(got - want)})`);
}

describe("probe parity with models/longshot_models/probe.py", () => {
  let dir: string;
  let meta: Meta;
  let bytes: Buffer;

  before(async () => {
    if (!existsSync(PYTHON)) {
      assert.fail(`${PYTHON} is missing: the parity test needs the Python toolkit's venv; run ./setup.sh in ${ROOT}`);
    }
    dir = await mkdtemp(path.join(tmpdir(), "longshot-probe-parity-"));
    try {
      await promisify(execFile)(PYTHON, [SCRIPT, dir], {
        cwd: ROOT,
        env: { ...process.env, PYTHONPATH: path.join(ROOT, "models") },
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as Error & { stderr?: string };
      assert.fail(`${PYTHON} ${SCRIPT} failed: ${e.message}\n${e.stderr ?? ""}`);
    }
    meta = JSON.parse(await readFile(path.join(dir, "meta.json"), "utf8")) as Meta;
    bytes = await readFile(path.join(dir, "frames.bin"));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("palette, shapes, motions, phrasings and thresholds are the Python ones", () => {
    assert.deepEqual(Object.entries(COLOURS), Object.entries(meta.world.COLOURS as object));
    assert.deepEqual(Object.entries(BACKGROUNDS), Object.entries(meta.world.BACKGROUNDS as object));
    assert.deepEqual([...SHAPES], meta.world.SHAPES);
    assert.deepEqual([...MOTIONS], meta.world.MOTIONS);
    const plain = (words: Readonly<Record<string, readonly string[]>>) =>
      Object.entries(words).map(([k, v]) => [k, [...v]]);
    // Entries, not objects: the order of the words is the order parse_prompt tries them in.
    assert.deepEqual(plain(MOTION_WORDS), Object.entries(meta.world.MOTION_WORDS as object));
    assert.deepEqual(plain(MORE_MOTION_WORDS), Object.entries(meta.world.MORE_MOTION_WORDS as object));
    assert.deepEqual(plain(SHAPE_WORDS), Object.entries(meta.world.SHAPE_WORDS as object));
    assert.deepEqual(plain(BACKGROUND_WORDS), Object.entries(meta.world.BACKGROUND_WORDS as object));
    assert.deepEqual([...PROMPT_TEMPLATES], meta.world.TEMPLATES);
    assert.equal(TEMPLATE_COUNT, meta.world.TEMPLATE_COUNT);
    assert.deepEqual(motionPhrases(), meta.world.motion_phrases);
    assert.deepEqual(shapeWords(), meta.world.shape_words);
    assert.deepEqual(backgroundWords(), meta.world.background_words);
    assert.ok(meta.world.make_prompt.length >= SHAPES.length * MOTIONS.length * TEMPLATE_COUNT);
    for (const [c, s, m, b, tpl, want] of meta.world.make_prompt) {
      assert.equal(makePrompt(c, s, m, b, tpl), want, `make_prompt(${c}, ${s}, ${m}, ${b}, ${tpl})`);
    }
    assert.deepEqual(
      {
        MASK_THRESHOLD,
        SQUARE_MIN_FILL,
        TRIANGLE_MIN_CENTROID_DROP,
        SIZE_CHANGE_MIN,
        MOVE_MIN_PX,
        MEDIAN_STEP_FLOOR,
        MOTION_PHRASES: MOTION_PHRASES.map(([p, m]) => [p, m]),
      },
      meta.probe,
    );
  });

  test("parse_prompt agrees on every prompt", () => {
    // Every prompt the world can write (every synonym in every template), and hand-written ones.
    assert.ok(meta.parse_prompt.length >= 5000, `only ${meta.parse_prompt.length} prompts`);
    assert.deepEqual(
      meta.parse_prompt.find(([p]) => p === "a red ball sliding left over a grey background")?.[1],
      { colour: "red", shape: "circle", motion: "left", background: "gray" },
      "Python must read the synonyms too",
    );
    for (const [prompt, want] of meta.parse_prompt) {
      assert.deepEqual(parsePrompt(prompt), want, `prompt ${JSON.stringify(prompt)}`);
    }
  });

  test("probe and score agree on at least 20 clips, including jumpy, vanishing and empty ones", () => {
    assert.ok(meta.clips.length >= 20, `only ${meta.clips.length} clips`);
    const labels = meta.clips.map((c) => c.label);
    for (const must of ["jumpy", "vanishing", "empty", "noisy-0", "cropped-64x40", "frames-16"]) {
      assert.ok(labels.includes(must), `clip ${must} missing`);
    }
    const jumpy = meta.clips.find((c) => c.label === "jumpy");
    assert.equal(jumpy?.probe.smooth, false, "the jumpy clip must be jumpy for Python too");
    for (const clip of meta.clips) {
      const frameBytes = clip.height * clip.width * 3;
      const frames: Uint8Array[] = [];
      for (let t = 0; t < clip.frames; t++) {
        const start = clip.offset + t * frameBytes;
        frames.push(new Uint8Array(bytes.subarray(start, start + frameBytes)));
      }
      const video = { frames, width: clip.width, height: clip.height };
      const got = probe(video);
      const want = clip.probe;
      const what = `clip ${clip.label}`;
      assert.equal(got.colour, want.colour, `${what}: colour`);
      assert.equal(got.shape, want.shape, `${what}: shape`);
      assert.equal(got.motion, want.motion, `${what}: motion`);
      assert.equal(got.background, want.background, `${what}: background`);
      assert.equal(got.smooth, want.smooth, `${what}: smooth`);
      assertClose(got.maxStepRatio, num(want.max_step_ratio), `${what}: max_step_ratio`);
      for (const key of ["xs", "ys", "sizes"] as const) {
        assert.equal(got[key].length, want[key].length, `${what}: ${key} length`);
        got[key].forEach((v, i) => {
          assertClose(v, num((want[key] as Num[])[i] as Num), `${what}: ${key}[${i}]`);
        });
      }
      const s = score(video, clip.prompt);
      const ws = clip.score as Record<string, unknown>;
      assert.deepEqual(s.want, ws.want, `${what}: score.want`);
      assert.deepEqual(s.got, ws.got, `${what}: score.got`);
      assert.equal(s.colourOk, ws.colour_ok, `${what}: colour_ok`);
      assert.equal(s.shapeOk, ws.shape_ok, `${what}: shape_ok`);
      assert.equal(s.motionOk, ws.motion_ok, `${what}: motion_ok`);
      assert.equal(s.backgroundOk, ws.background_ok, `${what}: background_ok`);
      assert.equal(s.smooth, ws.smooth, `${what}: smooth`);
    }
  });
});
