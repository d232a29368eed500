/**
 * Latents of a stage task in the blob store: reading inputs by reference (hash verified, errors
 * naming the task field); writing outputs under deterministic keys with the task's fingerprint, and
 * finding them again when a task runs a second time (a redelivery after a lost ack or a crash).
 * Reads and writes are traced as the spans `fetch latents` and `store latents`.
 */
import { createHash } from "node:crypto";
import {
  type LatentRef as BlobLatentRef,
  type BlobStore,
  DEFAULT_TENSOR_NAME,
  getTensor,
  putTensor,
} from "@longshot/blob";
import { IntegrityError, InvalidArgumentError, type Logger, NotFoundError } from "@longshot/core";
import { dataTypeOf, dtypeOf, type LatentRef, StageTask } from "@longshot/proto";
import {
  ATTR_LONGSHOT_LATENTS_BYTES,
  ATTR_LONGSHOT_LATENTS_FIELD,
  ATTR_LONGSHOT_LATENTS_SHA256_OK,
  ATTR_LONGSHOT_LATENTS_URI,
  SPAN_FETCH_LATENTS,
  SPAN_STORE_LATENTS,
  withSpan,
} from "@longshot/telemetry";
import { decodeSafetensors, type Tensor } from "@longshot/tensor";

/** A proto LatentRef as @longshot/blob's LatentRef; a bad dtype is InvalidArgumentError(`<field>.dtype`). */
export function blobLatentRef(ref: LatentRef, field: string): BlobLatentRef {
  return {
    uri: ref.uri,
    shape: [...ref.shape],
    dtype: dtypeOf(ref.dtype, `${field}.dtype`),
    sha256: ref.sha256,
    bytes: Number(ref.bytes),
  };
}

/** @longshot/blob's LatentRef as a proto LatentRef. */
export function protoLatentRef(ref: BlobLatentRef): LatentRef {
  return {
    uri: ref.uri,
    shape: [...ref.shape],
    dtype: dataTypeOf(ref.dtype),
    sha256: ref.sha256,
    bytes: BigInt(ref.bytes),
  };
}

/**
 * Reads an input tensor by reference, verifying size, SHA-256, dtype and shape. Errors name the
 * task field and the object: IntegrityError (corrupt: permanent for this task), NotFoundError
 * (missing), InvalidArgumentError (`<field>.uri` not in this store), UnavailableError (retry).
 * Traced as the span `fetch latents` (field, URI, bytes, whether the object matched its ref).
 */
export async function readLatent(store: BlobStore, ref: LatentRef, field: string): Promise<Tensor> {
  const attributes = {
    [ATTR_LONGSHOT_LATENTS_FIELD]: field,
    [ATTR_LONGSHOT_LATENTS_URI]: ref.uri,
    [ATTR_LONGSHOT_LATENTS_BYTES]: Number(ref.bytes),
  };
  return withSpan(SPAN_FETCH_LATENTS, attributes, async (span) => {
    try {
      const tensor = await fetchLatent(store, ref, field);
      span.setAttribute(ATTR_LONGSHOT_LATENTS_SHA256_OK, true);
      return tensor;
    } catch (err) {
      if (err instanceof IntegrityError) span.setAttribute(ATTR_LONGSHOT_LATENTS_SHA256_OK, false);
      throw err;
    }
  });
}

async function fetchLatent(store: BlobStore, ref: LatentRef, field: string): Promise<Tensor> {
  const blobRef = blobLatentRef(ref, field);
  try {
    return await getTensor(store, blobRef);
  } catch (err) {
    if (err instanceof IntegrityError) throw new IntegrityError(`${field}: ${err.message}`, { cause: err });
    if (err instanceof NotFoundError) throw new NotFoundError(`${field}: ${err.message}`, { cause: err });
    if (err instanceof InvalidArgumentError) {
      throw new InvalidArgumentError(`${field}.uri`, err.message.slice(err.field.length + 2), { cause: err });
    }
    throw err;
  }
}

/** Safetensors metadata key holding the fingerprint of the task that wrote the file. */
export const FINGERPRINT_METADATA = "longshot.task";

/**
 * The fingerprint of what a task computes: SHA-256 of the task without its task id and trace context
 * (job, seed, pack, sampler, params with the input hashes). Two tasks with the same fingerprint write
 * the same output.
 */
export function taskFingerprint(task: StageTask): string {
  const bytes = StageTask.encode({ ...task, taskId: "", traceContext: {} }).finish();
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Writes a tensor as a safetensors object under `key`, stamped with the task's fingerprint. Traced as the
 * span `store latents` (URI, bytes written).
 */
export function putLatent(store: BlobStore, key: string, tensor: Tensor, fingerprint: string): Promise<BlobLatentRef> {
  return withSpan(SPAN_STORE_LATENTS, {}, async (span) => {
    span.setAttribute(ATTR_LONGSHOT_LATENTS_URI, store.uriFor(key));
    const ref = await putTensor(store, tensor, { key, metadata: { [FINGERPRINT_METADATA]: fingerprint } });
    span.setAttribute(ATTR_LONGSHOT_LATENTS_BYTES, ref.bytes);
    return ref;
  });
}

/**
 * The output a previous run of the same task left under `key`, when it is intact and was written
 * for this fingerprint; undefined otherwise (then the task computes it again and overwrites the key).
 * Needs the store to keep each object's SHA-256 (S3 metadata): a directory store never reuses.
 */
export async function findReusableLatent(
  store: BlobStore,
  key: string,
  fingerprint: string,
  logger: Logger,
): Promise<BlobLatentRef | undefined> {
  const stat = await statOrUndefined(store, key);
  if (stat?.sha256 === undefined) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = await store.get(store.refFor(key, stat.sha256, stat.bytes));
  } catch (err) {
    if (err instanceof IntegrityError || err instanceof NotFoundError) {
      logger.warn({ key, err: (err as Error).message }, "previous output is damaged; computing it again");
      return undefined;
    }
    throw err;
  }
  let tensors: Record<string, Tensor>;
  let metadata: Record<string, string> | undefined;
  try {
    ({ tensors, metadata } = decodeSafetensors(bytes));
  } catch {
    logger.warn({ key }, "previous output is not a safetensors file; computing it again");
    return undefined;
  }
  if (metadata?.[FINGERPRINT_METADATA] !== fingerprint) return undefined;
  const tensor = tensors[DEFAULT_TENSOR_NAME];
  if (tensor === undefined) return undefined;
  return { uri: stat.uri, shape: [...tensor.dims], dtype: tensor.dtype, sha256: stat.sha256, bytes: stat.bytes };
}

/** stat(), with a missing key as undefined. */
export async function statOrUndefined(store: BlobStore, key: string) {
  try {
    return await store.stat(key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}
