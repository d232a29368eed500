/** Messages between the main thread (runtime.ts) and an ONNX worker (ort-worker.ts). */
import type { DType } from "@longshot/tensor";
import type { WireError } from "./wire-errors.js";

export type ExecutionProvider = "cpu" | "cuda";

/** Passed as workerData. */
export interface WorkerConfig {
  executionProvider: ExecutionProvider;
  /** intraOpNumThreads; undefined lets onnxruntime decide. */
  threads: number | undefined;
  /** CUDA device ordinal (cuda only). */
  deviceId: number;
  /** session.intra_op.allow_spinning. */
  spinning: boolean;
}

export interface WireTensor {
  dtype: DType;
  dims: number[];
  data: Float32Array | Uint16Array | BigInt64Array | Int32Array;
}

export interface WireValueMetadata {
  name: string;
  /** undefined when the value is not a tensor (sequence, map). */
  dtype: string | undefined;
  /** Numbers are fixed, strings are symbolic ("" when the exporter left the axis unnamed). */
  shape: Array<number | string> | undefined;
}

export type WorkerRequest =
  | { id: number; op: "load"; sessionId: number; graph: string; file: string; sha256: string; bytes: number }
  | { id: number; op: "run"; sessionId: number; feeds: Record<string, WireTensor> }
  | { id: number; op: "release"; sessionId: number };

export interface LoadResult {
  inputs: WireValueMetadata[];
  outputs: WireValueMetadata[];
}

export interface RunResult {
  outputs: Record<string, WireTensor>;
  /** Milliseconds spent inside session.run (native time, measured in the worker). */
  runMs: number;
}

/** Memory of the worker's isolate (process.memoryUsage() seen from the worker; rss is process-wide). */
export interface WorkerMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export type WorkerReply =
  | { id: number; ok: true; value: unknown; memory: WorkerMemory }
  | { id: number; ok: false; error: WireError; memory: WorkerMemory };
