/**
 * `longshot generate --remote HOST:PORT …`: the same command against a longshot gateway. Generate
 * (retried on UNAVAILABLE with the same idempotency key, so a retry never makes a second job), then
 * WatchJob into the same progress display as the embedded run (resumed from the last event seen if
 * the stream breaks), then the files downloaded through their presigned URLs and checked against
 * their SHA-256, and result.json. Ctrl-C cancels the job on the gateway.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { CancelledError, IntegrityError, isTransient, LongshotError } from "@longshot/core";
import type { ProgressEvent } from "@longshot/engine";
import { DEFAULT_SCALE, decodePng, decodeVideo, digestFile, inspectVideo } from "@longshot/media";
import { isWorldPrompt, type ProbeScore, score } from "@longshot/probe";
import {
  type Artifact,
  CancelJobRequest,
  type ChannelCredentials,
  createClient,
  GenerateRequest,
  GetJobRequest,
  GrpcCallError,
  GrpcTlsError,
  grpcClientCredentials,
  type Job,
  type JobEvent,
  JobState,
  Mode,
  modeFromName,
  OutputFormat,
  Sampler,
  Stage,
  samplerFromName,
  samplerName,
  VideoServiceService,
  WatchJobRequest,
} from "@longshot/proto";
import { UsageError } from "./args.js";
import type { GenerateArgs, TlsFlags } from "./generate.js";
import type { CliIo } from "./io.js";
import { prepareOutDir } from "./out-dir.js";
import { cliVersion, defaultOutDir } from "./paths.js";
import { ProgressReporter } from "./progress.js";

/** Flags that only make sense in-process, and why. */
const LOCAL_ONLY: Record<string, string> = {
  noise: "the services draw the noise from the seed",
  window: "the gateway's window plan is used (its --window-frames / --window-overlap)",
  overlap: "the gateway's window plan is used (its --window-frames / --window-overlap)",
  threads: "onnxruntime threads are the services' setting",
  fps: "the decoder service writes the video at the pack's frame rate",
};

/** Which request field each gRPC INVALID_ARGUMENT field came from on the command line. */
function flagOfField(field: string, args: GenerateArgs): string {
  const map: Record<string, string> = {
    prompt: "--prompt",
    negative_prompt: "--negative-prompt",
    seed: "--seed",
    frames: "--frames",
    keyframe_steps: args.flags.keyframeSteps ?? "--keyframe-steps",
    interpolation_steps: args.flags.interpolationSteps ?? "--interpolation-steps",
    keyframe_guidance: args.flags.keyframeGuidance ?? "--keyframe-guidance",
    interpolation_guidance: args.flags.interpolationGuidance ?? "--interpolation-guidance",
    interpolation_strength: "--interpolation-strength",
    sampler: "--sampler",
    mode: "--mode",
    pack: "--pack",
  };
  return map[field] ?? field;
}

export interface RemoteRecord {
  longshot: { version: string; command: "generate" };
  createdAt: string;
  remote: { gateway: string; jobId: string; state: string };
  prompt: string;
  negativePrompt: string;
  seed: string;
  pack: { name: string };
  frames: number;
  mode: string;
  sampler: string;
  stages: {
    keyframe: { steps: number; guidance: number };
    interpolation: { steps: number; guidance: number; strength: number };
  };
  job: { createTime: string | null; startTime: string | null; endTime: string | null };
  probe: ProbeScore | null;
  files: Array<{ path: string; bytes: number; sha256: string; uri: string }>;
  timingsMs: { queuedToEnd: number; download: number; total: number };
}

/** How the CLI talks to the gateway: plaintext, or TLS (mutual when it presents a client certificate). */
export interface RemoteTls {
  readonly mode: "plaintext" | "tls" | "mutual-tls";
  /** Undefined for plaintext. */
  readonly credentials: ChannelCredentials | undefined;
}

/**
 * The channel credentials of a --remote run. Each file comes from its flag, else from the environment
 * (as deploy/docker/healthcheck.mjs reads them): --tls-ca / LONGSHOT_GRPC_TLS_CA (the CA that signs the
 * gateway's certificate), --tls-cert / LONGSHOT_GRPC_TLS_CERT and --tls-key / LONGSHOT_GRPC_TLS_KEY (a
 * client certificate, for a gateway that requires one). TLS is on with a CA or --tls (the system's
 * root CAs). Throws UsageError naming the flag or variable when a setting is missing, unreadable or
 * not PEM, or a client certificate is given without TLS.
 */
