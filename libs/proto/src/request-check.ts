/**
 * The strict reading of a request body, before any handler sees it. grpc-js answers a body its
 * deserializer cannot read with INTERNAL "Error deserializing request", and ts-proto's decoder is
 * lenient: it stops quietly at an end-group tag or field number 0, and replaces invalid UTF-8 in a
 * string field with U+FFFD. `checkMessageBytes` walks the body on the wire against the message's
 * schema (the FileDescriptorSet generated with the code) and refuses, as INVALID_ARGUMENT:
 *
 * - a body that is not a protobuf message (truncated varint, a length past the end, an illegal tag or
 *   wire type, a nested message that does not parse): `UndecodableRequestError`;
 * - a string field (at any depth: nested messages, repeated fields, map keys and values) whose bytes
 *   are not valid UTF-8, as proto3 requires: `InvalidArgumentError` naming the field path
 *   ("prompt", "task.job_id", "task.trace_context[\"traceparent\"]", "states[2]").
 *
 * `defineService` applies it to every method of every service (see handlers.ts).
 */
import { isUtf8 } from "node:buffer";
import {
  createFileRegistry,
  type DescField,
  type DescMessage,
  type FileRegistry,
  fromBinary,
  ScalarType,
} from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { fileDescriptorSetBase64 } from "./gen/descriptor-set.js";

/** A request body that is not an encoded protobuf message of the method's request type. */
export class UndecodableRequestError extends LongshotError {
  /** The request type, e.g. "longshot.v1.GenerateRequest" (or the RPC path when the schema does not know it). */
  readonly messageType: string;
  constructor(messageType: string, reason: string, options?: { cause?: unknown }) {
    super(`the request body could not be decoded as ${messageType}: ${reason}`, {
      code: "INVALID_ARGUMENT",
      ...options,
    });
    this.name = "UndecodableRequestError";
    this.messageType = messageType;
  }
}

/** Nesting depth at which a body is refused (protobuf's own default limit). */
const MAX_DEPTH = 100;

let registry: FileRegistry | undefined;

function schema(): FileRegistry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(fileDescriptorSetBase64, "base64")));
  return registry;
}

/**
 * The request message of an RPC path ("/longshot.v1.VideoService/Generate"), from the generated
 * schema; undefined when the schema has no such method.
 */
export function requestTypeOf(path: string): DescMessage | undefined {
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!match) return undefined;
  const service = schema().getService(match[1] as string);
  return service?.methods.find((m) => m.name === match[2])?.input;
}

/** A failure of the wire reader (truncation, illegal tag): becomes UndecodableRequestError at the top. */
class WireError extends Error {}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function checkString(bytes: Uint8Array, field: string): void {
  if (!isUtf8(bytes)) throw new InvalidArgumentError(field, "not valid UTF-8");
}

/** Reads a length-delimited field's bytes; a length past the end is a WireError. */
function lengthDelimited(reader: BinaryReader): Uint8Array {
  try {
    return reader.bytes();
  } catch (err) {
    throw new WireError(reasonOf(err));
  }
}

/** The UTF-8 text of a map key or a string, for a field path (already checked). */
function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

/** One map entry (key = 1, value = 2): checks string keys and values and message values. */
function walkMapEntry(field: DescField & { fieldKind: "map" }, bytes: Uint8Array, path: string, depth: number): void {
  const reader = new BinaryReader(bytes);
  let key: Uint8Array | undefined;
  let value: Uint8Array | undefined;
  while (reader.pos < reader.len) {
    const [no, wireType] = tagOf(reader);
    if (wireType === WireType.LengthDelimited && (no === 1 || no === 2)) {
      const data = lengthDelimited(reader);
      if (no === 1) key = data;
      else value = data;
    } else skipField(reader, wireType, no);
  }
  if (key !== undefined && field.mapKey === ScalarType.STRING) {
    if (!isUtf8(key)) throw new InvalidArgumentError(path, "a key is not valid UTF-8");
  }
  if (value === undefined) return;
  // The value's path names its key when the key is a (valid) string: trace_context["traceparent"].
  const where =
    key !== undefined && field.mapKey === ScalarType.STRING ? `${path}[${JSON.stringify(text(key))}]` : path;
  if (field.mapKind === "scalar" && field.scalar === ScalarType.STRING) {
    if (!isUtf8(value))
      throw new InvalidArgumentError(where, where === path ? "a value is not valid UTF-8" : "not valid UTF-8");
  } else if (field.mapKind === "message") walk(field.message, value, `${where}.`, depth + 1);
}

function tagOf(reader: BinaryReader): [number, WireType] {
  let tag: [number, WireType];
  try {
    tag = reader.tag();
  } catch (err) {
    throw new WireError(reasonOf(err));
  }
  if (tag[1] === WireType.EndGroup) throw new WireError(`end-group tag of field ${tag[0]} without a start`);
  return tag;
}

function skipField(reader: BinaryReader, wireType: WireType, no: number): void {
  try {
    reader.skip(wireType, no);
  } catch (err) {
    throw new WireError(reasonOf(err));
  }
}

/**
 * Walks one message's bytes. `prefix` is the path of the message ("" at the top, "task." inside);
 * fields the schema does not know are skipped (but must be well-formed).
 */
function walk(desc: DescMessage | undefined, bytes: Uint8Array, prefix: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new WireError(`messages nested deeper than ${MAX_DEPTH}`);
  const reader = new BinaryReader(bytes);
  const seen = new Map<number, number>();
  while (reader.pos < reader.len) {
    const [no, wireType] = tagOf(reader);
    const field = desc?.fields.find((f) => f.number === no);
    if (field === undefined || wireType !== WireType.LengthDelimited) {
      skipField(reader, wireType, no);
      continue;
    }
    const data = lengthDelimited(reader);
    const name = `${prefix}${field.name}`;
    switch (field.fieldKind) {
      case "scalar":
        if (field.scalar === ScalarType.STRING) checkString(data, name);
        break;
      case "message":
        walk(field.message, data, `${name}.`, depth + 1);
        break;
      case "list": {
        // Packed scalars and enums come as one length-delimited run: nothing to check in them.
        if (field.listKind === "enum" || (field.listKind === "scalar" && field.scalar !== ScalarType.STRING)) break;
        const index = seen.get(no) ?? 0;
        seen.set(no, index + 1);
        if (field.listKind === "scalar") checkString(data, `${name}[${index}]`);
        else walk(field.message, data, `${name}[${index}].`, depth + 1);
        break;
      }
      case "map":
        walkMapEntry(field, data, name, depth + 1);
        break;
      case "enum":
        break; // an enum is a varint; a length-delimited one is an unknown field to protobuf
    }
  }
}

/**
 * Checks an encoded message of type `desc` (undefined: the schema does not know it, only the wire
 * format is checked). Throws UndecodableRequestError when the bytes are not a protobuf message, and
 * InvalidArgumentError naming the field when a string field is not valid UTF-8. `typeName` names the
 * type in the error when `desc` is undefined.
 */
export function checkMessageBytes(desc: DescMessage | undefined, bytes: Uint8Array, typeName?: string): void {
  try {
    walk(desc, bytes, "", 0);
  } catch (err) {
    if (err instanceof LongshotError) throw err;
    throw new UndecodableRequestError(desc?.typeName ?? typeName ?? "the request type", reasonOf(err), {
      cause: err,
    });
  }
}
