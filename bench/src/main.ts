#!/usr/bin/env node
/**
 * The benchmark suite's command line (`npm run bench -- <command> …`, the root package.json's "bench" script):
 *   engine   the embedded pipeline: seconds and peak memory per stage, probe verdict per video
 *   report   docs/benchmarks.md and its chart from bench/results/*.json
 *   cluster  the distributed pipeline (needs the services of the distributed pipeline issue)
 *   torch    the engine against PyTorch eager (torch-bench.ts)
 *   real-size the seed's architecture at real size in PyTorch: memory and seconds per stage (real-size-bench.ts)
 * `engine-run` is internal: one run of one engine case, started by `engine` in a process of its own.
 */
import { writeFile } from "node:fs/promises";
import { UsageError } from "@longshot/cli";
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { clusterBenchCommand } from "./cluster-bench.js";
import { engineBenchCommand } from "./engine-bench.js";
import { engineRun, type RunSpec } from "./engine-run.js";
import { realSizeBenchCommand } from "./real-size-bench.js";
import { reportCommand } from "./report.js";
import { torchBenchCommand } from "./torch-bench.js";

const USAGE = `Usage: npm run bench -- <command> [options]

Commands:
  engine    embedded pipeline: seconds and peak memory per stage, with the probe's verdict (--help for options)
  report    write docs/benchmarks.md and docs/images/bench-*.svg from bench/results/*.json
  cluster   distributed pipeline: overhead, throughput against min(1/K, N/I, 1/D), replica scaling
  torch     the engine against PyTorch eager on the same generation, per stage and per UNet step (FLOP/s
            against a measured peak), the per-graph comparison and the local-vs-full attention scaling study
  real-size the seed's architecture at real size with random weights (SD 1.x UNets, VAE decoder) in PyTorch:
            peak memory and seconds of one step per stage against a 24 GB GPU (needs models/.venv)

Typical use:
  npm run bench -- engine --pack models/packs/shapes-mini
  npm run bench -- torch --quick
  npm run bench -- report
`;

const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };

async function engineRunCommand(argv: readonly string[]): Promise<number> {
  const spec = argv[argv.indexOf("--spec") + 1];
  const resultFile = argv[argv.indexOf("--result") + 1];
  if (!argv.includes("--spec") || !argv.includes("--result") || spec === undefined || resultFile === undefined) {
    throw new UsageError("engine-run", "is internal to `bench engine` (needs --spec JSON --result FILE)");
  }
  const record = await engineRun(JSON.parse(spec) as RunSpec, (line) => process.stderr.write(`  ${line}\n`));
  await writeFile(resultFile, JSON.stringify(record));
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    (command === undefined ? process.stderr : process.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const prefix = `bench ${command}: `;
  try {
    switch (command) {
      case "engine":
        return await engineBenchCommand(rest, io);
      case "engine-run":
        return await engineRunCommand(rest);
      case "report":
        return await reportCommand(rest, io);
      case "cluster":
        return await clusterBenchCommand(rest, io);
      case "torch":
        return await torchBenchCommand(rest, io);
      case "real-size":
        return await realSizeBenchCommand(rest, io);
      default:
        process.stderr.write(
          `bench: unknown command ${JSON.stringify(command)}: expected engine, report, cluster, torch or real-size\n`,
        );
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof InvalidArgumentError) {
      process.stderr.write(`${prefix}${err.message} (see npm run bench -- ${command} --help)\n`);
      return 2;
    }
    if (err instanceof LongshotError) {
      process.stderr.write(`${prefix}error: ${err.message}\n`);
      if (process.env.LONGSHOT_DEBUG) process.stderr.write(`${err.stack ?? ""}\n`);
      return 1;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    process.stderr.write(`${prefix}unexpected error: ${e.message}\n${e.stack ?? ""}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; a stray handle (an onnxruntime worker) must not keep the process alive.
setTimeout(() => process.exit(code), 2000).unref();
