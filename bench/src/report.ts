/**
 * `bench report`: turns `bench/results/*.json` into docs/benchmarks.md (tables) and one SVG chart per engine result
 * file under docs/images/ (seconds and peak MB against frames). The page is a pure function of the result files,
 * so regenerating it without new results changes nothing (`--check` fails when the committed page is stale).
 *
 * A video that fails the eval probe has no speed: unless `--include-broken` is given (for development packs with
 * random weights), the numbers of such a case are left out and the probe's complaint is shown instead.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs, UsageError } from "@longshot/cli";
import { type ChartSpec, renderChart, type Series } from "./chart.js";
import { displayPath, REPO_ROOT, RESULTS_DIR } from "./paths.js";
import { realSizeSection } from "./real-size-report.js";
import { type NamedRealSize, REAL_SIZE_PREFIX, readRealSizeResults } from "./real-size-results.js";
import {
  type CaseRecord,
  type ClusterResults,
  type EngineResults,
  parseResultFile,
  type ResultFile,
  ResultFileError,
  type RunRecord,
  readJsonResults,
  type TorchResults,
} from "./results.js";
import type { Io } from "./shell.js";
import { median } from "./stats.js";
import { type StepRow, stepRows, TARGET_PEAK_SHARE, TARGET_STEP_RATIO } from "./torch-summary.js";

/** A stage's peak may grow this much from the smaller to the larger frame count and still count as bounded. */
export const BOUNDED_GROWTH_MB = 32;
export const BOUNDED_GROWTH_FRACTION = 0.1;
/** The embedded-default target: a 65-frame video with the pack's defaults in about a minute on 2 CPU cores. */
export const TARGET_FRAMES = 65;
export const TARGET_SECONDS = 60;
export const TARGET_CORES = 2;

/** Prefix of the chart files this report owns in the images folder (stale ones are removed). */
export const CHART_PREFIX = "bench-";

export interface NamedResult {
  /** File name (e.g. "engine-2026-05-01.json"). */
  name: string;
  result: ResultFile;
}

export interface ReportOptions {
  includeBroken: boolean;
  /** The images folder as the page links it (relative to the page). */
  imagesHref: string;
  /** The results folder as the page names it (e.g. "bench/results"). */
  resultsDir: string;
  /** `bench real-size` result files (bench/results/real-size-*.json), read apart from the others. */
  realSize?: readonly NamedRealSize[];
}

export interface RenderedReport {
  markdown: string;
  /** Chart files: name within the images folder → SVG text. */
  images: Map<string, string>;
}

// ---------------------------------------------------------------------------------------------------------------
// Per-case summaries.

export interface CaseSummary {
  record: CaseRecord;
  runs: number;
  /** Every run's video passed the probe. */
  probeOk: boolean;
  /** What the probe found wrong (first failing run), e.g. ["colour: got green, want red", "not smooth (…)"]. */
  probeProblems: string[];
  seconds: {
    load: number;
    encode: number;
    keyframes: number;
    interpolation: number[];
    decode: number;
    generate: number;
    outputs: number | null;
    wall: number;
  };
  memory: {
    baselineMB: number;
    peakMB: number;
    /** Per stage label: median start and peak. */
    stages: Map<string, { startMB: number; peakMB: number }>;
  };
}

export function probeProblems(r: RunRecord): string[] {
  const p = r.probe;
  const out: string[] = [];
  for (const k of ["colour", "shape", "motion", "background"] as const) {
    if (!p[`${k}Ok`]) out.push(`${k}: got ${p.got[k] ?? "none"}, want ${p.want[k] ?? "none"}`);
  }
  if (!p.smooth) {
    out.push(
      p.maxStepRatio === null
        ? "not smooth (the object vanishes in some frames)"
        : `not smooth (largest step ${p.maxStepRatio.toFixed(1)}× the median)`,
    );
  }
  return out;
}

export function summarizeCase(c: CaseRecord): CaseSummary {
  const runs = c.runs;
  const med = (f: (r: RunRecord) => number) => median(runs.map(f));
  const levels = Math.max(0, ...runs.map((r) => r.seconds.interpolation.length));
  const stageNames = [...new Set(runs.flatMap((r) => Object.keys(r.memory.stages)))];
  const stages = new Map<string, { startMB: number; peakMB: number }>();
  for (const name of stageNames) {
    const have = runs.filter((r) => r.memory.stages[name] !== undefined);
    stages.set(name, {
      startMB: median(have.map((r) => r.memory.stages[name]?.startMB as number)),
      peakMB: median(have.map((r) => r.memory.stages[name]?.peakMB as number)),
    });
  }
  const failing = runs.find((r) => !r.probe.ok);
  const outputs = runs.map((r) => r.seconds.outputs).filter((x): x is number => x !== null);
  return {
    record: c,
    runs: runs.length,
    probeOk: runs.length > 0 && failing === undefined,
    probeProblems: failing ? probeProblems(failing) : runs.length === 0 ? ["no runs"] : [],
    seconds: {
      load: med((r) => r.seconds.load),
      encode: med((r) => r.seconds.encode),
      keyframes: med((r) => r.seconds.keyframes),
      interpolation: Array.from({ length: levels }, (_, i) => med((r) => r.seconds.interpolation[i] ?? 0)),
      decode: med((r) => r.seconds.decode),
      generate: med((r) => r.seconds.generate),
      outputs: outputs.length === runs.length && runs.length > 0 ? median(outputs) : null,
      wall: med((r) => r.seconds.wall),
    },
    memory: { baselineMB: med((r) => r.memory.baselineMB), peakMB: med((r) => r.memory.peakMB), stages },
  };
}

