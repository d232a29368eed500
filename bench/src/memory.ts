/**
 * Peak memory per stage of one run. The onnxruntime sessions run in worker threads of this process, so the
 * process's resident set size (RSS) covers the models, their native arenas and every thread.
 *
 * Two sources, combined:
 *   - on Linux, `VmHWM` of /proc/self/status is the exact high-water mark of RSS; writing "5" to
 *     /proc/self/clear_refs resets it to the current RSS (Linux ≥ 4.0), so resetting it when a stage starts and
 *     reading it when the stage ends gives that stage's exact peak, spikes between samples included;
 *   - everywhere, RSS sampled every `intervalMs` (50 ms) on the main thread, which is idle while the workers run
 *     the models; with it the runtime's `memoryInfo()` (the workers' V8 heaps; native memory is in RSS already).
 * A stage's peak is the larger of the two. Where /proc is missing, only the samples count (method "sampled").
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { RuntimeMemoryInfo } from "@longshot/runtime";
import type { StageMemory } from "./results.js";
import { toMB } from "./stats.js";

export interface ProcMemory {
  /** Peak RSS (VmHWM) in bytes. */
  hwm: number;
  /** Current RSS (VmRSS) in bytes. */
  rss: number;
}

/** Reads VmHWM and VmRSS out of the text of /proc/<pid>/status; null when either line is missing. */
export function parseProcStatus(text: string): ProcMemory | null {
  const kb = (key: string): number | null => {
    const m = new RegExp(`^${key}:\\s*(\\d+)\\s*kB\\s*$`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  const hwm = kb("VmHWM");
  const rss = kb("VmRSS");
  return hwm === null || rss === null ? null : { hwm, rss };
}

function readProc(): ProcMemory | null {
  try {
    return parseProcStatus(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS; false where the kernel does not allow it. */
function resetHwm(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

interface StageState {
  start: number;
  sampledPeak: number;
  hwmPeak: number | null;
}

export interface MemoryReport {
  method: "vmhwm" | "sampled";
  intervalMs: number;
  peakMB: number;
  stages: Record<string, StageMemory>;
  workerHeapPeakMB: number | null;
}

export class MemoryMonitor {
  readonly intervalMs: number;
  readonly #stages = new Map<string, StageState>();
  readonly #perStageHwm: boolean;
  #current: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #runtimeInfo: (() => RuntimeMemoryInfo) | undefined;
  #workerPeak: number | null = null;

  constructor(intervalMs = 50) {
    this.intervalMs = intervalMs;
    // VmHWM per stage needs both the value and a way to reset it.
    this.#perStageHwm = readProc() !== null && resetHwm();
  }

  get method(): "vmhwm" | "sampled" {
    return this.#perStageHwm ? "vmhwm" : "sampled";
  }

  /** Also samples the runtime's memoryInfo() (the onnxruntime worker threads). */
  watchRuntime(memoryInfo: () => RuntimeMemoryInfo): void {
    this.#runtimeInfo = memoryInfo;
  }

  /** Ends the current stage (if another) and starts `label`; starts sampling on the first call. */
  enter(label: string): void {
    if (label === this.#current) return;
    if (this.#stages.has(label)) throw new Error(`memory monitor: stage ${label} entered twice`);
    this.#finish();
    if (this.#perStageHwm) resetHwm();
    const rss = process.memoryUsage.rss();
    this.#stages.set(label, { start: rss, sampledPeak: rss, hwmPeak: null });
    this.#current = label;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sample(), this.intervalMs);
      this.#timer.unref();
    }
  }

  /** RSS now, in bytes. */
  rss(): number {
    return process.memoryUsage.rss();
  }

  #sample(): void {
    const st = this.#current === undefined ? undefined : this.#stages.get(this.#current);
    const rss = process.memoryUsage.rss();
    if (st && rss > st.sampledPeak) st.sampledPeak = rss;
    if (this.#runtimeInfo) {
      let sum = 0;
      let any = false;
      for (const w of this.#runtimeInfo().workers) {
        if (w.memory) {
          any = true;
          sum += w.memory.heapUsed + w.memory.external;
        }
      }
      if (any && (this.#workerPeak === null || sum > this.#workerPeak)) this.#workerPeak = sum;
    }
  }

  #finish(): void {
    if (this.#current === undefined) return;
    this.#sample();
    const st = this.#stages.get(this.#current) as StageState;
    if (this.#perStageHwm) st.hwmPeak = readProc()?.hwm ?? null;
    this.#current = undefined;
  }

  /** Ends the last stage, stops sampling and reports. */
  stop(): MemoryReport {
    this.#finish();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const stages: Record<string, StageMemory> = {};
    let peak = 0;
    for (const [label, st] of this.#stages) {
      const p = Math.max(st.sampledPeak, st.hwmPeak ?? 0);
      peak = Math.max(peak, p);
      stages[label] = { startMB: toMB(st.start), peakMB: toMB(p) };
    }
    return {
      method: this.method,
      intervalMs: this.intervalMs,
      peakMB: toMB(peak),
      stages,
      workerHeapPeakMB: this.#workerPeak === null ? null : toMB(this.#workerPeak),
    };
  }
}
