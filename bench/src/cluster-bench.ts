/**
 * `bench cluster`: the distributed pipeline's numbers. For each interpolation replica count N it brings the
 * services up (`scripts/cluster up --interpolation N --http-port 0`), sends jobs through the gateway with
 * `longshot generate --remote HOST:PORT`, probes every video, and takes the services down again. It measures
 *   - distributed overhead: the latency of one job at a time minus the embedded wall time of the same job;
 *   - pipelining throughput with several jobs in flight, against the bound X = min(1/K, N/I, 1/D) jobs per second
 *     (K, I, D: one job's keyframe, interpolation and decode seconds, from an engine result file);
 *   - replica scaling: throughput against N.
 * Both commands come with the distributed pipeline issue; until they exist this command says so and measures
 * nothing (`--dry-run` prints what it would run).
 */
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs, UsageError } from "@longshot/cli";
import { LongshotError } from "@longshot/core";
import { isWorldPrompt } from "@longshot/probe";
import { DEFAULT_PROMPT, DEFAULT_SEED } from "./engine-bench.js";
import { loadAverage, machineInfo } from "./machine.js";
import { datedResultPath, displayPath, REPO_ROOT, RESULTS_DIR, writeJsonAtomic } from "./paths.js";
import {
  CLUSTER_FORMAT,
  type ClusterPoint,
  type ClusterResults,
  type EngineResults,
  parseResultFile,
} from "./results.js";
import { type Io, shellQuote } from "./shell.js";
import { median } from "./stats.js";

/**
 * The jobs go over gRPC: the gateway's HTTP API is off (--http-port 0), so a bench never takes port 8080 from, or
 * collides on it with, another cluster or a process left behind.
 */
export const DEFAULT_UP = "scripts/cluster up --interpolation {N} --http-port 0";
export const DEFAULT_DOWN = "scripts/cluster down";
export const DEFAULT_GATEWAY = "127.0.0.1:50051";

export const CLUSTER_OPTIONS = {
  interpolation: { meta: "1,2,4" },
  frames: { meta: "N" },
  jobs: { meta: "N" },
  concurrency: { meta: "N" },
  "latency-jobs": { meta: "N" },
  gateway: { meta: "HOST:PORT" },
  up: { meta: "COMMAND" },
  down: { meta: "COMMAND" },
  embedded: { meta: "ENGINE-RESULT.json" },
  prompt: { meta: "TEXT" },
  seed: { meta: "N" },
  out: { meta: "FILE.json" },
  "dry-run": { value: false },
  help: { value: false },
} as const;

export function clusterHelp(): string {
  return `Usage: npm run bench -- cluster --embedded bench/results/engine-<date>.json [options]

Measures the distributed pipeline: overhead against the embedded run, pipelining throughput against the bound
X = min(1/K, N/I, 1/D), and scaling with the number N of interpolation replicas. Needs the services of the
distributed pipeline issue (scripts/cluster and \`longshot generate --remote\`).

Options:
  --embedded FILE     engine result file with a whole-pass case of --frames: its median stage seconds give
                      K (encode + keyframes), I (interpolation) and D (decode + outputs), its wall the overhead
  --interpolation L   interpolation replica counts, comma-separated (default 1,2,4)
  --frames N          frames per job (default 65)
  --jobs N            jobs for the throughput measurement (default 8)
  --concurrency N     jobs in flight (default 4)
  --latency-jobs N    jobs run one at a time for the latency (default 3)
  --gateway HOST:PORT gateway address the services listen on (default ${DEFAULT_GATEWAY})
  --up COMMAND        start command, {N} = replicas (default "${DEFAULT_UP}")
  --down COMMAND      stop command (default "${DEFAULT_DOWN}")
  --prompt TEXT       a prompt of the shapes world (default "${DEFAULT_PROMPT}")
  --seed N            seed of the first job; job i uses seed + i (default ${DEFAULT_SEED})
  --out FILE.json     (default bench/results/cluster-<date>.json)
  --dry-run           print the commands and the bound, run nothing
`;
}

