/**
 * What `bench torch` results say (console summary and report): per UNet step, both sides' medians, FLOP/s and the
 * share of the peak measured in the same run; the targets they are held to.
 */
import type { TorchResults, TorchRound } from "./results.js";
import { median } from "./stats.js";

/** The target of the engine's UNet steps: at most this fraction of PyTorch eager's time at equal threads. */
export const TARGET_STEP_RATIO = 0.8;
/** The target of the 65-frame interpolation step: at least this share of the measured fp32 peak. */
export const TARGET_PEAK_SHARE = 0.35;

export interface StepRow {
  stage: string;
  torchMs: number | null;
  engineMs: number;
  /** engine / PyTorch eager, medians. */
  ratio: number | null;
  gflop: number | null;
  engineGflops: number | null;
  torchGflops: number | null;
  /** Of the peak measured by the PyTorch side in the same run. */
  enginePeakShare: number | null;
}

/** Per denoising stage: median step of each side over all rounds, FLOP/s against the best measured peak. */
export function stepRows(rounds: readonly TorchRound[]): StepRow[] {
  const stages = Object.keys(rounds[0]?.engine.stepMs ?? {});
  const peaks = rounds.flatMap((r) => (r.torch ? [r.torch.peakGflops] : []));
  // The best peak of the run: other work on the machine can only lower a measurement of it.
  const peak = peaks.length > 0 ? Math.max(...peaks) : null;
  return stages.map((stage) => {
    const eng = median(rounds.flatMap((r) => r.engine.stepMs[stage] ?? []));
    const tor = rounds.flatMap((r) => r.torch?.stepMs[stage] ?? []);
    const torchMs = tor.length > 0 ? median(tor) : null;
    const flops = rounds.find((r) => r.torch)?.torch?.flopsPerCall[stage];
    const gflop = flops === undefined ? null : flops / 1e9;
    const engineGflops = gflop === null ? null : gflop / (eng / 1000);
    return {
      stage,
      torchMs,
      engineMs: eng,
      ratio: torchMs === null ? null : eng / torchMs,
      gflop,
      engineGflops,
      torchGflops: gflop === null || torchMs === null ? null : gflop / (torchMs / 1000),
      enginePeakShare: engineGflops === null || peak === null ? null : engineGflops / peak,
    };
  });
}

const fmt = (x: number | null, digits = 1): string => (x === null ? "—" : x.toFixed(digits));

/** The console summary: per stage and per UNet step, both sides. */
export function formatTorchSummary(r: TorchResults): string {
  const lines: string[] = [];
  const stages = Object.keys(r.rounds[0]?.engine.seconds ?? {});
  lines.push("stage          PyTorch eager s   engine s   engine/PyTorch");
  for (const s of stages) {
    const e = median(r.rounds.map((x) => x.engine.seconds[s] ?? Number.NaN));
    const tt = r.rounds.flatMap((x) => (x.torch ? [x.torch.seconds[s] ?? Number.NaN] : []));
    const t = tt.length > 0 ? median(tt) : null;
    lines.push(
      `${s.padEnd(14)} ${fmt(t, 2).padStart(15)} ${fmt(e, 2).padStart(10)} ${fmt(t === null ? null : e / t, 2).padStart(16)}`,
    );
  }
  lines.push("", "UNet step      PyTorch ms   engine ms   ratio   GFLOP   engine GFLOP/s   % of peak");
  for (const row of stepRows(r.rounds)) {
    lines.push(
      `${row.stage.padEnd(14)} ${fmt(row.torchMs).padStart(10)} ${fmt(row.engineMs).padStart(11)} ${fmt(row.ratio, 2).padStart(7)} ${fmt(row.gflop, 2).padStart(7)} ${fmt(row.engineGflops).padStart(16)} ${fmt(row.enginePeakShare === null ? null : 100 * row.enginePeakShare).padStart(11)}`,
    );
  }
  if (r.python === null) lines.push("", "PyTorch eager: not run (no models/.venv): engine numbers only.");
  return `${lines.join("\n")}\n`;
}
