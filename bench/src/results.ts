/**
 * The result files of the benchmark suite (`bench/results/*.json`): what `bench engine` and `bench cluster` write
 * and what `bench report` reads. Each file says its format first; {@link parseResultFile} checks a file's shape and
 * names the first field that is wrong, so a hand-edited or truncated file never turns into a silently wrong table.
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export const ENGINE_FORMAT = "longshot.bench.engine/v1";
export const CLUSTER_FORMAT = "longshot.bench.cluster/v1";
export const TORCH_FORMAT = "longshot.bench.torch/v1";

/** What a study case is for: speed (seconds per stage) or the memory-bound study (peak memory per stage). */
export type Study = "speed" | "memory";

export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs the OS reports. */
  cores: number;
  /** CPUs this process may use (`os.availableParallelism()`: affinity masks count, cgroup quotas do not). */
  availableParallelism: number;
  /** cgroup v2 `cpu.max` ("max 100000" = no quota), null where there is none to read. */
  cpuQuota: string | null;
  memoryMB: number;
  platform: string;
  arch: string;
  kernel: string;
  node: string;
  onnxruntimeNode: string;
  /** 1, 5 and 15 minute load averages when the suite started and when it ended (other work on the machine). */
  loadAverage: { start: number[]; end: number[] | null };
}

export interface WindowSetting {
  frames: number;
  overlap: number;
}

/** Memory of one stage of one run, in MB (2^20 bytes) of resident set size of the whole process. */
export interface StageMemory {
  /** RSS when the stage started. */
  startMB: number;
  /** Highest RSS during the stage (VmHWM since the stage started, or the highest 50 ms sample). */
  peakMB: number;
}

/** The eval probe's verdict on a run's video (a JSON-safe {@link ProbeScore}). */
export interface ProbeSummary {
  ok: boolean;
  colourOk: boolean;
  shapeOk: boolean;
  motionOk: boolean;
  backgroundOk: boolean;
  smooth: boolean;
  /** Largest frame-to-frame step over the median step; null where a frame shows no object (infinite). */
  maxStepRatio: number | null;
  want: Record<string, string | null>;
  got: Record<string, string | null>;
}

export interface RunRecord {
  /** 1-based index of the run within its case. */
  run: number;
  seconds: {
    /** Engine.create: pack check (sha256 of every file), tokenizer, four ONNX sessions. */
    load: number;
    encode: number;
    keyframes: number;
    /** Each interpolation level in order (5→17, 17→65, 65→257). */
    interpolation: number[];
    decode: number;
    /** Engine.generate as a whole (encode + keyframes + interpolation + decode). */
    generate: number;
    /** PNG frames + MP4 + GIF as `longshot generate` writes them; null when run with --no-outputs. */
    outputs: number | null;
    /** From the process start to the last output written: what a `longshot generate` user waits. */
    wall: number;
  };
  memory: {
    /** "vmhwm": per-stage peaks from /proc/self/status VmHWM, reset at each stage start (and the 50 ms samples);
     * "sampled": 50 ms samples of RSS only (no /proc). */
    method: "vmhwm" | "sampled";
    intervalMs: number;
    /** RSS after the engine is loaded, before generating: the models' resident size. */
    baselineMB: number;
    /** Highest RSS of the run (all threads: the onnxruntime workers live in this process). */
    peakMB: number;
    /** "load", "encode", "keyframes", "interp1", "interp2", …, "decode", "outputs". */
    stages: Record<string, StageMemory>;
    /** Highest sum of the onnxruntime worker threads' V8 heap + external memory (from the runtime's memoryInfo();
     * their native allocations are in RSS). Null when no worker had replied yet at any sample. */
    workerHeapPeakMB: number | null;
  };
  probe: ProbeSummary;
  settings: {
    frames: number;
    levels: number[];
    sampler: string;
    mode: string;
    keyframeSteps: number;
    interpolationSteps: number;
    keyframeGuidance: number;
    interpolationGuidance: number;
    window: WindowSetting | null;
    decodeBatch: number;
    seed: number | string;
  };
  runtime: { executionProvider: string; intraOpNumThreads: number | "auto"; onnxruntimeVersion: string };
}

