import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { UsageError } from "@longshot/cli";
import { parseRealSizeArgs, pythonArgs } from "./real-size-bench.js";
import { fp16EstimateMB, growth, linearFit, realSizeSection } from "./real-size-report.js";
import {
  parseRealSizeFile,
  REAL_SIZE_FORMAT,
  REAL_SIZE_PYTHON_FORMAT,
  type RealSizeCase,
  type RealSizeResults,
  readRealSizeResults,
} from "./real-size-results.js";
import { readResults, renderReport } from "./report.js";
import { ResultFileError } from "./results.js";

const machine = {
  cpuModel: "test cpu",
  cores: 2,
  availableParallelism: 2,
  cpuQuota: null,
  memoryMB: 24576,
  platform: "linux",
  arch: "x64",
  kernel: "6",
  node: "v24",
  onnxruntimeNode: "1.30.0",
  loadAverage: { start: [0, 0, 0], end: [0, 0, 0] },
};

/** Made-up numbers (the tests check the arithmetic and the wording, not a machine). */
function measured(
  kind: RealSizeCase["spec"]["kind"],
  frames: number,
  batch: number,
  window: number,
  stepMB: number,
  seconds: number,
): RealSizeCase {
  return {
    spec: { name: `${kind} ${frames}`, kind, frames, batch, window, threads: 2, scale: "real", seed: 0 },
    status: "measured",
    reason: null,
    parameters: 1_000_000_000,
    weightMB: { fp32: 4000, fp16: 2000 },
    estimatedPeakMB: 9000,
    availableMB: 20000,
    rssBeforeMB: 4500,
    peakMB: 4500 + stepMB,
    stepMB,
    seconds,
    buildSeconds: 10,
    plainScoreMB: 1024,
  };
}

function results(cases: RealSizeCase[]): RealSizeResults {
  return {
    format: REAL_SIZE_FORMAT,
    createdAt: "2026-12-02T09:00:00.000Z",
    command: "npm run bench -- real-size",
    machine,
    python: "models/.venv/bin/python",
    measured: {
      format: REAL_SIZE_PYTHON_FORMAT,
      torch: "2",
      threads: 2,
      window: 5,
      budgetMB: 12288,
      scale: "real",
      cases,
    },
  };
}

const skipped: RealSizeCase = {
  ...measured("interpolation", 65, 1, 5, 0, 0),
  status: "skipped",
  reason: "estimated peak 30000 MB exceeds the budget 12288 MB",
  rssBeforeMB: null,
  peakMB: null,
  stepMB: null,
  seconds: null,
};

const sample = results([
  measured("keyframe", 5, 2, 0, 2000, 100),
  measured("interpolation", 5, 1, 5, 1000, 50),
  measured("interpolation", 5, 1, 0, 1000, 50),
  measured("interpolation", 9, 1, 5, 1400, 90),
  measured("interpolation", 9, 1, 0, 1600, 90),
  measured("interpolation", 17, 1, 5, 2200, 170),
  measured("interpolation", 17, 1, 0, 2600, 170),
  skipped,
  measured("vae", 1, 1, 0, 1000, 20),
  measured("vae", 4, 1, 0, 4000, 80),
]);

describe("real-size arithmetic", () => {
  test("linear fit and the fp16 estimate", () => {
    const fit = linearFit([
      [5, 1000],
      [9, 1400],
      [17, 2200],
    ]);
    assert.ok(fit && Math.abs(fit.a - 500) < 1e-9 && Math.abs(fit.b - 100) < 1e-9);
    assert.equal(linearFit([]), null);
    assert.equal(fp16EstimateMB(measured("keyframe", 5, 2, 0, 2000, 100)), 2000 + 1000);
    assert.equal(fp16EstimateMB(skipped), null);
  });

  test("growth splits local and full and extrapolates to 65 frames", () => {
    const g = growth(sample);
    assert.deepEqual(
      g.local.points.map((p) => p.spec.frames),
      [5, 9, 17],
    );
    assert.deepEqual(
      g.full.points.map((p) => p.spec.frames),
      [5, 9, 17],
    );
    assert.ok(g.local.pass);
    assert.equal(Math.round(g.local.pass.stepMB), 500 + 100 * 65);
    assert.equal(Math.round(g.local.pass.peakMB), 4500 + 500 + 100 * 65);
    assert.ok(g.full.memoryFit && g.full.memoryFit.b > 100);
  });
});

