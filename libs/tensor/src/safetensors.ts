import { IntegrityError, InvalidArgumentError } from "@longshot/core";
import { DTYPE_BYTES, type DType, numel, Tensor, type TensorData } from "./tensor.js";

/*
 * The safetensors file format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes]  N, unsigned little-endian 64-bit: the byte length of the header
 *   [N bytes]  UTF-8 JSON object, starting with '{', padded at the end with spaces (0x20)
 *   [rest]     the byte buffer: every tensor's little-endian row-major data, back to back
 *
 * Header: { "__metadata__"?: {string: string}, "<name>": { "dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end] }, ... } with offsets relative to the start of the byte buffer.
 *
 * The encoder writes what the Python library (safetensors 0.4+, Rust core) writes: tensors ordered by
 * dtype (I64, F32, I32, F16: widest first, so every tensor is naturally aligned) then by name, compact
 * JSON with `__metadata__` first, header padded with spaces to a multiple of 8 bytes. For the same
 * tensors and at most one metadata entry the bytes are identical to `safetensors.numpy.save`.
 */

/** The safetensors dtype strings this package reads and writes. */
export type SafetensorsDType = "F32" | "F16" | "I64" | "I32";

const TO_ST: Record<DType, SafetensorsDType> = { float32: "F32", float16: "F16", int64: "I64", int32: "I32" };
const FROM_ST: Record<SafetensorsDType, DType> = { F32: "float32", F16: "float16", I64: "int64", I32: "int32" };
/** Write order of dtypes: the Python library sorts by its dtype enum, largest first. */
const DTYPE_RANK: Record<DType, number> = { int64: 0, float32: 1, int32: 2, float16: 3 };

/** The Rust library refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";

export function toSafetensorsDType(dtype: DType): SafetensorsDType {
  return TO_ST[dtype];
}

export function fromSafetensorsDType(dtype: string): DType | undefined {
  return Object.hasOwn(FROM_ST, dtype) ? FROM_ST[dtype as SafetensorsDType] : undefined;
}

export interface SafetensorsTensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  data_offsets: [number, number];
}

export interface SafetensorsHeader {
  /** Tensors in file (offset) order. */
  tensors: Array<{ name: string } & SafetensorsTensorInfo>;
  metadata: Record<string, string> | undefined;
  /** Byte offset of the data buffer in the file (8 + header length). */
  dataStart: number;
}

export interface DecodedSafetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string> | undefined;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Sets an own, enumerable property even for names like "__proto__" (plain assignment would not). */
function defineEntry<V>(target: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function tensorBytes(t: Tensor): Uint8Array {
  const data = t.data;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const width = DTYPE_BYTES[t.dtype];
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += width) {
    for (let j = 0; j < width; j++) out[i + j] = bytes[i + width - 1 - j] as number;
  }
  return out;
}

/**
 * Serialises tensors (and optional string metadata) to safetensors bytes.
 * Throws InvalidArgumentError for the reserved name "__metadata__", a non-Tensor value, or non-string metadata.
 */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  if (tensors === null || typeof tensors !== "object") {
    throw new InvalidArgumentError("tensors", "must be an object mapping names to tensors");
  }
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === METADATA_KEY) {
      throw new InvalidArgumentError(`tensors.${name}`, `"${METADATA_KEY}" is reserved for metadata`);
    }
    const t = tensors[name];
    if (!(t instanceof Tensor)) throw new InvalidArgumentError(`tensors.${name}`, "is not a Tensor");
    if (!Object.hasOwn(TO_ST, t.dtype)) {
      throw new InvalidArgumentError(`tensors.${name}`, `unsupported dtype ${String(t.dtype)}`);
    }
  }
  let meta: Record<string, string> | undefined;
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw new InvalidArgumentError("metadata", "must be an object of string values");
    }
    meta = {};
    for (const key of Object.keys(metadata).sort(compareUtf8)) {
      const v = metadata[key];
      if (typeof v !== "string") {
        throw new InvalidArgumentError(`metadata.${key}`, `must be a string, got ${typeof v}`);
      }
      defineEntry(meta, key, v);
    }
  }

  const ordered = names
    .map((name) => ({ name, t: tensors[name] as Tensor }))
    .sort((a, b) => DTYPE_RANK[a.t.dtype] - DTYPE_RANK[b.t.dtype] || compareUtf8(a.name, b.name));

  // Build the header with __metadata__ first, then tensors in data order.
  const header: Record<string, unknown> = {};
  if (meta !== undefined) defineEntry(header, METADATA_KEY, meta);
  let offset = 0;
  for (const { name, t } of ordered) {
    const len = t.data.byteLength;
    defineEntry(header, name, { dtype: TO_ST[t.dtype], shape: [...t.dims], data_offsets: [offset, offset + len] });
    offset += len;
  }
  const json = utf8.encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const { t } of ordered) {
    out.set(tensorBytes(t), pos);
    pos += t.data.byteLength;
  }
  return out;
}