export interface CaseRecord {
  /** "f65" (whole passes) or "f257-w17o4" (levels longer than the window run as windows). */
  id: string;
  frames: number;
  window: WindowSetting | null;
  studies: Study[];
  runs: RunRecord[];
}

export interface EngineResults {
  format: typeof ENGINE_FORMAT;
  createdAt: string;
  finishedAt: string | null;
  /** The command line, to re-run it. */
  command: string;
  machine: MachineInfo;
  pack: { name: string; version: string; dir: string; description: string };
  prompt: string;
  seed: number;
  repeat: number;
  /** --steps override of both stages' steps; null = the pack's defaults. */
  steps: number | null;
  threads: number | null;
  outputs: boolean;
  /** --gc-each-step: a full garbage collection after every step (absent in files from before the option). */
  gcEachStep?: boolean;
  cases: CaseRecord[];
}

/** One replica count of the distributed study. */
export interface ClusterPoint {
  /** Interpolation replicas (N). */
  interpolationReplicas: number;
  /** One job at a time: seconds per job, as seen by `longshot generate --remote` (wall). */
  latencySeconds: number[];
  /** `jobs` jobs with `concurrency` in flight: first submit to last result. */
  makespanSeconds: number;
  jobs: number;
  concurrency: number;
  /** jobs / makespan. */
  throughputPerMinute: number;
  /** min(1/K, N/I, 1/D) per minute, from the per-job stage seconds K, I, D. */
  boundPerMinute: number;
  /** Which term of the bound is the smallest. */
  bottleneck: "keyframe" | "interpolation" | "decode";
  /** Every job's video passed the probe. */
  probeOk: boolean;
  probeFailures: string[];
}

export interface ClusterResults {
  format: typeof CLUSTER_FORMAT;
  createdAt: string;
  finishedAt: string | null;
  command: string;
  machine: MachineInfo;
  pack: { name: string; version: string; dir: string; description: string };
  prompt: string;
  frames: number;
  /** Per-job stage seconds used for the bound (K: encode + keyframes, I: all interpolation, D: decode + outputs). */
  stageSeconds: { keyframe: number; interpolation: number; decode: number; source: string };
  /** Median wall seconds of the same job run embedded (`longshot generate` in one process), for the overhead. */
  embeddedWallSeconds: number | null;
  points: ClusterPoint[];
}

/** The PyTorch eager side of a `bench torch` round (`python -m longshot_models.perf pipeline`'s JSON). */
export interface EagerRecord {
  runtime: "pytorch-eager";
  torch: string;
  threads: number;
  /** fp32 GFLOP/s of a 2048² MatMul in torch at `threads`, measured in the same process. */
  peakGflops: number;
  /** Per stage: encode, keyframes, interp1, interp2, …, decode, total. */
  seconds: Record<string, number>;
  /** Per denoising stage: each UNet call's milliseconds. */
  stepMs: Record<string, number[]>;
  /** Per denoising stage: FLOPs of one UNet call at that stage's shape (torch's FlopCounterMode). */
  flopsPerCall: Record<string, number>;
}

/** The engine side of a `bench torch` round. */
export interface EngineSideRecord {
  seconds: Record<string, number>;
  /** Per denoising stage: each step's milliseconds (between progress events: the UNet call and the sampler). */
  stepMs: Record<string, number[]>;
  /** "python": started from the PyTorch side's noise; "seeded": from the seed (no PyTorch side). */
  noise: "python" | "seeded";
}

export interface TorchRound {
  round: number;
  /** Null when the toolkit's environment (models/.venv) does not exist. */
  torch: EagerRecord | null;
  engine: EngineSideRecord;
  loadAverage: number[];
}

