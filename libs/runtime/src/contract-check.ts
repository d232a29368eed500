/**
 * Checks of tensors against a graph's contract from pack.json, done on the main thread before anything crosses
 * to the worker (inputs), when results come back (outputs) and when a session is created (the ONNX file's own
 * input/output metadata). A number in a contract shape is a fixed size; a string names a dynamic axis that must
 * have the same size wherever it appears in one call.
 */
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import type { DimSpec, GraphSpec, TensorSpec } from "@longshot/pack";
import { type DType, numel, type TensorData } from "@longshot/tensor";
import type { LoadResult, WireValueMetadata } from "./protocol.js";

/** What a session accepts and returns: @longshot/tensor's Tensor or any object of the same shape. */
export interface TensorLike<T extends DType = DType> {
  readonly dtype: T;
  readonly dims: readonly number[];
  readonly data: TensorData<T>;
}

const DATA_CLASS: Record<DType, { name: string; is: (v: unknown) => boolean }> = {
  float32: { name: "Float32Array", is: (v) => v instanceof Float32Array },
  float16: { name: "Uint16Array (raw IEEE half bits)", is: (v) => v instanceof Uint16Array },
  int64: { name: "BigInt64Array", is: (v) => v instanceof BigInt64Array },
  int32: { name: "Int32Array", is: (v) => v instanceof Int32Array },
};

export function formatShape(shape: readonly DimSpec[]): string {
  return `[${shape.join(", ")}]`;
}

/** Sizes bound to dynamic axis names during one call, with the tensor that bound each. */
export type AxisBindings = Map<string, { size: number; by: string }>;

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "object";
}

/**
 * Validates `feeds` against the graph's inputs; throws InvalidArgumentError with field `<graph>.<input>` on the
 * first problem. Returns the dynamic axis sizes the inputs bind.
 */
export function checkInputs(graph: string, spec: GraphSpec, feeds: unknown): AxisBindings {
  const expected = spec.inputs.map((t) => t.name);
  const expectedList = `${graph} expects inputs ${expected.join(", ")}`;
  if (typeof feeds !== "object" || feeds === null || Array.isArray(feeds)) {
    throw new InvalidArgumentError(
      graph,
      `feeds must be an object mapping input names to tensors, got ${typeName(feeds)}; ${expectedList}`,
    );
  }
  const given = feeds as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!expected.includes(name)) throw new InvalidArgumentError(`${graph}.${name}`, `unknown input; ${expectedList}`);
  }
  const missing = expected.filter((name) => given[name] === undefined);
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      `${graph}.${missing[0]}`,
      `missing input${missing.length > 1 ? `s ${missing.join(", ")}` : ""}; ${expectedList}`,
    );
  }
  const bindings: AxisBindings = new Map();
  for (const input of spec.inputs) {
    const field = `${graph}.${input.name}`;
    const tensor = given[input.name];
    checkTensorShapeAndData(field, tensor);
    const t = tensor as TensorLike;
    const problem = matchSpec(input, t.dtype, t.dims, bindings, "input");
    if (problem) throw new InvalidArgumentError(field, problem);
  }
  return bindings;
}

function checkTensorShapeAndData(field: string, tensor: unknown): void {
  if (typeof tensor !== "object" || tensor === null) {
    throw new InvalidArgumentError(field, `expected a tensor {dtype, dims, data}, got ${typeName(tensor)}`);
  }
  const { dtype, dims, data } = tensor as { dtype?: unknown; dims?: unknown; data?: unknown };
  if (typeof dtype !== "string" || !(dtype in DATA_CLASS)) {
    throw new InvalidArgumentError(
      field,
      `expected a tensor with dtype one of ${Object.keys(DATA_CLASS).join(",")}, got ${JSON.stringify(dtype)}`,
    );
  }
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidArgumentError(
      field,
      `dims must be an array of non-negative integers, got ${JSON.stringify(dims)}`,
    );
  }
  const cls = DATA_CLASS[dtype as DType];
  if (!cls.is(data)) {
    throw new InvalidArgumentError(field, `a ${dtype} tensor needs its data in a ${cls.name}, got ${typeName(data)}`);
  }
  const n = numel(dims);
  if ((data as ArrayLike<unknown>).length !== n) {
    throw new InvalidArgumentError(
      field,
      `data has ${(data as ArrayLike<unknown>).length} elements but dims ${formatShape(dims)} need ${n}`,
    );
  }
}

