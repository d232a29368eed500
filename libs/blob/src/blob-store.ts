import { createHash } from "node:crypto";
import { IntegrityError, InvalidArgumentError } from "@longshot/core";

/** Where a stored blob is and what it must hash to. */
export interface BlobRef {
  /** `s3://bucket/key` or `file:///abs/path` */
  uri: string;
  key: string;
  /** Lowercase hex SHA-256 of the bytes. */
  sha256: string;
  /** Length in bytes. */
  bytes: number;
}

export interface BlobStat {
  key: string;
  uri: string;
  bytes: number;
  lastModified: Date;
  /** The SHA-256 recorded at write time, when the backend keeps it (S3 object metadata). */
  sha256?: string;
  contentType?: string;
}

export interface PutOptions {
  /** Default application/octet-stream. */
  contentType?: string;
  /** Key prefix for content-addressed puts: the key becomes `<prefix>/sha256/<hex>`. */
  prefix?: string;
}

export interface PutAtOptions {
  contentType?: string;
}

/**
 * Blob storage for stage outputs. Every read is verified against the SHA-256 recorded in its BlobRef.
 * Errors: InvalidArgumentError (bad key/ref/argument), NotFoundError (missing key, naming the location
 * and key), IntegrityError (hash or size mismatch: the bytes must not be used), UnavailableError (the
 * backend cannot be reached: retry later).
 */
export interface BlobStore {
  readonly kind: "fs" | "s3";
  /** Stores bytes under a content-addressed key, `<prefix>/sha256/<hex>` (or `sha256/<hex>`). */
  put(bytes: Uint8Array, opts?: PutOptions): Promise<BlobRef>;
  /** Stores bytes under a caller-chosen deterministic key (idempotent stage outputs); replaces what was there. */
  putAt(key: string, bytes: Uint8Array, opts?: PutAtOptions): Promise<BlobRef>;
  /** Reads the blob and verifies its length and SHA-256 against the ref. */
  get(ref: BlobRef): Promise<Uint8Array>;
  /** Size, time and recorded hash of a key; NotFoundError if absent. */
  stat(key: string): Promise<BlobStat>;
  exists(key: string): Promise<boolean>;
  /** Removes a key; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Removes every key starting with `prefix` (non-empty); returns how many were removed. */
  deletePrefix(prefix: string): Promise<number>;
  /** A URL that fetches the key without credentials for `expirySeconds` (1..604800). fs: a file:// URL. */
  presignGet(key: string, expirySeconds: number): Promise<string>;
  /** The URI a key has in this store. */
  uriFor(key: string): string;
  /** The key of a URI of this store; InvalidArgumentError for a URI of another store. */
  keyOf(uri: string): string;
  /** A BlobRef for a key whose hash and size are known (e.g. from a job message). */
  refFor(key: string, sha256: string, bytes: number): BlobRef;
}

export const MAX_KEY_BYTES = 1024;
/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 604_800;
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

const utf8 = new TextEncoder();
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks an object key: 1..1024 UTF-8 bytes, `/`-separated non-empty segments, none of them `.` or `..`,
 * no leading or trailing `/`, no backslash or control characters. The same rule holds for every store,
 * so a key valid on the filesystem is valid on S3 and never escapes a directory.
 */
export function validateKey(key: unknown, field = "key"): string {
  if (typeof key !== "string") throw new InvalidArgumentError(field, `must be a string, got ${typeof key}`);
  if (key.length === 0) throw new InvalidArgumentError(field, "is empty");
  if (utf8.encode(key).length > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(field, `"${key.slice(0, 64)}…" is longer than ${MAX_KEY_BYTES} bytes`);
  }
  if (CONTROL.test(key)) throw new InvalidArgumentError(field, `${JSON.stringify(key)} contains control characters`);
  if (key.includes("\\")) throw new InvalidArgumentError(field, `"${key}" contains a backslash`);
  if (key.startsWith("/")) throw new InvalidArgumentError(field, `"${key}" starts with "/"`);
  if (key.endsWith("/")) throw new InvalidArgumentError(field, `"${key}" ends with "/"`);
  for (const segment of key.split("/")) {
    if (segment === "") throw new InvalidArgumentError(field, `"${key}" has an empty path segment ("//")`);
    if (segment === "." || segment === "..") {
      throw new InvalidArgumentError(field, `"${key}" has a "${segment}" path segment`);
    }
  }
  return key;
}

/** Checks a key prefix (as validateKey, but a trailing "/" is allowed); returns it unchanged. */
export function validatePrefix(prefix: unknown, field = "prefix"): string {
  if (typeof prefix !== "string") throw new InvalidArgumentError(field, `must be a string, got ${typeof prefix}`);
  if (prefix.length === 0) throw new InvalidArgumentError(field, "is empty");
  validateKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix, field);
  return prefix;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The content-addressed key of bytes with hash `hex` under `prefix` (trailing slashes ignored). */
export function contentKey(hex: string, prefix?: string): string {
  if (prefix === undefined || prefix === "") return `sha256/${hex}`;
  const p = validatePrefix(prefix).replace(/\/+$/, "");
  return validateKey(`${p}/sha256/${hex}`);
}

export function validateBytes(bytes: unknown, field = "bytes"): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(field, "must be a Uint8Array");
  return bytes;
}

export function validateExpiry(expirySeconds: unknown): number {
  if (
    typeof expirySeconds !== "number" ||
    !Number.isInteger(expirySeconds) ||
    expirySeconds < 1 ||
    expirySeconds > MAX_PRESIGN_SECONDS
  ) {
    throw new InvalidArgumentError(
      "expirySeconds",
      `${String(expirySeconds)} is not an integer in 1..${MAX_PRESIGN_SECONDS} (7 days, the SigV4 limit)`,
    );
  }
  return expirySeconds;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Checks the shape of a BlobRef (not that it belongs to a store). */
export function validateRef(ref: unknown, field = "ref"): BlobRef {
  if (ref === null || typeof ref !== "object") throw new InvalidArgumentError(field, "must be a BlobRef object");
  const r = ref as Partial<BlobRef>;
  if (typeof r.uri !== "string" || r.uri === "") throw new InvalidArgumentError(`${field}.uri`, "is missing");
  validateKey(r.key, `${field}.key`);
  if (typeof r.sha256 !== "string" || !HEX64.test(r.sha256)) {
    throw new InvalidArgumentError(`${field}.sha256`, `${JSON.stringify(r.sha256)} is not 64 lowercase hex digits`);
  }
  if (typeof r.bytes !== "number" || !Number.isSafeInteger(r.bytes) || r.bytes < 0) {
    throw new InvalidArgumentError(`${field}.bytes`, `${JSON.stringify(r.bytes)} is not a byte count`);
  }
  return r as BlobRef;
}

/** Throws IntegrityError unless `data` has the ref's length and SHA-256. `where` names the store location. */
export function verifyBlob(where: string, ref: BlobRef, data: Uint8Array): void {
  const actual = sha256Hex(data);
  if (data.length !== ref.bytes || actual !== ref.sha256) {
    throw new IntegrityError(
      `blob ${where} key "${ref.key}": content does not match its ref: ` +
        `expected sha256 ${ref.sha256} (${ref.bytes} bytes), actual sha256 ${actual} (${data.length} bytes)`,
    );
  }
}
