/**
 * `bench torch`: the TypeScript engine (ONNX Runtime) against what a user would otherwise run, the same model in
 * PyTorch eager, on the same generation in one run.
 *
 * Each round runs, one after the other (alternating, so both see the same machine load):
 *   1. the Python toolkit's PyTorch eager pipeline, `python -m longshot_models.perf pipeline` (the reference
 *      pipeline's stages on the torch modules of models/weights; a process of its own): seconds per stage, each
 *      UNet call's milliseconds, FLOPs per UNet call (torch's FlopCounterMode) and the machine's fp32 peak (a
 *      2048² MatMul at the same threads) measured in that process; it writes its initial noise;
 *   2. the engine, `Engine.generate` in this process, from that same noise, with the same pack, prompt, seed,
 *      steps, frames and intra-op threads: seconds per stage and each UNet step's milliseconds (from the progress
 *      events).
 * Without a full run's --quick, it then adds the per-graph comparison (`python -m longshot_models.perf`: each UNet
 * graph in onnxruntime against its torch module in alternating blocks, FLOP/s and share of the peak) and the
 * scaling study (`python -m longshot_models.perf scaling`: seconds and peak memory per frame of the interpolation
 * UNet at 17, 65 and 257 frames, local against full temporal attention).
 *
 * The Python side needs models/.venv (`./setup.sh` makes it); without it the engine side runs alone and the
 * results say so.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultPackDir, parseArgs, UsageError } from "@longshot/cli";
import { Engine, type ProgressEvent } from "@longshot/engine";
import { readNoiseFile } from "@longshot/engine/light";
import { DEFAULT_PROMPT, DEFAULT_SEED } from "./engine-bench.js";
import { loadAverage, machineInfo } from "./machine.js";
import { datedResultPath, displayPath, REPO_ROOT, RESULTS_DIR, writeJsonAtomic } from "./paths.js";
import { runToolkitModule } from "./python.js";
import { type EagerRecord, type EngineSideRecord, TORCH_FORMAT, type TorchResults } from "./results.js";
import type { Io } from "./shell.js";
import { formatTorchSummary } from "./torch-summary.js";

export const TORCH_OPTIONS = {
  pack: { meta: "DIR" },
  frames: { meta: "N" },
  rounds: { meta: "N" },
  threads: { meta: "N" },
  prompt: { meta: "TEXT" },
  seed: { meta: "N" },
  steps: { meta: "N" },
  python: { meta: "PATH" },
  baseline: { meta: "DIR" },
  quick: { value: false },
  out: { meta: "FILE.json" },
  help: { value: false },
} as const;

export function torchHelp(): string {
  return `Usage: npm run bench -- torch [options]

The same generation (pack, prompt, seed, steps, frames, threads) through the TypeScript engine (ONNX Runtime) and
through the Python toolkit's PyTorch eager pipeline, alternating, in one run: seconds per stage, each UNet step,
FLOP/s per step against the fp32 peak measured in the same run. Without --quick it adds the per-graph comparison
and the scaling study (local vs full temporal attention at 17, 65 and 257 frames). Needs models/.venv for the
PyTorch side (./setup.sh); without it only the engine side runs.

Options:
  --pack DIR        model pack (default: $LONGSHOT_PACK, else models/packs/shapes-mini)
  --frames N        17, 65 or 257 (default 65)
  --rounds N        rounds of (PyTorch eager, engine) (default 2; --quick: 1)
  --threads N       intra-op threads of both (default 2)
  --prompt TEXT     (default "${DEFAULT_PROMPT}")
  --seed N          (default ${DEFAULT_SEED})
  --steps N         both stages' steps instead of the pack's defaults (for quick checks only)
  --python PATH     the toolkit's interpreter (default models/.venv/bin/python)
  --baseline DIR    another pack whose UNet graphs the per-graph comparison times in the same blocks (e.g. the
                    previous export), for before/after numbers measured side by side
  --quick           one round, no per-graph comparison or scaling study (a few minutes)
  --out FILE.json   (default bench/results/torch-<date>.json)
`;
}

export interface TorchBenchArgs {
  pack: string;
  frames: number;
  rounds: number;
  threads: number;
  prompt: string;
  seed: number;
  steps: number | null;
  python: string;
  baseline: string | null;
  quick: boolean;
  out: string | null;
}

function intArg(name: string, v: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}`, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return n;
}

export function parseTorchArgs(argv: readonly string[], env: NodeJS.ProcessEnv): TorchBenchArgs | "help" {
  const { options: o, positionals } = parseArgs(argv, TORCH_OPTIONS);
  if (o.has("help")) return "help";
  if (positionals.length > 0) throw new UsageError(JSON.stringify(positionals[0]), "unexpected argument");
  const frames = o.has("frames") ? intArg("frames", o.get("frames") as string, 1, 257) : 65;
  if (![17, 65, 257].includes(frames)) throw new UsageError("--frames", `must be 17, 65 or 257, got ${frames}`);
  const quick = o.has("quick");
  const out = o.get("out");
  if (out !== undefined && !out.endsWith(".json"))
    throw new UsageError("--out", `must name a .json file, got ${JSON.stringify(out)}`);
  const pack = o.get("pack");
  if (pack !== undefined && pack.trim() === "") throw new UsageError("--pack", "must name a model pack folder");
  return {
    pack: pack !== undefined ? path.resolve(pack) : defaultPackDir(env).dir,
    frames,
    rounds: o.has("rounds") ? intArg("rounds", o.get("rounds") as string, 1, 20) : quick ? 1 : 2,
    threads: o.has("threads") ? intArg("threads", o.get("threads") as string, 1, 256) : 2,
    prompt: o.get("prompt") ?? DEFAULT_PROMPT,
    seed: o.has("seed") ? intArg("seed", o.get("seed") as string, 0, 2 ** 31 - 1) : DEFAULT_SEED,
    steps: o.has("steps") ? intArg("steps", o.get("steps") as string, 1, 1000) : null,
    python: path.resolve(o.get("python") ?? path.join(REPO_ROOT, "models", ".venv", "bin", "python")),
    baseline: o.has("baseline") ? path.resolve(o.get("baseline") as string) : null,
    quick,
    out: out === undefined ? null : path.resolve(out),
  };
}

/** Runs `python -m longshot_models.perf <args>` in models/. */
function runPython(python: string, args: readonly string[], log: (line: string) => void): Promise<number> {
  return runToolkitModule(python, "longshot_models.perf", args, log);
}

