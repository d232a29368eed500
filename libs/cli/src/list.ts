/**
 * `longshot list`: the runs in an output root, newest first — the folders `longshot generate` writes (result.json;
 * a folder with outputs but no result.json is a run still going, or one that stopped), `--remote` runs' folders and
 * the job folders of `longshot serve` (job.json) — or, with `--remote HOST:PORT`, the jobs of a gateway (ListJobs,
 * every page). A table, or `--json`.
 */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { LongshotError } from "@longshot/core";
import {
  createClient,
  GrpcCallError,
  Job,
  JobState,
  ListJobsRequest,
  OutputFormat,
  VideoServiceService,
} from "@longshot/proto";
import { integer, type OptionSpec, parseArgs, UsageError } from "./args.js";
import { listHelp } from "./help.js";
import type { CliIo } from "./io.js";
import { readJsonFile } from "./out-dir.js";
import { noTlsWithoutRemote, remoteAddress, TLS_OPTIONS, type TlsFlags, tlsFlags } from "./remote-flags.js";
import { remoteTls, tlsFailure } from "./remote-tls.js";

export const LIST_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  out: { meta: "DIR" },
  limit: { meta: "N" },
  json: { value: false },
  remote: { meta: "HOST:PORT" },
  ...TLS_OPTIONS,
  help: { value: false },
};

/** The output root when --out is not given: where `longshot generate` and `longshot serve` write by default. */
export const DEFAULT_LIST_ROOT = "out";
/** Folders below the root searched for runs (`--out DIR --num-videos N` puts them one level down). */
const MAX_DEPTH = 3;
/** ListJobs page size asked for. */
const PAGE_SIZE = 100;
/** The most jobs read from a gateway (pages of PAGE_SIZE). */
export const MAX_REMOTE_JOBS = 10_000;

/**
 * A run's state: a job state in lower case, or "unfinished" for a generate folder without result.json (running
 * now, or stopped before it finished).
 */
export type RunState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "unfinished";

export interface RunEntry {
  /** The folder's path relative to the output root, or the gateway's job id. */
  id: string;
  /** What made it: `longshot generate` (in-process or --remote), `longshot serve`, or a gateway's job list. */
  source: "generate" | "generate --remote" | "serve" | "gateway";
  prompt: string | null;
  /** Decimal (seeds go up to 2^64 - 1). */
  seed: string | null;
  frames: number | null;
  state: RunState;
  /** ISO 8601. */
  createdAt: string | null;
  /** The video file: a local path (absolute), or the artifact's URI on a gateway; null when there is none. */
  video: string | null;
  /** The run's folder (absolute); null for a gateway's job. */
  dir: string | null;
  /** Why it failed, when it did and says. */
  error: string | null;
}

