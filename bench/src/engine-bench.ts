/**
 * `bench engine`: the embedded pipeline's speed and memory per stage, with the eval probe's verdict on every video.
 *
 * Cases (see {@link planCases}):
 *   - speed study: each frame count with the pack's defaults (`longshot generate` defaults); counts above the
 *     pack's `defaultFrames` (257) run their levels as windows (--window/--overlap), the scaling study;
 *   - memory-bound study: for each frame count longer than a window, the same generation with whole-sequence
 *     passes and with windows, so the tables show that windowed interpolation and decode stay flat from 65 to 257
 *     frames while whole-sequence interpolation grows.
 * Every run is a process of its own (engine-run.ts); the results file is rewritten after each run, so an
 * interrupted suite keeps what it measured.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultPackDir, parseArgs, UsageError } from "@longshot/cli";
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { checkWindowSizes } from "@longshot/engine";
import { findFfmpeg } from "@longshot/media";
import { isWorldPrompt } from "@longshot/probe";
import { loadPack, type PackManifest } from "@longshot/runtime";
import type { RunSpec } from "./engine-run.js";
import { loadAverage, machineInfo } from "./machine.js";
import { datedResultPath, displayPath, MAIN_JS, RESULTS_DIR, writeJsonAtomic } from "./paths.js";
import { probeProblems } from "./report.js";
import {
  type CaseRecord,
  ENGINE_FORMAT,
  type EngineResults,
  type RunRecord,
  type Study,
  type WindowSetting,
} from "./results.js";
import { type Io, shellQuote } from "./shell.js";
import { median } from "./stats.js";

export const DEFAULT_PROMPT = "a red circle moving right on a dark blue background";
/** Fixed before any run (never chosen by looking at videos): the benchmark's videos are probed as they come. */
export const DEFAULT_SEED = 1;
export const DEFAULT_REPEAT = 3;
/** Default overlap of the windowed cases, in frames (one keyframe interval of the first level). */
export const DEFAULT_OVERLAP = 4;
export const STUDIES = ["all", "speed", "memory"] as const;

export const ENGINE_OPTIONS = {
  pack: { meta: "DIR" },
  frames: { meta: "17,65,257" },
  repeat: { meta: "N" },
  window: { meta: "N" },
  overlap: { meta: "N" },
  study: { meta: STUDIES.join("|") },
  prompt: { meta: "TEXT" },
  seed: { meta: "N" },
  steps: { meta: "N" },
  threads: { meta: "N" },
  "no-outputs": { value: false },
  "gc-each-step": { value: false },
  out: { meta: "FILE.json" },
  help: { value: false },
} as const;

export function engineHelp(): string {
  return `Usage: npm run bench -- engine [options]

Measures the embedded pipeline (what \`longshot generate\` runs): seconds per stage (load, encode, keyframes,
each interpolation level, decode, outputs), peak memory per stage, and the eval probe's verdict on each video.
Each run is a fresh process. Results go to a JSON file; \`npm run bench -- report\` turns them into
docs/benchmarks.md.

Options:
  --pack DIR          model pack (default: $LONGSHOT_PACK, else models/packs/shapes-mini)
  --frames LIST       frame counts, comma-separated (default: the pack's, e.g. 17,65,257)
  --repeat N          runs per case; tables show the median (default ${DEFAULT_REPEAT})
  --window N          window length of the windowed cases (default: the pack's trainedWindow, 17)
  --overlap N         window overlap in frames (default ${DEFAULT_OVERLAP})
  --study WHICH       speed, memory or all (default all)
  --prompt TEXT       a prompt of the shapes world the probe can check (default "${DEFAULT_PROMPT}")
  --seed N            (default ${DEFAULT_SEED})
  --steps N           steps of both stages instead of the pack's defaults (for quick checks only)
  --threads N         onnxruntime intra-op threads per session (default: onnxruntime decides)
  --no-outputs        skip writing PNG/MP4/GIF (the outputs stage)
  --gc-each-step      run each case with node --expose-gc and a full garbage collection after every step: how much
                      of a stage's peak memory is garbage not yet collected (the memory study's diagnosis)
  --out FILE.json     (default bench/results/engine-<date>.json)
`;
}