/** Highest median peak over the interpolation levels (interp1, interp2, …), with its stage's start. */
export function interpolationPeak(s: CaseSummary): { startMB: number; peakMB: number } | null {
  let best: { startMB: number; peakMB: number } | null = null;
  for (const [name, m] of s.memory.stages) {
    if (/^interp\d+$/.test(name) && (best === null || m.peakMB > best.peakMB)) best = m;
  }
  return best;
}

/** Whether a peak growing from `small` to `large` MB counts as bounded (see the constants above). */
export function isBounded(smallMB: number, largeMB: number): boolean {
  return largeMB - smallMB <= Math.max(BOUNDED_GROWTH_MB, BOUNDED_GROWTH_FRACTION * smallMB);
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting.

const s1 = (x: number) => x.toFixed(1);
const mb = (x: number) => Math.round(x).toString();
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${Math.round(Math.abs(x))}`;
const signed1 = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(1)}`;

function windowText(w: { frames: number; overlap: number } | null): string {
  return w === null ? "whole passes" : `windows of ${w.frames}, overlap ${w.overlap}`;
}

function row(cells: readonly string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
}

function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly ("l" | "r")[],
): string {
  const sep = header.map((_, i) => ((align?.[i] ?? "l") === "r" ? "---:" : "---"));
  return [row(header), row(sep), ...rows.map(row)].join("\n");
}

function shown(s: CaseSummary, opts: ReportOptions): boolean {
  return s.probeOk || opts.includeBroken;
}

function probeCell(s: CaseSummary): string {
  if (s.probeOk) return "✓";
  return `✗ ${s.probeProblems.join("; ")}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Engine section.

function machineLine(r: EngineResults | ClusterResults): string {
  const m = r.machine;
  const quota = m.cpuQuota && !m.cpuQuota.startsWith("max") ? `, cgroup cpu.max ${m.cpuQuota}` : "";
  const load = `load average ${m.loadAverage.start.join(" / ")} at start${m.loadAverage.end ? `, ${m.loadAverage.end.join(" / ")} at end` : ""}`;
  return (
    `${m.cpuModel}, ${m.cores} logical CPUs (${m.availableParallelism} available${quota}), ${Math.round(m.memoryMB / 1024)} GiB, ` +
    `${m.platform} ${m.kernel} ${m.arch}; Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}; ${load}`
  );
}

function settingsLine(r: EngineResults): string {
  const first = r.cases.flatMap((c) => c.runs)[0];
  const st = first?.settings;
  const rt = first?.runtime;
  const parts = [`prompt “${r.prompt}”`, `seed ${r.seed}`];
  if (st) {
    parts.push(
      `${st.sampler}, ${st.mode} mode`,
      `keyframes ${st.keyframeSteps} steps × guidance ${st.keyframeGuidance}`,
      `interpolation ${st.interpolationSteps} steps × guidance ${st.interpolationGuidance}`,
      `decode batch ${st.decodeBatch}`,
    );
  }
  parts.push(r.steps === null ? "the pack's default steps" : `**--steps ${r.steps} (not the pack's defaults)**`);
  if (rt) parts.push(`${rt.executionProvider} execution provider, intra-op threads ${rt.intraOpNumThreads}`);
  parts.push(`${r.repeat} run${r.repeat === 1 ? "" : "s"} per case (medians shown), each in a fresh process`);
  if (r.gcEachStep) parts.push("**a full garbage collection after every step** (`--gc-each-step`, a diagnosis run)");
  return parts.join("; ");
}

