/**
 * `longshot generate --remote HOST:PORT …`: the same command against a longshot gateway. Generate
 * (retried on UNAVAILABLE with the same idempotency key, so a retry never makes a second job), then
 * WatchJob into the same progress display as the embedded run (resumed from the last event seen if
 * the stream breaks), then the files downloaded through their presigned URLs and checked against
 * their SHA-256, and result.json. Ctrl-C cancels the job on the gateway.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { CancelledError, isTransient, LongshotError } from "@longshot/core";
import type { ProbeScore } from "@longshot/probe";
import {
  CancelJobRequest,
  createClient,
  GenerateRequest,
  GetJobRequest,
  GrpcCallError,
  type Job,
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
import type { GenerateArgs } from "./generate-args.js";
import type { CliIo } from "./io.js";
import { prepareOutDir, writeResultJson } from "./out-dir.js";
import { cliVersion, defaultOutDir, shownPath } from "./paths.js";
import { ProgressReporter } from "./progress.js";
import { download, fetchKeyframes, probeOf, type RemoteFile } from "./remote-files.js";
import { RemoteProgress } from "./remote-progress.js";
import { type RemoteTls, remoteTls, remoteTlsFiles, type TlsFiles, tlsFailure } from "./remote-tls.js";

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
  files: RemoteFile[];
  timingsMs: { queuedToEnd: number; download: number; total: number };
}

function iso(d: Date | undefined): string | null {
  return d === undefined ? null : d.toISOString();
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
    let preview: Promise<RemoteFile | undefined> | undefined;
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
    await writeResultJson(outDir, record);
    progress.finish();
    const shown = shownPath(outDir);
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