/** `python -m longshot_models.perf --json`: each UNet graph in onnxruntime against its torch module. */
export interface GraphComparison {
  threads: number;
  peak_gflops: { before: number; after: number };
  load_average: number[];
  cases: Array<{
    case: { name: string; graph: string; batch: number; frames: number };
    gflop: number;
    torch_ms: number;
    ort_ms: number;
    ratio: number;
    ort_gflops: number;
    ort_peak_fraction: number;
    max_abs_diff: number;
    /** The --baseline pack's graph in the same blocks, when one was given. */
    baseline_ms?: number | null;
    speedup_vs_baseline?: number | null;
  }>;
  /** The --baseline pack (e.g. the previous export), or null. */
  baseline?: string | null;
}

/** `python -m longshot_models.perf scaling --json`: interpolation UNet, local vs full temporal attention. */
export interface ScalingStudy {
  threads: number;
  runs: number;
  window: number;
  local: Array<{ frames: number; seconds: number; runMB: number }>;
  full: Array<{ frames: number; seconds: number; runMB: number }>;
}

export interface TorchResults {
  format: typeof TORCH_FORMAT;
  createdAt: string;
  command: string;
  machine: MachineInfo;
  pack: string;
  prompt: string;
  seed: number;
  frames: number;
  threads: number;
  steps: number | null;
  /** The toolkit's interpreter; null when it does not exist (engine side only). */
  python: string | null;
  rounds: TorchRound[];
  graphs: GraphComparison | null;
  scaling: ScalingStudy | null;
}

export type ResultFile = EngineResults | ClusterResults | TorchResults;

/** A result file that is not what the suite writes: names the file and the field. */
export class ResultFileError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
  ) {
    super(`${file}: ${field}: ${message}`);
    this.name = "ResultFileError";
  }
}

type Json = unknown;

class Checker {
  constructor(readonly file: string) {}

  fail(field: string, message: string): never {
    throw new ResultFileError(this.file, field, message);
  }

  object(v: Json, field: string): Record<string, Json> {
    if (v === null || typeof v !== "object" || Array.isArray(v)) this.fail(field, `must be an object, got ${kind(v)}`);
    return v as Record<string, Json>;
  }

  array(v: Json, field: string): Json[] {
    if (!Array.isArray(v)) this.fail(field, `must be an array, got ${kind(v)}`);
    return v;
  }

  number(v: Json, field: string, min = Number.NEGATIVE_INFINITY): number {
    if (typeof v !== "number" || !Number.isFinite(v) || v < min) {
      this.fail(field, `must be a finite number${min > Number.NEGATIVE_INFINITY ? ` ≥ ${min}` : ""}, got ${kind(v)}`);
    }
    return v;
  }

  nullableNumber(v: Json, field: string, min = Number.NEGATIVE_INFINITY): number | null {
    return v === null ? null : this.number(v, field, min);
  }

  integer(v: Json, field: string, min: number): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      this.fail(field, `must be an integer ≥ ${min}, got ${kind(v)}`);
    }
    return v;
  }

  /** An array of finite numbers ≥ min. */
  numbers(v: Json, field: string, min = Number.NEGATIVE_INFINITY): number[] {
    const a = this.array(v, field);
    for (const [i, x] of a.entries()) this.number(x, `${field}[${i}]`, min);
    return a as number[];
  }

  string(v: Json, field: string): string {
    if (typeof v !== "string") this.fail(field, `must be a string, got ${kind(v)}`);
    return v;
  }

  boolean(v: Json, field: string): boolean {
    if (typeof v !== "boolean") this.fail(field, `must be true or false, got ${kind(v)}`);
    return v;
  }
}

function kind(v: Json): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "an object";
  return String(v);
}

