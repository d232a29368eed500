/**
 * Errors of the bus layer and the mapping of nats.js errors onto @longshot/core's classes, so that
 * callers see one vocabulary: a NATS outage is an UnavailableError (transient: `isTransient` is
 * true and workers retry), a missing stream is a NotFoundError, a compare-and-set conflict is a
 * RevisionConflictError.
 */
import { ConfigError, InvalidArgumentError, LongshotError, NotFoundError, UnavailableError } from "@longshot/core";
import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import {
  AuthorizationError,
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";

/** A job (or another keyed record) that should be new already exists. */
export class AlreadyExistsError extends LongshotError {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(message, { code: "ALREADY_EXISTS", ...options });
    this.name = "AlreadyExistsError";
    this.key = key;
  }
}

/** A compare-and-set write lost: the record changed since the revision the writer read. */
export class RevisionConflictError extends LongshotError {
  readonly key: string;
  /** The revision the writer expected, when known. */
  readonly expectedRevision: number | undefined;
  constructor(key: string, message: string, options?: { expectedRevision?: number; cause?: unknown }) {
    super(message, { code: "FAILED_PRECONDITION", cause: options?.cause });
    this.name = "RevisionConflictError";
    this.key = key;
    this.expectedRevision = options?.expectedRevision;
  }
}

/** A job state change the lifecycle does not allow (e.g. SUCCEEDED -> RUNNING). */
export class IllegalTransitionError extends LongshotError {
  readonly jobId: string;
  readonly from: string;
  readonly to: string;
  constructor(jobId: string, from: string, to: string) {
    super(`job ${jobId}: illegal state transition ${from} -> ${to}`, { code: "FAILED_PRECONDITION" });
    this.name = "IllegalTransitionError";
    this.jobId = jobId;
    this.from = from;
    this.to = to;
  }
}

/** A message payload that cannot be a valid task (bad protobuf, wrong type, too large, wrong stage). */
export class MalformedPayloadError extends InvalidArgumentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("payload", message, options);
    this.name = "MalformedPayloadError";
  }
}

const CODE_WRONG_LAST_SEQUENCE: number = JetStreamApiCodes.StreamWrongLastSequence;

/** Whether `err` is JetStream's "wrong last sequence" (a lost compare-and-set or a key that exists). */
export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === CODE_WRONG_LAST_SEQUENCE;
}

/** The message of an unknown thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Turns an error thrown by nats.js (or anything else) into a LongshotError; `what` says what was
 * being done ("publish task abc to longshot.tasks.keyframe") and starts the message.
 * LongshotErrors pass through unchanged.
 */
export function toBusError(err: unknown, what: string): LongshotError {
  if (err instanceof LongshotError) return err;
  const msg = errorMessage(err);
  if (
    err instanceof TimeoutError ||
    err instanceof ConnectionError ||
    err instanceof ClosedConnectionError ||
    err instanceof DrainingConnectionError ||
    err instanceof NoRespondersError ||
    err instanceof RequestError
  ) {
    return new UnavailableError(`${what}: NATS is unavailable (${msg})`, { cause: err });
  }
  if (err instanceof Error && (err.name === "JetStreamNotEnabled" || /jetstream not enabled/i.test(msg))) {
    return new ConfigError(`${what}: JetStream is not enabled on the NATS server or account (${msg})`, { cause: err });
  }
  if (
    err instanceof AuthorizationError ||
    err instanceof PermissionViolationError ||
    err instanceof UserAuthenticationExpiredError
  ) {
    return new ConfigError(`${what}: NATS refused the operation: ${msg}`, { cause: err });
  }
  if (err instanceof JetStreamApiError) {
    if (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound) {
      return new NotFoundError(`${what}: ${msg} (has ensureTopology run?)`, { cause: err });
    }
    if (err.code === JetStreamApiCodes.NoMessageFound) return new NotFoundError(`${what}: ${msg}`, { cause: err });
    if (err.code === CODE_WRONG_LAST_SEQUENCE) {
      return new RevisionConflictError(what, `${what}: ${msg}`, { cause: err });
    }
    // 503-class API answers (no leader, cluster not ready) are worth retrying.
    if (err.status === 503) return new UnavailableError(`${what}: ${msg}`, { cause: err });
    return new LongshotError(`${what}: JetStream API error ${err.code}: ${msg}`, { cause: err });
  }
  if (err instanceof JetStreamError) {
    // Client-side JetStream failures (heartbeats missed, consumer reset while reconnecting) are transient.
    return new UnavailableError(`${what}: ${msg}`, { cause: err });
  }
  return new LongshotError(`${what}: ${msg}`, { cause: err });
}