function speedTable(summaries: CaseSummary[], opts: ReportOptions): string {
  const header = [
    "Case",
    "Frames",
    "Interpolation",
    "Load s",
    "Encode s",
    "Keyframes s",
    "Interpolation s (per level)",
    "Decode s",
    "Generate s",
    "Outputs s",
    "Wall s",
    "Peak RSS MB",
    "Probe",
  ];
  const rows = summaries.map((s) => {
    const c = s.record;
    const head = [`\`${c.id}\``, String(c.frames), windowText(c.window)];
    if (!shown(s, opts)) return [...head, ...Array<string>(9).fill("—"), probeCell(s)];
    const t = s.seconds;
    return [
      ...head,
      s1(t.load),
      s1(t.encode),
      s1(t.keyframes),
      t.interpolation.length === 0 ? "—" : t.interpolation.map(s1).join(" + "),
      s1(t.decode),
      `**${s1(t.generate)}**`,
      t.outputs === null ? "skipped" : s1(t.outputs),
      s1(t.wall),
      mb(s.memory.peakMB),
      probeCell(s),
    ];
  });
  return table(header, rows, ["l", "r", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l"]);
}

function targetLine(r: EngineResults, summaries: CaseSummary[], opts: ReportOptions): string | null {
  const s = summaries.find(
    (x) => x.record.frames === TARGET_FRAMES && x.record.window === null && x.record.studies.includes("speed"),
  );
  if (!s) return null;
  const goal = `target: about ${TARGET_SECONDS} s or less on ${TARGET_CORES} CPU cores`;
  if (!shown(s, opts))
    return `**${TARGET_FRAMES} frames with the pack's defaults** (${goal}): not reported, the video failed the probe.`;
  if (r.steps !== null) {
    return `**${TARGET_FRAMES} frames**: measured with --steps ${r.steps}, not the pack's defaults, so it says nothing about the ${goal}.`;
  }
  const cpus = r.machine.availableParallelism;
  const wall = s.seconds.wall;
  const verdict =
    cpus === TARGET_CORES
      ? wall <= TARGET_SECONDS
        ? "met on this machine"
        : "**not met** on this machine"
      : `measured with ${cpus} CPUs, not ${TARGET_CORES}, so this is no verdict on the target`;
  return `**${TARGET_FRAMES} frames with the pack's defaults** (${goal}): generate ${s1(s.seconds.generate)} s, wall ${s1(wall)} s from process start to the last output file: ${verdict}.`;
}

function memorySection(summaries: CaseSummary[], opts: ReportOptions): string | null {
  const mem = summaries.filter((s) => s.record.studies.includes("memory"));
  if (mem.length === 0) return null;
  const frames = [...new Set(mem.map((s) => s.record.frames))].sort((a, b) => a - b);
  const find = (f: number, windowed: boolean) =>
    mem.find((s) => s.record.frames === f && (s.record.window !== null) === windowed);
  const columns: { label: string; s: CaseSummary | undefined }[] = [];
  for (const f of frames) {
    const w = find(f, true);
    columns.push({ label: `${f} whole`, s: find(f, false) });
    columns.push({
      label: `${f} windowed${w?.record.window ? ` (${w.record.window.frames}/${w.record.window.overlap})` : ""}`,
      s: w,
    });
  }
  const cell = (s: CaseSummary | undefined, pick: (s: CaseSummary) => { startMB: number; peakMB: number } | null) => {
    if (!s) return "not run";
    if (!shown(s, opts)) return "— (probe ✗)";
    const m = pick(s);
    return m === null ? "—" : `${mb(m.peakMB)} (${signed(m.peakMB - m.startMB)})`;
  };
  const rows = [
    [
      "Models loaded (RSS before generating)",
      ...columns.map((c) => (c.s && shown(c.s, opts) ? mb(c.s.memory.baselineMB) : c.s ? "— (probe ✗)" : "not run")),
    ],
    ["Interpolation, highest level peak", ...columns.map((c) => cell(c.s, interpolationPeak))],
    ["Decode peak", ...columns.map((c) => cell(c.s, (s) => s.memory.stages.get("decode") ?? null))],
    [
      "Whole run peak",
      ...columns.map((c) => (c.s && shown(c.s, opts) ? mb(c.s.memory.peakMB) : c.s ? "— (probe ✗)" : "not run")),
    ],
  ];
  const out = [
    table(["Peak RSS MB (growth during the stage)", ...columns.map((c) => c.label)], rows, [
      "l",
      ...columns.map(() => "r" as const),
    ]),
  ];
  // Verdicts from the embedded default (TARGET_FRAMES) to the longest video, as the methodology states: a shorter
  // video runs fewer interpolation levels, so its highest level is other work. Without a TARGET_FRAMES case, from the
  // shortest.
  if (frames.length >= 2) {
    const hi = frames[frames.length - 1] as number;
    const lo = frames.includes(TARGET_FRAMES) && TARGET_FRAMES < hi ? TARGET_FRAMES : (frames[0] as number);
    const verdicts: string[] = [];
    const peakOf = (pick: (s: CaseSummary) => { startMB: number; peakMB: number } | null) => (s: CaseSummary) =>
      pick(s)?.peakMB ?? null;
    const growthOf = (pick: (s: CaseSummary) => { startMB: number; peakMB: number } | null) => (s: CaseSummary) => {
      const m = pick(s);
      return m === null ? null : Math.max(0, m.peakMB - m.startMB);
    };
    const decode = (s: CaseSummary) => s.memory.stages.get("decode") ?? null;
    const compare = (
      what: string,
      a: CaseSummary | undefined,
      b: CaseSummary | undefined,
      value: (s: CaseSummary) => number | null,
      expectBounded: boolean,
    ) => {
      if (!a || !b || !shown(a, opts) || !shown(b, opts)) return;
      const va = value(a);
      const vb = value(b);
      if (va === null || vb === null) return;
      const bounded = isBounded(va, vb);
      const mark = expectBounded
        ? bounded
          ? "bounded ✓"
          : "**grows ✗**"
        : bounded
          ? "flat here"
          : "grows, as expected";
      verdicts.push(`- ${what}, ${lo} → ${hi} frames: ${mb(va)} → ${mb(vb)} MB (${signed(vb - va)} MB): ${mark}`);
    };
    compare("Windowed interpolation, peak RSS", find(lo, true), find(hi, true), peakOf(interpolationPeak), true);
    compare("Decode in the windowed runs, peak RSS", find(lo, true), find(hi, true), peakOf(decode), true);
    // After a whole-sequence pass the allocator keeps that pass's memory, so there decode's own growth counts.
    compare(
      "Decode in the whole-pass runs, growth during the stage",
      find(lo, false),
      find(hi, false),
      growthOf(decode),
      true,
    );
    compare(
      "Whole-sequence interpolation, peak RSS (for comparison)",
      find(lo, false),
      find(hi, false),
      peakOf(interpolationPeak),
      false,
    );
    if (verdicts.length > 0) {
      out.push(
        "",
        `Bounded means the peak grows by at most ${BOUNDED_GROWTH_MB} MB or ${Math.round(BOUNDED_GROWTH_FRACTION * 100)} %, whichever is more:`,
        "",
        ...verdicts,
      );
    }
  }
  return out.join("\n");
}

function chartFor(name: string, summaries: CaseSummary[], opts: ReportOptions): { file: string; svg: string } | null {
  const use = summaries.filter((s) => shown(s, opts) && s.runs > 0);
  if (use.length === 0) return null;
  const x = [...new Set(use.map((s) => s.record.frames))].sort((a, b) => a - b).map(String);
  const series = (pick: (s: CaseSummary) => number): Series[] => {
    const whole = new Map<string, number>();
    const windowed = new Map<string, number>();
    for (const s of use) (s.record.window === null ? whole : windowed).set(String(s.record.frames), pick(s));
    const out: Series[] = [];
    if (whole.size > 0) out.push({ name: "whole-sequence passes", points: whole });
    if (windowed.size > 0) {
      const w = use.find((s) => s.record.window !== null)?.record.window;
      out.push({ name: `windows of ${w?.frames}, overlap ${w?.overlap}`, points: windowed });
    }
    return out;
  };
  const broken = use.some((s) => !s.probeOk);
  const spec: ChartSpec = {
    title: `Engine benchmark ${name}${broken ? " (includes videos that failed the probe)" : ""}`,
    xLabel: "frames",
    x,
    panels: [
      { title: "Generate time (median)", yLabel: "seconds", series: series((s) => s.seconds.generate) },
      { title: "Peak memory (median)", yLabel: "peak RSS, MB", series: series((s) => s.memory.peakMB) },
    ],
  };
  return { file: `${CHART_PREFIX}${name.replace(/\.json$/, "")}.svg`, svg: renderChart(spec) };
}

function engineSection(
  f: NamedResult & { result: EngineResults },
  opts: ReportOptions,
  images: Map<string, string>,
): string {
  const r = f.result;
  const summaries = r.cases.map(summarizeCase);
  const parts: string[] = [];
  parts.push(`### ${r.pack.name}@${r.pack.version}, ${r.createdAt.slice(0, 10)} (\`${opts.resultsDir}/${f.name}\`)`);
  parts.push("");
  if (r.finishedAt === null)
    parts.push("> This run of the suite did not finish; the cases below are the ones it completed.\n");
  parts.push(`- Machine: ${machineLine(r)}`);
  parts.push(`- Settings: ${settingsLine(r)}`);
  parts.push(`- Command: \`${r.command}\``);
  parts.push("");
  const target = targetLine(r, summaries, opts);
  if (target) parts.push(target, "");
  const speed = summaries.filter((s) => s.record.studies.includes("speed"));
  const others = summaries.filter((s) => !s.record.studies.includes("speed"));
  if (speed.length > 0) {
    parts.push("#### Speed", "", speedTable(speed, opts), "");
  }
  if (others.length > 0) {
    parts.push("Cases run for the memory study, timed as well:", "", speedTable(others, opts), "");
  }
  const memory = memorySection(summaries, opts);
  if (memory) parts.push("#### Memory per stage", "", memory, "");
  const chart = chartFor(f.name, summaries, opts);
  if (chart) {
    images.set(chart.file, chart.svg);
    parts.push(`![Generate seconds and peak memory against frames](${opts.imagesHref}/${chart.file})`, "");
  }
  return parts.join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Cluster section.

function clusterSection(f: NamedResult & { result: ClusterResults }, opts: ReportOptions): string {
  const r = f.result;
  const parts: string[] = [];
  parts.push(
    `### ${r.pack.name}@${r.pack.version}, ${r.frames} frames, ${r.createdAt.slice(0, 10)} (\`${opts.resultsDir}/${f.name}\`)`,
  );
  parts.push("");
  parts.push(`- Machine: ${machineLine(r)}`);
  parts.push(
    `- Stage seconds per job for the bound (${r.stageSeconds.source}): K = ${s1(r.stageSeconds.keyframe)} s, I = ${s1(r.stageSeconds.interpolation)} s, D = ${s1(r.stageSeconds.decode)} s`,
  );
  parts.push(`- Command: \`${r.command}\``);
  parts.push("");
  // The distributed pipeline's seconds do not depend on what the pack draws (the e2e tests check that a remote
  // run's MP4 equals the embedded one byte for byte), so they are shown with the probe's verdict beside them.
  const rows = r.points.map((p) => {
    const lat = median(p.latencySeconds);
    const probe = p.probeOk
      ? "✓ all"
      : `✗ ${p.probeFailures.length} failed (${p.probeFailures.map((f) => f.replace(/:.*$/, "")).join(", ")})`;
    return [
      String(p.interpolationReplicas),
      s1(lat),
      r.embeddedWallSeconds === null ? "—" : `${signed1(lat - r.embeddedWallSeconds)} s`,
      `${s1(p.throughputPerMinute)} (${p.jobs} jobs, ${p.concurrency} in flight)`,
      s1(p.boundPerMinute),
      `${Math.round((100 * p.throughputPerMinute) / p.boundPerMinute)} %`,
      p.bottleneck,
      probe,
    ];
  });
  parts.push(
    table(
      [
        "Interpolation replicas N",
        "Latency s (1 job)",
        "Overhead vs embedded",
        "Throughput jobs/min",
        "Bound X jobs/min",
        "Of bound",
        "Bottleneck",
        "Videos the probe passes",
      ],
      rows,
      ["r", "r", "r", "r", "r", "r", "l", "l"],
    ),
  );
  return parts.join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// The page.

const INTRO = `# Benchmarks

<!-- Generated by \`npm run bench -- report\` from bench/results/*.json (bench/src/report.ts). Do not edit by hand. -->

Performance of longshot is measured here, by the benchmark suite in \`bench/\`, never by timed tests.

## What is measured

**Engine (embedded pipeline).** \`npm run bench -- engine\` runs what \`longshot generate\` runs, in one process per
run: \`Engine.create\` (pack check, tokenizer, four ONNX sessions), \`Engine.generate\` with the pack's defaults, then
the outputs (PNG frames, MP4, GIF). For every run it records:

- **seconds per stage**: load, prompt encode, keyframes, each interpolation level (5 → 17 → 65 → 257), decode,
  outputs, and *wall*, from process start to the last output file (what a user of \`longshot generate\` waits);
- **peak memory per stage**: the process's resident set size (the onnxruntime worker threads live in the same
  process). On Linux the exact high-water mark \`VmHWM\` (/proc/self/status) is reset when a stage starts and read
  when it ends; RSS is also sampled every 50 ms, with the runtime's \`memoryInfo()\` for the worker threads' heaps;
- **the eval probe's verdict** on the video (colour, shape, motion, background, smoothness), so that speed is never
  reported for a broken video: the numbers of a case whose video fails the probe are left out of the tables;
- the machine: CPU model and count, cgroup quota, memory, Node and onnxruntime-node versions, load average
  (other work on the machine slows every number down).

Cases:

- **speed**: 17 and 65 frames with the pack's defaults (65 frames is the embedded-default target: about a minute
  or less on 2 CPU cores), and 257 frames with the interpolation levels run as overlapping windows (the scaling
  study);
- **memory bound**: 65 and 257 frames, each with whole-sequence passes and with windows. Windowed interpolation and
  the decode stage (bounded batches) must stay about flat from 65 to 257 frames; whole-sequence interpolation at
  257 frames shows the growth that windows avoid. \`--gc-each-step\` runs the same cases under \`node --expose-gc\` with a
  full garbage collection after every step: what the windowed cases still grow from 65 to 257 frames without it,
  and no longer grow with it, is garbage the process has not collected yet (per-step input and output buffers of
  the model calls, on the main thread and in the onnxruntime worker), not memory the pipeline holds. V8 collects it
  when its own heuristics say so, so the growth is bounded by them rather than by the video's length.

**Engine against PyTorch eager.** \`npm run bench -- torch\` runs the same generation (pack, prompt, seed, initial
noise, steps, frames, intra-op threads) through the engine (ONNX Runtime, in the bench process) and through the
Python toolkit's PyTorch eager pipeline (\`python -m longshot_models.perf pipeline\`: the reference pipeline's stages
on the torch modules of \`models/weights\`, in a process of its own), alternating, and reports seconds per stage,
each UNet step, and the FLOP/s of each step (FLOPs counted by torch's FlopCounterMode) against the machine's fp32
peak, a 2048² MatMul in torch at the same threads measured in the same run. Without \`--quick\` it adds the
per-graph comparison (\`python -m longshot_models.perf\`: each UNet graph in onnxruntime against its torch module at
the engine's shapes, timed in alternating blocks, with onnxruntime's profile by op type under \`--profile\`) and the
scaling study (\`python -m longshot_models.perf scaling\`: one interpolation-UNet call at 17, 65 and 257 frames with
the trained local temporal attention and with full temporal attention, same weights, seconds and peak memory per
frame). Targets: every UNet step at most 0.8× PyTorch eager's time at equal threads; at least 35 % of the measured
peak on the 65-frame interpolation step. Both sides run with the same threads and neither spins: the engine's
intra-op threads do not spin by default (\`ModelRuntimeOptions.spinning\`) and the PyTorch side runs with
\`OMP_WAIT_POLICY=PASSIVE\` (on 2 shared cores, spinning OpenMP threads made PyTorch eager about 10× slower, which
would flatter the engine); timing in blocks keeps one side's idle threads from slowing the other's calls. Without \`models/.venv\` only the engine side runs, and the page says so.

## How to reproduce

\`\`\`sh
./setup.sh                     # once: Node 24, dependencies, build, ffmpeg
npm run build                  # after changing code
npm run bench -- engine --pack models/packs/shapes-mini          # writes bench/results/engine-<date>.json
npm run bench -- torch --quick # engine vs PyTorch eager, one round, a few minutes (torch-<date>.json)
npm run bench -- torch         # two rounds, the per-graph comparison and the scaling study
npm run bench -- real-size     # real-size SD 1.x stages in PyTorch fp32 on CPU, tens of minutes (real-size-<date>.json)
npm run bench -- report        # rewrites docs/benchmarks.md and docs/images/${CHART_PREFIX}*.svg
\`\`\`

The engine run takes a while: 5 cases × 3 runs, each a fresh process, and the 257-frame cases dominate (tens of
minutes on 2 cores; \`--repeat 1\` for a first look). Options: \`--frames 17,65\`, \`--repeat N\`,
\`--study speed|memory\`, \`--window 17 --overlap 4\` (default: the pack's \`trainedWindow\`, overlap 4),
\`--threads N\`, \`--no-outputs\`, \`--out FILE.json\`; \`npm run bench -- engine --help\` lists them all. To check the
2-core target on a bigger machine, pin the suite to two CPUs: \`taskset -c 0,1 npm run bench -- engine --frames 65\`
(the CPU count recorded is the one the process may use). Keep the machine otherwise idle: the load average is
recorded next to the results. Result files are committed under \`bench/results/\`; the report shows every file,
newest first. \`npm run bench -- report --check\` fails when this page is out of date.
`;

const CLUSTER_PLACEHOLDER = `Not measured yet: these numbers come with the distributed pipeline issue (gateway, keyframe, interpolation and
decoder services over gRPC, NATS JetStream and MinIO). No numbers are shown until they are measured: the driver
takes its bound from an embedded run whose video passes the eval probe, and the bundled pack's videos do not yet.

The driver is ready: \`npm run bench -- cluster\` brings the services up with \`scripts/cluster up --interpolation N\`
for each replica count N (\`--up\`/\`--down\` take other commands, e.g.
\`--up "docker compose up -d --wait --scale interpolation={N}" --down "docker compose down"\`), sends jobs with
\`longshot generate --remote HOST:PORT\`, probes every video, and writes \`bench/results/cluster-<date>.json\`, which
this report turns into a table (\`--dry-run\` prints its plan and the bound). It measures:

- **distributed overhead**: latency of one job through the services minus the wall time of the same job run
  embedded (\`--embedded bench/results/engine-<date>.json\`);
- **pipelining throughput** with several jobs in flight, against the bound
  X = min(1/K, N/I, 1/D) jobs per second, where K, I and D are one job's keyframe, interpolation and decode
  seconds and N the number of interpolation replicas (the interpolation windows of a job are shared by the
  replicas; keyframe and decode have one worker each);
- **replica scaling**: throughput for N = 1, 2, 4 interpolation replicas.

\`\`\`sh
npm run bench -- cluster --interpolation 1,2,4 --frames 65 --jobs 8 --concurrency 4 \\
  --embedded bench/results/engine-<date>.json
npm run bench -- report
\`\`\``;

export function renderReport(files: readonly NamedResult[], opts: ReportOptions): RenderedReport {
  const images = new Map<string, string>();
  const newestFirst = [...files].sort(
    (a, b) => b.result.createdAt.localeCompare(a.result.createdAt) || a.name.localeCompare(b.name),
  );
  const engine = newestFirst.filter((f): f is NamedResult & { result: EngineResults } =>
    f.result.format.includes("engine"),
  );
  const cluster = newestFirst.filter((f): f is NamedResult & { result: ClusterResults } =>
    f.result.format.includes("cluster"),
  );
  const parts: string[] = [INTRO];
  const anyBroken = engine.some((f) => f.result.cases.some((c) => c.runs.some((r) => !r.probe.ok)));
  if (opts.includeBroken && anyBroken) {
    parts.push(
      "> **Warning:** this page was generated with `--include-broken`: rows marked ✗ come from videos that failed the",
      "> eval probe (for example a development pack with random weights). They are not performance results.",
      "",
    );
  }
  parts.push("## Engine (embedded pipeline)", "");
  if (engine.length === 0) {
    parts.push(
      "No engine results yet: the trained pack (`models/packs/shapes-mini`) is measured with the commands under",
      "*How to reproduce*.",
      "",
    );
  }
  for (const f of engine) parts.push(engineSection(f, opts, images));
  const torch = newestFirst.filter((f): f is NamedResult & { result: TorchResults } =>
    f.result.format.includes("torch"),
  );
  parts.push("## Engine against PyTorch eager", "");
  if (torch.length === 0) parts.push("No `bench torch` results yet (`npm run bench -- torch`).", "");
  for (const f of torch) parts.push(`### ${f.name}`, "", torchSection(f), "");
  parts.push("## Real-size stages against 24 GB", "");
  const realSize = [...(opts.realSize ?? [])].sort(
    (a, b) => b.result.createdAt.localeCompare(a.result.createdAt) || a.name.localeCompare(b.name),
  );
  if (realSize.length === 0)
    parts.push("No `bench real-size` results yet (`npm run bench -- real-size`, tens of minutes on 2 cores).", "");
  for (const f of realSize) parts.push(`### ${f.name}`, "", realSizeSection(f, realSize), "");
  parts.push("## Distributed pipeline", "");
  if (cluster.length === 0) parts.push(CLUSTER_PLACEHOLDER, "");
  for (const f of cluster) parts.push(clusterSection(f, opts), "");
  const markdown = `${parts
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()}\n`;
  return { markdown, images };
}

const f1 = (x: number | null, d = 1): string => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(d));

function verdict(ok: boolean, text: string): string {
  return `${ok ? "met" : "missed"}: ${text}`;
}

/** One `bench torch` file (newest first on the page): per stage, per UNet step with FLOP/s against the peak, per graph, scaling. */
function torchSection(f: NamedResult & { result: TorchResults }): string {
  const r = f.result;
  const out: string[] = [];
  out.push(
    `From \`${f.name}\` (\`${r.command}\`), ${r.createdAt.slice(0, 10)}: ${r.frames} frames of "${r.prompt}", seed ${r.seed}, pack \`${r.pack}\`, ${r.threads} intra-op threads on both sides, ${r.rounds.length} round(s) of (PyTorch eager, engine) alternating, medians.`,
    "",
    machineLine(r as unknown as EngineResults),
    "",
  );
  if (r.python === null) {
    out.push("**PyTorch eager was not run** (no models/.venv on the machine): engine numbers only.", "");
  }
  const load = Math.max(r.machine.loadAverage.start[0] ?? 0, r.machine.loadAverage.end?.[0] ?? 0);
  if (load > r.machine.availableParallelism / 2) {
    out.push(
      `> **Measured under load** (1-minute load average up to ${load.toFixed(1)} on ${r.machine.availableParallelism} CPUs): other work shared the cores, so every time here is slower than on an idle machine and the noise between rounds is large. Both sides saw the same load (alternating rounds), so the ratios are the comparison to read; the peak measured under load is low too, which makes every share of it an overestimate of what an idle machine would show.`,
      "",
    );
  }
  const stages = Object.keys(r.rounds[0]?.engine.seconds ?? {});
  const rows = stages.map((s) => {
    const e = median(r.rounds.map((x) => x.engine.seconds[s] ?? Number.NaN));
    const ts = r.rounds.flatMap((x) => (x.torch ? [x.torch.seconds[s] ?? Number.NaN] : []));
    const t = ts.length > 0 ? median(ts) : null;
    return [s, f1(t, 2), f1(e, 2), t === null ? "—" : f1(e / t, 2)];
  });
  out.push(table(["stage", "PyTorch eager s", "engine s", "engine / PyTorch"], rows), "");
  const steps = stepRows(r.rounds);
  const peaks = r.rounds.flatMap((x) => (x.torch ? [x.torch.peakGflops] : []));
  out.push(
    `One UNet step per denoising stage (median of every step of every round; the engine's step is the time between progress events, the UNet call and the sampler). FLOPs counted by torch's FlopCounterMode on the exported function; peak: ${peaks.length > 0 ? `${f1(Math.max(...peaks))} GFLOP/s` : "not measured"}, the best of a 2048² fp32 MatMul in torch at ${r.threads} threads before and after each PyTorch round (load on the machine lowers it, and with it every share of it below).`,
    "",
    table(
      ["UNet step", "PyTorch eager ms", "engine ms", "engine / PyTorch", "GFLOP", "engine GFLOP/s", "% of peak"],
      steps.map((s) => [
        s.stage,
        f1(s.torchMs),
        f1(s.engineMs),
        f1(s.ratio, 2),
        f1(s.gflop, 2),
        f1(s.engineGflops),
        s.enginePeakShare === null ? "—" : `${f1(100 * s.enginePeakShare)} %`,
      ]),
    ),
    "",
  );
  const worst = steps.reduce<StepRow | null>(
    (w, s) => (s.ratio !== null && (!w || (w.ratio ?? 0) < s.ratio) ? s : w),
    null,
  );
  const interp65 = steps.find((s) => s.stage === "interp2"); // 5 → 17 (interp1) → 65 (interp2)
  const targets: string[] = [];
  if (worst?.ratio != null) {
    targets.push(
      `- every UNet step ≤ ${TARGET_STEP_RATIO}× PyTorch eager: ${verdict(worst.ratio <= TARGET_STEP_RATIO, `the slowest is ${worst.stage} at ${f1(worst.ratio, 2)}×${worst.ratio > TARGET_STEP_RATIO ? ` (${f1(worst.ratio - TARGET_STEP_RATIO, 2)} over)` : ""}`)}`,
    );
  }
  if (r.frames >= 65 && interp65?.enginePeakShare != null) {
    const share = interp65.enginePeakShare;
    targets.push(
      `- ≥ ${100 * TARGET_PEAK_SHARE} % of the measured peak on the 65-frame interpolation step: ${verdict(share >= TARGET_PEAK_SHARE, `${f1(100 * share)} %${share < TARGET_PEAK_SHARE ? ` (${f1(100 * (TARGET_PEAK_SHARE - share))} points short)` : ""}`)}`,
    );
  }
  if (targets.length > 0) out.push("Targets:", "", ...targets, "");
  if (r.graphs) {
    const g = r.graphs;
    out.push(
      `Per graph (\`python -m longshot_models.perf\`: the pack's graph in onnxruntime against the torch module, random inputs at the engine's shapes, alternating blocks, no spinning; peak ${f1(g.peak_gflops.before)} / ${f1(g.peak_gflops.after)} GFLOP/s before / after, load ${g.load_average.map((x) => x.toFixed(1)).join(" ")}):`,
      "",
      table(
        [
          "graph call",
          "GFLOP",
          "PyTorch eager ms",
          "ONNX Runtime ms",
          "ORT / PyTorch",
          "ORT GFLOP/s",
          "% of peak",
          "max abs diff",
        ],
        g.cases.map((c) => [
          c.case.name,
          f1(c.gflop, 2),
          f1(c.torch_ms),
          f1(c.ort_ms),
          f1(c.ratio, 2),
          f1(c.ort_gflops),
          `${f1(100 * c.ort_peak_fraction)} %`,
          c.max_abs_diff.toExponential(1),
        ]),
      ),
      "",
    );
    if (g.baseline) {
      out.push(
        `The same graph calls with the graphs of \`${g.baseline}\` (the previous export), timed in the same blocks:`,
        "",
        table(
          ["graph call", "previous graph ms", "this graph ms", "speed-up"],
          g.cases.map((c) => [
            c.case.name,
            f1(c.baseline_ms ?? null),
            f1(c.ort_ms),
            `${f1(c.speedup_vs_baseline ?? null, 2)}×`,
          ]),
        ),
        "",
      );
    }
  }
  if (r.scaling) {
    const s = r.scaling;
    const rowsS = s.local.map((l, i) => {
      const full = s.full[i];
      return [
        String(l.frames),
        f1((1000 * l.seconds) / l.frames, 2),
        full ? f1((1000 * full.seconds) / full.frames, 2) : "—",
        f1(l.runMB / l.frames, 2),
        full ? f1(full.runMB / full.frames, 2) : "—",
      ];
    });
    const first = s.local[0];
    const last = s.local[s.local.length - 1];
    const growth = first && last ? last.seconds / last.frames / (first.seconds / first.frames) : null;
    out.push(
      `Scaling (\`python -m longshot_models.perf scaling\`): one interpolation-UNet call (batch 1) per frame count, each in a fresh process, with the trained local temporal attention (window ${s.window}) and with full temporal attention (the same weights exported with a window covering every frame); memory is the peak resident memory during the calls above what the process held before them.`,
      "",
      table(["frames", "local ms / frame", "full ms / frame", "local MB / frame", "full MB / frame"], rowsS),
      "",
    );
    if (growth !== null && first && last) {
      const perFrame = (x: { seconds: number; frames: number } | undefined) => (x ? x.seconds / x.frames : null);
      const step = (side: typeof s.local, a: number, b: number) => {
        const pa = perFrame(side.find((x) => x.frames === a));
        const pb = perFrame(side.find((x) => x.frames === b));
        return pa === null || pb === null ? null : pb / pa;
      };
      const fullGrowth = step(s.full, first.frames, last.frames);
      out.push(
        `- local attention stays flat (≤ 1.2× per frame from ${first.frames} to ${last.frames} frames): ${verdict(growth <= 1.2, `${f1(growth, 2)}×`)}; full attention: ${f1(fullGrowth, 2)}×`,
      );
      const mid = s.local.find((x) => x.frames === 65) ? 65 : null;
      if (mid !== null && last.frames > mid) {
        out.push(
          `- from ${mid} to ${last.frames} frames: local ${f1(step(s.local, mid, last.frames), 2)}× per frame, full ${f1(step(s.full, mid, last.frames), 2)}×`,
        );
      }
      out.push("");
    }
  }
  return out.join("\n");
}

/** Reads and checks every `*.json` of a folder (sorted by name). Throws ResultFileError naming file and field. */
export function readResults(dir: string): NamedResult[] {
  return readJsonResults(dir, (n) => !n.startsWith(REAL_SIZE_PREFIX), parseResultFile, displayPath);
}

export const REPORT_OPTIONS = {
  results: { meta: "DIR" },
  out: { meta: "FILE.md" },
  images: { meta: "DIR" },
  "include-broken": { value: false },
  check: { value: false },
  help: { value: false },
} as const;

export function reportHelp(): string {
  return `Usage: npm run bench -- report [options]

Writes docs/benchmarks.md and docs/images/${CHART_PREFIX}<result>.svg from the result files.

Options:
  --results DIR       result files (default bench/results)
  --out FILE.md       (default docs/benchmarks.md)
  --images DIR        chart folder (default: images/ next to --out)
  --include-broken    show the numbers of videos that failed the probe, marked ✗ (development packs only)
  --check             write nothing; exit 1 when the page or a chart differs from what would be written
`;
}

export async function reportCommand(argv: readonly string[], io: Io): Promise<number> {
  const { options: o, positionals } = parseArgs(argv, REPORT_OPTIONS);
  if (o.has("help")) {
    io.stdout.write(reportHelp());
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(JSON.stringify(positionals[0]), "unexpected argument; report takes options only");
  const resultsDir = path.resolve(o.get("results") ?? RESULTS_DIR);
  if (o.has("results") && !existsSync(resultsDir)) throw new UsageError("--results", `${resultsDir} does not exist`);
  const outFile = path.resolve(o.get("out") ?? path.join(REPO_ROOT, "docs", "benchmarks.md"));
  if (!outFile.endsWith(".md"))
    throw new UsageError("--out", `must name a .md file, got ${JSON.stringify(o.get("out"))}`);
  const imagesDir = path.resolve(o.get("images") ?? path.join(path.dirname(outFile), "images"));
  const imagesHref = path.relative(path.dirname(outFile), imagesDir).split(path.sep).join("/") || ".";
  let files: NamedResult[];
  let realSize: NamedRealSize[];
  try {
    files = readResults(resultsDir);
    realSize = readRealSizeResults(resultsDir, displayPath);
  } catch (err) {
    if (err instanceof ResultFileError) {
      io.stderr.write(`bench report: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { markdown, images } = renderReport(files, {
    includeBroken: o.has("include-broken"),
    imagesHref,
    resultsDir: displayPath(resultsDir),
    realSize,
  });
  const stale = existsSync(imagesDir)
    ? readdirSync(imagesDir).filter((n) => n.startsWith(CHART_PREFIX) && n.endsWith(".svg") && !images.has(n))
    : [];
  if (o.has("check")) {
    const problems: string[] = [];
    const same = (file: string, text: string) => existsSync(file) && readFileSync(file, "utf8") === text;
    if (!same(outFile, markdown)) problems.push(displayPath(outFile));
    for (const [name, svg] of images)
      if (!same(path.join(imagesDir, name), svg)) problems.push(displayPath(path.join(imagesDir, name)));
    for (const name of stale) problems.push(`${displayPath(path.join(imagesDir, name))} (no longer generated)`);
    if (problems.length > 0) {
      io.stderr.write(`bench report: out of date: ${problems.join(", ")}; run npm run bench -- report\n`);
      return 1;
    }
    io.stdout.write(
      `bench report: ${displayPath(outFile)} is up to date (${files.length + realSize.length} result files)\n`,
    );
    return 0;
  }
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, markdown);
  if (images.size > 0) mkdirSync(imagesDir, { recursive: true });
  for (const [name, svg] of images) writeFileSync(path.join(imagesDir, name), svg);
  for (const name of stale) rmSync(path.join(imagesDir, name));
  io.stdout.write(
    `bench report: wrote ${displayPath(outFile)}${images.size > 0 ? ` and ${[...images.keys()].map((n) => displayPath(path.join(imagesDir, n))).join(", ")}` : ""} from ${files.length + realSize.length} result file${files.length + realSize.length === 1 ? "" : "s"}\n`,
  );
  return 0;
}
