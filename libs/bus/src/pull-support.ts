/**
 * Pieces the two pull loops share, the stage worker (worker.ts) and the coordinator's result
 * consumer (results.ts): the retry back-off, an abortable sleep, the option checks, the connection
 * behind a JetStream client and how a handler ended. Internal to the package.
 */
import { ConfigError, isTransient, LongshotError } from "@longshot/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { DeadLetterKind } from "./dead-letter.js";
import { errorMessage } from "./errors.js";

/** 1 s, 2 s, 4 s … up to 30 s for the 1st, 2nd, 3rd … delivery, ±20 % jitter. */
export function backoffRetryDelay(deliveryCount: number): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

/** How a failed delivery ends: retried after a back-off, or dead-lettered with a kind, reason and code. */
export type FailureDisposition =
  | { kind: "retry"; delayMs: number }
  | { kind: DeadLetterKind; reason: string; code: string };

/**
 * A transient error with deliveries left (`maxDeliver` < 0: unlimited) is retried after `retryDelay`;
 * anything else goes to the dead letter stream: "max_deliveries" for a transient error out of
 * deliveries, "permanent" otherwise, with the error's gRPC code (INTERNAL for a foreign error).
 */
export function failureDisposition(
  err: unknown,
  deliveryCount: number,
  maxDeliver: number,
  retryDelay: (deliveryCount: number, err: unknown) => number,
): FailureDisposition {
  if (isTransient(err) && (maxDeliver < 0 || deliveryCount < maxDeliver)) {
    return { kind: "retry", delayMs: Math.max(0, Math.round(retryDelay(deliveryCount, err))) };
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

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
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

/** The options both pull loops take; `fn` names the loop in the ConfigError of a bad one. */
export function checkPullOptions(
  fn: string,
  options: {
    concurrency: number;
    stopTimeoutMs?: number | undefined;
    abortGraceMs?: number | undefined;
    pullExpiresMs?: number | undefined;
    maxPayloadBytes?: number | undefined;
    handle: unknown;
  },
): void {
  checkInt(fn, "concurrency", options.concurrency, 1, 256);
  checkInt(fn, "stopTimeoutMs", options.stopTimeoutMs, 0, 24 * 3_600_000);
  checkInt(fn, "abortGraceMs", options.abortGraceMs, 0, 3_600_000);
  checkInt(fn, "pullExpiresMs", options.pullExpiresMs, 1000, 300_000);
  checkInt(fn, "maxPayloadBytes", options.maxPayloadBytes, 1, 64 * 1024 * 1024);
  if (typeof options.handle !== "function") throw new ConfigError(`${fn}: handle must be a function`);
}

/** How a handler ended: returned, threw, or was abandoned after the abort grace. */
export type HandlerResult = { kind: "ok" } | { kind: "error"; err: unknown } | { kind: "abandoned" };
