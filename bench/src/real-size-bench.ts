/**
 * `bench real-size`: the real-size budget. Runs the Python toolkit's `python -m longshot_models.real_size` (the
 * seed's architecture at real size with random weights: keyframe UNet, interpolation UNet, VAE decoder; one
 * denoising step each, PyTorch eager fp32 on CPU, each case in a process of its own) and writes
 * bench/results/real-size-<date>.json with the machine it ran on. `bench report` turns it into the section
 * "Real-size stages against 24 GB" of docs/benchmarks.md.
 *
 * Needs models/.venv (`./setup.sh` makes it): there is nothing to measure without PyTorch, so without it the
 * command stops and says so.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs, UsageError } from "@longshot/cli";
import { LongshotError } from "@longshot/core";
import { loadAverage, machineInfo } from "./machine.js";
import { datedResultPath, displayPath, REPO_ROOT, RESULTS_DIR, writeJsonAtomic } from "./paths.js";
import { runToolkitModule } from "./python.js";
import {
  parseRealSizePython,
  REAL_SIZE_FORMAT,
  type RealSizePython,
  type RealSizeResults,
} from "./real-size-results.js";
import { ResultFileError } from "./results.js";
import type { Io } from "./shell.js";

export const REAL_SIZE_OPTIONS = {
  cases: { meta: "LIST" },
  frames: { meta: "LIST" },
  window: { meta: "N" },
  threads: { meta: "N" },
  "budget-gb": { meta: "GB" },
  python: { meta: "PATH" },
  from: { meta: "FILE.json" },
  out: { meta: "FILE.json" },
  help: { value: false },
} as const;

export function realSizeHelp(): string {
  return `Usage: npm run bench -- real-size [options]

The seed's architecture at real size with random weights (never saved): the keyframe UNet (diffusers
UNet3DConditionModel, SD 1.x channels 320/640/1280/1280, 4 input channels, cross-attention 768) at 5 frames batch 2,
the interpolation UNet (9 input channels) on one 17-frame window with local (band mask) and full temporal
attention, the same at smaller frame counts for the growth with frames, and the SD 1.x VAE decoder at 1 and 4
frames; 64x64 latents. One denoising step each, PyTorch eager fp32 on CPU, each case in a fresh process: seconds,
peak resident memory, weights in fp32 and fp16. A case whose estimated peak exceeds --budget-gb or what the
machine has free is skipped and the result says why. Needs models/.venv (./setup.sh). Takes tens of minutes on
2 cores.

Options:
  --cases LIST      case groups in order, of scaling, kf, interp, vae, onnx (default scaling,kf,interp,vae);
                    onnx: the graphs the converter exports, run in onnxruntime (CPU) — the keyframe UNet at
                    batch 1 at each of --frames and at 5 frames batch 1 and 2, the interpolation UNet on one
                    17-frame window; export and session each in a process of their own, under an address-space
                    cap of the memory available less 5 GB; write it with --out bench/results/real-size-onnx-<date>.json
  --frames LIST     frame counts of the scaling group, and of the onnx group's keyframe cases (default 5,9)
  --window N        local temporal attention window of the interpolation UNet (default 5)
  --threads N       intra-op threads (default 2)
  --budget-gb GB    skip a case whose estimated peak exceeds this (default 12)
  --python PATH     the toolkit's interpreter (default models/.venv/bin/python)
  --from FILE.json  measure nothing: record what \`python -m longshot_models.real_size --json FILE.json\` wrote
                    on this machine (a run started by hand); the command line recorded says so
  --out FILE.json   (default bench/results/real-size-<date>.json)
`;
}

export interface RealSizeArgs {
  cases: string[];
  frames: number[];
  window: number;
  threads: number;
  budgetGb: number;
  python: string;
  from: string | null;
  out: string | null;
}

const GROUPS = ["scaling", "kf", "interp", "vae", "onnx"];
/** The groups run when --cases is not given (onnx is asked for by name: it exports graphs of several GB). */
const DEFAULT_GROUPS = ["scaling", "kf", "interp", "vae"];

