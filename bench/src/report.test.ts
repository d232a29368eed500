import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { niceTicks, renderChart } from "./chart.js";
import {
  CHART_PREFIX,
  interpolationPeak,
  isBounded,
  type NamedResult,
  readResults,
  renderReport,
  reportCommand,
  summarizeCase,
} from "./report.js";
import { type ClusterResults, type EngineResults, parseResultFile, ResultFileError } from "./results.js";

/** A results file shaped like `bench engine` writes (numbers made up for the test; see its pack description). */
const FIXTURE = new URL("../fixtures/engine-sample.json", import.meta.url);

function fixture(): EngineResults {
  return parseResultFile("engine-sample.json", JSON.parse(readFileSync(FIXTURE, "utf8"))) as EngineResults;
}

const OPTS = { includeBroken: false, imagesHref: "images", resultsDir: "bench/results" };

function render(results: NamedResult[], includeBroken = false) {
  return renderReport(results, { ...OPTS, includeBroken });
}

function tableRow(markdown: string, startsWith: string): string {
  const line = markdown.split("\n").find((l) => l.startsWith(startsWith));
  assert.ok(line, `no line starting with ${startsWith}`);
  return line;
}

class Sink {
  text = "";
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe("report tables", () => {
  test("speed rows show the median of each stage, per level, and the probe verdict", () => {
    const { markdown } = render([{ name: "engine-sample.json", result: fixture() }]);
    // f65 runs: load 2.0/2.0, interpolation [3, 20] and [3, 22] → 3.0 + 21.0, decode 1.0/1.2 → 1.1,
    // generate 29.05/31.25 → 30.15, outputs 3.0, wall 34.55/36.75 → 35.65, peak 425/429 → 427.
    assert.equal(
      tableRow(markdown, "| `f65` |"),
      "| `f65` | 65 | whole passes | 2.0 | 0.1 | 5.0 | 3.0 + 21.0 | 1.1 | **30.1** | 3.0 | 35.6 | 427 | ✓ |",
    );
    assert.match(tableRow(markdown, "| `f17` |"), /\| 17 \| whole passes \| 2\.1 \|.* \| ✓ \|$/);
  });

  test("a case whose video failed the probe has no numbers, only the probe's complaint", () => {
    const { markdown } = render([{ name: "engine-sample.json", result: fixture() }]);
    assert.equal(
      tableRow(markdown, "| `f257-w17o4` |"),
      "| `f257-w17o4` | 257 | windows of 17, overlap 4 | — | — | — | — | — | — | — | — | — | ✗ motion: got left, want right; not smooth (largest step 7.3× the median) |",
    );
    assert.doesNotMatch(markdown, /136\.1/);
    assert.doesNotMatch(markdown, /include-broken`: rows marked/);
  });

  test("--include-broken shows those numbers, marked, under a warning", () => {
    const { markdown } = render([{ name: "engine-sample.json", result: fixture() }], true);
    assert.match(tableRow(markdown, "| `f257-w17o4` |"), /\| \*\*136\.1\*\* \|.*\| ✗ motion: got left/);
    assert.match(markdown, /generated with `--include-broken`: rows marked ✗/);
  });

  test("the 65-frame target line reports generate and wall time with a verdict for 2 CPUs", () => {
    const { markdown } = render([{ name: "engine-sample.json", result: fixture() }]);
    assert.match(
      markdown,
      /\*\*65 frames with the pack's defaults\*\* .*generate 30\.1 s, wall 35\.6 s .*: met on this machine\./,
    );
    const more = fixture();
    more.machine.availableParallelism = 16;
    assert.match(
      render([{ name: "x.json", result: more }]).markdown,
      /measured with 16 CPUs, not 2, so this is no verdict/,
    );
    const quick = fixture();
    quick.steps = 2;
    assert.match(
      render([{ name: "x.json", result: quick }]).markdown,
      /measured with --steps 2, not the pack's defaults/,
    );
  });

  test("memory table and verdicts: windowed flat, whole-sequence grows", () => {
    const { markdown } = render([{ name: "engine-sample.json", result: fixture() }], true);
    assert.equal(
      tableRow(markdown, "| Interpolation, highest level peak |"),
      "| Interpolation, highest level peak | 422 (+122) | 310 (+10) | 905 (+485) | 318 (+8) |",
    );
    assert.match(markdown, /- Windowed interpolation, peak RSS, 65 → 257 frames: 310 → 318 MB \(\+8 MB\): bounded ✓/);
    assert.match(
      markdown,
      /- Decode in the windowed runs, peak RSS, 65 → 257 frames: 315 → 322 MB \(\+7 MB\): bounded ✓/,
    );
    assert.match(markdown, /- Decode in the whole-pass runs, growth during the stage, 65 → 257 frames: 5 → 5 MB/);
    assert.match(
      markdown,
      /- Whole-sequence interpolation, peak RSS \(for comparison\), 65 → 257 frames: 422 → 905 MB \(\+483 MB\): grows, as expected/,
    );
    // Without --include-broken the broken 257 windowed case has no memory numbers and no verdict either.
    const strict = render([{ name: "engine-sample.json", result: fixture() }]).markdown;
    assert.match(tableRow(strict, "| Decode peak |"), /\| — \(probe ✗\) \|$/);
    assert.doesNotMatch(strict, /Windowed interpolation, peak RSS/);
  });

  test("the verdicts run from the 65-frame default to the longest video, also when shorter videos were measured", () => {
    const r = fixture();
    const f17 = r.cases.find((c) => c.id === "f17");
    assert.ok(f17);
    f17.studies.push("memory");
    const { markdown } = render([{ name: "x.json", result: r }], true);
    assert.match(tableRow(markdown, "| Peak RSS MB (growth during the stage) |"), /\| 17 whole \|/);
    assert.match(markdown, /- Windowed interpolation, peak RSS, 65 → 257 frames: 310 → 318 MB/);
    assert.match(markdown, /- Whole-sequence interpolation, peak RSS \(for comparison\), 65 → 257 frames/);
    assert.doesNotMatch(markdown, /17 → 257 frames/);
  });

  test("a windowed stage that grows is flagged", () => {
    const r = fixture();
    const big = r.cases.find((c) => c.id === "f257-w17o4");
    assert.ok(big);
    for (const run of big.runs) {
      run.probe = { ...run.probe, ok: true, motionOk: true, smooth: true };
      (run.memory.stages.interp3 as { peakMB: number }).peakMB = 700;
    }
    assert.match(
      render([{ name: "x.json", result: r }]).markdown,
      /Windowed interpolation, peak RSS, 65 → 257 frames: 310 → 700 MB \(\+390 MB\): \*\*grows ✗\*\*/,
    );
  });

  test("bounded: up to 32 MB or 10 %", () => {
    assert.equal(isBounded(300, 332), true);
    assert.equal(isBounded(300, 333), false);
    assert.equal(isBounded(1000, 1100), true);
    assert.equal(isBounded(1000, 1101), false);
  });

  test("summaries take medians per stage and the highest interpolation level", () => {
    const s = summarizeCase(fixture().cases.find((c) => c.id === "f257") as EngineResults["cases"][number]);
    assert.deepEqual(s.seconds.interpolation, [3, 20, 91]);
    assert.deepEqual(interpolationPeak(s), { startMB: 420, peakMB: 905 });
    assert.equal(s.probeOk, true);
  });

  test("the page is deterministic, newest results first, with one chart per engine file", () => {
    const old = fixture();
    const recent = fixture();
    recent.createdAt = "2026-02-01T00:00:00.000Z";
    recent.pack.version = "0.0.2";
    const files = [
      { name: "engine-a.json", result: old },
      { name: "engine-b.json", result: recent },
    ];
    const a = render(files);
    const b = render([...files].reverse());
    assert.equal(a.markdown, b.markdown);
    assert.ok(a.markdown.indexOf("fixture-pack@0.0.2") < a.markdown.indexOf("fixture-pack@0.0.1"));
    assert.deepEqual([...a.images.keys()].sort(), [`${CHART_PREFIX}engine-a.svg`, `${CHART_PREFIX}engine-b.svg`]);
    assert.match(a.markdown, /!\[Generate seconds and peak memory against frames\]\(images\/bench-engine-b\.svg\)/);
  });

  test("without results: a page saying so, the reproduction commands and the distributed placeholder", () => {
    const { markdown, images } = render([]);
    assert.equal(images.size, 0);
    assert.match(markdown, /No engine results yet/);
    assert.match(markdown, /npm run bench -- engine --pack models\/packs\/shapes-mini/);
    assert.match(markdown, /npm run bench -- report/);
    assert.match(markdown, /Not measured yet: these numbers come with the distributed pipeline issue/);
    assert.match(markdown, /X = min\(1\/K, N\/I, 1\/D\)/);
  });

  test("cluster results become a table against the bound", () => {
    const base = fixture();
    const cluster: ClusterResults = {
      format: "longshot.bench.cluster/v1",
      createdAt: "2026-03-01T00:00:00.000Z",
      finishedAt: "2026-03-01T01:00:00.000Z",
      command: "npm run bench -- cluster --embedded bench/results/engine-sample.json",
      machine: base.machine,
      pack: base.pack,
      prompt: base.prompt,
      frames: 65,
      stageSeconds: { keyframe: 5, interpolation: 24, decode: 4, source: "fixture" },
      embeddedWallSeconds: 36,
      points: [
        {
          interpolationReplicas: 2,
          latencySeconds: [40, 41, 42],
          makespanSeconds: 120,
          jobs: 8,
          concurrency: 4,
          throughputPerMinute: 4,
          boundPerMinute: 5,
          bottleneck: "interpolation",
          probeOk: true,
          probeFailures: [],
        },
      ],
    };
    const parsed = parseResultFile("cluster.json", JSON.parse(JSON.stringify(cluster)));
    const { markdown } = render([{ name: "cluster-x.json", result: parsed }]);
    assert.equal(
      tableRow(markdown, "| 2 |"),
      "| 2 | 41.0 | +5.0 s | 4.0 (8 jobs, 4 in flight) | 5.0 | 80 % | interpolation | ✓ all |",
    );
    assert.doesNotMatch(markdown, /Not measured yet/);
    // Videos the pack gets wrong do not hide the pipeline's seconds: the verdict stands beside them.
    const point = cluster.points[0] as ClusterResults["points"][number];
    const failing = {
      ...cluster,
      points: [
        {
          ...point,
          probeOk: false,
          probeFailures: ["job 1: the video failed the probe (see x)", "job 4: the video failed the probe (see y)"],
        },
      ],
    };
    const withFailures = render([
      { name: "cluster-y.json", result: parseResultFile("cluster.json", JSON.parse(JSON.stringify(failing))) },
    ]);
    assert.equal(
      tableRow(withFailures.markdown, "| 2 |"),
      "| 2 | 41.0 | +5.0 s | 4.0 (8 jobs, 4 in flight) | 5.0 | 80 % | interpolation | ✗ 2 failed (job 1, job 4) |",
    );
  });
});

describe("result files", () => {
  test("a missing field is named with its path", () => {
    const bad = JSON.parse(readFileSync(FIXTURE, "utf8"));
    delete bad.cases[1].runs[0].seconds.decode;
    assert.throws(
      () => parseResultFile("bad.json", bad),
      (err: unknown) =>
        err instanceof ResultFileError &&
        err.field === "cases[1].runs[0].seconds.decode" &&
        err.message === "bad.json: cases[1].runs[0].seconds.decode: must be a finite number ≥ 0, got undefined",
    );
  });

  test("an unknown format is refused", () => {
    assert.throws(
      () => parseResultFile("x.json", { format: "other/v9" }),
      /x\.json: format: must be "longshot\.bench\.engine\/v1", "longshot\.bench\.cluster\/v1" or "longshot\.bench\.torch\/v1", got "other\/v9"/,
    );
    assert.throws(() => parseResultFile("x.json", []), /x\.json: \(top level\): must be an object, got an array/);
  });

  test("readResults names a file that is not JSON", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "bench-report-test-"));
    try {
      writeFileSync(path.join(dir, "broken.json"), "{");
      assert.throws(
        () => readResults(dir),
        (err: unknown) =>
          err instanceof ResultFileError && /broken\.json: \(file\): is not valid JSON/.test(err.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("report command", () => {
  test("writes the page and chart, --check passes, then fails on an edit and on a stale chart", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "bench-report-test-"));
    try {
      const results = path.join(dir, "results");
      const out = path.join(dir, "docs", "benchmarks.md");
      const { mkdirSync, copyFileSync, existsSync } = await import("node:fs");
      mkdirSync(results);
      copyFileSync(FIXTURE, path.join(results, "engine-sample.json"));
      const io = () => ({ stdout: new Sink(), stderr: new Sink() });
      const args = ["--results", results, "--out", out];
      let s = io();
      assert.equal(await reportCommand(args, s), 0, s.stderr.text);
      const chart = path.join(dir, "docs", "images", `${CHART_PREFIX}engine-sample.svg`);
      assert.ok(existsSync(chart));
      assert.match(readFileSync(out, "utf8"), /`\S*results\/engine-sample\.json`/);
      s = io();
      assert.equal(await reportCommand([...args, "--check"], s), 0, s.stderr.text);
      writeFileSync(out, `${readFileSync(out, "utf8")}edited\n`);
      s = io();
      assert.equal(await reportCommand([...args, "--check"], s), 1);
      assert.match(s.stderr.text, /out of date: .*benchmarks\.md/);
      s = io();
      assert.equal(await reportCommand(args, s), 0);
      const stale = path.join(dir, "docs", "images", `${CHART_PREFIX}engine-gone.svg`);
      writeFileSync(stale, "<svg/>");
      s = io();
      assert.equal(await reportCommand([...args, "--check"], s), 1);
      assert.match(s.stderr.text, /bench-engine-gone\.svg \(no longer generated\)/);
      s = io();
      assert.equal(await reportCommand(args, s), 0);
      assert.equal(existsSync(stale), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("chart", () => {
  test("ticks are 1, 2 or 5 × 10^k and cover the maximum", () => {
    assert.deepEqual(niceTicks(136), [0, 50, 100, 150]);
    assert.deepEqual(niceTicks(955), [0, 200, 400, 600, 800, 1000]);
    assert.deepEqual(niceTicks(0.9), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(0), [0, 1]);
  });

  test("one polyline per series with two or more points, a dot per point, a legend entry per series", () => {
    const svg = renderChart({
      title: "t <&>",
      xLabel: "frames",
      x: ["17", "65", "257"],
      panels: [
        {
          title: "seconds",
          yLabel: "s",
          series: [
            {
              name: "whole",
              points: new Map([
                ["17", 1],
                ["65", 4],
                ["257", 16],
              ]),
            },
            { name: "windowed", points: new Map([["257", 18]]) },
          ],
        },
      ],
    });
    assert.ok(svg.startsWith("<svg "));
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    assert.match(svg, /<title>t &lt;&amp;&gt;<\/title>/);
    assert.equal(svg.match(/<polyline /g)?.length, 1);
    // 3 + 1 data dots, 2 legend dots.
    assert.equal(svg.match(/<circle /g)?.length, 6);
    assert.match(svg, />whole<\/text>/);
    assert.match(svg, />windowed<\/text>/);
  });
});
