/**
 * Progress display. On a terminal: one line, redrawn with "\r", showing the stage, a bar, step/total and an ETA
 * for the stage. Otherwise (CI logs, pipes): plain lines when a stage starts, every 10 % and when it ends.
 */
import type { ProgressEvent } from "@longshot/engine";

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

interface Bar {
  key: string;
  label: string;
  started: number;
  lastTenth: number;
}

/** A stage's label and its progress in [0, 1] (windows of a level count as one bar). */
export function describeEvent(e: ProgressEvent): { key: string; label: string; done: number; total: number } {
  switch (e.stage) {
    case "encode":
      return { key: "encode", label: "encode prompt", done: e.step, total: e.total };
    case "keyframes":
      return { key: "keyframes", label: "keyframes", done: e.step, total: e.total };
    case "interpolate": {
      const level = e.level ?? 0;
      const frames = e.frames !== undefined ? ` →${e.frames} frames` : "";
      if (e.window) {
        const w = e.window;
        return {
          key: `interpolate-${level}`,
          label: `interpolate L${level}${frames} (window ${w.index + 1}/${w.count})`,
          done: w.index * e.total + e.step,
          total: w.count * e.total,
        };
      }
      return { key: `interpolate-${level}`, label: `interpolate L${level}${frames}`, done: e.step, total: e.total };
    }
    case "decode":
      return { key: "decode", label: "decode", done: e.step, total: e.total };
    default:
      return {
        key: String((e as { stage: unknown }).stage),
        label: String((e as { stage: unknown }).stage),
        done: e.step,
        total: e.total,
      };
  }
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(s % 60).padStart(2, "0")}s`;
}

export class ProgressReporter {
  readonly #out: ProgressStream;
  readonly #tty: boolean;
  readonly #now: () => number;
  #bar: Bar | undefined;
  #lineOpen = false;
  #prefix = "";

  constructor(out: ProgressStream, options: { tty?: boolean; now?: () => number } = {}) {
    this.#out = out;
    this.#tty = options.tty ?? out.isTTY === true;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Text put before every label from now on, e.g. "video 2/3 (seed 8) " in a --num-videos run. */
  setPrefix(prefix: string): void {
    this.#prefix = prefix;
    this.#bar = undefined;
  }

  /** A stage with no steps of its own ("loading pack", "writing video.mp4"). */
  phase(label: string): void {
    this.#bar = undefined;
    if (this.#tty) this.#draw(`${this.#prefix}${label} …`);
    else this.#out.write(`${this.#prefix}${label}\n`);
  }

  /**
   * A line that stays (a file written, a warning), on its own line even on a terminal, where the bar is then
   * redrawn below it. `to`: another stream for it (a warning goes to stderr even when progress is quiet).
   */
  note(text: string, to: ProgressStream = this.#out): void {
    if (this.#tty && this.#lineOpen) this.#out.write("\r\x1b[2K");
    this.#lineOpen = false;
    to.write(`${text}\n`);
  }

  event(e: ProgressEvent): void {
    const d = describeEvent(e);
    d.label = `${this.#prefix}${d.label}`;
    const now = this.#now();
    if (!this.#bar || this.#bar.key !== d.key) {
      this.#bar = { key: d.key, label: d.label, started: now, lastTenth: -1 };
    }
    const bar = this.#bar;
    bar.label = d.label;
    const frac = d.total > 0 ? Math.min(1, Math.max(0, d.done / d.total)) : 0;
    const elapsed = now - bar.started;
    const eta = d.done > 0 && d.done < d.total ? (elapsed / d.done) * (d.total - d.done) : undefined;
    const tail =
      d.done >= d.total ? `done in ${formatDuration(elapsed)}` : eta !== undefined ? `ETA ${formatDuration(eta)}` : "";
    if (this.#tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      this.#draw(
        `${d.label.padEnd(18)} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${d.done}/${d.total} ${tail}`.trimEnd(),
      );
      return;
    }
    const tenth = Math.floor(frac * 10);
    if (d.done === 0 || d.done >= d.total || tenth > bar.lastTenth) {
      bar.lastTenth = tenth;
      this.#out.write(`${d.label}: ${d.done}/${d.total}${tail ? ` (${tail})` : ""}\n`);
    }
  }

  /** Ends the redrawn line (before other output). */
  finish(): void {
    if (this.#tty && this.#lineOpen) this.#out.write("\n");
    this.#lineOpen = false;
    this.#bar = undefined;
  }

  #draw(text: string): void {
    const cols = this.#out.columns && this.#out.columns > 10 ? this.#out.columns - 1 : 100;
    this.#out.write(`\r\x1b[2K${text.length > cols ? text.slice(0, cols) : text}`);
    this.#lineOpen = true;
  }
}
