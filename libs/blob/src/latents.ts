import { IntegrityError, InvalidArgumentError } from "@longshot/core";
import { type DType, decodeSafetensors, encodeSafetensors, type Tensor } from "@longshot/tensor";
import type { BlobStore } from "./blob-store.js";

/** A tensor stored as a safetensors blob: where it is, what it holds, and what its bytes hash to. */
export interface LatentRef {
  uri: string;
  shape: number[];
  dtype: DType;
  /** SHA-256 (hex) of the safetensors file. */
  sha256: string;
  /** Size of the safetensors file in bytes. */
  bytes: number;
}

export const SAFETENSORS_CONTENT_TYPE = "application/vnd.safetensors";
/** The tensor name used inside the file unless another is given. */
export const DEFAULT_TENSOR_NAME = "latent";

const DTYPES: readonly DType[] = ["float32", "float16", "int64", "int32"];

export interface PutTensorOptions {
  /** Deterministic key (idempotent stage output); otherwise content-addressed under `prefix`. */
  key?: string;
  prefix?: string;
  /** Tensor name inside the file (default "latent"). */
  name?: string;
  /** String metadata stored in the safetensors header. */
  metadata?: Record<string, string>;
}

/** Stores a tensor as a one-tensor safetensors file and returns its LatentRef. */
export async function putTensor(store: BlobStore, tensor: Tensor, opts: PutTensorOptions = {}): Promise<LatentRef> {
  const name = opts.name ?? DEFAULT_TENSOR_NAME;
  const file = encodeSafetensors({ [name]: tensor }, opts.metadata);
  const ref =
    opts.key !== undefined
      ? await store.putAt(opts.key, file, { contentType: SAFETENSORS_CONTENT_TYPE })
      : await store.put(file, {
          contentType: SAFETENSORS_CONTENT_TYPE,
          ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
        });
  return { uri: ref.uri, shape: [...tensor.dims], dtype: tensor.dtype, sha256: ref.sha256, bytes: ref.bytes };
}

function validateLatentRef(ref: unknown): LatentRef {
  if (ref === null || typeof ref !== "object") throw new InvalidArgumentError("ref", "must be a LatentRef object");
  const r = ref as Partial<LatentRef>;
  if (!Array.isArray(r.shape) || !r.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidArgumentError("ref.shape", `${JSON.stringify(r.shape)} is not a list of non-negative integers`);
  }
  if (typeof r.dtype !== "string" || !DTYPES.includes(r.dtype as DType)) {
    throw new InvalidArgumentError("ref.dtype", `${JSON.stringify(r.dtype)} is not one of ${DTYPES.join(", ")}`);
  }
  return r as LatentRef;
}

/**
 * Reads a tensor written by putTensor: verifies the blob's hash and size, decodes the safetensors file,
 * and checks that its dtype and shape are those the ref promises (IntegrityError otherwise).
 */
export async function getTensor(store: BlobStore, ref: LatentRef, opts: { name?: string } = {}): Promise<Tensor> {
  validateLatentRef(ref);
  const key = store.keyOf(ref.uri);
  const bytes = await store.get({ uri: ref.uri, key, sha256: ref.sha256, bytes: ref.bytes });
  let tensors: Record<string, Tensor>;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (err) {
    throw new IntegrityError(`latent ${ref.uri}: ${(err as Error).message}`, { cause: err });
  }
  const names = Object.keys(tensors);
  const name = opts.name ?? (names.length === 1 ? (names[0] as string) : DEFAULT_TENSOR_NAME);
  const tensor = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
  if (!tensor) {
    throw new IntegrityError(
      `latent ${ref.uri}: no tensor "${name}" in the file (it holds: ${names.join(", ") || "nothing"})`,
    );
  }
  const sameShape = tensor.dims.length === ref.shape.length && tensor.dims.every((d, i) => d === ref.shape[i]);
  if (tensor.dtype !== ref.dtype || !sameShape) {
    throw new IntegrityError(
      `latent ${ref.uri}: stored tensor "${name}" is ${tensor.dtype} [${tensor.dims.join(", ")}] but the ref says ${ref.dtype} [${ref.shape.join(", ")}]`,
    );
  }
  return tensor;
}
