/**
 * Service implementations as plain async functions. `defineService(definition, impl)` turns
 * `{ method: async (request, ctx) => response }` (and `async function*` for server streams) into
 * grpc-js handlers; every error is mapped once, here, by `toGrpcError`. Request bodies are read
 * strictly first (`checkMessageBytes`): a body that does not decode, or a string field that is not
 * UTF-8, is answered INVALID_ARGUMENT and never reaches the implementation.
 */
import { type EventEmitter, once } from "node:events";
import type {
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { CancelledError, InvalidArgumentError, LongshotError } from "@longshot/core";
import { toGrpcError } from "./grpc-errors.js";
import type { GrpcLogger } from "./logger.js";
import { checkMessageBytes, requestTypeOf, UndecodableRequestError } from "./request-check.js";

/** One RPC of a generated service definition (the shape ts-proto emits for `outputServices=grpc-js`). */
export interface MethodDefinition<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly requestDeserialize: (bytes: Buffer) => Req;
  readonly responseSerialize: (value: Res) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => Res;
}

/** Any method definition (its message types are inferred where it is used). */
// biome-ignore lint/suspicious/noExplicitAny: a definition's methods have unrelated message types.
export type AnyMethodDefinition = MethodDefinition<any, any>;

/** A generated service definition, e.g. `VideoServiceService`. */
export type ServiceDefinition = { readonly [method: string]: AnyMethodDefinition };

export type RequestOf<M> = M extends { requestDeserialize: (bytes: Buffer) => infer Req } ? Req : never;
export type ResponseOf<M> = M extends { responseDeserialize: (bytes: Buffer) => infer Res } ? Res : never;

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** The RPC path, e.g. "/longshot.v1.KeyframeService/GetModelInfo". */
  readonly method: string;
  /** Request metadata (headers). */
  readonly metadata: Metadata;
  /** Aborted when the client cancels or the call's deadline passes: stop work, the result is unwanted. */
  readonly signal: AbortSignal;
  /** The client's deadline, if it set one; pass it on to downstream calls. */
  readonly deadline: Date | undefined;
  /** The peer's address. */
  readonly peer: string;
}

export type UnaryMethod<M> = (request: RequestOf<M>, ctx: CallContext) => Promise<ResponseOf<M>>;
/**
 * A server-streaming RPC: yield each message. When the client goes away the stream stops at the
 * next yield; an implementation that waits a long time between messages should also watch
 * `ctx.signal` so it stops waiting.
 */
export type ServerStreamMethod<M> = (request: RequestOf<M>, ctx: CallContext) => AsyncIterable<ResponseOf<M>>;

/** The async implementation of a service definition: one function per RPC. */
export type AsyncServiceImplementation<D extends ServiceDefinition> = {
  [K in keyof D]: D[K] extends { requestStream: false; responseStream: false }
    ? UnaryMethod<D[K]>
    : D[K] extends { requestStream: false; responseStream: true }
      ? ServerStreamMethod<D[K]>
      : never; // client and bidi streams are not used by longshot
};

/** A service ready to be added to a server. */
export interface ServiceRegistration {
  /** Fully-qualified service name, e.g. "longshot.v1.KeyframeService" (also its health-check name). */
  readonly name: string;
  /** The definition the server registers: the generated one with strict request deserializers. */
  readonly definition: ServiceDefinition;
  /** Builds the grpc-js handlers; errors are logged with the server's logger. */
  readonly handlers: (logger: GrpcLogger) => UntypedServiceImplementation;
}

/** "longshot.v1.VideoService" from a definition's method paths ("/longshot.v1.VideoService/Generate"). */
export function serviceNameOf(definition: ServiceDefinition): string {
  const names = new Set<string>();
  for (const method of Object.values(definition)) {
    const match = /^\/([^/]+)\/[^/]+$/.exec(method.path);
    if (!match?.[1])
      throw new InvalidArgumentError(
        "definition",
        `method path ${JSON.stringify(method.path)} is not /<service>/<method>`,
      );
    names.add(match[1]);
  }
  const [name, ...others] = [...names];
  if (name === undefined) throw new InvalidArgumentError("definition", "has no methods");
  if (others.length > 0) throw new InvalidArgumentError("definition", `mixes services ${[...names].join(", ")}`);
  return name;
}

/**
 * What a strict deserializer returns instead of throwing: grpc-js answers a deserializer that throws
 * with INTERNAL, so the refusal travels to the handler as this value, which throws `error`.
 */
class RefusedRequest {
  constructor(readonly error: LongshotError) {}
}

/**
 * The method with a strict request deserializer: the body is checked against the request type's
 * schema (wire format, UTF-8 of every string field) before the generated decoder reads it. Never
 * throws; a refused body comes back as a RefusedRequest.
 */
