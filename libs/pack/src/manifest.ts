/**
 * The model pack manifest (`pack.json`, format "longshot.pack/v1"): its schema, declared with zod, the types
 * inferred from it, and `validateManifest`, which reports every problem with its JSON path, e.g.
 * `pack.json: graphs.keyframeUnet.inputs[0].dtype: expected one of float32,float16,int64,int32, got "f32"`.
 *
 * The contract is owned by the lead (the Python toolkit in models/ writes it). Objects are closed: unknown fields
 * are reported (a typo must not silently fall back to a default), except inside `scheduler`, which is a diffusers
 * scheduler config and may carry extra keys (`_diffusers_version`, `trained_betas`, …). Each field's schema carries
 * the message it reports. The rules that relate fields to each other are refinements that run even when other
 * fields are wrong (`ALWAYS`), each on the fields it needs that are valid, so one pass reports every problem.
 */
import type { DType } from "@longshot/tensor";
import { z } from "zod";

export const PACK_FORMAT = "longshot.pack/v1";
const DTYPES = ["float32", "float16", "int64", "int32"] as const satisfies readonly DType[];
export const PACK_DTYPES: readonly DType[] = DTYPES;

/**
 * How the hint channels of an interpolation input are built (`interpolation.hint`, fixed by how the pack's
 * interpolation UNet was trained): `repeat` (the seed's) gives output frame `i` the known frame `floor(i / factor)`;
 * `blend` gives it the two known frames around it blended linearly, so the hint also says where in the gap it lies.
 */
export const INTERPOLATION_HINTS = ["repeat", "blend"] as const;
export type InterpolationHint = (typeof INTERPOLATION_HINTS)[number];

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

/** The offending value, as a problem line shows it. */
function got(issue: { input?: unknown }): string {
  const value = issue.input;
  if (value === undefined) return "nothing (the field is missing)";
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// --- field schemas, each with its message ------------------------------------------------------------------------

/** Cross-field rules run even when other fields have problems (zod skips them by default then). */
const ALWAYS = { when: () => true };

/** Not z.int(): a fractional number would stop the cross-field rules (it aborts the parse). */
const int = (min: number) =>
  z
    .number({ error: (i) => `expected an integer >= ${min}, got ${got(i)}` })
    .refine((v) => Number.isSafeInteger(v) && v >= min);

function num(min: number, exclusive: boolean) {
  const s = z.number({ error: (i) => `expected a finite number ${exclusive ? ">" : ">="} ${min}, got ${got(i)}` });
  return exclusive ? s.gt(min) : s.gte(min);
}
const positive = num(0, true);
const count = int(1);

const bool = z.boolean({ error: (i) => `expected true or false, got ${got(i)}` });
const anyString = z.string({ error: (i) => `expected a string, got ${got(i)}` });
/** Not .min(1): zod's length checks run even on a value of the wrong type (an array), which says more than needed. */
const nonEmpty = (v: { length: number }) => v.length > 0;
const text = anyString.refine(nonEmpty, "must not be empty");
const matching = (pattern: RegExp, what: string) =>
  text.refine((v) => v === "" || pattern.test(v), { error: (i) => `expected ${what}, got ${got(i)}` });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (i) => `expected one of ${values.join(",")}, got ${got(i)}` });
const relPath = text.refine((v) => v === "" || isSafeRelativePath(v), {
  error: (i) =>
    `must be a relative path inside the pack (no "..", ".", empty segment, leading "/" or "\\"), got ${got(i)}`,
});

const notAnObject = (i: { input?: unknown }) => `expected an object, got ${got(i)}`;
/** An object that reports each field it does not know. */
function closed<S extends z.core.$ZodShape>(shape: S) {
  const known = Object.keys(shape).join(",");
  return z.strictObject(shape, {
    error: (i) => (i.code === "unrecognized_keys" ? `unknown field (expected one of ${known})` : notAnObject(i)),
  });
}
const list = <T extends z.core.SomeType>(item: T) =>
  z.array(item, { error: (i) => `expected an array, got ${got(i)}` });
