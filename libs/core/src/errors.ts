/**
 * Error classes shared by every package. Each carries a gRPC status name in `code`;
 * only the gRPC edge turns it into a status (see `toGrpcStatus` in @longshot/proto).
 */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "RESOURCE_EXHAUSTED"
  | "CANCELLED"
  | "DEADLINE_EXCEEDED"
  | "UNAVAILABLE"
  | "DATA_LOSS"
  | "INTERNAL"
  | "UNIMPLEMENTED";

export class LongshotError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, options?: { code?: ErrorCode; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LongshotError";
    this.code = options?.code ?? "INTERNAL";
  }
}

/** A request or payload is malformed regardless of system state. `field` names what was wrong. */
export class InvalidArgumentError extends LongshotError {
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, { code: "INVALID_ARGUMENT", ...options });
    this.name = "InvalidArgumentError";
    this.field = field;
  }
}

export class NotFoundError extends LongshotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "NOT_FOUND", ...options });
    this.name = "NotFoundError";
  }
}

/** Stored bytes do not match their recorded hash or format: never used, never retried blindly. */
export class IntegrityError extends LongshotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "DATA_LOSS", ...options });
    this.name = "IntegrityError";
  }
}

/** A dependency (NATS, S3, a model worker) is not reachable right now; retrying may help. */
export class UnavailableError extends LongshotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "UNAVAILABLE", ...options });
    this.name = "UnavailableError";
  }
}

export class ResourceExhaustedError extends LongshotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "RESOURCE_EXHAUSTED", ...options });
    this.name = "ResourceExhaustedError";
  }
}

export class CancelledError extends LongshotError {
  constructor(message = "cancelled", options?: { cause?: unknown }) {
    super(message, { code: "CANCELLED", ...options });
    this.name = "CancelledError";
  }
}

/** Configuration is missing or invalid: the process cannot start. */
export class ConfigError extends LongshotError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: "FAILED_PRECONDITION", ...options });
    this.name = "ConfigError";
  }
}

/** Whether retrying the same operation later may succeed. */
export function isTransient(err: unknown): boolean {
  return err instanceof LongshotError && (err.code === "UNAVAILABLE" || err.code === "DEADLINE_EXCEEDED");
}