function checkMachine(c: Checker, v: Json): void {
  const m = c.object(v, "machine");
  c.string(m.cpuModel, "machine.cpuModel");
  c.integer(m.cores, "machine.cores", 1);
  c.integer(m.availableParallelism, "machine.availableParallelism", 1);
  if (m.cpuQuota !== null) c.string(m.cpuQuota, "machine.cpuQuota");
  c.number(m.memoryMB, "machine.memoryMB", 0);
  for (const k of ["platform", "arch", "kernel", "node", "onnxruntimeNode"]) c.string(m[k], `machine.${k}`);
  const la = c.object(m.loadAverage, "machine.loadAverage");
  c.numbers(la.start, "machine.loadAverage.start", 0);
  if (la.end !== null) c.numbers(la.end, "machine.loadAverage.end", 0);
}

function checkPack(c: Checker, v: Json): void {
  const p = c.object(v, "pack");
  for (const k of ["name", "version", "dir", "description"]) c.string(p[k], `pack.${k}`);
}

function checkWindow(c: Checker, v: Json, field: string): void {
  if (v === null) return;
  const w = c.object(v, field);
  c.integer(w.frames, `${field}.frames`, 2);
  c.integer(w.overlap, `${field}.overlap`, 0);
}

function checkRun(c: Checker, v: Json, field: string): void {
  const r = c.object(v, field);
  c.integer(r.run, `${field}.run`, 1);
  const s = c.object(r.seconds, `${field}.seconds`);
  for (const k of ["load", "encode", "keyframes", "decode", "generate", "wall"])
    c.number(s[k], `${field}.seconds.${k}`, 0);
  c.numbers(s.interpolation, `${field}.seconds.interpolation`, 0);
  c.nullableNumber(s.outputs, `${field}.seconds.outputs`, 0);
  const m = c.object(r.memory, `${field}.memory`);
  if (m.method !== "vmhwm" && m.method !== "sampled") c.fail(`${field}.memory.method`, "must be vmhwm or sampled");
  c.number(m.intervalMs, `${field}.memory.intervalMs`, 0);
  c.number(m.baselineMB, `${field}.memory.baselineMB`, 0);
  c.number(m.peakMB, `${field}.memory.peakMB`, 0);
  c.nullableNumber(m.workerHeapPeakMB, `${field}.memory.workerHeapPeakMB`, 0);
  const stages = c.object(m.stages, `${field}.memory.stages`);
  for (const [name, st] of Object.entries(stages)) {
    const o = c.object(st, `${field}.memory.stages.${name}`);
    c.number(o.startMB, `${field}.memory.stages.${name}.startMB`, 0);
    c.number(o.peakMB, `${field}.memory.stages.${name}.peakMB`, 0);
  }
  const p = c.object(r.probe, `${field}.probe`);
  for (const k of ["ok", "colourOk", "shapeOk", "motionOk", "backgroundOk", "smooth"]) {
    c.boolean(p[k], `${field}.probe.${k}`);
  }
  c.nullableNumber(p.maxStepRatio, `${field}.probe.maxStepRatio`, 0);
  c.object(p.want, `${field}.probe.want`);
  c.object(p.got, `${field}.probe.got`);
  const st = c.object(r.settings, `${field}.settings`);
  c.integer(st.frames, `${field}.settings.frames`, 1);
  c.array(st.levels, `${field}.settings.levels`);
  c.string(st.sampler, `${field}.settings.sampler`);
  c.string(st.mode, `${field}.settings.mode`);
  c.integer(st.keyframeSteps, `${field}.settings.keyframeSteps`, 1);
  c.integer(st.interpolationSteps, `${field}.settings.interpolationSteps`, 1);
  c.number(st.keyframeGuidance, `${field}.settings.keyframeGuidance`);
  c.number(st.interpolationGuidance, `${field}.settings.interpolationGuidance`);
  checkWindow(c, st.window, `${field}.settings.window`);
  const rt = c.object(r.runtime, `${field}.runtime`);
  c.string(rt.executionProvider, `${field}.runtime.executionProvider`);
  c.string(rt.onnxruntimeVersion, `${field}.runtime.onnxruntimeVersion`);
}

