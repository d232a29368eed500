/**
 * The model runtime: onnxruntime-node sessions hosted in worker_threads so that session creation and
 * session.run, which are synchronous native calls, never block the main event loop (NATS heartbeats, `working()`
 * acks and gRPC keepalives keep firing while a UNet step runs).
 *
 * Each worker runs one request at a time; requests for the same worker wait in a main-thread FIFO, which is what
 * lets a queued run be cancelled before it starts. A run already inside onnxruntime cannot be interrupted (the
 * Node binding exposes no run-level terminate): cancelling it rejects the caller's promise at once and the
 * result is dropped when the worker finishes.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { CancelledError, ConfigError, IntegrityError, LongshotError, UnavailableError } from "@longshot/core";
import type { GraphSpec, Pack } from "@longshot/pack";
import { Tensor } from "@longshot/tensor";
import {
  type AxisBindings,
  checkInputs,
  checkOutputs,
  compareSessionMetadata,
  type TensorLike,
} from "./contract-check.js";
import type {
  ExecutionProvider,
  LoadResult,
  RunResult,
  WireTensor,
  WorkerConfig,
  WorkerMemory,
  WorkerReply,
  WorkerRequest,
} from "./protocol.js";
import { fromWireError } from "./wire-errors.js";

export type { ExecutionProvider } from "./protocol.js";

export interface ModelRuntimeOptions {
  /** "cpu" (default) or "cuda". CUDA is requested from onnxruntime as is; if it cannot load, load() fails. */
  executionProvider?: ExecutionProvider;
  /** intraOpNumThreads of every session; default: onnxruntime decides. */
  threads?: number;
  /** Worker threads to spread sessions over (each runs one request at a time); default 1. */
  workers?: number;
  /** CUDA device ordinal; default 0. Only with executionProvider "cuda". */
  deviceId?: number;
  /**
   * Let idle intra-op threads spin for work between runs (onnxruntime's session.intra_op.allow_spinning); default
   * false: on a few shared cores spinning threads slow the next run and everything else (docs/benchmarks.md).
   */
  spinning?: boolean;
}

export interface RunOptions {
  /** Aborting rejects with CancelledError: a queued run never starts; a started run's result is dropped. */
  signal?: AbortSignal;
}

export interface ModelSession {
  /** The graph name in the pack (e.g. "keyframeUnet"). */
  readonly name: string;
  /** "name@version" of the pack the graph came from. */
  readonly pack: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly contract: GraphSpec;
  /**
   * Runs the graph. Inputs are checked against the contract first (InvalidArgumentError naming graph and input);
   * they are copied to the worker, never detached from the caller. Outputs are @longshot/tensor Tensors whose
   * buffers were transferred from the worker.
   */
  run(feeds: Readonly<Record<string, TensorLike>>, options?: RunOptions): Promise<Record<string, Tensor>>;
  /** Frees the native session. Runs still queued for it reject with CancelledError. Idempotent. */
  release(): Promise<void>;
}

export interface WorkerInfo {
  index: number;
  threadId: number;
  alive: boolean;
  /** A request is executing in the worker. */
  busy: boolean;
  /** Requests waiting on the main thread for this worker. */
  queued: number;
  sessions: string[];
  runs: number;
  /** Time spent inside session.run, summed over all runs. */
  runMsTotal: number;
  /** process.memoryUsage() sampled in the worker at its latest reply (rss is process-wide); undefined before any. */
  memory: WorkerMemory | undefined;
  memorySampledAt: string | undefined;
}

export interface RuntimeMemoryInfo {
  /** This process (all threads, including onnxruntime's native allocations). */
  rss: number;
  /** The main thread's V8 heap. */
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  workers: WorkerInfo[];
}

export interface RuntimeDescription {
  executionProvider: ExecutionProvider;
  deviceId: number | undefined;
  onnxruntimeVersion: string;
  intraOpNumThreads: number | "auto";
  /** Idle intra-op threads spin between runs. */
  spinning: boolean;
  maxWorkers: number;
  workers: number;
  sessions: Array<{ graph: string; pack: string; worker: number }>;
}

export interface ModelRuntime {
  /** Creates a session for one graph of a verified pack, in the least loaded worker. */
  load(pack: Pack, graphName: string): Promise<ModelSession>;
  /** Non-blocking: never waits for a busy worker. For health pages. */
  memoryInfo(): RuntimeMemoryInfo;
  describe(): RuntimeDescription;
  /** Rejects pending work with UnavailableError, frees every session and stops the workers. */
  close(): Promise<void>;
}

const ORT_VERSION = (createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string }).version;

/** A failure reported by the worker (as opposed to cancellation or worker death, decided on this side). */
class RemoteFailure extends Error {
  constructor(readonly remote: Error) {
    super(remote.message);
  }
}

