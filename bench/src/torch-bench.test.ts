import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "@longshot/cli";
import { renderReport } from "./report.js";
import { parseResultFile, ResultFileError, TORCH_FORMAT, type TorchResults, type TorchRound } from "./results.js";
import { parseTorchArgs, StepClock } from "./torch-bench.js";
import { stepRows } from "./torch-summary.js";

const machine = {
  cpuModel: "test cpu",
  cores: 2,
  availableParallelism: 2,
  cpuQuota: null,
  memoryMB: 4096,
  platform: "linux",
  arch: "x64",
  kernel: "6",
  node: "v24",
  onnxruntimeNode: "1.30.0",
  loadAverage: { start: [0, 0, 0], end: [0, 0, 0] },
};

/** Made-up numbers (the test checks the arithmetic and the verdicts, not the machine). */
function round(n: number, engineStep: number): TorchRound {
  return {
    round: n,
    loadAverage: [0, 0, 0],
    engine: {
      seconds: { encode: 0.1, keyframes: 1, interp1: 0.5, interp2: 2, decode: 0.4, total: 4 },
      stepMs: { keyframes: [40, 40, 40], interp1: [60, 60], interp2: [engineStep, engineStep] },
      noise: "python",
    },
    torch: {
      runtime: "pytorch-eager",
      torch: "2",
      threads: 2,
      peakGflops: 100,
      seconds: { encode: 0.2, keyframes: 2, interp1: 1, interp2: 4, decode: 0.8, total: 8 },
      stepMs: { keyframes: [50, 50, 50], interp1: [100, 100], interp2: [400, 400] },
      flopsPerCall: { keyframes: 1.6e9, interp1: 2.65e9, interp2: 10e9 },
    },
  };
}

function results(engineStep: number): TorchResults {
  return {
    format: TORCH_FORMAT,
    createdAt: "2026-12-02T08:00:00.000Z",
    command: "npm run bench -- torch",
    machine,
    pack: "models/packs/shapes-mini",
    prompt: "a red circle moving right on a dark blue background",
    seed: 1,
    frames: 65,
    threads: 2,
    steps: null,
    python: "models/.venv/bin/python",
    rounds: [round(1, engineStep), round(2, engineStep)],
    graphs: null,
    scaling: {
      threads: 2,
      runs: 3,
      window: 5,
      local: [
        { frames: 17, seconds: 0.085, runMB: 17 },
        { frames: 257, seconds: 1.542, runMB: 257 },
      ],
      full: [
        { frames: 17, seconds: 0.085, runMB: 17 },
        { frames: 257, seconds: 2.57, runMB: 400 },
      ],
    },
  };
}

describe("bench torch", () => {
  test("options: defaults, quick, and each bad value named", () => {
    const a = parseTorchArgs([], {});
    assert.ok(a !== "help");
    assert.equal(a.frames, 65);
    assert.equal(a.rounds, 2);
    assert.equal(a.threads, 2);
    assert.ok(a.python.endsWith("models/.venv/bin/python"));
    const q = parseTorchArgs(["--quick"], {});
    assert.ok(q !== "help" && q.rounds === 1 && q.quick);
    assert.throws(
      () => parseTorchArgs(["--frames", "33"], {}),
      (e: unknown) => e instanceof UsageError && /--frames/.test(e.message),
    );
    assert.throws(() => parseTorchArgs(["--out", "x.txt"], {}), /--out/);
    assert.throws(() => parseTorchArgs(["--threads", "0"], {}), /--threads/);
  });

  test("the step clock times the steps of each denoising stage, not the stage starts", () => {
    const c = new StepClock();
    c.onProgress({ stage: "encode", step: 0, total: 1 }, 0);
    c.onProgress({ stage: "keyframes", step: 0, total: 2 }, 10);
    c.onProgress({ stage: "keyframes", step: 1, total: 2 }, 50);
    c.onProgress({ stage: "keyframes", step: 2, total: 2 }, 95);
    c.onProgress({ stage: "interpolate", level: 1, step: 0, total: 1 }, 100);
    c.onProgress({ stage: "interpolate", level: 1, step: 1, total: 1 }, 160);
    assert.deepEqual(c.stepMs, { keyframes: [40, 45], interp1: [60] });
  });

  test("step rows: medians, ratio, FLOP/s against the peak of the same run", () => {
    const rows = stepRows(results(120).rounds);
    const interp2 = rows.find((r) => r.stage === "interp2");
    assert.ok(interp2);
    assert.equal(interp2.torchMs, 400);
    assert.equal(interp2.engineMs, 120);
    assert.equal(interp2.ratio, 0.3);
    assert.ok(Math.abs((interp2.engineGflops ?? 0) - 10 / 0.12) < 1e-9);
    assert.ok(Math.abs((interp2.enginePeakShare ?? 0) - 10 / 0.12 / 100) < 1e-9);
  });

  test("the report says which target is met and which is missed, by how much", () => {
    const file = (r: TorchResults) => ({
      name: "torch-2026-12-02.json",
      result: parseResultFile("torch.json", JSON.parse(JSON.stringify(r))),
    });
    const opts = { includeBroken: false, imagesHref: "images", resultsDir: "bench/results" };
    const fast = renderReport([file(results(120))], opts).markdown;
    assert.match(fast, /## Engine against PyTorch eager/);
    // keyframes 40 / 50 = 0.8 is the slowest step: met at exactly the target
    assert.match(fast, /every UNet step ≤ 0.8× PyTorch eager: met: the slowest is keyframes at 0.80×/);
    assert.match(fast, /65-frame interpolation step: met: 83.3 %/);
    assert.match(fast, /local attention stays flat .*: met: 1.20×/);
    const slow = renderReport([file(results(500))], opts).markdown;
    assert.match(slow, /missed: the slowest is interp2 at 1.25× \(0.45 over\)/);
    assert.match(slow, /missed: 20.0 % \(15.0 points short\)/);
  });

  test("a torch result file with a wrong field is rejected, naming the field", () => {
    const bad = JSON.parse(JSON.stringify(results(120)));
    bad.rounds[1].engine.stepMs.interp2 = [1, "x"];
    assert.throws(
      () => parseResultFile("torch.json", bad),
      (e: unknown) => e instanceof ResultFileError && e.field.startsWith("rounds[1].engine.stepMs.interp2"),
    );
  });
});