function strictMethod(method: AnyMethodDefinition): AnyMethodDefinition {
  const type = requestTypeOf(method.path);
  const typeName = type?.typeName ?? `the request of ${method.path}`;
  const requestDeserialize = (bytes: Buffer): unknown => {
    try {
      checkMessageBytes(type, bytes, typeName);
      return method.requestDeserialize(bytes);
    } catch (err) {
      if (err instanceof LongshotError) return new RefusedRequest(err);
      const reason = err instanceof Error ? err.message : String(err);
      return new RefusedRequest(new UndecodableRequestError(typeName, reason, { cause: err }));
    }
  };
  return { ...method, requestDeserialize };
}

/** The request a handler was given, or the error its strict deserializer refused it with. */
function requestOf(call: { readonly request: unknown }): unknown {
  if (call.request instanceof RefusedRequest) throw call.request.error;
  return call.request;
}

type AnyUnary = (request: unknown, ctx: CallContext) => Promise<unknown>;
type AnyServerStream = (request: unknown, ctx: CallContext) => AsyncIterable<unknown>;

/** What both call kinds offer (grpc-js does not export its ServerSurfaceCall type). */
type SurfaceCall = EventEmitter & {
  readonly metadata: Metadata;
  getDeadline(): Date | number;
  getPeer(): string;
};

function contextOf(call: SurfaceCall, method: string): { ctx: CallContext; done: () => void } {
  const controller = new AbortController();
  const onCancelled = () =>
    controller.abort(new CancelledError(`${method}: call cancelled by the client or its deadline`));
  call.on("cancelled", onCancelled);
  const rawDeadline = call.getDeadline();
  const deadline =
    rawDeadline instanceof Date
      ? rawDeadline
      : Number.isFinite(rawDeadline) && rawDeadline > 0
        ? new Date(rawDeadline)
        : undefined;
  const ctx: CallContext = {
    method,
    metadata: call.metadata,
    signal: controller.signal,
    deadline,
    peer: call.getPeer(),
  };
  return { ctx, done: () => call.off("cancelled", onCancelled) };
}

function unaryHandler(method: string, fn: AnyUnary, logger: GrpcLogger): UntypedHandleCall {
  const handler: handleUnaryCall<unknown, unknown> = (call, callback) => {
    const { ctx, done } = contextOf(call, method);
    // Promise.resolve().then(): a handler that throws synchronously is mapped like an async one.
    Promise.resolve()
      .then(() => fn(requestOf(call), ctx))
      .then(
        (response) => {
          done();
          callback(null, response);
        },
        (err: unknown) => {
          done();
          callback(toGrpcError(err, { logger, method }));
        },
      );
  };
  return handler;
}

function serverStreamHandler(method: string, fn: AnyServerStream, logger: GrpcLogger): UntypedHandleCall {
  const handler: handleServerStreamingCall<unknown, unknown> = (call) => {
    const { ctx, done } = contextOf(call, method);
    const run = async () => {
      for await (const message of fn(requestOf(call), ctx)) {
        if (ctx.signal.aborted) return; // the client is gone; leaving the loop ends the generator
        if (!call.write(message)) {
          // Respect back-pressure: wait for the client to read, or stop when the call ends.
          try {
            await once(call, "drain", { signal: ctx.signal });
          } catch (err) {
            if (ctx.signal.aborted) return;
            throw err;
          }
        }
      }
      if (!ctx.signal.aborted) call.end();
    };
    run().then(done, (err: unknown) => {
      done();
      if (ctx.signal.aborted) return; // nobody is listening for the status
      call.emit("error", toGrpcError(err, { logger, method }));
    });
  };
  return handler;
}

/**
 * A service for `createGrpcServer`: the generated definition plus async functions implementing it.
 * Every error a function throws (or rejects with) becomes a gRPC status through `toGrpcError`.
 * Requests are read strictly: a body that is not a message of the request type is answered
 * INVALID_ARGUMENT (UndecodableRequestError), a string field that is not UTF-8 INVALID_ARGUMENT
 * naming the field ("prompt: not valid UTF-8"); the implementation is not called.
 */
export function defineService<D extends ServiceDefinition>(
  definition: D,
  implementation: AsyncServiceImplementation<D>,
): ServiceRegistration {
  const name = serviceNameOf(definition);
  for (const key of Object.keys(definition)) {
    if (typeof (implementation as Record<string, unknown>)[key] !== "function") {
      throw new InvalidArgumentError("implementation", `${name} method ${key} is not implemented`);
    }
  }
  // The definition grpc-js serves: the same methods with strict request deserializers.
  const served: Record<string, AnyMethodDefinition> = {};
  for (const [key, method] of Object.entries(definition)) served[key] = strictMethod(method);
  return {
    name,
    definition: served,
    handlers: (logger) => {
      const handlers: UntypedServiceImplementation = {};
      for (const [key, method] of Object.entries(definition)) {
        const fn = (implementation as Record<string, unknown>)[key] as AnyUnary & AnyServerStream;
        const bound = fn.bind(implementation) as AnyUnary & AnyServerStream;
        if (method.requestStream) {
          throw new InvalidArgumentError("definition", `${method.path}: client-streaming RPCs are not supported`);
        }
        handlers[key] = method.responseStream
          ? serverStreamHandler(method.path, bound, logger)
          : unaryHandler(method.path, bound, logger);
      }
      return handlers;
    },
  };
}