const openObject = z.record(z.string(), z.unknown(), { error: notAnObject });
/** A record, refusing a "__proto__" key: zod's records skip that key, which would leave it unchecked. */
const map = <T extends z.core.SomeType>(schema: T, message: string) =>
  z.preprocess((v: unknown, ctx) => {
    if (isObj(v) && Object.hasOwn(v, "__proto__")) ctx.addIssue({ code: "custom", path: ["__proto__"], message });
    return v;
  }, schema);

/** `schema`'s output for `value`, or undefined when `value` has a problem (already reported where it is). */
const valid = <T>(schema: z.ZodType<T>, value: unknown): T | undefined => schema.safeParse(value).data;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// --- sections ----------------------------------------------------------------------------------------------------

const frameCounts = list(count)
  .refine(nonEmpty, "must not be empty")
  .superRefine((frames: unknown, ctx) => {
    if (!Array.isArray(frames)) return;
    const seen = new Set<number>();
    frames.forEach((f, i) => {
      const n = valid(count, f);
      if (n === undefined) return;
      if (seen.has(n)) ctx.addIssue({ code: "custom", path: [i], message: `duplicate frame count ${n}` });
      seen.add(n);
    });
  }, ALWAYS);

const videoSchema = closed({
  width: count,
  height: count,
  channels: count,
  fps: count,
  keyframes: int(2),
  keyframeStride: count,
  interpolationFactor: count,
  /** Frame counts a request may ask for. */
  frames: frameCounts,
  defaultFrames: count,
}).superRefine((video: unknown, ctx) => {
  if (!isObj(video)) return;
  const frames = valid(frameCounts, video.frames);
  const def = valid(count, video.defaultFrames);
  if (frames && def !== undefined && !frames.includes(def)) {
    const message = `must be one of video.frames (${frames.join(",")}), got ${def}`;
    ctx.addIssue({ code: "custom", path: ["defaultFrames"], message });
  }
}, ALWAYS);

const finite = z.number({ error: (i) => `expected a finite number, got ${got(i)}` });
const numbers = (n: number) =>
  list(finite).refine((v) => v.length === n, { error: (i) => `expected ${n} numbers, got ${got(i)}` });

/**
 * A keyframe preview without the VAE (a "latent2rgb" preview): RGB in [0, 1] = weights · latent + bias per latent
 * pixel, on the model-space latents the UNets produce (already times scalingFactor). 3 rows (R, G, B) of
 * latent.channels numbers each (checked against latent.channels below), and 3 biases.
 */
const previewRgbSchema = closed({
  weights: list(list(finite)).refine((v) => v.length === 3, "expected 3 rows (R, G, B)"),
  bias: numbers(3),
});

const latentSchema = closed({
  channels: count,
  height: count,
  width: count,
  downsample: count,
  scalingFactor: positive,
  layout: oneOf(["BCFHW"]),
  previewRgb: previewRgbSchema.optional(),
}).superRefine((latent: unknown, ctx) => {
  if (!isObj(latent) || !isObj(latent.previewRgb) || !Array.isArray(latent.previewRgb.weights)) return;
  const channels = valid(count, latent.channels);
  if (channels === undefined) return;
  latent.previewRgb.weights.forEach((row, i) => {
    if (Array.isArray(row) && row.length !== channels) {
      const message = `expected ${channels} numbers (latent.channels), got ${row.length}`;
      ctx.addIssue({ code: "custom", path: ["previewRgb", "weights", i], message });
    }
  });
}, ALWAYS);

/** A word as the CLI splits a prompt: lower-case letters and digits. */
const WORD = /^[\p{Ll}\p{Lo}\p{Nd}]+$/u;
/** Every word of the prompts the pack was trained on: the CLI warns about a prompt's other words. */
const vocabularySchema = list(
  anyString.refine((v) => WORD.test(v), {
    error: (i) => `expected a lower-case word of letters or digits, got ${got(i)}`,
  }),
).superRefine((words: unknown, ctx) => {
  if (!Array.isArray(words)) return;
  const seen = new Set<unknown>();
  words.forEach((w, i) => {
    if (seen.has(w)) ctx.addIssue({ code: "custom", path: [i], message: `duplicate word ${JSON.stringify(w)}` });
    seen.add(w);
  });
}, ALWAYS);