function pickTlsFiles(flags: TlsFlags, env: NodeJS.ProcessEnv) {
  const pick = (flag: string, fromFlag: string | undefined, variable: string) => {
    if (fromFlag !== undefined) return { file: fromFlag, name: `--${flag}` };
    const fromEnv = env[variable];
    return fromEnv === undefined || fromEnv === "" ? undefined : { file: fromEnv, name: variable };
  };
  return {
    ca: pick("tls-ca", flags.caFile, "LONGSHOT_GRPC_TLS_CA"),
    cert: pick("tls-cert", flags.certFile, "LONGSHOT_GRPC_TLS_CERT"),
    key: pick("tls-key", flags.keyFile, "LONGSHOT_GRPC_TLS_KEY"),
  };
}

/** The PEM files a --remote run's TLS uses (flags, else the environment); checked by {@link remoteTls}. */
export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export function remoteTlsFiles(flags: TlsFlags, env: NodeJS.ProcessEnv): TlsFiles {
  const { ca, cert, key } = pickTlsFiles(flags, env);
  return {
    ...(ca === undefined ? {} : { caFile: ca.file }),
    ...(cert === undefined ? {} : { certFile: cert.file }),
    ...(key === undefined ? {} : { keyFile: key.file }),
  };
}

export function remoteTls(flags: TlsFlags, env: NodeJS.ProcessEnv): RemoteTls {
  const { ca, cert, key } = pickTlsFiles(flags, env);
  if (!flags.on && ca === undefined) {
    const client = cert ?? key;
    if (client !== undefined) {
      throw new UsageError(
        client.name,
        "a client certificate needs TLS: give --tls-ca FILE (the CA of the gateway's certificate) or --tls (the system's root CAs)",
      );
    }
    return { mode: "plaintext", credentials: undefined };
  }
  try {
    const credentials = grpcClientCredentials({
      caFile: ca?.file,
      certFile: cert?.file,
      keyFile: key?.file,
      names: {
        caFile: ca?.name ?? "--tls-ca",
        certFile: cert?.name ?? "--tls-cert",
        keyFile: key?.name ?? "--tls-key",
      },
    });
    return { mode: cert === undefined ? "tls" : "mutual-tls", credentials };
  } catch (err) {
    if (err instanceof GrpcTlsError) throw new UsageError(err.setting, err.problem);
    throw err;
  }
}

/** Openssl's and Node's words for a failed TLS handshake in an UNAVAILABLE status. */
const TLS_FAILURE_RE = /SSL routines|certificate|wrong version number|handshake/i;

/**
 * A failed TLS handshake as an error that says which setting to look at, or undefined when `err` is
 * something else. Such a failure is not retried: the next attempt meets the same certificates.
 */
export function tlsFailure(err: unknown, remote: string): LongshotError | undefined {
  if (!(err instanceof GrpcCallError) || err.code !== "UNAVAILABLE" || !TLS_FAILURE_RE.test(err.details)) {
    return undefined;
  }
  const why = err.details
    .replace(/^No connection established\. Last error: (Error: )?/, "")
    .replace(/\s*Resolution note:.*$/s, "")
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/, "")
    .replace(/\s+/g, " ")
    .replace(/[\s.:]+$/, "");
  const hint = /certificate required/i.test(why)
    ? "the gateway requires a client certificate: give --tls-cert FILE --tls-key FILE"
    : /wrong version number/i.test(why)
      ? "the gateway does not seem to serve TLS: leave out --tls-ca / --tls (and LONGSHOT_GRPC_TLS_CA)"
      : /verify|self.signed|certificate/i.test(why)
        ? "the gateway's certificate is not signed by the CA given: give the one that signed it with --tls-ca FILE"
        : "check --tls-ca, --tls-cert and --tls-key";
  return new LongshotError(`${remote}: TLS handshake failed (${why}); ${hint}`, {
    code: "UNAVAILABLE",
    cause: err,
  });
}