function checkEngine(c: Checker, o: Record<string, Json>): EngineResults {
  c.string(o.createdAt, "createdAt");
  if (o.finishedAt !== null) c.string(o.finishedAt, "finishedAt");
  c.string(o.command, "command");
  checkMachine(c, o.machine);
  checkPack(c, o.pack);
  c.string(o.prompt, "prompt");
  c.integer(o.seed, "seed", 0);
  c.integer(o.repeat, "repeat", 1);
  if (o.steps !== null) c.integer(o.steps, "steps", 1);
  if (o.threads !== null) c.integer(o.threads, "threads", 1);
  c.boolean(o.outputs, "outputs");
  if (o.gcEachStep !== undefined) c.boolean(o.gcEachStep, "gcEachStep");
  c.array(o.cases, "cases").forEach((cv, i) => {
    const cs = c.object(cv, `cases[${i}]`);
    c.string(cs.id, `cases[${i}].id`);
    c.integer(cs.frames, `cases[${i}].frames`, 1);
    checkWindow(c, cs.window, `cases[${i}].window`);
    c.array(cs.studies, `cases[${i}].studies`).forEach((s, j) => {
      if (s !== "speed" && s !== "memory")
        c.fail(`cases[${i}].studies[${j}]`, `must be speed or memory, got ${kind(s)}`);
    });
    for (const [j, rv] of c.array(cs.runs, `cases[${i}].runs`).entries()) checkRun(c, rv, `cases[${i}].runs[${j}]`);
  });
  return o as unknown as EngineResults;
}

function checkCluster(c: Checker, o: Record<string, Json>): ClusterResults {
  c.string(o.createdAt, "createdAt");
  if (o.finishedAt !== null) c.string(o.finishedAt, "finishedAt");
  c.string(o.command, "command");
  checkMachine(c, o.machine);
  checkPack(c, o.pack);
  c.string(o.prompt, "prompt");
  c.integer(o.frames, "frames", 1);
  const s = c.object(o.stageSeconds, "stageSeconds");
  for (const k of ["keyframe", "interpolation", "decode"]) c.number(s[k], `stageSeconds.${k}`, 0);
  c.string(s.source, "stageSeconds.source");
  c.nullableNumber(o.embeddedWallSeconds, "embeddedWallSeconds", 0);
  c.array(o.points, "points").forEach((pv, i) => {
    const p = c.object(pv, `points[${i}]`);
    c.integer(p.interpolationReplicas, `points[${i}].interpolationReplicas`, 1);
    c.numbers(p.latencySeconds, `points[${i}].latencySeconds`, 0);
    c.number(p.makespanSeconds, `points[${i}].makespanSeconds`, 0);
    c.integer(p.jobs, `points[${i}].jobs`, 1);
    c.integer(p.concurrency, `points[${i}].concurrency`, 1);
    c.number(p.throughputPerMinute, `points[${i}].throughputPerMinute`, 0);
    c.number(p.boundPerMinute, `points[${i}].boundPerMinute`, 0);
    if (!["keyframe", "interpolation", "decode"].includes(p.bottleneck as string)) {
      c.fail(`points[${i}].bottleneck`, `must be keyframe, interpolation or decode, got ${kind(p.bottleneck)}`);
    }
    c.boolean(p.probeOk, `points[${i}].probeOk`);
    c.array(p.probeFailures, `points[${i}].probeFailures`);
  });
  return o as unknown as ClusterResults;
}

function checkStageMap(c: Checker, v: Json, field: string): void {
  const o = c.object(v, field);
  for (const [k, x] of Object.entries(o)) c.number(x, `${field}.${k}`, 0);
}

function checkStepMap(c: Checker, v: Json, field: string): void {
  const o = c.object(v, field);
  for (const [k, x] of Object.entries(o)) c.numbers(x, `${field}.${k}`, 0);
}