const textSchema = closed({
  tokenizer: relPath,
  tokenizerConfig: relPath,
  maxTokens: count,
  hiddenSize: count,
  vocabulary: vocabularySchema.optional(),
});

/** A diffusers scheduler config (snake_case keys as in scheduler_config.json); other keys pass through. */
const schedulerSchema = z
  .looseObject(
    {
      _class_name: text,
      num_train_timesteps: count,
      beta_start: positive,
      beta_end: positive,
      beta_schedule: oneOf(["linear", "scaled_linear", "squaredcos_cap_v2"]),
      prediction_type: oneOf(["epsilon", "v_prediction", "sample"]),
      clip_sample: bool,
      set_alpha_to_one: bool,
      steps_offset: int(0),
      timestep_spacing: oneOf(["leading", "trailing", "linspace"]),
    },
    { error: notAnObject },
  )
  .superRefine((s: unknown, ctx) => {
    const start = isObj(s) ? valid(positive, s.beta_start) : undefined;
    const end = isObj(s) ? valid(positive, s.beta_end) : undefined;
    if (start !== undefined && end !== undefined && !(start < end && end < 1)) {
      const message = `expected beta_start < beta_end < 1, got ${start} and ${end}`;
      ctx.addIssue({ code: "custom", path: ["beta_end"], message });
    }
  }, ALWAYS);

const stageDefaults = { steps: count, guidance: num(0, false) };
const defaultsSchema = closed({
  sampler: matching(IDENT, "an identifier"),
  mode: matching(IDENT, "an identifier"),
  keyframe: closed(stageDefaults),
  interpolation: closed({
    ...stageDefaults,
    /**
     * Share of the timesteps a pass runs, in (0, 1] (diffusers img2img `strength`): 1 starts the frames to fill in
     * from noise alone; below 1 from the known frames blended across each gap, noised to the first timestep run.
     * Absent: 1.
     */
    strength: positive.max(1, { error: (i) => `expected a number in (0, 1], got ${got(i)}` }).optional(),
  }),
});

const interpolationSchema = closed({
  attentionWindow: count,
  attendFirstFrame: bool,
  /** frame_stride conditioning per frame count; keys are the decimal frame counts of `video.frames`. */
  strides: map(
    z.record(z.string().regex(/^[1-9][0-9]*$/), positive, {
      error: (i) => (i.code === "invalid_key" ? "keys must be frame counts (decimal integers)" : notAnObject(i)),
    }),
    "keys must be frame counts (decimal integers)",
  ),
  trainedWindow: count,
  /** How the interpolation UNet's hint channels are built ({@link INTERPOLATION_HINTS}). Absent: `repeat`. */
  hint: oneOf(INTERPOLATION_HINTS).optional(),
});