function iso(d: Date | undefined): string | null {
  return d === undefined ? null : d.toISOString();
}

/** Checks the combination of flags for a remote run; throws UsageError naming a flag that does not apply. */
export function checkRemoteArgs(argv: readonly string[]): void {
  for (const arg of argv) {
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined;
    if (name !== undefined && Object.hasOwn(LOCAL_ONLY, name)) {
      throw new UsageError(`--${name}`, `does not apply with --remote: ${LOCAL_ONLY[name]}`);
    }
    if (name === "ep")
      throw new UsageError("--ep", "does not apply with --remote: the services choose their execution provider");
  }
}

/** The GenerateRequest of a command line. */
export function remoteRequest(args: GenerateArgs, idempotencyKey: string): GenerateRequest {
  return GenerateRequest.fromPartial({
    prompt: args.prompt,
    ...(args.negativePrompt === undefined ? {} : { negativePrompt: args.negativePrompt }),
    ...(args.seed === undefined ? {} : { seed: BigInt(args.seed) }),
    ...(args.frames === undefined ? {} : { frames: args.frames }),
    ...(args.keyframeSteps === undefined ? {} : { keyframeSteps: args.keyframeSteps }),
    ...(args.interpolationSteps === undefined ? {} : { interpolationSteps: args.interpolationSteps }),
    ...(args.keyframeGuidance === undefined ? {} : { keyframeGuidance: args.keyframeGuidance }),
    ...(args.interpolationGuidance === undefined ? {} : { interpolationGuidance: args.interpolationGuidance }),
    ...(args.interpolationStrength === undefined ? {} : { interpolationStrength: args.interpolationStrength }),
    sampler:
      args.sampler === undefined
        ? Sampler.SAMPLER_UNSPECIFIED
        : (samplerFromName(args.sampler) ?? Sampler.SAMPLER_UNSPECIFIED),
    mode: args.mode === undefined ? Mode.MODE_UNSPECIFIED : (modeFromName(args.mode) ?? Mode.MODE_UNSPECIFIED),
    pack: args.pack ?? "",
    idempotencyKey,
    outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_GIF],
  });
}

/**
 * Turns job events into the progress display's events. Window tasks of one interpolation level run
 * on several replicas at once: their steps are summed into one bar per level (a task counted by its
 * highest step seen, so repeated or out-of-order events do not count twice). The level's window count
 * comes from the events (its stage_started's total_tasks, each step's window count), else from the
 * job's stage list.
 */
export class RemoteProgress {
  readonly #job: Job;
  readonly #levelSteps = new Map<number, Map<string, number>>();
  readonly #levelCounts = new Map<number, number>();

  constructor(job: Job) {
    this.#job = job;
  }

  toProgress(ev: JobEvent): ProgressEvent | undefined {
    const e = ev.event;
    if (e === undefined) return undefined;
    const stageOf = (s: Stage): ProgressEvent["stage"] | undefined =>
      s === Stage.STAGE_KEYFRAME
        ? "keyframes"
        : s === Stage.STAGE_INTERPOLATION
          ? "interpolate"
          : s === Stage.STAGE_DECODE
            ? "decode"
            : undefined;
    if (e.$case === "stageStarted") {
      const stage = stageOf(e.value.stage);
      if (stage === undefined) return undefined;
      const planned = this.#planned(e.value.stage, e.value.level);
      if (stage === "interpolate") {
        return this.#level(e.value.level, undefined, 0, planned?.steps ?? 0, e.value.totalTasks);
      }
      return { stage, step: 0, total: planned?.totalSteps ?? 0 };
    }
    if (e.$case === "stepProgress") {
      const stage = stageOf(e.value.stage);
      if (stage === undefined) return undefined;
      if (stage === "interpolate") {
        return this.#level(e.value.level, e.value.taskId, e.value.step, e.value.total, e.value.window?.count ?? 0);
      }
      return { stage, step: e.value.step, total: e.value.total };
    }
    return undefined;
  }