export interface EngineBenchArgs {
  pack: string;
  frames: number[] | null;
  repeat: number;
  window: number | null;
  overlap: number | null;
  study: (typeof STUDIES)[number];
  prompt: string;
  seed: number;
  steps: number | null;
  threads: number | null;
  outputs: boolean;
  gcEachStep: boolean;
  out: string | null;
}

function intArg(name: string, v: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}`, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Parses the command line (what can be checked without the pack). Throws UsageError. */
export function parseEngineArgs(argv: readonly string[], env: NodeJS.ProcessEnv): EngineBenchArgs | "help" {
  const { options: o, positionals } = parseArgs(argv, ENGINE_OPTIONS);
  if (o.has("help")) return "help";
  if (positionals.length > 0) {
    throw new UsageError(JSON.stringify(positionals[0]), "unexpected argument; engine takes options only");
  }
  let frames: number[] | null = null;
  if (o.has("frames")) {
    const raw = o.get("frames") as string;
    const parts = raw.split(",").map((s) => s.trim());
    if (parts.some((p) => p === ""))
      throw new UsageError("--frames", `must be a comma-separated list of frame counts, got ${JSON.stringify(raw)}`);
    frames = [...new Set(parts.map((p) => intArg("frames", p, 1, 100_000)))].sort((a, b) => a - b);
  }
  const study = (o.get("study") ?? "all") as (typeof STUDIES)[number];
  if (!(STUDIES as readonly string[]).includes(study)) {
    throw new UsageError("--study", `must be one of ${STUDIES.join(", ")}, got ${JSON.stringify(study)}`);
  }
  const prompt = o.get("prompt") ?? DEFAULT_PROMPT;
  if (!isWorldPrompt(prompt)) {
    throw new UsageError(
      "--prompt",
      `must name a colour, a shape and a motion of the shapes world so the probe can check every video (e.g. "${DEFAULT_PROMPT}"), got ${JSON.stringify(prompt)}`,
    );
  }
  const num = (name: string, min: number, max: number): number | null =>
    o.has(name) ? intArg(name, o.get(name) as string, min, max) : null;
  const pack = o.get("pack");
  if (pack !== undefined && pack.trim() === "") throw new UsageError("--pack", "must name a model pack folder");
  const out = o.get("out");
  if (out !== undefined && !out.endsWith(".json"))
    throw new UsageError("--out", `must name a .json file, got ${JSON.stringify(out)}`);
  return {
    pack: pack !== undefined ? path.resolve(pack) : defaultPackDir(env).dir,
    frames,
    repeat: num("repeat", 1, 100) ?? DEFAULT_REPEAT,
    window: num("window", 2, 100_000),
    overlap: num("overlap", 0, 100_000),
    study,
    prompt,
    seed: num("seed", 0, Number.MAX_SAFE_INTEGER) ?? DEFAULT_SEED,
    steps: num("steps", 1, 10_000),
    threads: num("threads", 1, 1024),
    outputs: !o.has("no-outputs"),
    gcEachStep: o.has("gc-each-step"),
    out: out === undefined ? null : path.resolve(out),
  };
}

export interface PlannedCase {
  id: string;
  frames: number;
  window: WindowSetting | null;
  studies: Study[];
}

export function caseId(frames: number, window: WindowSetting | null): string {
  return window === null ? `f${frames}` : `f${frames}-w${window.frames}o${window.overlap}`;
}

/**
 * The cases of a suite, shortest first. Speed: each frame count with the pack's defaults, whole passes up to the
 * pack's `defaultFrames` and windows above it. Memory: each frame count longer than a window, whole and windowed.
 */
export function planCases(opts: {
  frames: readonly number[];
  defaultFrames: number;
  window: WindowSetting;
  study: (typeof STUDIES)[number];
}): PlannedCase[] {
  const byId = new Map<string, PlannedCase>();
  const add = (frames: number, window: WindowSetting | null, study: Study) => {
    const id = caseId(frames, window);
    const c = byId.get(id) ?? { id, frames, window, studies: [] };
    if (!c.studies.includes(study)) c.studies.push(study);
    byId.set(id, c);
  };
  const frames = [...opts.frames].sort((a, b) => a - b);
  for (const f of frames) {
    if (opts.study !== "memory") add(f, f > opts.defaultFrames && f > opts.window.frames ? opts.window : null, "speed");
    if (opts.study !== "speed" && f > opts.window.frames) {
      add(f, null, "memory");
      add(f, opts.window, "memory");
    }
  }
  const order = (c: PlannedCase) => c.frames * 2 + (c.window === null ? 0 : 1);
  return [...byId.values()]
    .map((c) => ({ ...c, studies: (["speed", "memory"] as Study[]).filter((s) => c.studies.includes(s)) }))
    .sort((a, b) => order(a) - order(b));
}

/** Checks the frame counts and window against the pack; UsageError naming the option. */
export function checkAgainstPack(manifest: PackManifest, frames: readonly number[], window: WindowSetting): void {
  const allowed = [...manifest.video.frames].sort((a, b) => a - b);
  for (const f of frames) {
    if (!allowed.includes(f)) {
      throw new UsageError(
        "--frames",
        `${f} is not a frame count of pack ${manifest.name}@${manifest.version}; it has ${allowed.join(", ")}`,
      );
    }
  }
  try {
    checkWindowSizes(window.frames, window.overlap, manifest.video.interpolationFactor, "window");
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      const flag = err.field === "window.overlap" ? "--overlap" : "--window";
      const prefix = `${err.field}: `;
      throw new UsageError(flag, err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message);
    }
    throw err;
  }
}

/** Runs `main.js engine-run` for one run and returns its record. */
async function runChild(spec: RunSpec): Promise<RunRecord> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "longshot-bench-run-"));
  const resultFile = path.join(dir, "run.json");
  try {
    const code = await new Promise<number | string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          ...process.execArgv,
          ...(spec.gcEachStep && !process.execArgv.includes("--expose-gc") ? ["--expose-gc"] : []),
          MAIN_JS,
          "engine-run",
          "--spec",
          JSON.stringify(spec),
          "--result",
          resultFile,
        ],
        { stdio: ["ignore", "inherit", "inherit"] },
      );
      child.on("error", reject);
      child.on("exit", (c, signal) => resolve(signal ?? c ?? 1));
    });
    if (code !== 0) {
      throw new LongshotError(
        `case ${spec.caseId} run ${spec.run} failed (${typeof code === "string" ? `killed by ${code}` : `exit code ${code}`}); see its error above`,
      );
    }
    return JSON.parse(await readFile(resultFile, "utf8")) as RunRecord;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number) => x.toFixed(1);

function describeRun(r: RunRecord): string {
  const s = r.seconds;
  const interp = s.interpolation.map(fmt).join(" + ");
  const probe = r.probe.ok ? "probe ok" : `probe FAILED (${probeProblems(r).join("; ")})`;
  return (
    `generate ${fmt(s.generate)} s (encode ${fmt(s.encode)}, keyframes ${fmt(s.keyframes)}, interpolation ${interp || "–"}, ` +
    `decode ${fmt(s.decode)}), load ${fmt(s.load)} s, outputs ${s.outputs === null ? "skipped" : `${fmt(s.outputs)} s`}, ` +
    `wall ${fmt(s.wall)} s, peak ${Math.round(r.memory.peakMB)} MB; ${probe}`
  );
}

export async function engineBenchCommand(
  argv: readonly string[],
  io: Io & { env: NodeJS.ProcessEnv },
): Promise<number> {
  const args = parseEngineArgs(argv, io.env);
  if (args === "help") {
    io.stdout.write(engineHelp());
    return 0;
  }
  const say = (line: string) => io.stderr.write(`bench engine: ${line}\n`);
  say(`checking the pack ${args.pack}`);
  let pack: Awaited<ReturnType<typeof loadPack>>;
  try {
    pack = await loadPack(args.pack);
  } catch (err) {
    if (err instanceof LongshotError) throw new UsageError("--pack", err.message);
    throw err;
  }
  const m = pack.manifest;
  const frames = args.frames ?? [...m.video.frames].sort((a, b) => a - b);
  const window: WindowSetting = {
    frames: args.window ?? m.interpolation.trainedWindow,
    overlap: args.overlap ?? DEFAULT_OVERLAP,
  };
  checkAgainstPack(m, frames, window);
  if (args.outputs) {
    try {
      await findFfmpeg();
    } catch (err) {
      throw new UsageError(
        "--no-outputs",
        `the outputs stage needs ffmpeg: ${(err as Error).message} (or pass --no-outputs)`,
      );
    }
  }
  const cases = planCases({ frames, defaultFrames: m.video.defaultFrames, window, study: args.study });
  if (cases.length === 0)
    throw new UsageError("--study", `no case of study ${args.study} fits --frames ${frames.join(",")}`);

  const outFile = args.out ?? datedResultPath(RESULTS_DIR, "engine");
  const results: EngineResults = {
    format: ENGINE_FORMAT,
    createdAt: new Date().toISOString(),
    finishedAt: null,
    command: ["npm run bench -- engine", ...argv.map(shellQuote)].join(" "),
    machine: await machineInfo(),
    pack: { name: m.name, version: m.version, dir: displayPath(pack.dir), description: m.description },
    prompt: args.prompt,
    seed: args.seed,
    repeat: args.repeat,
    steps: args.steps,
    threads: args.threads,
    outputs: args.outputs,
    gcEachStep: args.gcEachStep,
    cases: [],
  };
  say(
    `${cases.length} cases × ${args.repeat} runs on ${results.machine.cpuModel} (${results.machine.availableParallelism} CPUs, load ${results.machine.loadAverage.start.join(" ")}): ` +
      cases.map((c) => `${c.id} [${c.studies.join("+")}]`).join(", "),
  );
  for (const c of cases) {
    const record: CaseRecord = { id: c.id, frames: c.frames, window: c.window, studies: c.studies, runs: [] };
    results.cases.push(record);
    for (let run = 1; run <= args.repeat; run++) {
      const r = await runChild({
        caseId: c.id,
        run,
        runs: args.repeat,
        packDir: pack.dir,
        prompt: args.prompt,
        seed: args.seed,
        frames: c.frames,
        window: c.window,
        steps: args.steps,
        threads: args.threads,
        outputs: args.outputs,
        gcEachStep: args.gcEachStep,
      });
      record.runs.push(r);
      say(`${c.id} run ${run}/${args.repeat}: ${describeRun(r)}`);
      results.machine.loadAverage.end = loadAverage();
      writeJsonAtomic(outFile, results);
    }
  }
  results.finishedAt = new Date().toISOString();
  results.machine.loadAverage.end = loadAverage();
  writeJsonAtomic(outFile, results);

  io.stdout.write(`\ncase              frames  generate s  wall s  peak MB  probe\n`);
  for (const c of results.cases) {
    const gen = median(c.runs.map((r) => r.seconds.generate));
    const wall = median(c.runs.map((r) => r.seconds.wall));
    const peak = median(c.runs.map((r) => r.memory.peakMB));
    const ok = c.runs.every((r) => r.probe.ok);
    io.stdout.write(
      `${c.id.padEnd(18)}${String(c.frames).padStart(6)}${fmt(gen).padStart(12)}${fmt(wall).padStart(8)}${String(Math.round(peak)).padStart(9)}  ${ok ? "ok" : "FAILED"}\n`,
    );
  }
  io.stdout.write(`\nwrote ${displayPath(outFile)}; next: npm run bench -- report\n`);
  if (results.cases.some((c) => c.runs.some((r) => !r.probe.ok))) {
    say("some videos failed the probe: the report leaves their numbers out (a broken video has no speed)");
  }
  return 0;
}
