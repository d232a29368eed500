/**
 * What the pull loop (pull-loop.ts) is given and gives: the options a caller passes, the spec of what
 * a loop reads and how it handles it (tasks, results, dead letters), the context a handler gets, the
 * consumer check before a loop starts, and how a failed delivery ends (`failureDisposition`).
 */
import { ConfigError, isTransient, type Logger, LongshotError } from "@longshot/core";
import type { TaskOutcome } from "@longshot/telemetry";
import { AckPolicy, type Consumer, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { Context } from "@opentelemetry/api";
import type { DeadLetterKind, DeadLetterRecord } from "./dead-letter.js";
import { errorMessage, toBusError } from "./errors.js";
import { DELIVERY_BACKOFF, retryDelay } from "./retry.js";

/** The default nak delay of a failed delivery: 1 s, 2 s, 4 s … up to 30 s, ±20 % (retry.ts). */
export function defaultRetryDelay(deliveryCount: number): number {
  return retryDelay(deliveryCount, DELIVERY_BACKOFF);
}

/** What a handler knows besides the payload. */
export interface DeliveryContext {
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** Deliveries JetStream allows (-1: unlimited). The last attempt has deliveryCount === maxDeliver. */
  readonly maxDeliver: number;
  readonly redelivered: boolean;
  readonly streamSequence: number;
  /** Aborted when the loop stops (after stopTimeoutMs) or `abortWhere` picks the message; the reason says why. */
  readonly signal: AbortSignal;
  /** The context with the `process` span active (the handler already runs inside it); ROOT_CONTEXT untraced. */
  readonly traceContext: Context;
  /** Logger with the message's sequence, delivery and ids. */
  readonly logger: Logger;
  /** Extends the ack deadline now (the loop also does this on its own every heartbeatMs). */
  working(): void;
}

/** The options every pull loop takes from its caller. */
export interface PullOptions {
  js: JetStreamClient;
  /** The connection of `js` (term reasons, advisories, cancel notices); default: the one `js` was made from. */
  nc?: NatsConnection;
  /** Messages handled at once by this process (default 1). */
  concurrency?: number;
  /** Aborting it stops the loop (as `stop()`). */
  signal?: AbortSignal;
  logger?: Logger;
  /** Nak delay of a transient failure (default `defaultRetryDelay`: 1 s, 2 s, 4 s … up to 30 s, ±20 %). */
  retryDelayMs?: (deliveryCount: number, err: unknown) => number;
  /** Interval of `working()` while a handler runs; below AckWait / 2 (default AckWait / 3). */
  heartbeatMs?: number;
  /** How long in-flight handlers may run on after stop before they are aborted and handed back (default 30 s). */
  stopTimeoutMs?: number;
  /** After aborting, how long to wait for a handler to return before naking its message anyway (default 5 s). */
  abortGraceMs?: number;
  /** Longest a pull waits before asking again (default 5 s; also bounds how long a stop waits for idle slots). */
  pullExpiresMs?: number;
  /** Largest accepted payload (default 256 KiB). */
  maxPayloadBytes?: number;
  /** Handle MAX_DELIVERIES advisories (default true; loops with dead letters only). */
  deadLetterAdvisories?: boolean;
  /** Default `<hostname>/<pid>`. */
  workerId?: string;
}

/** Called once per dead-lettered message, before it is terminated (the gateway fails the job); retried 3 times. */
export type DeadLetterHook<P> = (
  payload: P | undefined,
  reason: string,
  record: DeadLetterRecord,
) => void | Promise<void>;

/** How a loop dead-letters what it cannot handle. */
export interface DeadLetters<P> {
  /** The records' `stage`: the last token of their subject `longshot.dlq.<stage>`. */
  stage: string;
  /** The reason of a payload that cannot be decoded starts with this ("malformed payload"). */
  malformed: string;
  /** Called once per dead-lettered message before it is terminated (fail the job); retried 3 times. */
  hook?: DeadLetterHook<P> | undefined;
  /** The reason of an advisory: no delivery of message `seq` finished within AckWait after `deliveries`. */
  timedOut(payload: P | undefined, seq: number, deliveries: number): string;
}

/** What a loop reads and how it handles it. */
export interface PullLoopSpec<P> extends PullOptions {
  /** Names the loop in errors ("runWorker"). */
  name: string;
  /** What one message is, in log lines ("task", "result", "dead letter"). */
  noun: string;
  stream: string;
  consumer: string;
  workerId: string;
  logger: Logger;
  /** The payload of a message on `subject`; throws when it is malformed. */
  decode(data: Uint8Array, subject: string): P;
  /** The job and task a payload is about (log fields, span attributes, dead-letter records). */
  ids(payload: P): { jobId?: string | undefined; taskId?: string | undefined };
  handle(payload: P, ctx: DeliveryContext): Promise<void>;
  /** A reason to terminate the message without running it (the job was cancelled). */
  skip?: ((payload: P, logger: Logger) => Promise<string | undefined>) | undefined;
  /** The TERM reason of a message whose handler was cancelled. */
  cancelled(payload: P, err: unknown): string;
  /** Traced loops run the handler under a CONSUMER span whose parent `parent` gives. */
  trace?: { parent(headers: MsgHdrs | undefined, payload: P): Context; stage(payload: P): string } | undefined;
  /** Without it, what cannot be handled is terminated and logged. */
  deadLetters?: DeadLetters<P> | undefined;
  /** Deliveries after which a transient failure is given up; default the consumer's MaxDeliver. */
  maxDeliveries?: number | undefined;
  /** Metrics hooks. */
  observe?: {
    started?(): void;
    finished?(outcome: TaskOutcome, seconds: number): void;
    deadLettered?(kind: DeadLetterKind): void;
  };
}

export interface PullLoopStats {
  acked: number;
  retried: number;
  /** Dead-lettered (in a loop without dead letters: given up and terminated). */
  dead_lettered: number;
  cancelled: number;
  handed_back: number;
}

/** A running loop, as the code that started it sees it. */
export interface PullLoopHandle {
  /** AckWait and MaxDeliver of the consumer, as the server reports them. */
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly heartbeatMs: number;
  /** Messages being handled right now. */
  readonly inFlight: number;
  readonly stats: Readonly<PullLoopStats>;
  /** Stops (as aborting `signal`); resolves when every slot has ended. Idempotent. */
  stop(): Promise<void>;
  /** Resolves once stopped; rejects with UnavailableError if the NATS connection was closed under the loop. */
  readonly done: Promise<void>;
}

export interface PullLoop<P> extends PullLoopHandle {
  /** Aborts the in-flight handlers whose payload `pick` picks; their messages are terminated. */
  abortWhere(pick: (payload: P) => boolean, reason: Error): void;
}

/** A durable pull consumer, checked and opened. */
export interface OpenedConsumer {
  jsm: JetStreamManager;
  consumer: Consumer;
  ackWaitMs: number;
  maxDeliver: number;
  filterSubject: string | undefined;
}

/** The NATS connection a JetStream client runs on, when it exposes one. */
export function connectionOf(js: JetStreamClient): NatsConnection | undefined {
  const nc = (js as unknown as { nc?: unknown }).nc;
  return typeof nc === "object" && nc !== null && "subscribe" in nc ? (nc as NatsConnection) : undefined;
}

function checkInt(fn: string, field: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
    throw new ConfigError(`${fn}: ${field} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
}

/** Checks a loop's options (ConfigError naming `fn` and the field), then opens its explicit-ack consumer. */
export async function openPullConsumer(
  fn: string,
  options: PullOptions & { handle: unknown },
  stream: string,
  consumerName: string,
): Promise<OpenedConsumer> {
  checkInt(fn, "concurrency", options.concurrency ?? 1, 1, 256);
  checkInt(fn, "stopTimeoutMs", options.stopTimeoutMs, 0, 24 * 3_600_000);
  checkInt(fn, "abortGraceMs", options.abortGraceMs, 0, 3_600_000);
  checkInt(fn, "pullExpiresMs", options.pullExpiresMs, 1000, 300_000);
  checkInt(fn, "maxPayloadBytes", options.maxPayloadBytes, 1, 64 * 1024 * 1024);
  if (typeof options.handle !== "function") throw new ConfigError(`${fn}: handle must be a function`);
  try {
    const jsm = await options.js.jetstreamManager();
    const ci = await jsm.consumers.info(stream, consumerName);
    if (ci.config.ack_policy !== AckPolicy.Explicit) {
      throw new ConfigError(
        `${fn}: consumer ${stream}/${consumerName} must use explicit acks, has ${ci.config.ack_policy}`,
      );
    }
    return {
      jsm,
      consumer: await options.js.consumers.get(stream, consumerName),
      ackWaitMs: Math.round((ci.config.ack_wait ?? 30e9) / 1e6),
      maxDeliver: ci.config.max_deliver ?? -1,
      filterSubject: ci.config.filter_subject,
    };
  } catch (err) {
    throw toBusError(err, `${fn} ${stream}/${consumerName}`);
  }
}

/** How a failed delivery ends: retried after a back-off, or given up with a kind, reason and code. */
export type FailureDisposition =
  | { kind: "retry"; delayMs: number }
  | { kind: "max_deliveries" | "permanent"; reason: string; code: string };

/**
 * A transient error with deliveries left (`maxDeliver` < 0: unlimited) is retried after `retryDelayMs`;
 * anything else is given up: "max_deliveries" for a transient error out of deliveries, "permanent"
 * otherwise, with the error's gRPC code (INTERNAL for a foreign error).
 */
export function failureDisposition(
  err: unknown,
  deliveryCount: number,
  maxDeliver: number,
  retryDelayMs: (deliveryCount: number, err: unknown) => number,
): FailureDisposition {
  if (isTransient(err) && (maxDeliver < 0 || deliveryCount < maxDeliver)) {
    return { kind: "retry", delayMs: Math.max(0, Math.round(retryDelayMs(deliveryCount, err))) };
  }
  const code = err instanceof LongshotError ? err.code : "INTERNAL";
  return isTransient(err)
    ? {
        kind: "max_deliveries",
        reason: `gave up after ${deliveryCount} of ${maxDeliver} deliveries: ${errorMessage(err)}`,
        code,
      }
    : { kind: "permanent", reason: errorMessage(err), code };
}