function fail(message: string): never {
  throw new IntegrityError(`safetensors: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the header of a safetensors file without reading tensor data.
 * Every violation of the format throws IntegrityError naming the tensor (or the header part) at fault.
 */
export function decodeSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError("bytes", "must be a Uint8Array");
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  if (8 + n > bytes.length) fail(`header length ${n} runs past the end of the ${bytes.length}-byte file`);

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch (cause) {
    throw new IntegrityError("safetensors: header is not valid UTF-8", { cause });
  }
  if (!text.startsWith("{")) fail(`header does not start with '{' (starts with ${JSON.stringify(text.slice(0, 8))})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new IntegrityError(`safetensors: header is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (!isPlainObject(parsed)) fail("header is not a JSON object");

  let metadata: Record<string, string> | undefined;
  const tensors: SafetensorsHeader["tensors"] = [];
  for (const [name, raw] of Object.entries(parsed)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(raw)) fail(`"${METADATA_KEY}" is not an object`);
      metadata = {};
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== "string") fail(`"${METADATA_KEY}" entry "${k}" is ${JSON.stringify(v)}, not a string`);
        defineEntry(metadata, k, v);
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (!isPlainObject(raw)) fail(`${where}: entry is not an object`);
    for (const key of Object.keys(raw)) {
      if (key !== "dtype" && key !== "shape" && key !== "data_offsets") fail(`${where}: unexpected field "${key}"`);
    }
    const { dtype, shape, data_offsets: offsets } = raw;
    if (typeof dtype !== "string") fail(`${where}: dtype is missing or not a string`);
    if (fromSafetensorsDType(dtype) === undefined) {
      fail(`${where}: unsupported dtype "${dtype}" (supported: ${Object.keys(FROM_ST).join(", ")})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      fail(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`${where}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    let elements = 1n;
    for (const d of shape as number[]) elements *= BigInt(d);
    const expected = elements * BigInt(DTYPE_BYTES[FROM_ST[dtype as SafetensorsDType]]);
    if (expected !== BigInt(end - begin)) {
      fail(
        `${where}: shape [${(shape as number[]).join(", ")}] × ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    tensors.push({ name, dtype: dtype as SafetensorsDType, shape: shape as number[], data_offsets: [begin, end] });
  }

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  tensors.sort((a, b) => a.data_offsets[0] - b.data_offsets[0] || a.data_offsets[1] - b.data_offsets[1]);
  let cursor = 0;
  let previous: string | undefined;
  for (const t of tensors) {
    const [begin, end] = t.data_offsets;
    if (begin < cursor) {
      fail(
        `tensor "${t.name}": data_offsets [${begin}, ${end}] overlap tensor "${previous}" (which ends at ${cursor})`,
      );
    }
    if (begin > cursor) {
      fail(
        `tensor "${t.name}": data_offsets [${begin}, ${end}] leave bytes ${cursor}..${begin} of the data buffer unused`,
      );
    }
    if (end > dataLength) {
      fail(`tensor "${t.name}": data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data buffer`);
    }
    cursor = end;
    previous = t.name;
  }
  if (cursor !== dataLength) {
    fail(`tensors cover ${cursor} bytes but the data buffer has ${dataLength} (trailing bytes after the last tensor)`);
  }
  return { tensors, metadata, dataStart };
}

function readData(dtype: DType, src: Uint8Array, count: number): TensorData<DType> {
  const width = DTYPE_BYTES[dtype];
  const buffer = new ArrayBuffer(count * width);
  const dst = new Uint8Array(buffer);
  if (LITTLE_ENDIAN) {
    dst.set(src);
  } else {
    for (let i = 0; i < src.length; i += width) {
      for (let j = 0; j < width; j++) dst[i + j] = src[i + width - 1 - j] as number;
    }
  }
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer);
    case "float16":
      return new Uint16Array(buffer);
    case "int64":
      return new BigInt64Array(buffer);
    case "int32":
      return new Int32Array(buffer);
  }
}

/**
 * Parses safetensors bytes into tensors (copies: the result does not alias `bytes`) and metadata.
 * Throws IntegrityError naming the tensor for any malformed header, dtype, shape or offsets.
 */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  const header = decodeSafetensorsHeader(bytes);
  const tensors: Record<string, Tensor> = {};
  for (const info of header.tensors) {
    const dtype = FROM_ST[info.dtype];
    const [begin, end] = info.data_offsets;
    const data = readData(dtype, bytes.subarray(header.dataStart + begin, header.dataStart + end), numel(info.shape));
    defineEntry(tensors, info.name, new Tensor(dtype, data, info.shape));
  }
  return { tensors, metadata: header.metadata };
}
