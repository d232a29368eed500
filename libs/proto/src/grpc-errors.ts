/**
 * Error mapping at the gRPC edge, both directions.
 *
 * Server side, `toGrpcError` turns anything a handler threw into a gRPC status: a `LongshotError`
 * keeps its code (a gRPC status name) and message, its class name and (for InvalidArgumentError)
 * the offending field travel in trailing metadata; anything else becomes INTERNAL with a generic
 * message, and the real error is logged, never sent. Stack traces and causes never leave the process.
 *
 * Client side, `fromGrpcError` turns a failed call into a `GrpcCallError` (a LongshotError), so
 * code that calls another service handles errors the same way as local ones (`isTransient` works).
 */
import { status as GrpcStatus, Metadata, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { type ErrorCode, InvalidArgumentError, LongshotError } from "@longshot/core";
import type { GrpcLogger } from "./logger.js";

/** Trailing-metadata key carrying the error class name (e.g. "InvalidArgumentError"). */
export const ERROR_NAME_KEY = "longshot-error-name";
/** Trailing-metadata key carrying the request field an INVALID_ARGUMENT error is about. */
export const ERROR_FIELD_KEY = "longshot-error-field";

/** The message sent for errors that are not LongshotErrors: says nothing about internals. */
export const GENERIC_INTERNAL_MESSAGE = "internal error; the server logged the details";

/** Longest status message sent; longer messages are cut (headers have size limits). */
const MAX_DETAILS_LENGTH = 1024;

/** Codes whose errors are the server's fault: logged at error level with their cause. */
const SERVER_FAULT_CODES: ReadonlySet<ErrorCode> = new Set(["INTERNAL", "DATA_LOSS", "UNIMPLEMENTED"]);

/** Numeric gRPC status of a status name such as "NOT_FOUND". */
export function grpcStatusOf(code: string): GrpcStatus | undefined {
  const value = (GrpcStatus as unknown as Record<string, unknown>)[code];
  return typeof value === "number" ? (value as GrpcStatus) : undefined;
}

/** Status name of a numeric gRPC status, e.g. 5 → "NOT_FOUND"; "UNKNOWN" for numbers outside the enum. */
export function grpcStatusName(code: number): string {
  const name = (GrpcStatus as unknown as Record<number, unknown>)[code];
  return typeof name === "string" ? name : "UNKNOWN";
}

function clip(text: string): string {
  const oneLine = text.replace(/[\r\n]+/g, " ").trim();
  return oneLine.length > MAX_DETAILS_LENGTH ? `${oneLine.slice(0, MAX_DETAILS_LENGTH - 1)}…` : oneLine;
}

export interface ToGrpcErrorOptions {
  /** Where failures that are the server's fault (and unknown errors) are logged with their cause. */
  logger?: GrpcLogger;
  /** The RPC's path, for the log line. */
  method?: string;
}

/**
 * The gRPC status for an error thrown by a handler. Never throws; never includes a stack trace.
 */
export function toGrpcError(err: unknown, options: ToGrpcErrorOptions = {}): StatusObject {
  const { logger, method } = options;
  const metadata = new Metadata();
  if (err instanceof LongshotError) {
    const code = grpcStatusOf(err.code);
    if (code === undefined || code === GrpcStatus.OK) {
      // A LongshotError whose code is not a failure status: a programming error. Treat as unknown.
      logger?.error({ err, method }, `error with invalid code ${String(err.code)}`);
      metadata.set(ERROR_NAME_KEY, "Error");
      return { code: GrpcStatus.INTERNAL, details: GENERIC_INTERNAL_MESSAGE, metadata };
    }
    metadata.set(ERROR_NAME_KEY, err.name);
    if (err instanceof InvalidArgumentError) metadata.set(ERROR_FIELD_KEY, err.field);
    if (SERVER_FAULT_CODES.has(err.code)) logger?.error({ err, method }, `${err.name}: ${err.message}`);
    else logger?.debug({ method, code: err.code, errorName: err.name, reason: err.message }, "call failed");
    return { code, details: clip(err.message), metadata };
  }
  logger?.error({ err, method }, "unhandled error in gRPC handler");
  metadata.set(ERROR_NAME_KEY, "Error");
  return { code: GrpcStatus.INTERNAL, details: GENERIC_INTERNAL_MESSAGE, metadata };
}

/** The closest core error code for a gRPC status (codes outside ErrorCode are folded in). */
function errorCodeOf(code: GrpcStatus): ErrorCode {
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return "INVALID_ARGUMENT";
    case GrpcStatus.NOT_FOUND:
      return "NOT_FOUND";
    case GrpcStatus.ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case GrpcStatus.FAILED_PRECONDITION:
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.ABORTED:
      return "FAILED_PRECONDITION";
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case GrpcStatus.CANCELLED:
      return "CANCELLED";
    case GrpcStatus.DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case GrpcStatus.UNAVAILABLE:
      return "UNAVAILABLE";
    case GrpcStatus.DATA_LOSS:
      return "DATA_LOSS";
    case GrpcStatus.UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    default:
      return "INTERNAL";
  }
}

/**
 * A gRPC call that failed, as seen by the caller. `code` is the closest core ErrorCode (so
 * `isTransient` and code checks work as for local errors); `grpcCode`/`grpcStatus` keep the exact status.
 */
export class GrpcCallError extends LongshotError {
  /** Exact numeric gRPC status. */
  readonly grpcCode: GrpcStatus;
  /** Exact gRPC status name, e.g. "PERMISSION_DENIED". */
  readonly grpcStatus: string;
  /** Error class name the server reported (longshot servers only), e.g. "InvalidArgumentError". */
  readonly remoteName: string | undefined;
  /** For INVALID_ARGUMENT from a longshot server: the request field that was wrong. */
  readonly field: string | undefined;
  /** The RPC path, e.g. "/longshot.v1.VideoService/Generate". */
  readonly method: string | undefined;
  /** The server's message, unprefixed. */
  readonly details: string;

  constructor(serviceError: Pick<ServiceError, "code" | "details" | "metadata">, method?: string) {
    const grpcCode = serviceError.code;
    const grpcStatus = grpcStatusName(grpcCode);
    const details = serviceError.details ?? "";
    super(`${method ?? "gRPC call"} failed with ${grpcStatus}: ${details}`, {
      code: errorCodeOf(grpcCode),
      cause: serviceError,
    });
    this.name = "GrpcCallError";
    this.grpcCode = grpcCode;
    this.grpcStatus = grpcStatus;
    this.details = details;
    this.method = method;
    const first = (key: string): string | undefined => {
      const value = serviceError.metadata?.get(key)[0];
      return typeof value === "string" && value !== "" ? value : undefined;
    };
    this.remoteName = first(ERROR_NAME_KEY);
    this.field = first(ERROR_FIELD_KEY);
  }
}

/** Whether `err` looks like a grpc-js ServiceError (a failed call's error). */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "details" in err;
}

/** A failed call's error as a GrpcCallError; other values are returned as they are. */
export function fromGrpcError(err: unknown, method?: string): unknown {
  return isServiceError(err) ? new GrpcCallError(err, method) : err;
}