  #planned(stage: Stage, level: number): { totalSteps: number; tasks: number; steps: number } | undefined {
    const s = this.#job.stages.find((x) => x.stage === stage && x.level === level);
    if (s === undefined) return undefined;
    const tasks = Math.max(1, s.totalTasks);
    return { totalSteps: s.totalSteps, tasks, steps: Math.round(s.totalSteps / tasks) };
  }

  /** `count`: the level's window count as the event says it (0: it does not). */
  #level(level: number, taskId: string | undefined, step: number, total: number, count: number): ProgressEvent {
    const planned = this.#planned(Stage.STAGE_INTERPOLATION, level);
    if (count > 0) this.#levelCounts.set(level, count);
    const tasks = this.#levelCounts.get(level) ?? planned?.tasks ?? 1;
    const perTask = total > 0 ? total : (planned?.steps ?? 1);
    let steps = this.#levelSteps.get(level);
    if (steps === undefined) {
      steps = new Map();
      this.#levelSteps.set(level, steps);
    }
    if (taskId !== undefined) {
      const base = taskId.replace(/\.r\d+$/, "");
      steps.set(base, Math.max(step, steps.get(base) ?? 0));
    }
    const done = Math.min(
      tasks * perTask,
      [...steps.values()].reduce((a, b) => a + b, 0),
    );
    const index = Math.min(tasks - 1, Math.floor(done / perTask));
    return {
      stage: "interpolate",
      level,
      step: done - index * perTask,
      total: perTask,
      window: { index, count: tasks, start: 0, end: 0 },
    };
  }
}

