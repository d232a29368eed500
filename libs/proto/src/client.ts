/**
 * Promise clients. grpc-js clients take callbacks and have no deadline unless one is passed; this
 * wraps them once: `unary()` always sets a deadline, `serverStream()` is an async iterator that
 * cancels the call when the consumer stops early or its AbortSignal fires, and errors come back as
 * `GrpcCallError` (a LongshotError).
 */
import {
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  credentials as grpcCredentials,
  Metadata,
} from "@grpc/grpc-js";
import { CancelledError, InvalidArgumentError, UnavailableError } from "@longshot/core";
import { fromGrpcError } from "./grpc-errors.js";
import type { AnyMethodDefinition, MethodDefinition, RequestOf, ResponseOf, ServiceDefinition } from "./handlers.js";

/** Deadline of a unary call when the caller gives none. */
export const DEFAULT_DEADLINE_MS = 10_000;

/** Keepalive for client channels: ping after a minute of silence, give up after 20 s without an answer. */
export const DEFAULT_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 20_000,
};

export interface CallOptions {
  /** Relative deadline in milliseconds (> 0). */
  deadlineMs?: number;
  /** Absolute deadline, e.g. a server handler's `ctx.deadline` passed on. With deadlineMs too, the earlier wins. */
  deadline?: Date;
  metadata?: Metadata;
  /** Cancels the call when aborted; the promise rejects / the iterator throws a CancelledError. */
  signal?: AbortSignal;
}

export interface UnaryCallOptions extends CallOptions {
  /** Deadline used when neither deadlineMs nor deadline is given (default DEFAULT_DEADLINE_MS). */
  defaultDeadlineMs?: number;
}

/** A deadline that is always set for unary calls; optional for streams (they may run as long as a job). */
function resolveDeadline(options: CallOptions, fallbackMs: number | undefined): Date | undefined {
  const { deadlineMs, deadline } = options;
  if (deadlineMs !== undefined && !(Number.isFinite(deadlineMs) && deadlineMs > 0)) {
    throw new InvalidArgumentError("deadlineMs", `must be a positive number of milliseconds, got ${deadlineMs}`);
  }
  if (deadline !== undefined && Number.isNaN(deadline.getTime())) {
    throw new InvalidArgumentError("deadline", "is an invalid Date");
  }
  const relativeMs = deadlineMs ?? (deadline === undefined ? fallbackMs : undefined);
  const relative = relativeMs === undefined ? undefined : new Date(Date.now() + relativeMs);
  if (relative && deadline) return new Date(Math.min(relative.getTime(), deadline.getTime()));
  return relative ?? deadline;
}

function cancelled(method: string, signal: AbortSignal): CancelledError {
  return new CancelledError(`${method}: call cancelled by the caller`, { cause: signal.reason });
}

/**
 * One unary call. Always has a deadline: deadlineMs, deadline, or else defaultDeadlineMs.
 * Rejects with a GrpcCallError when the call fails, a CancelledError when `signal` aborts it.
 */
export function unary<M extends AnyMethodDefinition>(
  client: Client,
  method: M,
  request: RequestOf<M>,
  options: UnaryCallOptions = {},
): Promise<ResponseOf<M>> {
  const { signal } = options;
  const fallbackMs = options.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
  if (!(Number.isFinite(fallbackMs) && fallbackMs > 0)) {
    throw new InvalidArgumentError("defaultDeadlineMs", `must be a positive number of milliseconds, got ${fallbackMs}`);
  }
  const deadline = resolveDeadline(options, fallbackMs);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled(method.path, signal));
      return;
    }
    const call = client.makeUnaryRequest(
      method.path,
      method.requestSerialize as (value: RequestOf<M>) => Buffer,
      method.responseDeserialize as (bytes: Buffer) => ResponseOf<M>,
      request,
      options.metadata ?? new Metadata(),
      { deadline },
      (err, response) => {
        signal?.removeEventListener("abort", onAbort);
        if (signal?.aborted) reject(cancelled(method.path, signal));
        else if (err) reject(fromGrpcError(err, method.path));
        else resolve(response as ResponseOf<M>);
      },
    );
    const onAbort = () => call.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The method with its request given as encoded bytes, sent as they are: for tests and tools that
 * send what an outside client may send (a truncated body, a string that is not UTF-8), e.g.
 * `unary(client.grpcClient, encodedRequest(VideoServiceService.generate), Buffer.from([0x0a, 0x05]))`.
 */
export function encodedRequest<M extends AnyMethodDefinition>(method: M): MethodDefinition<Buffer, ResponseOf<M>> {
  return { ...method, requestSerialize: (bytes: Buffer) => bytes, requestDeserialize: (bytes: Buffer) => bytes };
}

/** Messages buffered from a stream before the client stops reading from the network. */
const STREAM_HIGH_WATER = 64;

/**
 * One server-streaming call as an async iterator. Leaving the loop early (break, throw) or aborting
 * `signal` cancels the call. No deadline unless one is given. Messages received before a failure
 * are delivered first, then the GrpcCallError is thrown.
 */
