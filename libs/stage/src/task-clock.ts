import { durationFromMs, type StageTimings } from "@longshot/proto";

/** Where a task's time goes: reading inputs (load), model work (compute), writing outputs (store). */
export class TaskClock {
  readonly startTime = new Date();
  readonly #ms = { load: 0, compute: 0, store: 0 };

  /** Runs `fn`, adding its duration to `phase` (also when it throws). */
  async time<T>(phase: "load" | "compute" | "store", fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.#ms[phase] += performance.now() - t;
    }
  }

  timings(): StageTimings {
    return {
      startTime: this.startTime,
      endTime: new Date(),
      load: durationFromMs(this.#ms.load),
      compute: durationFromMs(this.#ms.compute),
      store: durationFromMs(this.#ms.store),
    };
  }
}