export interface ClusterArgs {
  replicas: number[];
  frames: number;
  jobs: number;
  concurrency: number;
  latencyJobs: number;
  gateway: string;
  up: string;
  down: string;
  embedded: string;
  prompt: string;
  seed: number;
  out: string | null;
  dryRun: boolean;
}

function intArg(name: string, v: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}`, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return n;
}

export function parseClusterArgs(argv: readonly string[]): ClusterArgs | "help" {
  const { options: o, positionals } = parseArgs(argv, CLUSTER_OPTIONS);
  if (o.has("help")) return "help";
  if (positionals.length > 0) {
    throw new UsageError(JSON.stringify(positionals[0]), "unexpected argument; cluster takes options only");
  }
  const rawReplicas = o.get("interpolation") ?? "1,2,4";
  const replicas = [...new Set(rawReplicas.split(",").map((s) => intArg("interpolation", s.trim(), 1, 256)))].sort(
    (a, b) => a - b,
  );
  const gateway = o.get("gateway") ?? DEFAULT_GATEWAY;
  if (!/^[^\s:]+:\d{1,5}$/.test(gateway) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(gateway)) {
    throw new UsageError("--gateway", `must be HOST:PORT, got ${JSON.stringify(gateway)}`);
  }
  const up = o.get("up") ?? DEFAULT_UP;
  if (!up.includes("{N}")) {
    throw new UsageError("--up", `must contain {N} where the replica count goes, got ${JSON.stringify(up)}`);
  }
  const embedded = o.get("embedded");
  if (embedded === undefined) {
    throw new UsageError(
      "--embedded",
      "is required: an engine result file (npm run bench -- engine) gives the stage seconds of the bound and the embedded wall time",
    );
  }
  const prompt = o.get("prompt") ?? DEFAULT_PROMPT;
  if (!isWorldPrompt(prompt)) {
    throw new UsageError(
      "--prompt",
      `must name a colour, a shape and a motion of the shapes world, got ${JSON.stringify(prompt)}`,
    );
  }
  const out = o.get("out");
  if (out !== undefined && !out.endsWith(".json"))
    throw new UsageError("--out", `must name a .json file, got ${JSON.stringify(out)}`);
  const num = (name: string, def: number, min: number, max: number) =>
    o.has(name) ? intArg(name, o.get(name) as string, min, max) : def;
  return {
    replicas,
    frames: num("frames", 65, 1, 100_000),
    jobs: num("jobs", 8, 1, 10_000),
    concurrency: num("concurrency", 4, 1, 1_000),
    latencyJobs: num("latency-jobs", 3, 1, 100),
    gateway,
    up,
    down: o.get("down") ?? DEFAULT_DOWN,
    embedded: path.resolve(embedded),
    prompt,
    seed: num("seed", DEFAULT_SEED, 0, Number.MAX_SAFE_INTEGER),
    out: out === undefined ? null : path.resolve(out),
    dryRun: o.has("dry-run"),
  };
}

/** The pipelining bound X = min(1/K, N/I, 1/D), per minute, and which stage sets it. */
export function throughputBound(
  stage: { keyframe: number; interpolation: number; decode: number },
  replicas: number,
): { perMinute: number; bottleneck: "keyframe" | "interpolation" | "decode" } {
  for (const [k, v] of Object.entries(stage)) {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`stage seconds ${k} must be > 0, got ${v}`);
  }
  if (!Number.isSafeInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be ≥ 1, got ${replicas}`);
  const rates = {
    keyframe: 1 / stage.keyframe,
    interpolation: replicas / stage.interpolation,
    decode: 1 / stage.decode,
  } as const;
  let bottleneck: "keyframe" | "interpolation" | "decode" = "keyframe";
  for (const k of ["interpolation", "decode"] as const) if (rates[k] < rates[bottleneck]) bottleneck = k;
  return { perMinute: rates[bottleneck] * 60, bottleneck };
}