/** Milliseconds between consecutive progress events of each denoising stage: one UNet step each. */
export class StepClock {
  readonly stepMs: Record<string, number[]> = {};
  #last = new Map<string, number>();

  onProgress(e: ProgressEvent, now = performance.now()): void {
    if (e.stage !== "keyframes" && e.stage !== "interpolate") return;
    const key = e.stage === "keyframes" ? "keyframes" : `interp${e.level ?? 0}`;
    const last = this.#last.get(key);
    if (e.step > 0 && last !== undefined) {
      const list = this.stepMs[key] ?? [];
      list.push(now - last);
      this.stepMs[key] = list;
    }
    this.#last.set(key, now);
  }
}

async function runEngine(engine: Engine, args: TorchBenchArgs, noiseFile: string | null): Promise<EngineSideRecord> {
  const clock = new StepClock();
  const noise = noiseFile === null ? undefined : await readNoiseFile(noiseFile);
  const r = await engine.generate(
    {
      prompt: args.prompt,
      seed: args.seed,
      frames: args.frames,
      ...(args.steps === null ? {} : { keyframeSteps: args.steps, interpolationSteps: args.steps }),
      ...(noise ? { noise } : {}),
    },
    { onProgress: (e) => clock.onProgress(e) },
  );
  const t = r.timings;
  const seconds: Record<string, number> = { encode: t.encode / 1000, keyframes: t.keyframes / 1000 };
  t.interpolateLevels.forEach((ms, i) => {
    seconds[`interp${i + 1}`] = ms / 1000;
  });
  seconds.decode = t.decode / 1000;
  seconds.total = t.total / 1000;
  return { seconds, stepMs: clock.stepMs, noise: noise ? "python" : "seeded" };
}