const STATE_NAMES: Record<number, RunState> = {
  [JobState.JOB_STATE_QUEUED]: "queued",
  [JobState.JOB_STATE_RUNNING]: "running",
  [JobState.JOB_STATE_SUCCEEDED]: "succeeded",
  [JobState.JOB_STATE_FAILED]: "failed",
  [JobState.JOB_STATE_CANCELLED]: "cancelled",
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** A JSON file of a run folder: undefined when it cannot be read, null when it is not JSON. */
function readJson(file: string): Promise<unknown> {
  return readJsonFile(file).catch(() => null);
}

/** The run in `dir`, or undefined when the folder is not one. */
async function readRun(root: string, dir: string): Promise<RunEntry | undefined> {
  const id = path.relative(root, dir) || ".";
  const video = async () => ((await exists(path.join(dir, "video.mp4"))) ? path.join(dir, "video.mp4") : null);
  const result = await readJson(path.join(dir, "result.json"));
  if (isObj(result) && isObj(result.longshot) && result.longshot.command === "generate") {
    const remote = isObj(result.remote);
    return {
      id,
      source: remote ? "generate --remote" : "generate",
      prompt: str(result.prompt),
      seed: result.seed === undefined || result.seed === null ? null : String(result.seed),
      frames: typeof result.frames === "number" ? result.frames : null,
      state: "succeeded",
      createdAt: str(result.createdAt),
      video: await video(),
      dir,
      error: null,
    };
  }
  const jobFile = await readJson(path.join(dir, "job.json"));
  if (isObj(jobFile) && typeof jobFile.format === "string" && jobFile.format.startsWith("longshot-serve-job/")) {
    let job: Job;
    try {
      job = Job.fromJSON(jobFile.job);
    } catch {
      return undefined;
    }
    return {
      id,
      source: "serve",
      ...jobFields(job),
      video: await video(),
      dir,
      error: job.error?.reason || null,
    };
  }
  // A generate run still going (or one that stopped): its outputs, no result.json yet.
  const partial = ["keyframes.png", "frames", "video.mp4"];
  const has = await Promise.all(partial.map((f) => exists(path.join(dir, f))));
  if (!has.some(Boolean)) return undefined;
  const st = await stat(dir);
  return {
    id,
    source: "generate",
    prompt: null,
    seed: null,
    frames: null,
    state: "unfinished",
    createdAt: (st.birthtimeMs > 0 ? st.birthtime : st.mtime).toISOString(),
    video: null,
    dir,
    error: null,
  };
}

/** The runs under `root` (its sub-folders, and theirs down to MAX_DEPTH when a folder is not a run), unsorted. */
export async function localRuns(root: string): Promise<RunEntry[]> {
  const out: RunEntry[] = [];
  const walk = async (dir: string, depth: number) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // unreadable or gone meanwhile: not a run folder
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name === "frames" || e.name.startsWith(".")) continue;
      const sub = path.join(dir, e.name);
      const run = await readRun(root, sub);
      if (run !== undefined) out.push(run);
      else if (depth < MAX_DEPTH) await walk(sub, depth + 1);
    }
  };
  await walk(root, 1);
  return out;
}

/** Newest first (by createdAt; runs without one last), then by id. */
export function newestFirst(runs: readonly RunEntry[]): RunEntry[] {
  return [...runs].sort((a, b) => {
    const ta = a.createdAt === null ? Number.NEGATIVE_INFINITY : Date.parse(a.createdAt);
    const tb = b.createdAt === null ? Number.NEGATIVE_INFINITY : Date.parse(b.createdAt);
    return tb - ta || a.id.localeCompare(b.id);
  });
}

/** What a list entry says about a job, whether `serve` or a gateway ran it. */
function jobFields(job: Job): Pick<RunEntry, "prompt" | "seed" | "frames" | "state" | "createdAt"> {
  return {
    prompt: job.request?.prompt ?? null,
    seed: job.request?.seed === undefined ? null : String(job.request.seed),
    frames: job.request?.frames ?? null,
    state: STATE_NAMES[job.state] ?? "unfinished",
    createdAt: job.createTime?.toISOString() ?? null,
  };
}

/** A gateway's job as a list entry. */
export function jobEntry(job: Job): RunEntry {
  const mp4 = job.artifacts.find((a) => a.format === OutputFormat.OUTPUT_FORMAT_MP4);
  return {
    id: job.id,
    source: "gateway",
    ...jobFields(job),
    video: mp4?.uri ?? null,
    dir: null,
    error: job.error?.reason || null,
  };
}

/** Every job of the gateway at `remote` (ListJobs, page after page, at most MAX_REMOTE_JOBS). */
async function remoteJobs(remote: string, flags: TlsFlags, io: CliIo): Promise<{ jobs: Job[]; truncated: boolean }> {
  const tls = remoteTls(flags, io.env);
  const client = createClient(VideoServiceService, remote, {
    defaultDeadlineMs: 30_000,
    ...(tls.credentials === undefined ? {} : { credentials: tls.credentials }),
  });
  try {
    const jobs: Job[] = [];
    let pageToken = "";
    do {
      let page: Awaited<ReturnType<typeof client.listJobs>>;
      try {
        page = await client.listJobs(
          ListJobsRequest.create({ pageSize: PAGE_SIZE, pageToken }),
          io.signal ? { signal: io.signal } : {},
        );
      } catch (err) {
        const handshake = tlsFailure(err, remote);
        if (handshake !== undefined) throw handshake;
        if (err instanceof GrpcCallError && err.code === "UNAVAILABLE") {
          const why = err.details
            .replace(/^No connection established\. Last error: (Error: )?/, "")
            .replace(/\s*Resolution note:.*$/s, "")
            .replace(/[\s.:]+$/, "");
          throw new LongshotError(`cannot reach the gateway at ${remote}: ${why}`, {
            code: "UNAVAILABLE",
            cause: err,
          });
        }
        throw err;
      }
      jobs.push(...page.jobs);
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && jobs.length < MAX_REMOTE_JOBS);
    return { jobs, truncated: pageToken !== "" };
  } finally {
    client.close();
  }
}