/** A number is a fixed size; a string names a dynamic axis shared across one call's inputs and outputs. */
const dim = z.union(
  [z.string().regex(IDENT, { error: (i) => `a dynamic axis must be named by an identifier, got ${got(i)}` }), count],
  { error: (i) => `expected an integer >= 1, got ${got(i)}` },
);
const tensorSchema = closed({ name: text, dtype: oneOf(DTYPES), shape: list(dim) });
const tensors = list(tensorSchema).refine(nonEmpty, "must not be empty");
const tensorList = (kind: "input" | "output") =>
  tensors.superRefine((items: unknown, ctx) => {
    if (!Array.isArray(items)) return;
    const names = new Set<string>();
    items.forEach((t, i) => {
      const name = isObj(t) ? valid(text, t.name) : undefined;
      if (name === undefined) return;
      if (names.has(name))
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate ${kind} name "${name}"` });
      names.add(name);
    });
  }, ALWAYS);

const graphSchema = closed({
  /** Path of the ONNX file, relative to the pack directory. */
  file: relPath.refine((v) => !isSafeRelativePath(v) || v.endsWith(".onnx"), {
    error: (i) => `expected an .onnx file, got ${got(i)}`,
  }),
  inputs: tensorList("input"),
  outputs: tensorList("output"),
}).superRefine((g: unknown, ctx) => {
  const inputs = isObj(g) ? valid(tensors, g.inputs) : undefined;
  const outputs = isObj(g) ? valid(tensors, g.outputs) : undefined;
  if (!inputs || !outputs) return;
  const inNames = new Set(inputs.map((t) => t.name));
  outputs.forEach((t, i) => {
    if (inNames.has(t.name))
      ctx.addIssue({ code: "custom", path: ["outputs", i, "name"], message: `"${t.name}" is also an input name` });
  });
}, ALWAYS);

const fileSchema = closed({
  path: relPath,
  sha256: matching(/^[0-9a-f]{64}$/, "64 lowercase hex digits"),
  bytes: int(0),
});
const filesSchema = list(fileSchema).superRefine((files: unknown, ctx) => {
  if (!Array.isArray(files)) return;
  const listed = new Set<string>();
  files.forEach((f, i) => {
    const path = isObj(f) ? valid(relPath, f.path) : undefined;
    if (path === undefined) return;
    if (path === "pack.json")
      ctx.addIssue({ code: "custom", path: [i, "path"], message: "pack.json must not list itself" });
    if (listed.has(path)) ctx.addIssue({ code: "custom", path: [i, "path"], message: `duplicate entry for "${path}"` });
    listed.add(path);
  });
}, ALWAYS);

// --- the contract graphs -----------------------------------------------------------------------------------------

/** The graphs every pack must carry. A pack may carry more (tools, tests); they are validated the same way. */
export type ContractGraphName = "textEncoder" | "keyframeUnet" | "interpolationUnet" | "vaeDecoder";

interface RequiredTensor {
  name: string;
  kind: "float" | "ids";
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

const KIND_DTYPES: Record<RequiredTensor["kind"], readonly DType[]> = {
  float: ["float32", "float16"],
  ids: ["int64", "int32"],
};

const isContractGraph = (name: string): name is ContractGraphName => Object.hasOwn(CONTRACT_GRAPHS, name);

/** The contract graphs are present, with the contract's tensor names, dtype family and rank; files are not shared. */
const graphsSchema = map(z.record(z.string(), graphSchema, { error: notAnObject }), "not a graph name").superRefine(
  (graphs: unknown, ctx) => {
    if (!isObj(graphs)) return;
    for (const required of Object.keys(CONTRACT_GRAPHS)) {
      if (!Object.hasOwn(graphs, required))
        ctx.addIssue({ code: "custom", path: [], message: `missing required graph "${required}"` });
    }
    const usedBy = new Map<string, string>();
    for (const [name, g] of Object.entries(graphs)) {
      if (!IDENT.test(name)) ctx.addIssue({ code: "custom", path: [name], message: "graph names must be identifiers" });
      if (!isObj(g)) continue;
      const file = valid(relPath, g.file);
      if (file !== undefined) {
        const other = usedBy.get(file);
        if (other !== undefined)
          ctx.addIssue({ code: "custom", path: [name, "file"], message: `"${file}" is already used by ${other}` });
        usedBy.set(file, formatPath(["graphs", name]));
      }
      if (!isContractGraph(name)) continue;
      for (const side of ["inputs", "outputs"] as const) {
        const actual = valid(tensors, g[side]);
        if (actual) checkContract(ctx, [name, side], actual, CONTRACT_GRAPHS[name][side]);
      }
    }
  },
  ALWAYS,
);

function checkContract(ctx: z.RefinementCtx, path: PropertyKey[], actual: TensorSpec[], required: RequiredTensor[]) {
  const want = required.map((r) => r.name);
  const report = (at: PropertyKey[], message: string) =>
    ctx.addIssue({ code: "custom", path: [...path, ...at], message });
  for (const r of required) {
    const i = actual.findIndex((t) => t.name === r.name);
    const t = actual[i];
    if (!t) {
      report([], `missing "${r.name}" (the contract requires ${want.join(",")})`);
      continue;
    }
    const allowed = KIND_DTYPES[r.kind];
    if (!allowed.includes(t.dtype))
      report([i, "dtype"], `"${r.name}" must be one of ${allowed.join(",")}, got "${t.dtype}"`);
    if (t.shape.length !== r.rank)
      report([i, "shape"], `"${r.name}" must have rank ${r.rank}, got [${t.shape.join(", ")}]`);
  }
  actual.forEach((t, i) => {
    if (!want.includes(t.name)) report([i, "name"], `unexpected "${t.name}" (the contract has ${want.join(",")})`);
  });
}

// --- the manifest ------------------------------------------------------------------------------------------------

/** Read first: a pack of another format is reported alone, as the rest cannot be interpreted. */
const formatSchema = z.looseObject(
  {
    format: z.literal(PACK_FORMAT, {
      error: (i) => `unsupported pack format ${got(i)} (this runtime reads "${PACK_FORMAT}")`,
    }),
  },
  { error: notAnObject },
);

const manifestSchema = closed({
  format: z.literal(PACK_FORMAT),
  name: matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a name of letters, digits, '.', '_', '-'"),
  version: matching(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/, "a semantic version like 1.0.0"),
  description: anyString,
  video: videoSchema,
  latent: latentSchema,
  text: textSchema,
  scheduler: schedulerSchema,
  defaults: defaultsSchema,
  interpolation: interpolationSchema,
  graphs: graphsSchema,
  files: filesSchema,
}).superRefine((m: unknown, ctx) => {
  if (isObj(m)) crossSectionRules(m, (path, message) => ctx.addIssue({ code: "custom", path, message }));
}, ALWAYS);

/** Rules across sections: latent vs video size, strides vs frames, listed files, fixed graph dims. */
function crossSectionRules(m: Record<string, unknown>, report: (path: PropertyKey[], message: string) => void): void {
  const video = isObj(m.video) ? m.video : {};
  const latent = isObj(m.latent) ? m.latent : {};
  const textSpec = isObj(m.text) ? m.text : {};
  const graphs = isObj(m.graphs) ? m.graphs : {};

  const ds = valid(count, latent.downsample);
  for (const [key, size] of [
    ["height", "height"],
    ["width", "width"],
  ] as const) {
    const l = valid(count, latent[key]);
    const v = valid(count, video[size]);
    if (ds !== undefined && l !== undefined && v !== undefined && l * ds !== v)
      report(["latent", key], `latent.${key} * latent.downsample (${l} * ${ds}) must equal video.${size} ${v}`);
  }

  const frames = valid(frameCounts, video.frames);
  const strides = isObj(m.interpolation) ? valid(openObject, m.interpolation.strides) : undefined;
  if (strides) {
    for (const key of Object.keys(strides)) {
      if (frames && /^[1-9][0-9]*$/.test(key) && !frames.includes(Number(key)))
        report(["interpolation", "strides", key], `frame count ${key} is not in video.frames (${frames.join(",")})`);
    }
    for (const f of frames ?? []) {
      if (!Object.hasOwn(strides, String(f)))
        report(["interpolation", "strides"], `missing a stride for frame count ${f} (video.frames)`);
    }
  }

  if (Array.isArray(m.files)) {
    const listed = new Set(m.files.map((f) => (isObj(f) ? valid(relPath, f.path) : undefined)));
    const needs: Array<[PropertyKey[], unknown]> = [
      ...Object.entries(graphs).map(([name, g]): [PropertyKey[], unknown] => [
        ["graphs", name, "file"],
        isObj(g) ? g.file : undefined,
      ]),
      [["text", "tokenizer"], textSpec.tokenizer],
      [["text", "tokenizerConfig"], textSpec.tokenizerConfig],
    ];
    for (const [path, value] of needs) {
      const file = valid(relPath, value);
      if (file !== undefined && !listed.has(file)) report(path, `"${file}" is not listed in files`);
    }
  }

  // Fixed sizes in the contract graphs must agree with the latent, video and text sections.
  const size = (o: Record<string, unknown>, k: string) => (typeof o[k] === "number" ? o[k] : undefined);
  const lat = (axis: number): Array<[number, number | undefined, string]> => [
    [axis, size(latent, "height"), "latent.height"],
    [axis + 1, size(latent, "width"), "latent.width"],
  ];
  const channels: [number, number | undefined, string] = [1, size(latent, "channels"), "latent.channels"];
  const hidden: [number, number | undefined, string] = [2, size(textSpec, "hiddenSize"), "text.hiddenSize"];
  const rules: Array<[string, "inputs" | "outputs", string, Array<[number, number | undefined, string]>]> = [
    ["textEncoder", "outputs", "last_hidden_state", [hidden]],
    ["keyframeUnet", "inputs", "encoder_hidden_states", [hidden]],
    ["interpolationUnet", "inputs", "encoder_hidden_states", [hidden]],
    ["keyframeUnet", "inputs", "sample", [channels, ...lat(3)]],
    ["keyframeUnet", "outputs", "noise_pred", [channels, ...lat(3)]],
    ["interpolationUnet", "inputs", "sample", lat(3)],
    ["interpolationUnet", "outputs", "noise_pred", [channels, ...lat(3)]],
    ["vaeDecoder", "inputs", "latent", [channels, ...lat(2)]],
    [
      "vaeDecoder",
      "outputs",
      "image",
      [
        [1, size(video, "channels"), "video.channels"],
        [2, size(video, "height"), "video.height"],
        [3, size(video, "width"), "video.width"],
      ],
    ],
  ];
  for (const [graph, side, tensor, axes] of rules) {
    const g = graphs[graph];
    const specs = isObj(g) && Array.isArray(g[side]) ? (g[side] as unknown[]) : [];
    const i = specs.findIndex((t) => isObj(t) && t.name === tensor);
    const spec = specs[i];
    if (!isObj(spec) || !Array.isArray(spec.shape)) continue;
    for (const [axis, expected, what] of axes) {
      const d = spec.shape[axis];
      if (typeof d === "number" && expected !== undefined && d !== expected)
        report(["graphs", graph, side, i, "shape", axis], `must equal ${what} (${expected}), got ${d}`);
    }
  }
}

// --- types -------------------------------------------------------------------------------------------------------

export type DimSpec = z.infer<typeof dim>;
export type TensorSpec = z.infer<typeof tensorSchema>;
export type GraphSpec = z.infer<typeof graphSchema>;
export type VideoSpec = z.infer<typeof videoSchema>;
export type LatentSpec = z.infer<typeof latentSchema>;
export type PreviewRgbSpec = z.infer<typeof previewRgbSchema>;
export type TextSpec = z.infer<typeof textSchema>;
export type SchedulerConfig = z.infer<typeof schedulerSchema>;
export type StageDefaults = z.infer<typeof defaultsSchema>["keyframe"];
export type DefaultsSpec = z.infer<typeof defaultsSchema>;
export type InterpolationSpec = z.infer<typeof interpolationSchema>;
export type FileEntry = z.infer<typeof fileSchema>;

export interface PackManifest extends Omit<z.infer<typeof manifestSchema>, "graphs"> {
  graphs: Record<ContractGraphName, GraphSpec> & Record<string, GraphSpec>;
}

/** Thrown-free result of validation: the manifest when `problems` is empty. */
export interface ManifestValidation {
  manifest: PackManifest | undefined;
  problems: string[];
}

/** `graphs.keyframeUnet.inputs[0]`, `interpolation.strides["33"]`: keys that are not identifiers are quoted. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && IDENT.test(key)) out += out === "" ? key : `.${key}`;
    else out += out === "" ? JSON.stringify(String(key)) : `[${JSON.stringify(String(key))}]`;
  }
  return out === "" ? "(root)" : out;
}

/**
 * Validates a parsed pack.json. Reports every problem found (not just the first), each prefixed with `source`
 * and the JSON path. An unknown `format` is reported alone: the rest cannot be interpreted.
 */
export function validateManifest(json: unknown, source = "pack.json"): ManifestValidation {
  const format = formatSchema.safeParse(json);
  const result = format.success ? manifestSchema.safeParse(json) : format;
  if (result.success) return { manifest: json as PackManifest, problems: [] }; // as read: key order kept
  const problems = result.error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => `${source}: ${formatPath([...issue.path, key])}: ${issue.message}`)
      : [`${source}: ${formatPath(issue.path)}: ${issue.message}`],
  );
  return { manifest: undefined, problems };
}