/** Runs a remote generation (see the module comment). Returns the exit code. */
export async function remoteGenerate(
  args: GenerateArgs,
  remote: string,
  io: CliIo,
  tStart: number,
  options: { prefix?: string } = {},
): Promise<number> {
  const progress = new ProgressReporter(args.quiet ? { write: () => true } : io.stderr);
  if (options.prefix !== undefined) progress.setPrefix(options.prefix);
  const tls = remoteTls(args.tls, io.env);
  // A given --out is checked (and made) before the job is submitted; the default one needs the job's seed.
  const outDir = args.out === undefined ? undefined : path.resolve(args.out);
  let created = outDir === undefined ? undefined : await prepareOutDir(outDir);
  try {
    const tlsFiles = tls.mode === "plaintext" ? {} : remoteTlsFiles(args.tls, io.env);
    return await remoteRun(args, remote, io, tStart, {
      progress,
      tls,
      tlsFiles,
      outDir,
      created: (dir) => (created ??= dir),
    });
  } catch (err) {
    // A failed run leaves no folder it created behind.
    if (created !== undefined) await rm(created, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

async function remoteRun(
  args: GenerateArgs,
  remote: string,
  io: CliIo,
  tStart: number,
  ctx: {
    progress: ProgressReporter;
    tls: RemoteTls;
    /** The PEM files of TLS towards the gateway (its HTTP API serves the same TLS). */
    tlsFiles: TlsFiles;
    outDir: string | undefined;
    /** Records the folder prepareOutDir created for the default output folder. */
    created: (dir: string | undefined) => void;
  },
): Promise<number> {
  const { progress, tls } = ctx;
  const client = createClient(VideoServiceService, remote, {
    defaultDeadlineMs: 30_000,
    ...(tls.credentials === undefined ? {} : { credentials: tls.credentials }),
  });
  try {
    const key = `cli-${randomBytes(12).toString("hex")}`;
    const request = remoteRequest(args, key);
    progress.phase(
      `submitting to ${remote}${tls.mode === "plaintext" ? "" : ` (${tls.mode === "tls" ? "TLS" : "mutual TLS"})`}`,
    );
    let job: Job | undefined;
    for (let attempt = 1; job === undefined; attempt++) {
      try {
        job = (await client.generate(request, io.signal ? { signal: io.signal } : {})).job;
        if (job === undefined) throw new LongshotError(`${remote} answered Generate without a job`);
      } catch (err) {
        if (err instanceof GrpcCallError && err.code === "INVALID_ARGUMENT" && err.field !== undefined) {
          throw new UsageError(flagOfField(err.field, args), err.details.replace(/^[a-z_[\]0-9.]+: /, ""));
        }
        const handshake = tlsFailure(err, remote);
        if (handshake !== undefined) throw handshake;
        if (err instanceof GrpcCallError && err.code === "UNAVAILABLE" && attempt < 5 && !io.signal?.aborted) {
          progress.phase(`gateway ${remote} unavailable; retrying (${attempt}/4)`);
          await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
          continue;
        }
        throw err;
      }
    }
    const jobId = job.id;
    const seed = job.request?.seed ?? 0n;
    progress.phase(`job ${jobId} queued on ${remote} (seed ${seed})`);
    // The folder is known from the job's seed on: keyframes.png may arrive before the video.
    let outDir = ctx.outDir;
    if (outDir === undefined) {
      outDir = path.resolve(defaultOutDir(args.prompt, seed));
      ctx.created(await prepareOutDir(outDir));
    }
    const folder = outDir;
    // With --remote-http, keyframes.png comes from the gateway's HTTP API once the keyframe stage completes.
    let preview: Promise<RemoteRecord["files"][number] | undefined> | undefined;
    const onKeyframes =
      args.remoteHttp === undefined
        ? undefined
        : () => {
            preview ??= fetchKeyframes(args.remoteHttp as string, jobId, folder, ctx.tlsFiles, io.signal).then(
              (file) => {
                progress.note(`keyframes: ${shownPath(path.join(folder, file.path))}`);
                return file;
              },
              (err: unknown) => {
                progress.note(`no keyframes.png: ${(err as Error).message}`);
                return undefined;
              },
            );
          };

    // Ctrl-C cancels the job on the gateway; the channel stays open until the cancel is answered.
    let cancelling: Promise<unknown> | undefined;
    const onAbort = () => {
      cancelling = client
        .cancelJob(CancelJobRequest.create({ jobId, reason: "cancelled from the command line (Ctrl-C)" }), {
          deadlineMs: 5000,
        })
        .then(
          () => progress.phase(`job ${jobId} cancelled on ${remote}`),
          (err: unknown) => progress.phase(`could not cancel job ${jobId}: ${(err as Error).message}`),
        );
    };
    io.signal?.addEventListener("abort", onAbort, { once: true });
    let final: Job | undefined;
    try {
      final = await follow(client, job, progress, io, onKeyframes);
    } catch (err) {
      if (!io.signal?.aborted) throw err;
    } finally {
      io.signal?.removeEventListener("abort", onAbort);
      await cancelling;
    }
    if (io.signal?.aborted || final === undefined) throw new CancelledError(`job ${jobId} cancelled`);
    if (final.state === JobState.JOB_STATE_FAILED) {
      throw new LongshotError(
        `job ${jobId} failed (${final.error?.code ?? "?"}${final.error?.stage ? ` in ${Stage[final.error.stage]}` : ""}): ${final.error?.reason ?? ""}`,
      );
    }
    if (final.state === JobState.JOB_STATE_CANCELLED) {
      throw new LongshotError(`job ${jobId} was cancelled: ${final.error?.reason ?? ""}`, { code: "CANCELLED" });
    }
    const tEnd = performance.now();

    // A job that ended before its keyframe stage_completed event was seen: the keyframes exist by now.
    onKeyframes?.();
    const previewFile = await preview;
    const files = await download(final.artifacts, outDir, progress, io.signal);
    if (previewFile !== undefined) files.push(previewFile);
    const tDownload = performance.now() - tEnd;
    const probe = await probeOf(args.prompt, outDir, files, progress);
    const r = final.request;
    const record: RemoteRecord = {
      longshot: { version: cliVersion(), command: "generate" },
      createdAt: new Date().toISOString(),
      remote: { gateway: remote, jobId, state: JobState[final.state] },
      prompt: r?.prompt ?? args.prompt,
      negativePrompt: r?.negativePrompt ?? "",
      seed: String(seed),
      pack: { name: r?.pack ?? "" },
      frames: r?.frames ?? 0,
      mode: r?.mode === Mode.MODE_SEED ? "seed" : "pinned",
      sampler: samplerName(r?.sampler ?? Sampler.SAMPLER_UNSPECIFIED),
      stages: {
        keyframe: { steps: r?.keyframeSteps ?? 0, guidance: r?.keyframeGuidance ?? 0 },
        interpolation: {
          steps: r?.interpolationSteps ?? 0,
          guidance: r?.interpolationGuidance ?? 0,
          strength: r?.interpolationStrength ?? 1,
        },
      },
      job: { createTime: iso(final.createTime), startTime: iso(final.startTime), endTime: iso(final.endTime) },
      probe,
      files,
      timingsMs: {
        queuedToEnd: final.endTime && final.createTime ? final.endTime.getTime() - final.createTime.getTime() : 0,
        download: Math.round(tDownload),
        total: Math.round(performance.now() - tStart),
      },
    };
    const resultFile = path.join(outDir, "result.json");
    const tmp = path.join(outDir, `.result.json.${process.pid}.partial`);
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, resultFile);
    progress.finish();
    const rel = path.relative(process.cwd(), outDir) || ".";
    const shown = rel.startsWith("..") ? outDir : rel;
    io.stdout.write(
      `wrote ${shown}/ (job ${jobId} on ${remote}, ${record.frames} frames, seed ${seed}, ${((performance.now() - tStart) / 1000).toFixed(1)} s)\n` +
        `  ${files.map((f) => f.path).join(", ")}, result.json\n` +
        (probe ? `  probe: ${JSON.stringify(probe.got)}\n` : ""),
    );
    return 0;
  } finally {
    client.close();
  }
}

/** Streams the job's events into the progress display until its terminal event; resumes after a broken stream. */
async function follow(
  client: ReturnType<typeof createClient<typeof VideoServiceService>>,
  job: Job,
  progress: ProgressReporter,
  io: CliIo,
  onKeyframes: (() => void) | undefined,
): Promise<Job> {
  const mapper = new RemoteProgress(job);
  let from = 1n;
  let failures = 0;
  for (;;) {
    try {
      for await (const r of client.watchJob(
        WatchJobRequest.create({ jobId: job.id, fromSequence: from }),
        io.signal ? { signal: io.signal } : {},
      )) {
        const ev = r.event;
        if (ev === undefined) continue;
        if (ev.sequence > 0n) from = ev.sequence + 1n;
        failures = 0;
        if (ev.event?.$case === "queued") {
          progress.phase(`queued (${ev.event.value.jobsAhead} job${ev.event.value.jobsAhead === 1 ? "" : "s"} ahead)`);
        }
        if (ev.event?.$case === "stageCompleted" && ev.event.value.stage === Stage.STAGE_KEYFRAME) onKeyframes?.();
        const p = mapper.toProgress(ev);
        if (p !== undefined) progress.event(p);
      }
      break;
    } catch (err) {
      if (io.signal?.aborted) throw new CancelledError("cancelled");
      failures++;
      if (!isTransient(err) || failures > 10) throw err;
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** failures)));
    }
  }
  const { job: final } = await client.getJob(GetJobRequest.create({ jobId: job.id }));
  if (final === undefined) throw new LongshotError(`GetJob ${job.id} returned no job`);
  return final;
}