describe("real-size report section", () => {
  test("says what fits, what is measured, what is estimated and what is extrapolated", () => {
    const md = realSizeSection({ name: "real-size-2026-12-02.json", result: sample });
    assert.match(md, /fp32 on CPU/);
    assert.match(md, /fp16 is an estimate, not a measurement/);
    // Measured before the UNet had SD's 8 heads: the section says which split it had.
    assert.match(md, /\*\*Heads\*\*: this file was measured before .* C \/ 8 heads of width 8/);
    const withHeads = { ...sample, measured: { ...sample.measured, attentionHeads: 8 } };
    assert.doesNotMatch(realSizeSection({ name: "r.json", result: withHeads }), /\*\*Heads\*\*/);
    assert.match(md, /\*\*Keyframe UNet\*\*, 5 frames, batch 2 .*6\.35 GB peak in fp32 \(measured\) — fits/);
    assert.match(md, /one 17-frame window, batch 1, local attention window 5: 6\.54 GB/);
    assert.match(md, /whole 65-frame pass in one call\*\*, local \(window 5\) attention: \*\*extrapolated\*\*/);
    assert.match(
      md,
      /\| interpolation UNet \| 65 × 1 \| local, window 5 \| 1000 M \| 3\.91 \/ 1\.95 \| skipped: estimated peak 30000 MB/,
    );
    assert.match(md, /\| 17 \| 2200 \| 2600 \| 170\.0 \| 170\.0 \| 1\.18 \| 1\.00 \|/);
    assert.match(md, /\*\*VAE decoder\*\*: 1 frame per call 5\.37 GB, 20\.0 s; 4 frames per call 8\.30 GB, 80\.0 s/);
    // (24576 − 4500 − 0) / 1000 frames per call fit.
    assert.match(md, /about 20 frames per call fit in 24 GB/);
  });

  test("the page has the section, and says when there is no result", () => {
    const empty = renderReport([], { includeBroken: false, imagesHref: "images", resultsDir: "bench/results" });
    assert.match(empty.markdown, /## Real-size stages against 24 GB\n\nNo `bench real-size` results yet/);
    const page = renderReport([], {
      includeBroken: false,
      imagesHref: "images",
      resultsDir: "bench/results",
      realSize: [{ name: "real-size-2026-12-02.json", result: sample }],
    });
    assert.match(page.markdown, /### real-size-2026-12-02\.json/);
  });
});

/** An onnx case: loaded session 6000 MB, step `stepMB`, export peak 15000 MB, one 5 GB graph data file. */
function onnxCase(
  frames: number,
  batch: number,
  stepMB: number | null,
  status: RealSizeCase["status"] = "measured",
): RealSizeCase {
  const m = measured("keyframe", frames, batch, 0, stepMB ?? 0, 60 * frames);
  return {
    ...m,
    spec: { ...m.spec, runtime: "onnx" },
    status,
    reason: status === "measured" ? null : "session out of memory under the address-space cap of 16000 MB: bfc_arena",
    rssBeforeMB: status === "measured" ? 6000 : null,
    peakMB: status === "measured" ? 6000 + (stepMB ?? 0) : null,
    stepMB: status === "measured" ? stepMB : null,
    seconds: status === "measured" ? 60 * frames : null,
    plainScoreMB: 512 * frames * batch,
    exportSeconds: 600,
    exportPeakMB: 15000,
    sessionSeconds: 30,
    files: { "keyframeUnet-w0.onnx": 2 ** 20, "keyframeUnet-w0.onnx.data": 5 * 2 ** 30 },
  };
}

describe("real-size ONNX section", () => {
  // 2000 MB per frame x batch: about 3.9 score matrices of 512 MB.
  const onnx = results([
    onnxCase(1, 1, 2500),
    onnxCase(2, 1, 4500),
    onnxCase(3, 1, 6500),
    { ...onnxCase(5, 2, null, "failed"), rssBeforeMB: 6000, peakMB: 7000 },
  ]);
  onnx.measured.onnxruntime = "1.31.1";
  const eager = { name: "real-size-2026-12-02.json", result: sample };

  test("the line through the measured calls puts 5 x 2 and a 17-frame window against 24 GB", () => {
    const md = realSizeSection({ name: "real-size-onnx-2026-12-02.json", result: onnx }, [eager]);
    assert.match(md, /the graphs a converted pack contains/);
    assert.match(md, /onnxruntime 1\.31\.1/);
    assert.match(md, /stands for it too/);
    // Loaded 6000 + 500 + 2000 per frame x batch: 10 -> 26500 MB (does not fit), 17 -> 40500 MB.
    assert.match(
      md,
      /grows by 2000 MB per frame × batch .* the growth is 3\.9 of them per frame × batch: .*PyTorch eager, .* grows by about 200 MB per frame × batch/,
    );
    assert.match(md, /least-squares line through the 3 measured keyframe calls, 500 MB at zero/);
    assert.match(md, /5 frames × batch 2 needs 25\.88 GB \(PyTorch eager measured 6\.35 GB\) — does not fit/);
    assert.match(md, /17-frame interpolation window at batch 1 needs 39\.55 GB/);
    assert.match(md, /at most 9 frames × batch per call fit/);
    // Rows: export peak, graph files, loaded, session peak; the failed case says why and has its eager twin.
    assert.match(
      md,
      /\| keyframe UNet \| 1 × 1 \| full \| 0\.50 \| 14\.65 \| 5\.00 \| 5\.86 \| 8\.30 \| 2\.44 \| 4\.9 \|/,
    );
    assert.match(
      md,
      /\| keyframe UNet \| 5 × 2 \| full \| 5\.00 \| 14\.65 \| 5\.00 \| 5\.86 \| ≥ 6\.84, then failed: session out of memory under the address-space cap .*\| 6\.35 \| — \|/,
    );
  });

  test("one measured call: the line through zero", () => {
    const one = results([onnxCase(1, 1, 4000), onnxCase(5, 2, null, "skipped")]);
    const md = realSizeSection({ name: "real-size-onnx-2026-12-02.json", result: one }, []);
    assert.match(
      md,
      /grows by 4000 MB per frame × batch \(one frame × batch measured: the line through zero and that call;/,
    );
    // 6000 + 4000 x 10 MB.
    assert.match(md, /5 frames × batch 2 needs 44\.92 GB — does not fit/);
    assert.match(md, /\| keyframe UNet \| 5 × 2 \| full \| .*\| skipped: .*\| — \(skip estimate 8\.79\) \|/);
  });

  test("an ONNX file's spec.runtime is checked", () => {
    const bad = results([{ ...onnxCase(1, 1, 100), spec: { ...onnxCase(1, 1, 100).spec, runtime: "tf" as "onnx" } }]);
    assert.throws(() => parseRealSizeFile("f.json", bad), /spec\.runtime: must be torch or onnx/);
  });
});

describe("real-size result files", () => {
  test("a real-size file is read apart from the other results and checked", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "real-size-test-"));
    try {
      writeFileSync(path.join(dir, "real-size-2026-12-02.json"), JSON.stringify(sample));
      assert.deepEqual(readResults(dir), []);
      assert.equal(readRealSizeResults(dir).length, 1);
      const bad = {
        ...sample,
        measured: { ...sample.measured, cases: [{ ...sample.measured.cases[0], seconds: "x" }] },
      };
      writeFileSync(path.join(dir, "real-size-2026-12-03.json"), JSON.stringify(bad));
      assert.throws(
        () => readRealSizeResults(dir),
        (e: unknown) =>
          e instanceof ResultFileError && /measured\.cases\[0\]\.seconds: must be a number/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a skipped case must say why", () => {
    const bad = results([{ ...skipped, reason: null }]);
    assert.throws(() => parseRealSizeFile("f.json", bad), /measured\.cases\[0\]\.reason: must be a string/);
  });
});

describe("bench real-size arguments", () => {
  test("defaults and the module's command line", () => {
    const a = parseRealSizeArgs([]);
    assert.notEqual(a, "help");
    if (a === "help") return;
    assert.deepEqual(a.cases, ["scaling", "kf", "interp", "vae"]);
    assert.deepEqual(a.frames, [5, 9]);
    assert.equal(a.window, 5);
    assert.deepEqual(pythonArgs(a, "/tmp/x.json").slice(0, 2), ["--cases", "scaling,kf,interp,vae"]);
  });

  test("bad input names the option", () => {
    assert.throws(
      () => parseRealSizeArgs(["--cases", "kf,nope"]),
      (e: unknown) => e instanceof UsageError && /nope/.test(e.message),
    );
    assert.throws(() => parseRealSizeArgs(["--frames", "0"]), /--frames/);
    assert.throws(() => parseRealSizeArgs(["--budget-gb", "-1"]), /--budget-gb/);
    assert.throws(() => parseRealSizeArgs(["--out", "x.txt"]), /--out/);
    const o = parseRealSizeArgs(["--cases", "onnx", "--frames", "1,2,3"]);
    assert.ok(o !== "help" && o.cases[0] === "onnx");
  });
});
