/**
 * The `bench real-size` result file (bench/results/real-size-<date>.json): the Python module's measurements
 * (`python -m longshot_models.real_size`, one case per process) with the machine they ran on. `bench report` reads
 * these files apart from the other results (their names start with {@link REAL_SIZE_PREFIX}).
 */
import type { MachineInfo } from "./results.js";
import { ResultFileError, readJsonResults } from "./results.js";

export const REAL_SIZE_FORMAT = "longshot.bench.real-size/v1";
/** What the Python module writes (`format` of its JSON). */
export const REAL_SIZE_PYTHON_FORMAT = "longshot-real-size/1";
/** File name prefix of real-size result files in bench/results. */
export const REAL_SIZE_PREFIX = "real-size-";

export type RealSizeKind = "keyframe" | "interpolation" | "vae";

export interface RealSizeSpec {
  name: string;
  kind: RealSizeKind;
  frames: number;
  batch: number;
  /** Temporal attention window in frames; 0 = full attention. */
  window: number;
  threads: number;
  scale: "real" | "half" | "tiny";
  seed: number;
  /** torch: PyTorch eager (absent in older files); onnx: the converter's exported graph in onnxruntime. */
  runtime?: "torch" | "onnx";
}

export interface RealSizeCase {
  spec: RealSizeSpec;
  status: "measured" | "skipped" | "failed";
  reason: string | null;
  parameters: number | null;
  weightMB: { fp32?: number; fp16?: number };
  estimatedPeakMB: number | null;
  availableMB: number | null;
  /** Resident memory after building the model, before the step. */
  rssBeforeMB: number | null;
  /** The process's peak resident memory (covers the step). */
  peakMB: number | null;
  /** The step's own growth above `rssBeforeMB` (activations and scratch). */
  stepMB: number | null;
  seconds: number | null;
  buildSeconds: number | null;
  /** One materialised spatial self-attention score matrix (plain attention) in fp32. */
  plainScoreMB: number | null;
  /** onnx cases: the export process (seconds, peak resident memory) and the files it wrote (bytes). */
  exportSeconds?: number | null;
  exportPeakMB?: number | null;
  sessionSeconds?: number | null;
  files?: Record<string, number>;
  /** onnx cases: the address-space limit the session process ran under (MB). */
  addressSpaceCapMB?: number | null;
}

export interface RealSizePython {
  format: typeof REAL_SIZE_PYTHON_FORMAT;
  torch: string;
  /** Present when the file has onnx cases. */
  onnxruntime?: string;
  /** Heads of every attention layer of the UNets' blocks (SD's 8); absent in files measured with diffusers' split
   * (C / 8 heads of width 8). */
  attentionHeads?: number;
  threads: number;
  window: number;
  budgetMB: number;
  scale: "real" | "tiny";
  cases: RealSizeCase[];
}

export interface RealSizeResults {
  format: typeof REAL_SIZE_FORMAT;
  createdAt: string;
  command: string;
  machine: MachineInfo;
  python: string;
  measured: RealSizePython;
}

export interface NamedRealSize {
  name: string;
  result: RealSizeResults;
}

type Obj = Record<string, unknown>;

function fail(file: string, field: string, what: string): never {
  throw new ResultFileError(file, field, what);
}

function obj(file: string, v: unknown, field: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(file, field, "must be an object");
  return v as Obj;
}

function num(file: string, v: unknown, field: string, nullable = false): void {
  if (nullable && v === null) return;
  if (typeof v !== "number" || !Number.isFinite(v)) fail(file, field, `must be a number, got ${JSON.stringify(v)}`);
}

function str(file: string, v: unknown, field: string): void {
  if (typeof v !== "string") fail(file, field, `must be a string, got ${JSON.stringify(v)}`);
}

/** Checks the Python module's JSON (`file` names it in errors). Throws ResultFileError. */
export function parseRealSizePython(file: string, value: unknown, field = "(top level)"): RealSizePython {
  const o = obj(file, value, field);
  const at = (k: string) => (field === "(top level)" ? k : `${field}.${k}`);
  if (o.format !== REAL_SIZE_PYTHON_FORMAT)
    fail(file, at("format"), `must be ${JSON.stringify(REAL_SIZE_PYTHON_FORMAT)}, got ${JSON.stringify(o.format)}`);
  str(file, o.torch, at("torch"));
  num(file, o.threads, at("threads"));
  num(file, o.window, at("window"));
  num(file, o.budgetMB, at("budgetMB"));
  if (!Array.isArray(o.cases)) fail(file, at("cases"), "must be an array");
  o.cases.forEach((cv, i) => {
    const f = at(`cases[${i}]`);
    const c = obj(file, cv, f);
    const s = obj(file, c.spec, `${f}.spec`);
    str(file, s.name, `${f}.spec.name`);
    if (!["keyframe", "interpolation", "vae"].includes(s.kind as string))
      fail(file, `${f}.spec.kind`, `must be keyframe, interpolation or vae, got ${JSON.stringify(s.kind)}`);
    for (const k of ["frames", "batch", "window", "threads"]) num(file, s[k], `${f}.spec.${k}`);
    if (s.runtime !== undefined && s.runtime !== "torch" && s.runtime !== "onnx")
      fail(file, `${f}.spec.runtime`, `must be torch or onnx, got ${JSON.stringify(s.runtime)}`);
    for (const k of ["exportSeconds", "exportPeakMB", "sessionSeconds", "addressSpaceCapMB"])
      if (c[k] !== undefined) num(file, c[k], `${f}.${k}`, true);
    if (!["measured", "skipped", "failed"].includes(c.status as string))
      fail(file, `${f}.status`, `must be measured, skipped or failed, got ${JSON.stringify(c.status)}`);
    const measured = c.status === "measured";
    for (const k of ["rssBeforeMB", "peakMB", "stepMB", "seconds"]) num(file, c[k], `${f}.${k}`, !measured);
    for (const k of ["parameters", "estimatedPeakMB", "availableMB", "plainScoreMB"])
      num(file, c[k], `${f}.${k}`, true);
    obj(file, c.weightMB, `${f}.weightMB`);
    if (!measured) str(file, c.reason, `${f}.reason`);
  });
  return o as unknown as RealSizePython;
}

/** Checks a real-size result file. Throws ResultFileError naming the file and field. */
export function parseRealSizeFile(file: string, value: unknown): RealSizeResults {
  const o = obj(file, value, "(top level)");
  if (o.format !== REAL_SIZE_FORMAT)
    fail(file, "format", `must be ${JSON.stringify(REAL_SIZE_FORMAT)}, got ${JSON.stringify(o.format)}`);
  str(file, o.createdAt, "createdAt");
  str(file, o.command, "command");
  str(file, o.python, "python");
  obj(file, o.machine, "machine");
  parseRealSizePython(file, o.measured, "measured");
  return o as unknown as RealSizeResults;
}

/** Reads and checks every `real-size-*.json` of a folder (sorted by name). */
export function readRealSizeResults(dir: string, display: (file: string) => string = (f) => f): NamedRealSize[] {
  return readJsonResults(dir, (n) => n.startsWith(REAL_SIZE_PREFIX), parseRealSizeFile, display);
}
