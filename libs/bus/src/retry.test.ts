import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RevisionConflictError } from "./errors.js";
import { CAS_BACKOFF, DELIVERY_BACKOFF, retry, retryDelay, sleep } from "./retry.js";

describe("retryDelay", () => {
  it("doubles from firstMs up to maxMs, spread by at most ±jitter", () => {
    const none = { ...DELIVERY_BACKOFF, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelay(n, none)),
      [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
    assert.equal(retryDelay(0, none), 1000, "attempt 0 counts as the first");
    for (let i = 0; i < 500; i++) {
      const d = retryDelay(3, DELIVERY_BACKOFF); // 4000 ± 20 %
      assert.ok(d >= 3200 && d <= 4800, `${d} ms outside 4000 ± 20 %`);
      const c = retryDelay(10, CAS_BACKOFF); // 200 ± 100 %
      assert.ok(c >= 0 && c <= 400, `${c} ms outside 200 ± 100 %`);
    }
  });
});

describe("sleep", () => {
  it("waits, and ends at once when its signal aborts (already, or while it waits)", async () => {
    let t = performance.now();
    await sleep(50);
    assert.ok(performance.now() - t >= 45);
    const ac = new AbortController();
    t = performance.now();
    setTimeout(() => ac.abort(), 20);
    await sleep(10_000, ac.signal);
    assert.ok(performance.now() - t < 2000, "an aborted sleep resolves early");
    t = performance.now();
    await sleep(10_000, ac.signal);
    assert.ok(performance.now() - t < 100, "a sleep on an aborted signal resolves at once");
  });
});

describe("retry", () => {
  const fast = { firstMs: 1, maxMs: 2, jitter: 0 };

  it("calls again after a failure it may retry, and returns the first success", async () => {
    const seen: number[] = [];
    const retried: number[] = [];
    const out = await retry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new RevisionConflictError("k", "lost");
        return "done";
      },
      { attempts: 5, backoff: fast, onRetry: (attempt) => retried.push(attempt) },
    );
    assert.equal(out, "done");
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(retried, [1, 2]);
  });

  it("throws the last error after `attempts` calls, and at once for an error retryIf refuses", async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async (attempt) => {
          calls++;
          throw new RevisionConflictError("k", `lost ${attempt}`);
        },
        { attempts: 3, backoff: fast },
      ),
      /lost 3/,
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Error("not a conflict");
        },
        { attempts: 3, backoff: fast, retryIf: (err) => err instanceof RevisionConflictError },
      ),
      /not a conflict/,
    );
    assert.equal(calls, 1);
  });
});