/** K, I, D and the wall time of the whole-pass case of `frames` in an engine result file (medians). */
export function stageSecondsFromEngine(
  results: EngineResults,
  frames: number,
): { keyframe: number; interpolation: number; decode: number; wall: number; caseId: string } {
  const c = results.cases.find((x) => x.frames === frames && x.window === null && x.runs.length > 0);
  if (!c) {
    const have = results.cases.filter((x) => x.window === null && x.runs.length > 0).map((x) => x.frames);
    throw new UsageError(
      "--embedded",
      `has no whole-pass case of ${frames} frames (it has ${have.join(", ") || "none"})`,
    );
  }
  if (!c.runs.every((r) => r.probe.ok)) {
    throw new UsageError("--embedded", `case ${c.id}'s videos failed the probe: its seconds cannot set a bound`);
  }
  const runs = c.runs;
  const med = (f: (r: (typeof runs)[number]) => number) => median(runs.map(f));
  return {
    keyframe: med((r) => r.seconds.encode + r.seconds.keyframes),
    interpolation: med((r) => r.seconds.interpolation.reduce((a, b) => a + b, 0)),
    decode: med((r) => r.seconds.decode + (r.seconds.outputs ?? 0)),
    wall: med((r) => r.seconds.wall),
    caseId: c.id,
  };
}

/** The program a shell command starts, when it is a path (e.g. "scripts/cluster"); null for a bare name. */
export function commandProgram(command: string): string | null {
  const first = command.trim().split(/\s+/)[0] ?? "";
  return first.includes("/") ? path.resolve(REPO_ROOT, first) : null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function sh(command: string, log: (line: string) => void): Promise<void> {
  log(`$ ${command}`);
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", command], { cwd: REPO_ROOT, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0
        ? resolve()
        : reject(new LongshotError(`${command}: ${signal ? `killed by ${signal}` : `exit code ${code}`}`)),
    );
  });
}

interface JobOutcome {
  seconds: number;
  probeOk: boolean;
  problem: string | null;
}

async function runJob(args: ClusterArgs, index: number, dir: string): Promise<JobOutcome> {
  const out = path.join(dir, `job-${index}`);
  const argv = [
    "generate",
    "--remote",
    args.gateway,
    "--prompt",
    args.prompt,
    "--seed",
    String(args.seed + index),
    "--frames",
    String(args.frames),
    "--out",
    out,
    "--quiet",
  ];
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(path.join(REPO_ROOT, "scripts", "longshot"), argv, { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            new LongshotError(
              `job ${index} (longshot ${argv.map(shellQuote).join(" ")}) failed: ${signal ?? `exit code ${code}`}`,
            ),
          ),
    );
  });
  const seconds = (performance.now() - t) / 1000;
  const record = JSON.parse(await readFile(path.join(out, "result.json"), "utf8")) as {
    probe?: { ok?: boolean } | null;
  };
  const ok = record.probe?.ok === true;
  return {
    seconds,
    probeOk: ok,
    problem: ok ? null : `job ${index}: the video failed the probe (see ${out}/result.json)`,
  };
}

