import { InvalidArgumentError, LongshotError, NotFoundError, UnavailableError } from "@longshot/core";
import { Client, type LifecycleConfig, type LifecycleRule } from "minio";
import {
  type BlobRef,
  type BlobStat,
  type BlobStore,
  contentKey,
  DEFAULT_CONTENT_TYPE,
  type PutAtOptions,
  type PutOptions,
  sha256Hex,
  validateBytes,
  validateExpiry,
  validateKey,
  validatePrefix,
  validateRef,
  verifyBlob,
} from "./blob-store.js";

export interface S3BlobStoreOptions {
  endPoint: string;
  port?: number;
  useSSL?: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Default us-east-1. */
  region?: string;
  /** Path-style requests (default true: MinIO and local servers). */
  pathStyle?: boolean;
}

/** Object metadata key (sent as x-amz-meta-sha256) holding the hex SHA-256 of the object. */
export const SHA256_METADATA = "sha256";
/** Lifecycle rules written by setExpiry() carry this ID prefix. */
export const EXPIRY_RULE_PREFIX = "longshot-expire:";

const NOT_FOUND_CODES = new Set(["NoSuchKey", "NotFound", "NoSuchBucket"]);
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
  "RequestTimeout",
  "XMinioServerNotInitialized",
]);
const CREDENTIAL_CODES = new Set(["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"]);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: Array<{ code?: unknown }> } | undefined;
  if (typeof e?.code === "string") return e.code;
  if (typeof e?.cause?.code === "string") return e.cause.code;
  // AggregateError from happy-eyeballs connects
  const inner = e?.errors?.find((x) => typeof x?.code === "string");
  return typeof inner?.code === "string" ? inner.code : undefined;
}

/**
 * Builds the lifecycle configuration that adds (or replaces) an expiry rule for `prefix` while keeping
 * every other rule. Pure: exported for tests.
 */
export function withExpiryRule(
  existing: LifecycleConfig | null | undefined,
  prefix: string,
  days: number,
): LifecycleConfig {
  const current = existing?.Rule;
  const rules: LifecycleRule[] = Array.isArray(current) ? [...current] : current ? [current as LifecycleRule] : [];
  const id = `${EXPIRY_RULE_PREFIX}${prefix}`.slice(0, 255);
  const rule: LifecycleRule = { ID: id, Status: "Enabled", Filter: { Prefix: prefix }, Expiration: { Days: days } };
  const kept = rules.filter((r) => r.ID !== id);
  return { Rule: [...kept, rule] };
}