/** Returns a description of the mismatch, or undefined. Binds new dynamic axes into `bindings`. */
function matchSpec(
  spec: TensorSpec,
  dtype: string,
  dims: readonly number[],
  bindings: AxisBindings,
  kind: string,
): string | undefined {
  const want = `expected ${spec.dtype} ${formatShape(spec.shape)}`;
  const got = `got ${dtype} ${formatShape(dims)}`;
  if (dtype !== spec.dtype) return `${want}, ${got}: dtype must be ${spec.dtype}`;
  if (dims.length !== spec.shape.length)
    return `${want}, ${got}: rank must be ${spec.shape.length}, not ${dims.length}`;
  const local = new Map<string, { size: number; by: string }>();
  for (let i = 0; i < dims.length; i++) {
    const d = spec.shape[i] as DimSpec;
    const actual = dims[i] as number;
    if (typeof d === "number") {
      if (actual !== d) return `${want}, ${got}: dim ${i} must be ${d}, not ${actual}`;
      continue;
    }
    if (actual < 1) return `${want}, ${got}: dynamic axis "${d}" (dim ${i}) must be at least 1`;
    const bound = bindings.get(d) ?? local.get(d);
    if (bound && bound.size !== actual) {
      const where = bound.by === spec.name ? `elsewhere in this ${kind}` : `in ${bound.by}`;
      return `${want}, ${got}: dynamic axis "${d}" (dim ${i}) is ${actual} here but ${bound.size} ${where}`;
    }
    if (!bound) local.set(d, { size: actual, by: `${kind} "${spec.name}"` });
  }
  for (const [k, v] of local) bindings.set(k, v);
  return undefined;
}

/** Outputs from onnxruntime must honour the contract too; a mismatch is a broken pack, not a bad request. */
export function checkOutputs(
  graph: string,
  spec: GraphSpec,
  outputs: Record<string, { dtype: string; dims: readonly number[] }>,
  bindings: AxisBindings,
): void {
  for (const out of spec.outputs) {
    const t = outputs[out.name];
    if (!t) {
      throw new LongshotError(
        `graph ${graph}: onnxruntime returned no output "${out.name}" (got ${Object.keys(outputs).join(", ")})`,
      );
    }
    const problem = matchSpec(out, t.dtype, t.dims, bindings, "output");
    if (problem) throw new LongshotError(`graph ${graph}: output "${out.name}" breaks the pack contract: ${problem}`);
  }
}

/**
 * Compares the ONNX file's own metadata with the contract. Inputs must match exactly (names, dtypes, ranks, fixed
 * sizes; an axis the contract calls dynamic must not be fixed in the model, since ORT enforces input shapes).
 * Outputs must match in names, dtypes, ranks and fixed sizes both sides state. Returns one line per problem.
 */
export function compareSessionMetadata(spec: GraphSpec, meta: LoadResult): string[] {
  const problems: string[] = [];
  compareList("input", spec.inputs, meta.inputs, true, problems);
  compareList("output", spec.outputs, meta.outputs, false, problems);
  return problems;
}

function compareList(
  kind: string,
  specs: TensorSpec[],
  actual: WireValueMetadata[],
  strict: boolean,
  problems: string[],
): void {
  const modelNames = actual.map((m) => m.name);
  for (const s of specs) {
    const m = actual.find((a) => a.name === s.name);
    if (!m) {
      problems.push(
        `pack.json declares ${kind} "${s.name}" but the model has no such ${kind} (model ${kind}s: ${modelNames.join(", ")})`,
      );
      continue;
    }
    if (m.dtype === undefined || m.shape === undefined) {
      problems.push(`model ${kind} "${s.name}" is not a tensor`);
      continue;
    }
    const label = `model ${kind} "${s.name}" is ${m.dtype} ${formatShape(m.shape)}, pack.json says ${s.dtype} ${formatShape(s.shape)}`;
    if (m.dtype !== s.dtype) {
      problems.push(`${label}: dtype differs`);
      continue;
    }
    if (m.shape.length !== s.shape.length) {
      problems.push(`${label}: rank differs`);
      continue;
    }
    s.shape.forEach((d, i) => {
      const md = m.shape?.[i];
      if (typeof d === "number" && typeof md === "number" && d !== md) problems.push(`${label}: dim ${i} differs`);
      if (strict && typeof d === "string" && typeof md === "number") {
        problems.push(`${label}: dim ${i} is the dynamic axis "${d}" in pack.json but fixed to ${md} in the model`);
      }
    });
  }
  for (const name of modelNames) {
    if (!specs.some((s) => s.name === name))
      problems.push(`the model has ${kind} "${name}", which pack.json does not declare`);
  }
}