function intArg(name: string, v: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}`, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return n;
}

export function parseRealSizeArgs(argv: readonly string[]): RealSizeArgs | "help" {
  const { options: o, positionals } = parseArgs(argv, REAL_SIZE_OPTIONS);
  if (o.has("help")) return "help";
  if (positionals.length > 0) throw new UsageError(JSON.stringify(positionals[0]), "unexpected argument");
  const cases = (o.get("cases") ?? DEFAULT_GROUPS.join(","))
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  for (const c of cases)
    if (!GROUPS.includes(c))
      throw new UsageError("--cases", `unknown case group ${JSON.stringify(c)}: expected ${GROUPS.join(", ")}`);
  if (cases.length === 0) throw new UsageError("--cases", "names no case group");
  const frames = (o.get("frames") ?? "5,9")
    .split(",")
    .filter((f) => f.trim() !== "")
    .map((f) => intArg("frames", f, 1, 257));
  const budget = Number(o.get("budget-gb") ?? "12");
  if (!Number.isFinite(budget) || budget <= 0)
    throw new UsageError("--budget-gb", `must be a positive number, got ${JSON.stringify(o.get("budget-gb"))}`);
  const out = o.get("out");
  if (out !== undefined && !out.endsWith(".json"))
    throw new UsageError("--out", `must name a .json file, got ${JSON.stringify(out)}`);
  return {
    cases,
    frames,
    window: o.has("window") ? intArg("window", o.get("window") as string, 0, 257) : 5,
    threads: o.has("threads") ? intArg("threads", o.get("threads") as string, 1, 256) : 2,
    budgetGb: budget,
    python: path.resolve(o.get("python") ?? path.join(REPO_ROOT, "models", ".venv", "bin", "python")),
    from: o.has("from") ? path.resolve(o.get("from") as string) : null,
    out: out === undefined ? null : path.resolve(out),
  };
}

/** The arguments of `python -m longshot_models.real_size` for `args`, writing its JSON to `json`. */
export function pythonArgs(args: RealSizeArgs, json: string): string[] {
  return [
    "--cases",
    args.cases.join(","),
    "--frames",
    args.frames.join(","),
    "--window",
    String(args.window),
    "--threads",
    String(args.threads),
    "--budget-gb",
    String(args.budgetGb),
    "--json",
    json,
  ];
}

/** Runs `python -m longshot_models.real_size` in models/: exit code 1 means some case failed (the JSON says which). */
function runPython(python: string, argv: readonly string[], log: (line: string) => void): Promise<number> {
  return runToolkitModule(python, "longshot_models.real_size", argv, log, { okCodes: [0, 1], echoStderr: true });
}

export async function realSizeBenchCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseRealSizeArgs(argv);
  if (args === "help") {
    io.stdout.write(realSizeHelp());
    return 0;
  }
  if (args.from !== null && !existsSync(args.from)) {
    throw new UsageError("--from", `${args.from} does not exist`);
  }
  if (args.from === null && !existsSync(args.python)) {
    io.stderr.write(
      `bench real-size: ${displayPath(args.python)} does not exist: the real-size benchmark runs in PyTorch and needs the toolkit's environment (create it with ./setup.sh, or pass --python); nothing was measured\n`,
    );
    return 1;
  }
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const out = args.out ?? datedResultPath(RESULTS_DIR, "real-size");
  const machine = await machineInfo();
  const tmp = await mkdtemp(path.join(os.tmpdir(), "longshot-bench-real-size-"));
  try {
    const json = args.from ?? path.join(tmp, "real-size.json");
    let code = 0;
    if (args.from === null) {
      log(`bench real-size: ${displayPath(args.python)} ${pythonArgs(args, json).join(" ")}`);
      code = await runPython(args.python, pythonArgs(args, json), log);
    }
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(json, "utf8"));
    } catch (err) {
      throw new LongshotError(`${displayPath(json)} is not valid JSON: ${(err as Error).message}`);
    }
    let measured: RealSizePython;
    try {
      measured = parseRealSizePython(displayPath(json), value);
    } catch (err) {
      if (err instanceof ResultFileError) throw new LongshotError(`not a real-size measurement: ${err.message}`);
      throw err;
    }
    if (args.from !== null && measured.cases.some((c) => c.status === "failed")) code = 1;
    // With --from the run happened before this process: its load at the end is not known.
    if (args.from === null) machine.loadAverage.end = loadAverage();
    const results: RealSizeResults = {
      format: REAL_SIZE_FORMAT,
      createdAt: new Date().toISOString(),
      command: `npm run bench -- real-size ${argv.join(" ")}`.trim(),
      machine,
      python: displayPath(args.python),
      measured,
    };
    writeJsonAtomic(out, results);
    io.stdout.write(
      `bench real-size: wrote ${displayPath(out)} (npm run bench -- report puts it in docs/benchmarks.md)\n`,
    );
    return code === 0 ? 0 : 1;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
