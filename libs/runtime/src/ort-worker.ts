/**
 * Worker thread entry: hosts onnxruntime-node sessions so that session creation and session.run (synchronous
 * native work) never block the main thread's event loop. The main thread (runtime.ts) sends one request at a
 * time per worker and checks inputs and outputs against the pack contract; this side only loads, runs and
 * releases, and reports errors as WireError.
 */
import "./float16-guard.js";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { ConfigError, IntegrityError, LongshotError } from "@longshot/core";
import type { DType } from "@longshot/tensor";
import * as ort from "onnxruntime-node";
import type {
  LoadResult,
  RunResult,
  WireTensor,
  WireValueMetadata,
  WorkerConfig,
  WorkerMemory,
  WorkerReply,
  WorkerRequest,
} from "./protocol.js";
import { toWireError } from "./wire-errors.js";

const port = parentPort;
if (!port) throw new Error("ort-worker.js must be started as a worker thread");
const config = workerData as WorkerConfig;

const sessions = new Map<number, { graph: string; session: ort.InferenceSession }>();

function memory(): WorkerMemory {
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapTotal: m.heapTotal,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

function sessionOptions(): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: config.executionProvider === "cuda" ? [{ name: "cuda", deviceId: config.deviceId }] : ["cpu"],
    graphOptimizationLevel: "all",
  };
  if (config.threads !== undefined) options.intraOpNumThreads = config.threads;
  return options;
}

/**
 * Session config entries (onnxruntime_session_options_config_keys.h). Intra-op threads spin between runs only when
 * asked (ModelRuntimeOptions.spinning): measured on 2 cores shared with other work, spinning threads made each UNet
 * call of the next run (and whatever else ran on the cores) slower, 1.4-2.6x at the median (docs/benchmarks.md).
 */
function sessionConfig(file: string): Record<string, string> {
  return {
    // A graph over 2 GB keeps its weights in an ONNX external data file beside it (listed and hashed in
    // pack.json, verified by loadPack); onnxruntime resolves it in the graph's folder, never outside it.
    model_external_initializers_file_folder_path: dirname(file),
    "intra_op.allow_spinning": config.spinning ? "1" : "0",
  };
}

function metadata(list: readonly ort.InferenceSession.ValueMetadata[]): WireValueMetadata[] {
  return list.map((m) =>
    m.isTensor
      ? { name: m.name, dtype: m.type, shape: [...m.shape] }
      : { name: m.name, dtype: undefined, shape: undefined },
  );
}

async function load(req: Extract<WorkerRequest, { op: "load" }>): Promise<LoadResult> {
  // Read and verify the exact bytes handed to onnxruntime: the pack was verified at loadPack time, but the file
  // may have changed since, and ORT must never parse unverified bytes.
  const bytes = readFileSync(req.file);
  if (bytes.length !== req.bytes) {
    throw new IntegrityError(`graph ${req.graph}: ${req.file} has ${bytes.length} bytes, pack.json says ${req.bytes}`);
  }
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== req.sha256) {
    throw new IntegrityError(
      `graph ${req.graph}: ${req.file} changed after the pack was verified: sha256 expected ${req.sha256}, got ${actual}`,
    );
  }
  if (config.executionProvider === "cuda" && !ort.listSupportedBackends().some((b) => b.name === "cuda")) {
    const names = ort
      .listSupportedBackends()
      .map((b) => b.name)
      .join(", ");
    throw new ConfigError(`this onnxruntime-node build has no CUDA execution provider (it has: ${names})`);
  }
  const session = await ort.InferenceSession.create(bytes, {
    ...sessionOptions(),
    extra: { session: sessionConfig(req.file) },
  });
  sessions.set(req.sessionId, { graph: req.graph, session });
  return { inputs: metadata(session.inputMetadata), outputs: metadata(session.outputMetadata) };
}

const DTYPES: readonly string[] = ["float32", "float16", "int64", "int32"];

function toWire(name: string, graph: string, value: ort.OnnxValue): WireTensor {
  const tensor = value as ort.Tensor;
  if (!DTYPES.includes(tensor.type)) {
    throw new LongshotError(
      `graph ${graph}: output "${name}" has dtype ${tensor.type}, which longshot tensors cannot hold`,
    );
  }
  let data = tensor.data as ArrayBufferView;
  // float16 must reach the main thread as raw bits in a Uint16Array (see float16-guard.ts).
  if (tensor.type === "float16" && !(data instanceof Uint16Array)) {
    data = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  }
  // Outputs are transferred, not copied: make sure each owns its whole ArrayBuffer.
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer)) {
    const Ctor = data.constructor as new (src: ArrayBufferView) => ArrayBufferView;
    data = new Ctor(data);
  }
  return { dtype: tensor.type as DType, dims: [...tensor.dims], data: data as WireTensor["data"] };
}

async function run(req: Extract<WorkerRequest, { op: "run" }>): Promise<{ value: RunResult; transfer: ArrayBuffer[] }> {
  const entry = sessions.get(req.sessionId);
  if (!entry)
    throw new LongshotError(`session ${req.sessionId} is not loaded in this worker`, { code: "FAILED_PRECONDITION" });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(req.feeds)) feeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
  const start = performance.now();
  const results = await entry.session.run(feeds);
  const runMs = performance.now() - start;
  const outputs: Record<string, WireTensor> = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, value] of Object.entries(results)) {
    const wire = toWire(name, entry.graph, value);
    outputs[name] = wire;
    transfer.push(wire.data.buffer as ArrayBuffer);
  }
  return { value: { outputs, runMs }, transfer };
}

async function release(req: Extract<WorkerRequest, { op: "release" }>): Promise<null> {
  const entry = sessions.get(req.sessionId);
  sessions.delete(req.sessionId);
  if (entry) await entry.session.release();
  return null;
}

async function handle(req: WorkerRequest): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (req.op) {
    case "load":
      return { value: await load(req), transfer: [] };
    case "run":
      return run(req);
    case "release":
      return { value: await release(req), transfer: [] };
    default:
      throw new LongshotError(`unknown worker request ${JSON.stringify((req as { op?: unknown }).op)}`);
  }
}

port.on("message", (req: WorkerRequest) => {
  handle(req).then(
    ({ value, transfer }) => {
      const reply: WorkerReply = { id: req.id, ok: true, value, memory: memory() };
      port.postMessage(reply, transfer);
    },
    (err: unknown) => {
      const reply: WorkerReply = { id: req.id, ok: false, error: toWireError(err), memory: memory() };
      port.postMessage(reply);
    },
  );
});