/** `file` relative to the working directory when inside it. */
function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel === "" || rel.startsWith("..") ? file : rel;
}

/** The keyframe preview's URL on the gateway's HTTP API at `base` (OpenAI /v1/videos names it "spritesheet"). */
export function spritesheetUrl(base: string, jobId: string): URL {
  const url = new URL(`v1/videos/${encodeURIComponent(jobId)}/content`, base.endsWith("/") ? base : `${base}/`);
  url.searchParams.set("variant", "spritesheet");
  return url;
}

/** GET `url` (http or https, with the gateway's TLS files): status and body. */
function httpGet(url: URL, tls: TlsFiles, signal: AbortSignal | undefined): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { signal, timeout: 30_000 };
    if (url.protocol === "https:") {
      if (tls.caFile !== undefined) options.ca = readFileSync(tls.caFile);
      if (tls.certFile !== undefined) options.cert = readFileSync(tls.certFile);
      if (tls.keyFile !== undefined) options.key = readFileSync(tls.keyFile);
    }
    const req = (url.protocol === "https:" ? https : http).get(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url.href}: no answer in 30 s`)));
    req.on("error", reject);
  });
}

/**
 * Fetches the job's keyframe preview from the gateway's HTTP API into `outDir`/keyframes.png. The keyframes are
 * stored before their stage_completed event, so a 404 (not there yet) is asked again only briefly.
 */
async function fetchKeyframes(
  base: string,
  jobId: string,
  outDir: string,
  tls: TlsFiles,
  signal: AbortSignal | undefined,
): Promise<RemoteRecord["files"][number]> {
  const url = spritesheetUrl(base, jobId);
  for (let attempt = 1; ; attempt++) {
    const res = await httpGet(url, tls, signal).catch((err: unknown) => {
      throw new LongshotError(`GET ${url.href}: ${(err as Error).message}`, { code: "UNAVAILABLE", cause: err });
    });
    if (res.status === 200) {
      const file = path.join(outDir, "keyframes.png");
      await writeFile(file, res.body);
      const got = await digestFile(file);
      return { path: "keyframes.png", bytes: got.bytes, sha256: got.sha256, uri: url.href };
    }
    if (res.status !== 404 || attempt >= 5) {
      let why = "";
      try {
        why = (JSON.parse(res.body.toString("utf8")) as { error?: { message?: string } }).error?.message ?? "";
      } catch {
        // not the API's JSON error
      }
      throw new LongshotError(`GET ${url.href}: HTTP ${res.status}${why ? ` (${why})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}

const FILE_NAMES: Record<number, string> = {
  [OutputFormat.OUTPUT_FORMAT_MP4]: "video.mp4",
  [OutputFormat.OUTPUT_FORMAT_GIF]: "video.gif",
};

/** Downloads every artifact through its presigned URL, checking size and SHA-256. */
async function download(
  artifacts: readonly Artifact[],
  outDir: string,
  progress: ProgressReporter,
  signal: AbortSignal | undefined,
): Promise<RemoteRecord["files"]> {
  const out: RemoteRecord["files"] = [];
  const pngs = artifacts.filter((a) => a.format === OutputFormat.OUTPUT_FORMAT_PNG);
  for (const a of artifacts) {
    const rel =
      a.format === OutputFormat.OUTPUT_FORMAT_PNG
        ? path.join("frames", `${String(a.frame).padStart(Math.max(4, String(pngs.length - 1).length), "0")}.png`)
        : (FILE_NAMES[a.format] ?? path.basename(a.uri));
    if (a.presignedUrl === "") throw new LongshotError(`artifact ${a.uri} has no presigned URL to download it from`);
    progress.phase(`downloading ${rel}`);
    const res = await fetch(a.presignedUrl, signal ? { signal } : {});
    if (!res.ok)
      throw new LongshotError(`GET ${a.uri} (presigned): HTTP ${res.status} ${res.statusText}`, {
        code: "UNAVAILABLE",
      });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const file = path.join(outDir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    const got = await digestFile(file);
    if (got.sha256 !== a.sha256 || BigInt(got.bytes) !== a.bytes) {
      throw new IntegrityError(
        `${rel}: downloaded ${got.bytes} bytes with sha256 ${got.sha256}, the job says ${a.bytes} bytes with sha256 ${a.sha256}`,
      );
    }
    out.push({ path: rel, bytes: got.bytes, sha256: got.sha256, uri: a.uri });
  }
  return out;
}

/** The eval probe on the downloaded video (PNG frames when there are any, else the MP4 at 1/scale), for world prompts. */
async function probeOf(
  prompt: string,
  outDir: string,
  files: RemoteRecord["files"],
  progress: ProgressReporter,
): Promise<ProbeScore | null> {
  if (!isWorldPrompt(prompt)) return null;
  progress.phase("probing the video");
  const pngs = files.filter((f) => f.path.endsWith(".png")).sort((a, b) => a.path.localeCompare(b.path));
  if (pngs.length > 0) {
    const images = await Promise.all(pngs.map(async (f) => decodePng(await readFile(path.join(outDir, f.path)))));
    const first = images[0];
    if (first === undefined) return null;
    return score({ frames: images.map((i) => i.data), width: first.width, height: first.height }, prompt);
  }
  const mp4 = files.find((f) => f.path === "video.mp4");
  if (mp4 === undefined) return null;
  const file = path.join(outDir, mp4.path);
  const info = await inspectVideo(file);
  const video = await decodeVideo(file, {
    width: Math.max(1, Math.round(info.width / DEFAULT_SCALE)),
    height: Math.max(1, Math.round(info.height / DEFAULT_SCALE)),
  });
  return score({ frames: video.frames, width: video.width, height: video.height }, prompt);
}