export async function torchBenchCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseTorchArgs(argv, process.env);
  if (args === "help") {
    io.stdout.write(torchHelp());
    return 0;
  }
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const hasPython = existsSync(args.python);
  if (!hasPython) {
    log(
      `bench torch: ${displayPath(args.python)} does not exist, so the PyTorch eager side is NOT run: only the engine is measured (create the toolkit's environment with ./setup.sh, or pass --python)`,
    );
  }
  const out = args.out ?? datedResultPath(RESULTS_DIR, "torch");
  const tmp = await mkdtemp(path.join(os.tmpdir(), "longshot-bench-torch-"));
  const results: TorchResults = {
    format: TORCH_FORMAT,
    createdAt: new Date().toISOString(),
    command: `npm run bench -- torch ${argv.join(" ")}`.trim(),
    machine: await machineInfo(),
    pack: displayPath(args.pack),
    prompt: args.prompt,
    seed: args.seed,
    frames: args.frames,
    threads: args.threads,
    steps: args.steps,
    python: hasPython ? displayPath(args.python) : null,
    rounds: [],
    graphs: null,
    scaling: null,
  };
  const engine = await Engine.create({ packDir: args.pack, threads: args.threads });
  try {
    for (let round = 1; round <= args.rounds; round++) {
      let torch: EagerRecord | null = null;
      let noiseFile: string | null = null;
      if (hasPython) {
        log(`round ${round}/${args.rounds}: PyTorch eager, ${args.frames} frames, ${args.threads} threads`);
        const json = path.join(tmp, `eager-${round}.json`);
        noiseFile = path.join(tmp, `noise-${round}.safetensors`);
        await runPython(
          args.python,
          [
            "pipeline",
            "--pack",
            args.pack,
            "--prompt",
            args.prompt,
            "--seed",
            String(args.seed),
            "--frames",
            String(args.frames),
            "--threads",
            String(args.threads),
            ...(args.steps === null ? [] : ["--steps", String(args.steps)]),
            "--noise-out",
            noiseFile,
            "--json",
            json,
          ],
          log,
        );
        torch = JSON.parse(await readFile(json, "utf8")) as EagerRecord;
      }
      log(`round ${round}/${args.rounds}: engine (onnxruntime-node)`);
      const eng = await runEngine(engine, args, noiseFile);
      results.rounds.push({ round, torch, engine: eng, loadAverage: loadAverage() });
      writeJsonAtomic(out, results);
    }
  } finally {
    await engine.close();
  }
  if (hasPython && !args.quick) {
    log("per-graph comparison: python -m longshot_models.perf");
    const graphs = path.join(tmp, "graphs.json");
    await runPython(
      args.python,
      [
        "--pack",
        args.pack,
        "--threads",
        String(args.threads),
        "--no-spinning",
        "--blocks",
        "4",
        "--per-block",
        "6",
        ...(args.baseline === null ? [] : ["--baseline", args.baseline]),
        "--json",
        graphs,
      ],
      log,
    );
    results.graphs = JSON.parse(await readFile(graphs, "utf8")) as TorchResults["graphs"];
    writeJsonAtomic(out, results);
    log("scaling study: python -m longshot_models.perf scaling");
    const scaling = path.join(tmp, "scaling.json");
    await runPython(
      args.python,
      ["scaling", "--pack", args.pack, "--threads", String(args.threads), "--runs", "5", "--json", scaling],
      log,
    );
    results.scaling = JSON.parse(await readFile(scaling, "utf8")) as TorchResults["scaling"];
  }
  results.machine.loadAverage.end = loadAverage();
  writeJsonAtomic(out, results);
  await rm(tmp, { recursive: true, force: true });
  io.stdout.write(formatTorchSummary(results));
  io.stdout.write(`\nwrote ${displayPath(out)}\n`);
  return 0;
}
