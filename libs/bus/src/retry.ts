/**
 * The one retry policy of the bus (and of the gateway, which imports it): exponential back-off with
 * jitter, an abortable sleep, and `retry` for the loops that try a call again in-process.
 *
 * - `retryDelay(attempt, backoff)`: `firstMs · 2^(attempt − 1)`, at most `maxMs`, spread by ±`jitter`
 *   so replicas that failed together do not retry together. Used for a failed delivery's nak delay
 *   (the server redelivers after it: nothing sleeps), a failed pull, a dead-letter hook, a lost
 *   compare-and-set race, a lost race for an event number.
 * - `sleep(ms, signal)`: resolves after `ms`, or at once when `signal` aborts; never rejects.
 * - `retry(fn, options)`: calls `fn` until it returns, an error `retryIf` refuses, or `attempts` calls
 *   failed (then the last error is thrown), sleeping `retryDelay` between calls.
 *
 * One small module rather than a library (p-retry, exponential-backoff): the most frequent use is a
 * delay handed to JetStream (`nak(ms)`), which a retry wrapper does not compute, and the sleeps must
 * end at once when a loop stops (see CONTRIBUTING.md).
 */
import { setTimeout as delay } from "node:timers/promises";

export interface Backoff {
  /** Delay after the first failure. */
  firstMs: number;
  /** Largest delay. */
  maxMs: number;
  /** Spread of each delay, as a fraction of it: 0.2 → ±20 %. */
  jitter: number;
}

/** A failed delivery (nak delay): 1 s, 2 s, 4 s … up to 30 s, ±20 %. */
export const DELIVERY_BACKOFF: Backoff = { firstMs: 1000, maxMs: 30_000, jitter: 0.2 };
/** A pull that failed (NATS unreachable): 200 ms, 400 ms … up to 5 s, ±20 %. */
export const PULL_BACKOFF: Backoff = { firstMs: 200, maxMs: 5000, jitter: 0.2 };
/** A dead-letter hook that failed (the job store unreachable): 200 ms, 400 ms, ±20 %. */
export const HOOK_BACKOFF: Backoff = { firstMs: 200, maxMs: 1000, jitter: 0.2 };
/** A lost race for a job's next event number: 2 ms, 4 ms … up to 50 ms, ±100 %. */
export const SEQUENCE_BACKOFF: Backoff = { firstMs: 2, maxMs: 50, jitter: 1 };
/** A lost compare-and-set race: 10 ms, 20 ms … up to 200 ms, ±100 % (racing writers spread out). */
export const CAS_BACKOFF: Backoff = { firstMs: 10, maxMs: 200, jitter: 1 };

/** The delay before retry number `attempt` (1 after the first failure); see the module comment. */
export function retryDelay(attempt: number, backoff: Backoff): number {
  const base = Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(base * (1 - backoff.jitter + 2 * backoff.jitter * Math.random())));
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal === undefined ? {} : { signal }).catch(() => {});
}

export interface RetryOptions {
  /** Calls in all (the first one included). */
  attempts: number;
  backoff: Backoff;
  /** Whether an error is worth another call (default: every error). */
  retryIf?: (err: unknown) => boolean;
  /** Called before each pause, with the failed attempt's number and error. */
  onRetry?: (attempt: number, err: unknown) => void;
  /** Ends a pause early; the next call is then the last (its error is thrown). */
  signal?: AbortSignal;
}

/** Calls `fn` until it succeeds (see the module comment); throws the last error. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const last = attempt >= options.attempts || options.signal?.aborted === true;
      if (last || (options.retryIf !== undefined && !options.retryIf(err))) throw err;
      options.onRetry?.(attempt, err);
      await sleep(retryDelay(attempt, options.backoff), options.signal);
    }
  }
}