function shortDate(iso: string | null): string {
  if (iso === null) return "?";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "?";
  return d.toISOString().slice(0, 19).replace("T", " ");
}

/** `file` relative to the working directory when inside it. */
function shown(file: string): string {
  if (!path.isAbsolute(file)) return file;
  const rel = path.relative(process.cwd(), file);
  return rel === "" || rel.startsWith("..") ? file : rel;
}

/** The runs as a table: one line each, the prompt cut to fit. */
export function formatRuns(runs: readonly RunEntry[]): string {
  const rows = runs.map((r) => {
    const prompt = r.prompt ?? "(not known yet)";
    return [
      `${shortDate(r.createdAt)}Z`,
      r.state,
      r.seed ?? "-",
      r.frames === null ? "-" : String(r.frames),
      prompt.length > 48 ? `${prompt.slice(0, 47)}…` : prompt,
      r.video !== null ? shown(r.video) : r.dir !== null ? `${shown(r.dir)}/` : r.id,
    ];
  });
  const head = ["CREATED (UTC)", "STATE", "SEED", "FRAMES", "PROMPT", "VIDEO (or folder, job)"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join("\n")}\n`;
}

/**
 * The runs under the output root `root`; a root that does not exist is an empty list when it is the default one
 * (nothing generated here yet), else a UsageError on --out, like a root that is not a folder.
 */
async function localRunsOf(root: string, isDefault: boolean): Promise<RunEntry[]> {
  let st: import("node:fs").Stats;
  try {
    st = await stat(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && isDefault) return [];
    throw new UsageError(
      "--out",
      `cannot read ${root}: ${code === "ENOENT" ? "no such folder" : (err as Error).message}`,
    );
  }
  if (!st.isDirectory()) throw new UsageError("--out", `${root} is not a folder`);
  return localRuns(root);
}

export async function listCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { options: o, positionals } = parseArgs(argv, LIST_OPTIONS);
  if (o.has("help")) {
    io.stdout.write(listHelp());
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(
      JSON.stringify(positionals[0]),
      "unexpected argument; the output root goes in --out DIR (default out)",
    );
  }
  const limit = o.has("limit") ? integer("limit", o.get("limit") as string, 1, 1_000_000) : undefined;
  const json = o.has("json");
  let runs: RunEntry[];
  let where: string;
  let note = "";
  if (o.has("remote")) {
    const remote = remoteAddress(o.get("remote") as string);
    if (o.has("out")) throw new UsageError("--out", "does not apply with --remote (the gateway's jobs are listed)");
    const { jobs, truncated } = await remoteJobs(remote, tlsFlags(o), io);
    runs = newestFirst(jobs.map(jobEntry));
    where = `on ${remote}`;
    if (truncated) note = ` (the first ${MAX_REMOTE_JOBS} jobs the gateway listed)`;
  } else {
    noTlsWithoutRemote(o);
    const given = o.get("out");
    if (given !== undefined && given.trim() === "") throw new UsageError("--out", "must name an output folder");
    const root = path.resolve(given ?? DEFAULT_LIST_ROOT);
    runs = newestFirst(await localRunsOf(root, given === undefined));
    where = `in ${shown(root)}/`;
  }
  const total = runs.length;
  if (limit !== undefined) runs = runs.slice(0, limit);
  if (json) {
    io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    return 0;
  }
  if (total === 0) {
    io.stdout.write(`no runs ${where}${note}\n`);
    return 0;
  }
  io.stdout.write(formatRuns(runs));
  const more = runs.length < total ? `, the newest ${runs.length} shown (--limit)` : "";
  io.stdout.write(`${total} run${total === 1 ? "" : "s"} ${where}${note}${more}\n`);
  return 0;
}
