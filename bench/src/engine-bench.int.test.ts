/**
 * The engine benchmark end to end on the runtime's tiny test pack (libs/runtime/fixtures/tiny-pack: four tiny ONNX
 * graphs with the pack contract's names and shapes, 17 and 65 frames): `main.js engine` starts one process per
 * run, each loads the pack, generates, writes PNG/MP4/GIF, probes, and the parent writes a result file that the
 * report accepts. The tiny graphs draw no shapes, so every probe verdict is a failure, which is what the report's
 * gating is for.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { MAIN_JS, REPO_ROOT } from "./paths.js";
import { type EngineResults, parseResultFile } from "./results.js";

const TINY_PACK = path.join(REPO_ROOT, "libs", "runtime", "fixtures", "tiny-pack");

function bench(args: string[]) {
  return spawnSync(process.execPath, [MAIN_JS, ...args], { encoding: "utf8", timeout: 240_000 });
}

test("bench engine on the tiny pack: a result file with every stage, then a report of it", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-engine-int-"));
  try {
    const out = path.join(dir, "results", "engine-tiny.json");
    const run = bench([
      "engine",
      "--pack",
      TINY_PACK,
      "--frames",
      "17,65",
      "--repeat",
      "1",
      "--steps",
      "2",
      "--out",
      out,
    ]);
    assert.equal(run.status, 0, `bench engine failed:\n${run.stderr}`);
    assert.match(run.stdout, /^f65-w17o4\s+65\s/m);
    const results = parseResultFile(out, JSON.parse(readFileSync(out, "utf8"))) as EngineResults;
    assert.notEqual(results.finishedAt, null);
    assert.equal(results.steps, 2);
    // Tiny pack: defaultFrames 17, trainedWindow 17 → 65 frames runs windowed for speed, both ways for memory.
    assert.deepEqual(
      results.cases.map((c) => [c.id, c.studies.join("+")]),
      [
        ["f17", "speed"],
        ["f65", "memory"],
        ["f65-w17o4", "speed+memory"],
      ],
    );
    for (const c of results.cases) {
      assert.equal(c.runs.length, 1);
      const r = c.runs[0];
      assert.ok(r);
      assert.deepEqual(Object.keys(r.memory.stages), [
        "load",
        "encode",
        "keyframes",
        ...r.settings.levels.slice(1).map((_, i) => `interp${i + 1}`),
        "decode",
        "outputs",
      ]);
      assert.equal(r.seconds.interpolation.length, r.settings.levels.length - 1);
      assert.ok(r.seconds.outputs !== null && r.seconds.outputs > 0);
      assert.ok(r.seconds.wall >= r.seconds.load + r.seconds.generate + r.seconds.outputs);
      assert.ok(r.memory.peakMB >= r.memory.baselineMB && r.memory.baselineMB > 0);
      assert.equal(r.settings.keyframeSteps, 2);
      assert.deepEqual(r.settings.window, c.window);
      assert.equal(r.probe.ok, false);
    }

    const docs = path.join(dir, "docs", "benchmarks.md");
    const report = bench(["report", "--results", path.dirname(out), "--out", docs]);
    assert.equal(report.status, 0, report.stderr);
    const page = readFileSync(docs, "utf8");
    assert.match(page, /\| `f17` \| 17 \| whole passes \| — \|.*\| ✗ /);
    const check = bench(["report", "--results", path.dirname(out), "--out", docs, "--check"]);
    assert.equal(check.status, 0, check.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bench engine refuses a frame count the pack does not have, before running anything", () => {
  const run = bench(["engine", "--pack", TINY_PACK, "--frames", "257"]);
  assert.equal(run.status, 2);
  assert.match(run.stderr, /bench engine: --frames: 257 is not a frame count of pack .*; it has 17, 65/);
});