async function runPool(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<JobOutcome>,
): Promise<JobOutcome[]> {
  const results: JobOutcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

export async function clusterBenchCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseClusterArgs(argv);
  if (args === "help") {
    io.stdout.write(clusterHelp());
    return 0;
  }
  const say = (line: string) => io.stderr.write(`bench cluster: ${line}\n`);
  if (!existsSync(args.embedded)) throw new UsageError("--embedded", `${args.embedded} does not exist`);
  let engine: EngineResults;
  try {
    const parsed = parseResultFile(displayPath(args.embedded), JSON.parse(readFileSync(args.embedded, "utf8")));
    if (parsed.format !== "longshot.bench.engine/v1")
      throw new Error(`is a ${parsed.format} file, not an engine result`);
    engine = parsed;
  } catch (err) {
    throw new UsageError("--embedded", (err as Error).message);
  }
  const stage = stageSecondsFromEngine(engine, args.frames);
  const perJob = { keyframe: stage.keyframe, interpolation: stage.interpolation, decode: stage.decode };
  const bounds = args.replicas.map((n) => ({ n, ...throughputBound(perJob, n) }));
  say(
    `stage seconds from ${displayPath(args.embedded)} (${stage.caseId}): K ${stage.keyframe.toFixed(1)}, I ${stage.interpolation.toFixed(1)}, D ${stage.decode.toFixed(1)}; ` +
      `bound ${bounds.map((b) => `N=${b.n}: ${b.perMinute.toFixed(2)} jobs/min (${b.bottleneck})`).join(", ")}`,
  );
  const plan = args.replicas.map((n) => args.up.replaceAll("{N}", String(n)));
  if (args.dryRun) {
    for (const cmd of plan) {
      io.stdout.write(`${cmd}\n`);
      io.stdout.write(
        `  ${args.latencyJobs} × longshot generate --remote ${args.gateway} --frames ${args.frames} (one at a time), then ${args.jobs} with ${args.concurrency} in flight\n`,
      );
      io.stdout.write(`${args.down}\n`);
    }
    return 0;
  }
  // The distributed pipeline must be there: its start script and a longshot that can call the gateway.
  for (const cmd of [args.up, args.down]) {
    const program = commandProgram(cmd);
    if (program !== null && !isExecutable(program)) {
      throw new LongshotError(
        `${displayPath(program)} is not in this checkout (or not executable): the distributed services come with the distributed pipeline issue, and no cluster numbers are measured until they exist (--dry-run shows the plan)`,
        { code: "FAILED_PRECONDITION" },
      );
    }
  }
  if (!existsSync(path.join(REPO_ROOT, "libs", "cli", "dist", "main.js"))) {
    throw new LongshotError("the longshot command is not built: run npm run build", { code: "FAILED_PRECONDITION" });
  }

  const outFile = args.out ?? datedResultPath(RESULTS_DIR, "cluster");
  const results: ClusterResults = {
    format: CLUSTER_FORMAT,
    createdAt: new Date().toISOString(),
    finishedAt: null,
    command: ["npm run bench -- cluster", ...argv.map(shellQuote)].join(" "),
    machine: await machineInfo(),
    pack: engine.pack,
    prompt: args.prompt,
    frames: args.frames,
    stageSeconds: {
      keyframe: stage.keyframe,
      interpolation: stage.interpolation,
      decode: stage.decode,
      source: `engine run ${displayPath(args.embedded)}, case ${stage.caseId}`,
    },
    embeddedWallSeconds: stage.wall,
    points: [],
  };
  const dir = await mkdtemp(path.join(os.tmpdir(), "longshot-bench-cluster-"));
  try {
    for (const [i, n] of args.replicas.entries()) {
      await sh(plan[i] as string, say);
      try {
        const latency: JobOutcome[] = [];
        for (let j = 0; j < args.latencyJobs; j++) latency.push(await runJob(args, j, dir));
        const t = performance.now();
        const many = await runPool(args.jobs, args.concurrency, (j) => runJob(args, args.latencyJobs + j, dir));
        const makespan = (performance.now() - t) / 1000;
        const all = [...latency, ...many];
        const bound = bounds[i] as (typeof bounds)[number];
        const point: ClusterPoint = {
          interpolationReplicas: n,
          latencySeconds: latency.map((x) => Math.round(x.seconds * 1000) / 1000),
          makespanSeconds: Math.round(makespan * 1000) / 1000,
          jobs: args.jobs,
          concurrency: args.concurrency,
          throughputPerMinute: (args.jobs / makespan) * 60,
          boundPerMinute: bound.perMinute,
          bottleneck: bound.bottleneck,
          probeOk: all.every((x) => x.probeOk),
          probeFailures: all.flatMap((x) => (x.problem ? [x.problem] : [])),
        };
        results.points.push(point);
        say(
          `N=${n}: latency ${median(point.latencySeconds).toFixed(1)} s (embedded ${stage.wall.toFixed(1)} s), ` +
            `throughput ${point.throughputPerMinute.toFixed(2)} jobs/min of a bound ${bound.perMinute.toFixed(2)}; probe ${point.probeOk ? "ok" : "FAILED"}`,
        );
      } finally {
        await sh(args.down, say);
      }
      results.machine.loadAverage.end = loadAverage();
      writeJsonAtomic(outFile, results);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  results.finishedAt = new Date().toISOString();
  writeJsonAtomic(outFile, results);
  io.stdout.write(`wrote ${displayPath(outFile)}; next: npm run bench -- report\n`);
  return 0;
}
