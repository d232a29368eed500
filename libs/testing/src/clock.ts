/**
 * A clock that only a test moves: it starts at the real time and then stands still until `advance`.
 * Code that takes a `{ now(), sleep(ms, signal) }` clock (the gateway's coordinator and reconciler) sees
 * a timeout pass when the test advances past it, and its sleeps end only then, so nothing depends on
 * how fast the machine runs. Timestamps taken elsewhere (a NATS server's message times) keep running
 * in real time: advance by more than the test's real duration where they are compared with `now()`.
 */
export class TestClock {
  #nowMs = Date.now();
  readonly #sleepers = new Set<{ until: number; wake: () => void }>();

  /** Milliseconds since the epoch, as `Date.now()`: the start time plus everything advanced so far. */
  now(): number {
    return this.#nowMs;
  }

  /** Resolves once the clock has been advanced `ms` (at once when `signal` is or becomes aborted). */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (ms <= 0 || signal?.aborted) return resolve();
      const sleeper = {
        until: this.#nowMs + ms,
        wake: () => {
          this.#sleepers.delete(sleeper);
          signal?.removeEventListener("abort", sleeper.wake);
          resolve();
        },
      };
      this.#sleepers.add(sleeper);
      signal?.addEventListener("abort", sleeper.wake, { once: true });
    });
  }

  /** Moves the clock `ms` forward; the sleeps that end by then resolve. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`TestClock.advance: ${ms} ms is not a duration`);
    this.#nowMs += ms;
    for (const s of [...this.#sleepers]) if (s.until <= this.#nowMs) s.wake();
  }
}