export async function* serverStream<M extends AnyMethodDefinition>(
  client: Client,
  method: M,
  request: RequestOf<M>,
  options: CallOptions = {},
): AsyncGenerator<ResponseOf<M>, void, undefined> {
  const { signal } = options;
  const deadline = resolveDeadline(options, undefined);
  if (signal?.aborted) throw cancelled(method.path, signal);
  const call = client.makeServerStreamRequest(
    method.path,
    method.requestSerialize as (value: RequestOf<M>) => Buffer,
    method.responseDeserialize as (bytes: Buffer) => ResponseOf<M>,
    request,
    options.metadata ?? new Metadata(),
    deadline ? { deadline } : {},
  );
  const queue: ResponseOf<M>[] = [];
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on("data", (message: ResponseOf<M>) => {
    queue.push(message);
    if (queue.length >= STREAM_HIGH_WATER) call.pause();
    notify();
  });
  // Stays attached after the loop ends: a late error (e.g. our own cancel) must not go unhandled.
  call.on("error", (err: unknown) => {
    failure ??= err;
    ended = true;
    notify();
  });
  call.on("end", () => {
    ended = true;
    notify();
  });
  const onAbort = () => call.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      if (signal?.aborted) throw cancelled(method.path, signal);
      const next = queue.shift();
      if (next !== undefined) {
        if (call.isPaused() && queue.length < STREAM_HIGH_WATER / 2) call.resume();
        yield next;
        continue;
      }
      if (failure !== undefined) throw fromGrpcError(failure, method.path);
      if (ended) {
        finished = true;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!finished && !ended) call.cancel();
  }
}

export interface ClientOptions {
  /** Channel credentials; default insecure (plaintext). */
  credentials?: ChannelCredentials;
  /** Deadline of unary calls that name none (default DEFAULT_DEADLINE_MS). */
  defaultDeadlineMs?: number;
  /** grpc-js channel options, merged over DEFAULT_CHANNEL_OPTIONS. */
  channelOptions?: ChannelOptions;
}

/** The promise form of a service definition: unary RPCs return promises, server streams async iterators. */
export type PromiseClient<D extends ServiceDefinition> = {
  [K in keyof D]: D[K] extends { requestStream: false; responseStream: false }
    ? (request: RequestOf<D[K]>, options?: CallOptions) => Promise<ResponseOf<D[K]>>
    : D[K] extends { requestStream: false; responseStream: true }
      ? (request: RequestOf<D[K]>, options?: CallOptions) => AsyncGenerator<ResponseOf<D[K]>, void, undefined>
      : never;
};

export interface ClientHandle {
  /** The underlying grpc-js client (for channel state, or to share its channel). */
  readonly grpcClient: Client;
  /** Resolves once the channel is connected; rejects with an UnavailableError after deadlineMs. */
  waitForReady(deadlineMs?: number): Promise<void>;
  /** Closes the channel; calls in flight fail. */
  close(): void;
}

const RESERVED = new Set(["grpcClient", "waitForReady", "close"]);

/**
 * A promise client for a generated service definition, e.g.
 * `const video = createClient(VideoServiceService, "localhost:50051"); await video.getJob(GetJobRequest.create({ jobId }))`.
 */
export function createClient<D extends ServiceDefinition>(
  definition: D,
  address: string,
  options: ClientOptions = {},
): PromiseClient<D> & ClientHandle {
  if (address.trim() === "") throw new InvalidArgumentError("address", "must be host:port, got an empty string");
  const defaultDeadlineMs = options.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
  if (!(Number.isFinite(defaultDeadlineMs) && defaultDeadlineMs > 0)) {
    throw new InvalidArgumentError(
      "defaultDeadlineMs",
      `must be a positive number of milliseconds, got ${defaultDeadlineMs}`,
    );
  }
  const grpcClient = new Client(address, options.credentials ?? grpcCredentials.createInsecure(), {
    ...DEFAULT_CHANNEL_OPTIONS,
    ...options.channelOptions,
  });
  const handle: ClientHandle = {
    grpcClient,
    waitForReady: (deadlineMs = defaultDeadlineMs) =>
      new Promise<void>((resolve, reject) => {
        grpcClient.waitForReady(new Date(Date.now() + deadlineMs), (err) => {
          if (err)
            reject(
              new UnavailableError(`${address} not ready within ${deadlineMs} ms: ${err.message}`, { cause: err }),
            );
          else resolve();
        });
      }),
    close: () => grpcClient.close(),
  };
  const methods: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition)) {
    if (RESERVED.has(key))
      throw new InvalidArgumentError("definition", `method name ${key} clashes with the client handle`);
    if (method.requestStream)
      throw new InvalidArgumentError("definition", `${method.path}: client-streaming RPCs are not supported`);
    methods[key] = method.responseStream
      ? (request: never, callOptions?: CallOptions) => serverStream(grpcClient, method, request, callOptions)
      : (request: never, callOptions?: CallOptions) =>
          unary(grpcClient, method, request, { defaultDeadlineMs, ...callOptions });
  }
  return Object.assign(methods, handle) as PromiseClient<D> & ClientHandle;
}
