import { inspect } from "node:util";
import type { TestSpan } from "./otlp.js";
import type { WaitForSpansOptions } from "./types.js";

/** How long `waitFor` polls, and how often. */
export interface WaitForOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** The pause between two probes (default 25 ms). */
  intervalMs?: number;
}

/** What a probe returns while the condition does not hold yet. */
export type NotYet = false | 0 | "" | null | undefined;

/** A value in a failure message: one line, at most 300 characters. */
function describe(value: unknown): string {
  const s = inspect(value, { depth: 3, breakLength: Number.POSITIVE_INFINITY });
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/**
 * Polls `probe` (a predicate, or an async probe returning the value waited for) until it returns a
 * truthy value, and returns that value. A probe that throws is tried again at the next poll. After
 * `timeoutMs` (`opts` as a number, or `{ timeoutMs, intervalMs }`) it rejects with an error naming
 * `what` and what the last probe returned or threw (that error is also the `cause`).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  opts: number | WaitForOptions = {},
): Promise<Exclude<T, NotYet>> {
  const { timeoutMs = 10_000, intervalMs = 25 } = typeof opts === "number" ? { timeoutMs: opts } : opts;
  const deadline = Date.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown } = { value: undefined };
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as Exclude<T, NotYet>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const lastly =
    "error" in last
      ? `the last probe threw ${last.error instanceof Error ? `${last.error.name}: ${last.error.message}` : describe(last.error)}`
      : `the last probe returned ${describe(last.value)}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${lastly}`, {
    ...("error" in last ? { cause: last.error } : {}),
  });
}

/** Polls `source.spans(traceId)` until `count` spans (or `until`) hold; the error lists what did arrive. */
export async function waitForSpans(
  source: { spans(traceId: string): Promise<TestSpan[]> },
  traceId: string,
  opts: WaitForSpansOptions = {},
): Promise<TestSpan[]> {
  const count = opts.count ?? 1;
  const want = opts.until ? "the condition" : `${count} span(s)`;
  return waitFor(
    `${want} of trace ${traceId}`,
    async () => {
      const spans = await source.spans(traceId);
      if (opts.until ? opts.until(spans) : spans.length >= count) return spans;
      throw new Error(`got ${spans.length} (${spans.map((s) => s.name).join(", ") || "none"})`);
    },
    { timeoutMs: opts.timeoutMs ?? 10_000, intervalMs: 100 },
  );
}
