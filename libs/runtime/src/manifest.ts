/**
 * The model pack manifest (`pack.json`, format "longshot.pack/v1"): TypeScript types and a hand-written validator
 * that reports every problem with its JSON path, e.g.
 * `pack.json: graphs.keyframeUnet.inputs[0].dtype: expected one of float32,float16,int64,int32, got "f32"`.
 *
 * The contract is owned by the lead (the Python toolkit in models/ writes it). Objects are closed: unknown fields
 * are reported (a typo must not silently fall back to a default), except inside `scheduler`, which is a diffusers
 * scheduler config and may carry extra keys (`_diffusers_version`, `trained_betas`, …).
 */
import type { DType } from "@longshot/tensor";

export const PACK_FORMAT = "longshot.pack/v1";
export const PACK_DTYPES: readonly DType[] = ["float32", "float16", "int64", "int32"];

/** A number is a fixed size; a string names a dynamic axis shared across one call's inputs and outputs. */
export type DimSpec = number | string;

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: DimSpec[];
}

export interface GraphSpec {
  /** Path of the ONNX file, relative to the pack directory. */
  file: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface VideoSpec {
  width: number;
  height: number;
  channels: number;
  fps: number;
  keyframes: number;
  keyframeStride: number;
  interpolationFactor: number;
  /** Frame counts a request may ask for. */
  frames: number[];
  defaultFrames: number;
}

export interface LatentSpec {
  channels: number;
  height: number;
  width: number;
  downsample: number;
  scalingFactor: number;
  layout: "BCFHW";
}

export interface TextSpec {
  tokenizer: string;
  tokenizerConfig: string;
  maxTokens: number;
  hiddenSize: number;
}

/** A diffusers scheduler config (snake_case keys as in scheduler_config.json). */
export interface SchedulerConfig {
  _class_name: string;
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: "linear" | "scaled_linear" | "squaredcos_cap_v2";
  prediction_type: "epsilon" | "v_prediction" | "sample";
  clip_sample: boolean;
  set_alpha_to_one: boolean;
  steps_offset: number;
  timestep_spacing: "leading" | "trailing" | "linspace";
  [extra: string]: unknown;
}

export interface StageDefaults {
  steps: number;
  guidance: number;
}

export interface InterpolationDefaults extends StageDefaults {
  /**
   * Share of the timesteps a pass runs, in (0, 1] (diffusers img2img `strength`): 1 starts the frames to fill in
   * from noise alone; below 1 from the known frames blended across each gap, noised to the first timestep run.
   * Absent: 1.
   */
  strength?: number;
}

export interface DefaultsSpec {
  sampler: string;
  mode: string;
  keyframe: StageDefaults;
  interpolation: InterpolationDefaults;
}

export interface InterpolationSpec {
  attentionWindow: number;
  attendFirstFrame: boolean;
  /** frame_stride conditioning per frame count; keys are the decimal frame counts of `video.frames`. */
  strides: Record<string, number>;
  trainedWindow: number;
}

export interface FileEntry {
  path: string;
  sha256: string;
  bytes: number;
}

/** The graphs every pack must carry. A pack may carry more (tools, tests); they are validated the same way. */
export type ContractGraphName = "textEncoder" | "keyframeUnet" | "interpolationUnet" | "vaeDecoder";

export interface PackManifest {
  format: typeof PACK_FORMAT;
  name: string;
  version: string;
  description: string;
  video: VideoSpec;
  latent: LatentSpec;
  text: TextSpec;
  scheduler: SchedulerConfig;
  defaults: DefaultsSpec;
  interpolation: InterpolationSpec;
  graphs: Record<ContractGraphName, GraphSpec> & Record<string, GraphSpec>;
  files: FileEntry[];
}

type FloatKind = "float";
type IdKind = "ids";
interface RequiredTensor {
  name: string;
  kind: FloatKind | IdKind;
  rank: number;
}

/**
 * Names, dtype family and rank of each contract graph's inputs and outputs. Float tensors may be float32 or
 * float16 (a half-precision export keeps the same names); token tensors int64 or int32.
 */
export const CONTRACT_GRAPHS: Record<ContractGraphName, { inputs: RequiredTensor[]; outputs: RequiredTensor[] }> = {
  textEncoder: {
    inputs: [
      { name: "input_ids", kind: "ids", rank: 2 },
      { name: "attention_mask", kind: "ids", rank: 2 },
    ],
    outputs: [{ name: "last_hidden_state", kind: "float", rank: 3 }],
  },
  keyframeUnet: {
    inputs: [
      { name: "sample", kind: "float", rank: 5 },
      { name: "timestep", kind: "float", rank: 1 },
      { name: "encoder_hidden_states", kind: "float", rank: 3 },
    ],
    outputs: [{ name: "noise_pred", kind: "float", rank: 5 }],
  },
  interpolationUnet: {
    inputs: [
      { name: "sample", kind: "float", rank: 5 },
      { name: "timestep", kind: "float", rank: 1 },
      { name: "encoder_hidden_states", kind: "float", rank: 3 },
      { name: "frame_stride", kind: "float", rank: 1 },
    ],
    outputs: [{ name: "noise_pred", kind: "float", rank: 5 }],
  },
  vaeDecoder: {
    inputs: [{ name: "latent", kind: "float", rank: 4 }],
    outputs: [{ name: "image", kind: "float", rank: 4 }],
  },
};

const KIND_DTYPES: Record<FloatKind | IdKind, readonly DType[]> = {
  float: ["float32", "float16"],
  ids: ["int64", "int32"],
};

/** Thrown-free result of validation: the manifest when `problems` is empty. */
export interface ManifestValidation {
  manifest: PackManifest | undefined;
  problems: string[];
}

// ---------------------------------------------------------------------------------------------------------------

type Json = unknown;
type Obj = Record<string, Json>;

function describe(value: Json): string {
  if (value === undefined) return "nothing (the field is missing)";
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isObj(value: Json): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Whether `p` is a safe pack-relative path: '/'-separated, no empty, "." or ".." segment, not absolute, no
 * backslash, drive letter or NUL. Symlinks are checked separately when the files are opened.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.length > 1024) return false;
  if (p.startsWith("/") || p.includes("\\") || p.includes("\0") || /^[A-Za-z]:/.test(p)) return false;
  return p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

class Checker {
  readonly problems: string[] = [];
  constructor(private readonly source: string) {}