type Request = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, "id"> : never) : never;

interface Pending {
  req: WorkerRequest;
  sessionId: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  abandoned: boolean;
}

class WorkerSlot {
  readonly worker: Worker;
  readonly sessions = new Set<SessionImpl>();
  /** Takes new requests. False once the worker died or shutdown() began. */
  accepting = true;
  deathReason: Error | undefined;
  memory: WorkerMemory | undefined;
  memoryAt: number | undefined;
  runs = 0;
  runMsTotal = 0;
  #dead = false;
  /** Session ids created in the worker and not yet released there. */
  readonly #sessionIds = new Set<number>();
  #queue: Pending[] = [];
  #current: Pending | undefined;
  #idle: Array<() => void> = [];
  #nextId = 1;
  #onDead: (slot: WorkerSlot) => void;

  constructor(
    readonly index: number,
    config: WorkerConfig,
    onDead: (slot: WorkerSlot) => void,
  ) {
    this.#onDead = onDead;
    this.worker = new Worker(new URL("./ort-worker.js", import.meta.url), {
      workerData: config,
      name: `longshot-ort-${index}`,
    });
    this.worker.on("message", (reply: WorkerReply) => this.#onReply(reply));
    this.worker.on("messageerror", (err: Error) =>
      this.#fail(new UnavailableError(`model worker ${index}: a reply could not be deserialized`, { cause: err })),
    );
    this.worker.on("error", (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      this.#fail(new UnavailableError(`model worker ${index} crashed: ${message}`, { cause: err }));
    });
    this.worker.on("exit", (code) =>
      this.#fail(new UnavailableError(`model worker ${index} exited unexpectedly (exit code ${code})`)),
    );
  }

  /** The thread is up (it may be shutting down). */
  get alive(): boolean {
    return !this.#dead;
  }

  get busy(): boolean {
    return this.#current !== undefined;
  }

  get queued(): number {
    return this.#queue.length;
  }

  request(body: Request, sessionId: number, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (!this.accepting) {
        reject(this.deathReason ?? new UnavailableError(`model worker ${this.index} is not running`));
        return;
      }
      const p: Pending = {
        req: { ...body, id: this.#nextId++ } as WorkerRequest,
        sessionId,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        abandoned: false,
      };
      if (signal) {
        if (signal.aborted) {
          reject(cancelled(signal));
          return;
        }
        p.onAbort = () => {
          const i = this.#queue.indexOf(p);
          if (i >= 0) this.#queue.splice(i, 1);
          else p.abandoned = true; // in flight: drop its result when it comes
          reject(cancelled(signal));
        };
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      this.#queue.push(p);
      this.#pump();
    });
  }

  /** Rejects the queued (not started) requests of one session. */
  dropQueued(sessionId: number, err: Error): void {
    const keep: Pending[] = [];
    for (const p of this.#queue) {
      if (p.sessionId === sessionId) this.#settle(p, () => p.reject(err));
      else keep.push(p);
    }
    this.#queue = keep;
  }

  /**
   * Stops taking work, rejects every caller with `reason` at once, then waits for the request in flight to
   * return from onnxruntime, frees the sessions and ends the thread. Terminating a worker while a native run is in
   * progress aborts the whole process (the binding throws into a dying environment), hence the wait.
   */
  async shutdown(reason: Error): Promise<void> {
    if (this.accepting) {
      this.accepting = false;
      this.deathReason = reason;
      const queued = this.#queue;
      this.#queue = [];
      for (const p of queued) this.#settle(p, () => p.reject(reason));
      const current = this.#current;
      if (current) {
        this.#settle(current, () => current.reject(reason));
        current.abandoned = true;
      }
      for (const s of [...this.sessions]) s.markReleased();
    }
    await this.#whenIdle();
    if (this.#dead) return;
    // The queue is empty and nothing new is accepted: release sessions one by one, then end the thread.
    for (const id of this.#sessionIds) {
      await this.#direct({ op: "release", sessionId: id }).catch(() => undefined);
    }
    this.#fail(reason);
    await this.worker.terminate();
  }

  #direct(body: Request): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#dead || this.#current) {
        reject(new UnavailableError(`model worker ${this.index} is not idle`));
        return;
      }
      const p: Pending = {
        req: { ...body, id: this.#nextId++ } as WorkerRequest,
        sessionId: body.sessionId,
        resolve,
        reject,
        signal: undefined,
        onAbort: undefined,
        abandoned: false,
      };
      this.#post(p);
    });
  }

  #whenIdle(): Promise<void> {
    if (!this.#current || this.#dead) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.accepting && !this.#current) {
      const p = this.#queue.shift();
      if (!p) return;
      this.#post(p);
    }
  }

  #post(p: Pending): void {
    this.#current = p;
    try {
      this.worker.postMessage(p.req);
    } catch (err) {
      this.#current = undefined;
      this.#settle(p, () =>
        p.reject(
          new LongshotError(`model worker ${this.index}: request could not be sent: ${(err as Error).message}`, {
            cause: err,
          }),
        ),
      );
    }
  }

  #onReply(reply: WorkerReply): void {
    const p = this.#current;
    this.memory = reply.memory;
    this.memoryAt = Date.now();
    if (!p || p.req.id !== reply.id) {
      this.#fail(
        new UnavailableError(
          `model worker ${this.index}: reply ${reply.id} does not match the request in flight (${p?.req.id ?? "none"})`,
        ),
      );
      return;
    }
    this.#current = undefined;
    if (reply.ok) {
      if (p.req.op === "load") this.#sessionIds.add(p.req.sessionId);
      if (p.req.op === "release") this.#sessionIds.delete(p.req.sessionId);
      if (p.req.op === "run") {
        this.runs++;
        this.runMsTotal += (reply.value as RunResult).runMs;
      }
    }
    this.#settle(p, () => {
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new RemoteFailure(fromWireError(reply.error)));
    });
    for (const wake of this.#idle.splice(0)) wake();
    this.#pump();
  }

  #settle(p: Pending, action: () => void): void {
    if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort);
    if (!p.abandoned) action();
  }

  /** The worker is gone (or being ended): reject everything still pending. */
  #fail(reason: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    this.accepting = false;
    this.deathReason ??= reason;
    const pending = [...(this.#current ? [this.#current] : []), ...this.#queue];
    this.#current = undefined;
    this.#queue = [];
    for (const p of pending) this.#settle(p, () => p.reject(this.deathReason ?? reason));
    for (const wake of this.#idle.splice(0)) wake();
    this.#onDead(this);
  }
}

function cancelled(signal: AbortSignal): CancelledError {
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error ? `: ${reason.message}` : "";
  return new CancelledError(`run cancelled${detail}`, { cause: reason });
}

function validateOptions(options: ModelRuntimeOptions): WorkerConfig & { maxWorkers: number } {
  const ep = options.executionProvider ?? "cpu";
  if (ep !== "cpu" && ep !== "cuda") {
    throw new ConfigError(`executionProvider must be "cpu" or "cuda", got ${JSON.stringify(ep)}`);
  }
  const positiveInt = (v: unknown, what: string, min: number): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new ConfigError(`${what} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const threads = options.threads === undefined ? undefined : positiveInt(options.threads, "threads", 1);
  const maxWorkers = options.workers === undefined ? 1 : positiveInt(options.workers, "workers", 1);
  if (options.deviceId !== undefined && ep !== "cuda")
    throw new ConfigError(`deviceId is only meaningful with executionProvider "cuda"`);
  const deviceId = options.deviceId === undefined ? 0 : positiveInt(options.deviceId, "deviceId", 0);
  if (options.spinning !== undefined && typeof options.spinning !== "boolean") {
    throw new ConfigError(`spinning must be true or false, got ${JSON.stringify(options.spinning)}`);
  }
  return { executionProvider: ep, threads, deviceId, maxWorkers, spinning: options.spinning ?? false };
}

class SessionImpl implements ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  #released = false;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly pack: string,
    readonly contract: GraphSpec,
    readonly slot: WorkerSlot,
  ) {
    this.inputNames = Object.freeze(contract.inputs.map((t) => t.name));
    this.outputNames = Object.freeze(contract.outputs.map((t) => t.name));
  }

  get label(): string {
    return `graph ${this.name} (pack ${this.pack})`;
  }

  async run(feeds: Readonly<Record<string, TensorLike>>, options: RunOptions = {}): Promise<Record<string, Tensor>> {
    if (!this.slot.accepting) {
      const why = this.slot.deathReason?.message ?? "stopped";
      throw new UnavailableError(`${this.label}: its model worker is gone (${why})`, { cause: this.slot.deathReason });
    }
    if (this.#released) throw new LongshotError(`${this.label}: session was released`, { code: "FAILED_PRECONDITION" });
    const bindings: AxisBindings = checkInputs(this.name, this.contract, feeds);
    const wire: Record<string, WireTensor> = {};
    for (const spec of this.contract.inputs) {
      const t = feeds[spec.name] as TensorLike;
      wire[spec.name] = { dtype: t.dtype, dims: [...t.dims], data: ownBuffer(t.data) };
    }
    let result: RunResult;
    try {
      result = (await this.slot.request(
        { op: "run", sessionId: this.id, feeds: wire },
        this.id,
        options.signal,
      )) as RunResult;
    } catch (err) {
      if (err instanceof RemoteFailure) {
        throw new LongshotError(`${this.label}: onnxruntime run failed: ${err.remote.message}`, { cause: err.remote });
      }
      throw err;
    }
    checkOutputs(this.name, this.contract, result.outputs, bindings);
    const out: Record<string, Tensor> = {};
    for (const spec of this.contract.outputs) {
      const t = result.outputs[spec.name] as WireTensor;
      out[spec.name] = new Tensor(t.dtype, t.data, t.dims);
    }
    return out;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.markReleased();
    this.slot.dropQueued(this.id, new CancelledError(`${this.label}: session released before the run started`));
    if (!this.slot.accepting) return;
    try {
      await this.slot.request({ op: "release", sessionId: this.id }, this.id);
    } catch (err) {
      if (err instanceof RemoteFailure)
        throw new LongshotError(`${this.label}: release failed: ${err.remote.message}`, { cause: err.remote });
      if (this.slot.accepting) throw err;
    }
  }

  markReleased(): void {
    this.#released = true;
    this.slot.sessions.delete(this);
  }
}

/**
 * Structured clone copies a typed array's whole underlying ArrayBuffer; copy views of larger buffers first so
 * only the tensor's own bytes cross. The caller's array is never detached.
 */
function ownBuffer<T extends WireTensor["data"]>(data: T): T {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  return data.slice() as T;
}

export function createModelRuntime(options: ModelRuntimeOptions = {}): ModelRuntime {
  const { maxWorkers, ...config } = validateOptions(options);
  const slots: WorkerSlot[] = [];
  let nextSlot = 0;
  let nextSession = 1;
  let closed = false;

  const onDead = (slot: WorkerSlot): void => {
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    for (const s of [...slot.sessions]) s.markReleased();
  };

  const pickSlot = (): WorkerSlot => {
    if (slots.length < maxWorkers) {
      const slot = new WorkerSlot(nextSlot++, config, onDead);
      slots.push(slot);
      return slot;
    }
    return slots.reduce((best, s) =>
      s.sessions.size < best.sessions.size || (s.sessions.size === best.sessions.size && s.queued < best.queued)
        ? s
        : best,
    );
  };

  const closedError = (): UnavailableError => new UnavailableError("model runtime is closed");

  return {
    async load(pack: Pack, graphName: string): Promise<ModelSession> {
      if (closed) throw closedError();
      const contract = pack.graph(graphName);
      const file = pack.graphFile(graphName);
      const slot = pickSlot();
      const session = new SessionImpl(nextSession++, graphName, pack.id, contract, slot);
      slot.sessions.add(session);
      let meta: LoadResult;
      try {
        meta = (await slot.request(
          {
            op: "load",
            sessionId: session.id,
            graph: graphName,
            file: file.absPath,
            sha256: file.sha256,
            bytes: file.bytes,
          },
          session.id,
        )) as LoadResult;
      } catch (err) {
        session.markReleased();
        if (!(err instanceof RemoteFailure)) throw err;
        const cause = err.remote;
        if (cause instanceof IntegrityError) throw cause;
        if (config.executionProvider === "cuda") {
          throw new ConfigError(
            `${session.label}: the CUDA execution provider was requested (executionProvider "cuda", device ${config.deviceId}) but onnxruntime could not create the session with it; not falling back to CPU: ${cause.message}`,
            { cause },
          );
        }
        throw new ConfigError(
          `${session.label}: onnxruntime could not create a session from ${file.absPath}: ${cause.message}`,
          { cause },
        );
      }
      const problems = compareSessionMetadata(contract, meta);
      if (problems.length > 0) {
        await session.release().catch(() => undefined);
        throw new ConfigError(`${session.label}: ${file.path} does not match pack.json:\n  ${problems.join("\n  ")}`);
      }
      return session;
    },

    memoryInfo(): RuntimeMemoryInfo {
      const m = process.memoryUsage();
      return {
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        workers: slots.map((s) => ({
          index: s.index,
          threadId: s.worker.threadId,
          alive: s.alive,
          busy: s.busy,
          queued: s.queued,
          sessions: [...s.sessions].map((x) => x.name),
          runs: s.runs,
          runMsTotal: s.runMsTotal,
          memory: s.memory,
          memorySampledAt: s.memoryAt === undefined ? undefined : new Date(s.memoryAt).toISOString(),
        })),
      };
    },

    describe(): RuntimeDescription {
      return {
        executionProvider: config.executionProvider,
        deviceId: config.executionProvider === "cuda" ? config.deviceId : undefined,
        onnxruntimeVersion: ORT_VERSION,
        intraOpNumThreads: config.threads ?? "auto",
        spinning: config.spinning,
        maxWorkers,
        workers: slots.length,
        sessions: slots.flatMap((s) => [...s.sessions].map((x) => ({ graph: x.name, pack: x.pack, worker: s.index }))),
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const all = [...slots];
      slots.length = 0;
      await Promise.all(all.map((s) => s.shutdown(closedError())));
    },
  };
}