/**
 * A BlobStore on an S3 bucket (MinIO in deployment) through the `minio` client. Each object records its
 * SHA-256 as user metadata; reads verify against the BlobRef. Errors name the bucket and key and wrap the
 * client's error as `cause`: NotFoundError for NoSuchKey/NoSuchBucket, UnavailableError for connection
 * failures and S3 throttling/5xx, FAILED_PRECONDITION for credential errors, UNIMPLEMENTED when the
 * server lacks a feature (e.g. lifecycle on s3rver).
 */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly bucket: string;
  readonly region: string;
  readonly client: Client;
  private readonly where: string;

  constructor(opts: S3BlobStoreOptions) {
    if (!opts || typeof opts !== "object") throw new InvalidArgumentError("opts", "S3 options are required");
    if (typeof opts.bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) {
      throw new InvalidArgumentError("bucket", `"${String(opts.bucket)}" is not a valid S3 bucket name`);
    }
    if (!opts.endPoint) throw new InvalidArgumentError("endPoint", "is required");
    this.bucket = opts.bucket;
    this.region = opts.region ?? "us-east-1";
    this.where = `s3 bucket "${this.bucket}"`;
    try {
      this.client = new Client({
        endPoint: opts.endPoint,
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        useSSL: opts.useSSL ?? false,
        accessKey: opts.accessKey,
        secretKey: opts.secretKey,
        region: this.region,
        pathStyle: opts.pathStyle ?? true,
      });
    } catch (cause) {
      throw new InvalidArgumentError(
        "opts",
        `invalid S3 client options for ${opts.endPoint}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** Maps a client error to a LongshotError naming the operation, bucket and key. */
  private wrap(op: string, key: string | undefined, err: unknown): LongshotError {
    if (err instanceof LongshotError) return err;
    const code = errorCode(err);
    const what = key === undefined ? this.where : `${this.where} key "${key}"`;
    const detail = `${code ?? (err as Error)?.name ?? "Error"}: ${(err as Error)?.message ?? String(err)}`;
    if (code && NOT_FOUND_CODES.has(code)) {
      const missing = code === "NoSuchBucket" ? `bucket "${this.bucket}" does not exist` : "not found";
      return new NotFoundError(`${what}: ${missing} (${op})`, { cause: err });
    }
    if (code && TRANSIENT_CODES.has(code))
      return new UnavailableError(`${what}: ${op} failed: ${detail}`, { cause: err });
    if (code && CREDENTIAL_CODES.has(code)) {
      return new LongshotError(`${what}: ${op} refused, check the S3 credentials and policy: ${detail}`, {
        code: "FAILED_PRECONDITION",
        cause: err,
      });
    }
    if (code === "NotImplemented") {
      return new LongshotError(`${what}: ${op} is not implemented by this S3 server: ${detail}`, {
        code: "UNIMPLEMENTED",
        cause: err,
      });
    }
    return new LongshotError(`${what}: ${op} failed: ${detail}`, { code: "INTERNAL", cause: err });
  }

  /** Creates the bucket if it does not exist (safe to call concurrently). */
  async ensureBucket(): Promise<void> {
    try {
      if (await this.client.bucketExists(this.bucket)) return;
      await this.client.makeBucket(this.bucket, this.region);
    } catch (err) {
      const code = errorCode(err);
      if (code === "BucketAlreadyOwnedByYou" || code === "BucketAlreadyExists") return;
      throw this.wrap("ensureBucket", undefined, err);
    }
  }

  /**
   * Adds (or replaces) a lifecycle rule expiring objects under `prefix` after `days` days: the backstop
   * for intermediates that job completion failed to delete. Other lifecycle rules are kept.
   */
  async setExpiry(prefix: string, days: number): Promise<void> {
    validatePrefix(prefix);
    if (!Number.isInteger(days) || days < 1)
      throw new InvalidArgumentError("days", `${days} is not a whole number of days >= 1`);
    let existing: LifecycleConfig | null = null;
    try {
      existing = await this.client.getBucketLifecycle(this.bucket);
    } catch (err) {
      if (errorCode(err) !== "NoSuchLifecycleConfiguration")
        throw this.wrap(`setExpiry(${prefix}) reading lifecycle`, undefined, err);
    }
    try {
      await this.client.setBucketLifecycle(this.bucket, withExpiryRule(existing, prefix, days));
    } catch (err) {
      throw this.wrap(`setExpiry(${prefix})`, undefined, err);
    }
  }

  /** The bucket's lifecycle rules (empty when none). */
  async lifecycleRules(): Promise<LifecycleRule[]> {
    try {
      const cfg = await this.client.getBucketLifecycle(this.bucket);
      const rules = cfg?.Rule;
      return Array.isArray(rules) ? rules : rules ? [rules as LifecycleRule] : [];
    } catch (err) {
      if (errorCode(err) === "NoSuchLifecycleConfiguration") return [];
      throw this.wrap("getLifecycle", undefined, err);
    }
  }

  uriFor(key: string): string {
    return `s3://${this.bucket}/${validateKey(key)}`;
  }

  keyOf(uri: string): string {
    const prefix = `s3://${this.bucket}/`;
    if (typeof uri !== "string" || !uri.startsWith(prefix)) {
      throw new InvalidArgumentError("uri", `"${String(uri)}" is not in this store (${prefix}…)`);
    }
    return validateKey(uri.slice(prefix.length), "uri");
  }

  refFor(key: string, sha256: string, bytes: number): BlobRef {
    return validateRef({ uri: this.uriFor(key), key, sha256, bytes });
  }

  async put(bytes: Uint8Array, opts: PutOptions = {}): Promise<BlobRef> {
    validateBytes(bytes);
    return this.putAt(contentKey(sha256Hex(bytes), opts.prefix), bytes, opts);
  }

  async putAt(key: string, bytes: Uint8Array, opts: PutAtOptions = {}): Promise<BlobRef> {
    validateKey(key);
    validateBytes(bytes);
    const sha256 = sha256Hex(bytes);
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    try {
      await this.client.putObject(this.bucket, key, body, body.length, {
        "Content-Type": opts.contentType ?? DEFAULT_CONTENT_TYPE,
        [SHA256_METADATA]: sha256,
      });
    } catch (err) {
      throw this.wrap("putObject", key, err);
    }
    return { uri: this.uriFor(key), key, sha256, bytes: bytes.length };
  }

  async get(ref: BlobRef): Promise<Uint8Array> {
    validateRef(ref);
    const expected = this.uriFor(ref.key);
    if (ref.uri !== expected) {
      throw new InvalidArgumentError("ref.uri", `"${ref.uri}" is not key "${ref.key}" of this store (${expected})`);
    }
    const chunks: Buffer[] = [];
    try {
      const stream = await this.client.getObject(this.bucket, ref.key);
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (err) {
      throw this.wrap("getObject", ref.key, err);
    }
    const data = Buffer.concat(chunks);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    verifyBlob(this.where, ref, bytes);
    return bytes;
  }

  async stat(key: string): Promise<BlobStat> {
    validateKey(key);
    try {
      const s = await this.client.statObject(this.bucket, key);
      const meta = Object.fromEntries(Object.entries(s.metaData ?? {}).map(([k, v]) => [k.toLowerCase(), v])) as Record<
        string,
        unknown
      >;
      const out: BlobStat = { key, uri: this.uriFor(key), bytes: s.size, lastModified: s.lastModified };
      const sha = meta[SHA256_METADATA] ?? meta[`x-amz-meta-${SHA256_METADATA}`];
      if (typeof sha === "string") out.sha256 = sha;
      if (typeof meta["content-type"] === "string") out.contentType = meta["content-type"];
      return out;
    } catch (err) {
      // HEAD answers carry no error body: a bare 404 may mean a missing key or a missing bucket.
      if (errorCode(err) === "NotFound" && !(await this.client.bucketExists(this.bucket).catch(() => true))) {
        throw this.wrap(
          "statObject",
          key,
          Object.assign(new Error(`bucket ${this.bucket} does not exist`), { code: "NoSuchBucket", cause: err }),
        );
      }
      throw this.wrap("statObject", key, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.stat(key);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError && errorCode(err.cause) !== "NoSuchBucket") return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      await this.client.removeObject(this.bucket, key);
    } catch (err) {
      if (errorCode(err) === "NoSuchKey") return;
      throw this.wrap("removeObject", key, err);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    validatePrefix(prefix);
    const keys: string[] = [];
    try {
      const stream = this.client.listObjectsV2(this.bucket, prefix, true);
      for await (const item of stream) {
        const name = (item as { name?: string }).name;
        if (name) keys.push(name);
      }
    } catch (err) {
      throw this.wrap(`listObjectsV2(prefix ${prefix})`, undefined, err);
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let results: Awaited<ReturnType<Client["removeObjects"]>>;
      try {
        results = await this.client.removeObjects(this.bucket, batch);
      } catch (err) {
        throw this.wrap(`removeObjects(prefix ${prefix})`, batch[0], err);
      }
      const failed = (results ?? []).filter((r) => r?.Error && r.Error.Code !== "NoSuchKey");
      if (failed.length > 0) {
        const first = failed[0]?.Error;
        throw new LongshotError(
          `${this.where}: deletePrefix("${prefix}") could not delete ${failed.length} object(s), first key "${first?.Key}": ${first?.Code} ${first?.Message}`,
          { code: "INTERNAL" },
        );
      }
    }
    return keys.length;
  }

  async presignGet(key: string, expirySeconds: number): Promise<string> {
    validateKey(key);
    validateExpiry(expirySeconds);
    try {
      return await this.client.presignedGetObject(this.bucket, key, expirySeconds);
    } catch (err) {
      throw this.wrap("presignedGetObject", key, err);
    }
  }
}