function checkTorch(c: Checker, o: Record<string, Json>): TorchResults {
  c.string(o.createdAt, "createdAt");
  c.string(o.command, "command");
  checkMachine(c, o.machine);
  c.string(o.pack, "pack");
  c.string(o.prompt, "prompt");
  c.integer(o.seed, "seed", 0);
  c.integer(o.frames, "frames", 1);
  c.integer(o.threads, "threads", 1);
  if (o.steps !== null) c.integer(o.steps, "steps", 1);
  if (o.python !== null) c.string(o.python, "python");
  c.array(o.rounds, "rounds").forEach((rv, i) => {
    const r = c.object(rv, `rounds[${i}]`);
    c.integer(r.round, `rounds[${i}].round`, 1);
    const e = c.object(r.engine, `rounds[${i}].engine`);
    checkStageMap(c, e.seconds, `rounds[${i}].engine.seconds`);
    checkStepMap(c, e.stepMs, `rounds[${i}].engine.stepMs`);
    if (r.torch !== null) {
      const t = c.object(r.torch, `rounds[${i}].torch`);
      c.number(t.peakGflops, `rounds[${i}].torch.peakGflops`, 0);
      checkStageMap(c, t.seconds, `rounds[${i}].torch.seconds`);
      checkStepMap(c, t.stepMs, `rounds[${i}].torch.stepMs`);
      checkStageMap(c, t.flopsPerCall, `rounds[${i}].torch.flopsPerCall`);
    }
  });
  if (o.graphs !== null) {
    const g = c.object(o.graphs, "graphs");
    c.array(g.cases, "graphs.cases").forEach((cv, i) => {
      const k = c.object(cv, `graphs.cases[${i}]`);
      for (const f of ["gflop", "torch_ms", "ort_ms", "ratio", "ort_gflops", "ort_peak_fraction", "max_abs_diff"])
        c.number(k[f], `graphs.cases[${i}].${f}`, 0);
    });
  }
  if (o.scaling !== null) {
    const s = c.object(o.scaling, "scaling");
    for (const side of ["local", "full"]) {
      c.array(s[side], `scaling.${side}`).forEach((rv, i) => {
        const r = c.object(rv, `scaling.${side}[${i}]`);
        c.integer(r.frames, `scaling.${side}[${i}].frames`, 1);
        c.number(r.seconds, `scaling.${side}[${i}].seconds`, 0);
        c.number(r.runMB, `scaling.${side}[${i}].runMB`);
      });
    }
  }
  return o as unknown as TorchResults;
}

/** Checks the parsed JSON of a result file (`file` names it in errors). Throws ResultFileError. */
export function parseResultFile(file: string, value: unknown): ResultFile {
  const c = new Checker(file);
  const o = c.object(value, "(top level)");
  if (o.format === ENGINE_FORMAT) return checkEngine(c, o);
  if (o.format === CLUSTER_FORMAT) return checkCluster(c, o);
  if (o.format === TORCH_FORMAT) return checkTorch(c, o);
  return c.fail(
    "format",
    `must be ${JSON.stringify(ENGINE_FORMAT)}, ${JSON.stringify(CLUSTER_FORMAT)} or ${JSON.stringify(TORCH_FORMAT)}, got ${kind(o.format)}`,
  );
}

/**
 * The JSON result files in `dir` whose names `keep` accepts, in name order, each checked by `parse`; a file that is
 * not JSON is a ResultFileError naming it (as `display` shows it).
 */
export function readJsonResults<T>(
  dir: string,
  keep: (name: string) => boolean,
  parse: (file: string, value: unknown) => T,
  display: (file: string) => string = (f) => f,
): Array<{ name: string; result: T }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith(".json") && keep(n))
    .sort()
    .map((name) => {
      const file = path.join(dir, name);
      let value: unknown;
      try {
        value = JSON.parse(readFileSync(file, "utf8"));
      } catch (err) {
        throw new ResultFileError(display(file), "(file)", `is not valid JSON: ${(err as Error).message}`);
      }
      return { name, result: parse(display(file), value) };
    });
}
