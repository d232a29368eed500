/**
 * Errors crossing the worker_threads boundary. Structured clone keeps an Error's message but loses its class,
 * `code`, `field` and (before Node 21) its cause chain, so errors travel as plain objects and are rebuilt on the
 * other side as the matching @longshot/core class (or a plain Error with the original name and stack).
 */
import {
  CancelledError,
  ConfigError,
  type ErrorCode,
  IntegrityError,
  InvalidArgumentError,
  LongshotError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from "@longshot/core";

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  field?: string;
  cause?: WireError;
}

const MAX_DEPTH = 8;

export function toWireError(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { name: "Error", message: typeof err === "string" ? err : safeString(err) };
  const wire: WireError = { name: err.name, message: err.message };
  if (err.stack !== undefined) wire.stack = err.stack;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") wire.code = code;
  const field = (err as { field?: unknown }).field;
  if (typeof field === "string") wire.field = field;
  if (err.cause !== undefined && depth < MAX_DEPTH) wire.cause = toWireError(err.cause, depth + 1);
  return wire;
}

export function fromWireError(wire: WireError): Error {
  const options = wire.cause === undefined ? undefined : { cause: fromWireError(wire.cause) };
  let err: Error;
  switch (wire.name) {
    case "InvalidArgumentError": {
      const prefix = `${wire.field}: `;
      const message =
        wire.field !== undefined && wire.message.startsWith(prefix) ? wire.message.slice(prefix.length) : wire.message;
      err = new InvalidArgumentError(wire.field ?? "(unknown)", message, options);
      break;
    }
    case "NotFoundError":
      err = new NotFoundError(wire.message, options);
      break;
    case "IntegrityError":
      err = new IntegrityError(wire.message, options);
      break;
    case "UnavailableError":
      err = new UnavailableError(wire.message, options);
      break;
    case "ResourceExhaustedError":
      err = new ResourceExhaustedError(wire.message, options);
      break;
    case "CancelledError":
      err = new CancelledError(wire.message, options);
      break;
    case "ConfigError":
      err = new ConfigError(wire.message, options);
      break;
    case "LongshotError":
      err = new LongshotError(wire.message, { code: (wire.code as ErrorCode | undefined) ?? "INTERNAL", ...options });
      break;
    default:
      err = new Error(wire.message, options);
      err.name = wire.name;
      if (wire.code !== undefined) (err as Error & { code?: string }).code = wire.code;
  }
  if (wire.stack !== undefined) err.stack = wire.stack;
  return err;
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
