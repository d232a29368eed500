import { InvalidArgumentError } from "@longshot/core";

export type DType = "float32" | "float16" | "int64" | "int32";

export type TensorData<T extends DType> = T extends "float32"
  ? Float32Array
  : T extends "float16"
    ? Uint16Array
    : T extends "int64"
      ? BigInt64Array
      : Int32Array;

/** Bytes per element of each dtype. float16 is stored as raw IEEE half bits in a Uint16Array. */
export const DTYPE_BYTES: Record<DType, number> = { float32: 4, float16: 2, int64: 8, int32: 4 };

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A dense row-major tensor: dims, dtype and a typed array of exactly numel(dims) elements. */
export class Tensor<T extends DType = DType> {
  readonly dtype: T;
  readonly dims: readonly number[];
  readonly data: TensorData<T>;

  constructor(dtype: T, data: TensorData<T>, dims: readonly number[]) {
    for (const d of dims) {
      if (!Number.isInteger(d) || d < 0)
        throw new InvalidArgumentError("dims", `invalid dimension ${d} in [${dims.join(", ")}]`);
    }
    if (data.length !== numel(dims)) {
      throw new InvalidArgumentError(
        "data",
        `has ${data.length} elements, dims [${dims.join(", ")}] need ${numel(dims)}`,
      );
    }
    this.dtype = dtype;
    this.data = data;
    this.dims = Object.freeze([...dims]);
  }

  get size(): number {
    return this.data.length;
  }

  static zeros(dims: readonly number[]): Tensor<"float32"> {
    return new Tensor("float32", new Float32Array(numel(dims)), dims);
  }
}