  report(path: string, message: string): void {
    this.problems.push(`${this.source}: ${path === "" ? "(root)" : path}: ${message}`);
  }

  /** The object at `path`, reporting unknown keys unless `open`. */
  object(value: Json, path: string, known: readonly string[], open = false): Obj | undefined {
    if (!isObj(value)) {
      this.report(path, `expected an object, got ${describe(value)}`);
      return undefined;
    }
    if (!open) {
      for (const key of Object.keys(value)) {
        if (!known.includes(key)) this.report(join(path, key), `unknown field (expected one of ${known.join(",")})`);
      }
    }
    return value;
  }

  string(obj: Obj, key: string, path: string, opts: { nonEmpty?: boolean; pattern?: RegExp; what?: string } = {}) {
    const p = join(path, key);
    const v = obj[key];
    if (typeof v !== "string") {
      this.report(p, `expected a string, got ${describe(v)}`);
      return undefined;
    }
    if ((opts.nonEmpty ?? true) && v.length === 0) {
      this.report(p, "must not be empty");
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.report(p, `expected ${opts.what ?? `a string matching ${opts.pattern}`}, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(obj: Obj, key: string, path: string, allowed: readonly T[]): T | undefined {
    const v = obj[key];
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
      this.report(join(path, key), `expected one of ${allowed.join(",")}, got ${describe(v)}`);
      return undefined;
    }
    return v as T;
  }

  int(obj: Obj, key: string, path: string, min: number): number | undefined {
    return this.intValue(obj[key], join(path, key), min);
  }

  intValue(v: Json, path: string, min: number): number | undefined {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      this.report(path, `expected an integer >= ${min}, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  number(obj: Obj, key: string, path: string, opts: { min?: number; exclusiveMin?: boolean } = {}) {
    return this.numberValue(obj[key], join(path, key), opts);
  }

  numberValue(v: Json, path: string, opts: { min?: number; exclusiveMin?: boolean } = {}): number | undefined {
    const { min, exclusiveMin = false } = opts;
    const below = min !== undefined && typeof v === "number" && (exclusiveMin ? v <= min : v < min);
    if (typeof v !== "number" || !Number.isFinite(v) || below) {
      const bound = min === undefined ? "" : ` ${exclusiveMin ? ">" : ">="} ${min}`;
      this.report(path, `expected a finite number${bound}, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  bool(obj: Obj, key: string, path: string): boolean | undefined {
    const v = obj[key];
    if (typeof v !== "boolean") {
      this.report(join(path, key), `expected true or false, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  relPath(obj: Obj, key: string, path: string): string | undefined {
    const v = this.string(obj, key, path);
    if (v === undefined) return undefined;
    if (!isSafeRelativePath(v)) {
      this.report(
        join(path, key),
        `must be a relative path inside the pack (no "..", ".", empty segment, leading "/" or "\\"), got ${describe(v)}`,
      );
      return undefined;
    }
    return v;
  }

  array(obj: Obj, key: string, path: string, nonEmpty = true): Json[] | undefined {
    const v = obj[key];
    if (!Array.isArray(v)) {
      this.report(join(path, key), `expected an array, got ${describe(v)}`);
      return undefined;
    }
    if (nonEmpty && v.length === 0) {
      this.report(join(path, key), "must not be empty");
      return undefined;
    }
    return v;
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  const k = IDENT.test(key) ? key : JSON.stringify(key);
  if (path === "") return k;
  return IDENT.test(key) ? `${path}.${key}` : `${path}[${k}]`;
}

const TOP_KEYS = [
  "format",
  "name",
  "version",
  "description",
  "video",
  "latent",
  "text",
  "scheduler",
  "defaults",
  "interpolation",
  "graphs",
  "files",
] as const;

/**
 * Validates a parsed pack.json. Reports every problem found (not just the first), each prefixed with `source`
 * and the JSON path. An unknown `format` is reported alone: the rest cannot be interpreted.
 */
export function validateManifest(json: unknown, source = "pack.json"): ManifestValidation {
  const c = new Checker(source);
  const root = c.object(json, "", TOP_KEYS);
  if (!root) return { manifest: undefined, problems: c.problems };
  if (root.format !== PACK_FORMAT) {
    c.problems.length = 0;
    c.report("format", `unsupported pack format ${describe(root.format)} (this runtime reads "${PACK_FORMAT}")`);
    return { manifest: undefined, problems: c.problems };
  }

  c.string(root, "name", "", {
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    what: "a name of letters, digits, '.', '_', '-'",
  });
  c.string(root, "version", "", {
    pattern: /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/,
    what: "a semantic version like 1.0.0",
  });
  c.string(root, "description", "", { nonEmpty: false });

  const video = checkVideo(c, root.video);
  checkLatent(c, root.latent, video);
  const text = checkText(c, root.text);
  checkScheduler(c, root.scheduler);
  checkDefaults(c, root.defaults);
  checkInterpolation(c, root.interpolation, video);
  const graphFiles = checkGraphs(c, root.graphs, root);
  const listed = checkFiles(c, root.files);

  if (listed) {
    for (const [p, file] of graphFiles) {
      if (!listed.has(file)) c.report(p, `"${file}" is not listed in files`);
    }
    for (const key of ["tokenizer", "tokenizerConfig"] as const) {
      const file = text?.[key];
      if (typeof file === "string" && !listed.has(file)) c.report(`text.${key}`, `"${file}" is not listed in files`);
    }
  }

  return c.problems.length === 0
    ? { manifest: json as PackManifest, problems: [] }
    : { manifest: undefined, problems: c.problems };
}

function checkVideo(c: Checker, value: Json): Partial<VideoSpec> | undefined {
  const keys = [
    "width",
    "height",
    "channels",
    "fps",
    "keyframes",
    "keyframeStride",
    "interpolationFactor",
    "frames",
    "defaultFrames",
  ];
  const o = c.object(value, "video", keys);
  if (!o) return undefined;
  const out: Partial<VideoSpec> = {};
  for (const k of ["width", "height", "channels", "fps", "keyframeStride", "interpolationFactor"] as const) {
    out[k] = c.int(o, k, "video", 1);
  }
  out.keyframes = c.int(o, "keyframes", "video", 2);
  const frames = c.array(o, "frames", "video");
  if (frames) {
    const ok: number[] = [];
    frames.forEach((f, i) => {
      const n = c.intValue(f, `video.frames[${i}]`, 1);
      if (n === undefined) return;
      if (ok.includes(n)) c.report(`video.frames[${i}]`, `duplicate frame count ${n}`);
      else ok.push(n);
    });
    if (ok.length === frames.length) out.frames = ok;
  }
  const def = c.int(o, "defaultFrames", "video", 1);
  if (def !== undefined && out.frames && !out.frames.includes(def)) {
    c.report("video.defaultFrames", `must be one of video.frames (${out.frames.join(",")}), got ${def}`);
  }
  out.defaultFrames = def;
  return out;
}

function checkLatent(c: Checker, value: Json, video: Partial<VideoSpec> | undefined): void {
  const o = c.object(value, "latent", ["channels", "height", "width", "downsample", "scalingFactor", "layout"]);
  if (!o) return;
  c.int(o, "channels", "latent", 1);
  const h = c.int(o, "height", "latent", 1);
  const w = c.int(o, "width", "latent", 1);
  const ds = c.int(o, "downsample", "latent", 1);
  c.number(o, "scalingFactor", "latent", { min: 0, exclusiveMin: true });
  c.oneOf(o, "layout", "latent", ["BCFHW"]);
  if (ds !== undefined) {
    if (h !== undefined && video?.height !== undefined && h * ds !== video.height) {
      c.report(
        "latent.height",
        `latent.height * latent.downsample (${h} * ${ds}) must equal video.height ${video.height}`,
      );
    }
    if (w !== undefined && video?.width !== undefined && w * ds !== video.width) {
      c.report("latent.width", `latent.width * latent.downsample (${w} * ${ds}) must equal video.width ${video.width}`);
    }
  }
}

function checkText(c: Checker, value: Json): Partial<TextSpec> | undefined {
  const o = c.object(value, "text", ["tokenizer", "tokenizerConfig", "maxTokens", "hiddenSize"]);
  if (!o) return undefined;
  return {
    tokenizer: c.relPath(o, "tokenizer", "text"),
    tokenizerConfig: c.relPath(o, "tokenizerConfig", "text"),
    maxTokens: c.int(o, "maxTokens", "text", 1),
    hiddenSize: c.int(o, "hiddenSize", "text", 1),
  };
}

function checkScheduler(c: Checker, value: Json): void {
  const o = c.object(value, "scheduler", [], true);
  if (!o) return;
  c.string(o, "_class_name", "scheduler");
  c.int(o, "num_train_timesteps", "scheduler", 1);
  const start = c.number(o, "beta_start", "scheduler", { min: 0, exclusiveMin: true });
  const end = c.number(o, "beta_end", "scheduler", { min: 0, exclusiveMin: true });
  if (start !== undefined && end !== undefined && !(start < end && end < 1)) {
    c.report("scheduler.beta_end", `expected beta_start < beta_end < 1, got ${start} and ${end}`);
  }
  c.oneOf(o, "beta_schedule", "scheduler", ["linear", "scaled_linear", "squaredcos_cap_v2"]);
  c.oneOf(o, "prediction_type", "scheduler", ["epsilon", "v_prediction", "sample"]);
  c.bool(o, "clip_sample", "scheduler");
  c.bool(o, "set_alpha_to_one", "scheduler");
  c.int(o, "steps_offset", "scheduler", 0);
  c.oneOf(o, "timestep_spacing", "scheduler", ["leading", "trailing", "linspace"]);
}

function checkDefaults(c: Checker, value: Json): void {
  const o = c.object(value, "defaults", ["sampler", "mode", "keyframe", "interpolation"]);
  if (!o) return;
  c.string(o, "sampler", "defaults", { pattern: IDENT, what: "an identifier" });
  c.string(o, "mode", "defaults", { pattern: IDENT, what: "an identifier" });
  for (const stage of ["keyframe", "interpolation"] as const) {
    const path = `defaults.${stage}`;
    const s = c.object(
      o[stage],
      path,
      stage === "interpolation" ? ["steps", "guidance", "strength"] : ["steps", "guidance"],
    );
    if (!s) continue;
    c.int(s, "steps", path, 1);
    c.number(s, "guidance", path, { min: 0 });
    if ("strength" in s) {
      const strength = c.number(s, "strength", path, { min: 0, exclusiveMin: true });
      if (strength !== undefined && strength > 1)
        c.report(join(path, "strength"), `expected a number in (0, 1], got ${strength}`);
    }
  }
}

function checkInterpolation(c: Checker, value: Json, video: Partial<VideoSpec> | undefined): void {
  const o = c.object(value, "interpolation", ["attentionWindow", "attendFirstFrame", "strides", "trainedWindow"]);
  if (!o) return;
  c.int(o, "attentionWindow", "interpolation", 1);
  c.bool(o, "attendFirstFrame", "interpolation");
  c.int(o, "trainedWindow", "interpolation", 1);
  const strides = c.object(o.strides, "interpolation.strides", [], true);
  if (!strides) return;
  for (const [key, v] of Object.entries(strides)) {
    const p = join("interpolation.strides", key);
    if (!/^[1-9][0-9]*$/.test(key)) {
      c.report(p, "keys must be frame counts (decimal integers)");
      continue;
    }
    if (video?.frames && !video.frames.includes(Number(key))) {
      c.report(p, `frame count ${key} is not in video.frames (${video.frames.join(",")})`);
    }
    c.numberValue(v, p, { min: 0, exclusiveMin: true });
  }
  for (const f of video?.frames ?? []) {
    if (!(String(f) in strides))
      c.report("interpolation.strides", `missing a stride for frame count ${f} (video.frames)`);
  }
}

/** Returns [json path, file] of every graph's file, for the files-listing check. */
function checkGraphs(c: Checker, value: Json, root: Obj): Array<[string, string]> {
  const files: Array<[string, string]> = [];
  const graphs = c.object(value, "graphs", [], true);
  if (!graphs) return files;
  for (const required of Object.keys(CONTRACT_GRAPHS)) {
    if (!(required in graphs)) c.report("graphs", `missing required graph "${required}"`);
  }
  const seenFiles = new Map<string, string>();
  for (const [name, g] of Object.entries(graphs)) {
    const path = join("graphs", name);
    if (!IDENT.test(name)) c.report(path, "graph names must be identifiers");
    const o = c.object(g, path, ["file", "inputs", "outputs"]);
    if (!o) continue;
    const file = c.relPath(o, "file", path);
    if (file !== undefined) {
      if (!file.endsWith(".onnx")) c.report(`${path}.file`, `expected an .onnx file, got ${describe(file)}`);
      const other = seenFiles.get(file);
      if (other !== undefined) c.report(`${path}.file`, `"${file}" is already used by ${other}`);
      seenFiles.set(file, path);
      files.push([`${path}.file`, file]);
    }
    const inputs = checkTensorList(c, o, "inputs", path);
    const outputs = checkTensorList(c, o, "outputs", path);
    if (inputs && outputs) {
      const inNames = new Set(inputs.map((t) => t.name));
      outputs.forEach((t, i) => {
        if (inNames.has(t.name)) c.report(`${path}.outputs[${i}].name`, `"${t.name}" is also an input name`);
      });
    }
    const contract = CONTRACT_GRAPHS[name as ContractGraphName];
    if (contract && inputs) checkAgainstContract(c, `${path}.inputs`, inputs, contract.inputs);
    if (contract && outputs) checkAgainstContract(c, `${path}.outputs`, outputs, contract.outputs);
  }
  checkCrossDims(c, graphs, root);
  return files;
}

function checkTensorList(c: Checker, graph: Obj, key: "inputs" | "outputs", path: string): TensorSpec[] | undefined {
  const list = c.array(graph, key, path);
  if (!list) return undefined;
  const out: TensorSpec[] = [];
  const names = new Set<string>();
  list.forEach((t, i) => {
    const p = `${path}.${key}[${i}]`;
    const o = c.object(t, p, ["name", "dtype", "shape"]);
    if (!o) return;
    const name = c.string(o, "name", p);
    if (name !== undefined) {
      if (names.has(name)) c.report(`${p}.name`, `duplicate ${key === "inputs" ? "input" : "output"} name "${name}"`);
      names.add(name);
    }
    const dtype = c.oneOf(o, "dtype", p, PACK_DTYPES);
    const shape = c.array(o, "shape", p, false);
    let dimsOk = shape !== undefined;
    shape?.forEach((d, j) => {
      const dp = `${p}.shape[${j}]`;
      if (typeof d === "string") {
        if (!IDENT.test(d)) {
          c.report(dp, `a dynamic axis must be named by an identifier, got ${describe(d)}`);
          dimsOk = false;
        }
      } else if (c.intValue(d, dp, 1) === undefined) {
        dimsOk = false;
      }
    });
    if (name !== undefined && dtype !== undefined && shape && dimsOk)
      out.push({ name, dtype, shape: shape as DimSpec[] });
  });
  return out.length === list.length ? out : undefined;
}

function checkAgainstContract(c: Checker, path: string, actual: TensorSpec[], required: RequiredTensor[]): void {
  const want = required.map((r) => r.name);
  for (const r of required) {
    const i = actual.findIndex((t) => t.name === r.name);
    const t = actual[i];
    if (!t) {
      c.report(path, `missing "${r.name}" (the contract requires ${want.join(",")})`);
      continue;
    }
    const allowed = KIND_DTYPES[r.kind];
    if (!allowed.includes(t.dtype))
      c.report(`${path}[${i}].dtype`, `"${r.name}" must be one of ${allowed.join(",")}, got "${t.dtype}"`);
    if (t.shape.length !== r.rank)
      c.report(`${path}[${i}].shape`, `"${r.name}" must have rank ${r.rank}, got [${t.shape.join(", ")}]`);
  }
  actual.forEach((t, i) => {
    if (!want.includes(t.name))
      c.report(`${path}[${i}].name`, `unexpected "${t.name}" (the contract has ${want.join(",")})`);
  });
}

/** Fixed sizes in the contract graphs must agree with the latent/video/text sections. */
function checkCrossDims(c: Checker, graphs: Obj, root: Obj): void {
  const num = (o: Json, k: string): number | undefined => {
    const v = isObj(o) ? o[k] : undefined;
    return typeof v === "number" ? v : undefined;
  };
  const latent = [num(root.latent, "channels"), num(root.latent, "height"), num(root.latent, "width")];
  const image = [num(root.video, "channels"), num(root.video, "height"), num(root.video, "width")];
  const hidden = num(root.text, "hiddenSize");
  // [graph, list, tensor, axis → expected, what]
  const rules: Array<[string, "inputs" | "outputs", string, Array<[number, number | undefined, string]>]> = [
    ["textEncoder", "outputs", "last_hidden_state", [[2, hidden, "text.hiddenSize"]]],
    ["keyframeUnet", "inputs", "encoder_hidden_states", [[2, hidden, "text.hiddenSize"]]],
    ["interpolationUnet", "inputs", "encoder_hidden_states", [[2, hidden, "text.hiddenSize"]]],
    [
      "keyframeUnet",
      "inputs",
      "sample",
      [
        [1, latent[0], "latent.channels"],
        [3, latent[1], "latent.height"],
        [4, latent[2], "latent.width"],
      ],
    ],
    [
      "keyframeUnet",
      "outputs",
      "noise_pred",
      [
        [1, latent[0], "latent.channels"],
        [3, latent[1], "latent.height"],
        [4, latent[2], "latent.width"],
      ],
    ],
    [
      "interpolationUnet",
      "inputs",
      "sample",
      [
        [3, latent[1], "latent.height"],
        [4, latent[2], "latent.width"],
      ],
    ],
    [
      "interpolationUnet",
      "outputs",
      "noise_pred",
      [
        [1, latent[0], "latent.channels"],
        [3, latent[1], "latent.height"],
        [4, latent[2], "latent.width"],
      ],
    ],
    [
      "vaeDecoder",
      "inputs",
      "latent",
      [
        [1, latent[0], "latent.channels"],
        [2, latent[1], "latent.height"],
        [3, latent[2], "latent.width"],
      ],
    ],
    [
      "vaeDecoder",
      "outputs",
      "image",
      [
        [1, image[0], "video.channels"],
        [2, image[1], "video.height"],
        [3, image[2], "video.width"],
      ],
    ],
  ];
  for (const [graph, list, tensor, axes] of rules) {
    const g = graphs[graph];
    const specs = isObj(g) && Array.isArray(g[list]) ? (g[list] as Json[]) : [];
    const i = specs.findIndex((t) => isObj(t) && t.name === tensor);
    const spec = specs[i];
    if (!isObj(spec) || !Array.isArray(spec.shape)) continue;
    for (const [axis, expected, what] of axes) {
      const d = spec.shape[axis];
      if (typeof d === "number" && expected !== undefined && d !== expected) {
        c.report(`graphs.${graph}.${list}[${i}].shape[${axis}]`, `must equal ${what} (${expected}), got ${d}`);
      }
    }
  }
}

function checkFiles(c: Checker, value: Json): Set<string> | undefined {
  if (!Array.isArray(value)) {
    c.report("files", `expected an array, got ${describe(value)}`);
    return undefined;
  }
  const listed = new Set<string>();
  value.forEach((f, i) => {
    const p = `files[${i}]`;
    const o = c.object(f, p, ["path", "sha256", "bytes"]);
    if (!o) return;
    const path = c.relPath(o, "path", p);
    c.string(o, "sha256", p, { pattern: /^[0-9a-f]{64}$/, what: "64 lowercase hex digits" });
    c.int(o, "bytes", p, 0);
    if (path === undefined) return;
    if (path === "pack.json") c.report(`${p}.path`, "pack.json must not list itself");
    if (listed.has(path)) c.report(`${p}.path`, `duplicate entry for "${path}"`);
    listed.add(path);
  });
  return listed;
}
