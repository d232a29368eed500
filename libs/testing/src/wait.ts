import type { TestSpan } from "./otlp.js";
import type { WaitForSpansOptions } from "./types.js";

/** Polls `source.spans(traceId)` until `count` spans (or `until`) hold; the error lists what did arrive. */
export async function waitForSpans(
  source: { spans(traceId: string): Promise<TestSpan[]> },
  traceId: string,
  opts: WaitForSpansOptions = {},
): Promise<TestSpan[]> {
  const count = opts.count ?? 1;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let spans: TestSpan[] = [];
  let lastError: unknown;
  for (;;) {
    try {
      spans = await source.spans(traceId);
      lastError = undefined;
      if (opts.until ? opts.until(spans) : spans.length >= count) return spans;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const names = spans.map((s) => s.name).join(", ") || "none";
  const want = opts.until ? "the condition" : `${count} span(s)`;
  throw new Error(
    `trace ${traceId}: waited ${timeoutMs} ms for ${want}; got ${spans.length} (${names})` +
      (lastError ? `; last error: ${String(lastError)}` : ""),
  );
}
