/**
 * The job service of `longshot serve`: the VideoJobs of @longshot/http-api on the embedded engine, with no NATS,
 * S3 or gRPC. Jobs are queued in this process and run one at a time on one `Engine` (the stage code
 * `longshot generate` runs, models loaded once), with the gateway's request checks (`validateGenerateRequest`, the
 * engine's `resolveRequest` inside it) and the gateway's job states and JobEvents: `queued`; one `stage_started` /
 * `stage_completed` pair for the keyframe stage (prompt encoding included), each interpolation level (its window
 * count in `total_tasks`) and the decode; `step_progress` throttled to one per `progressIntervalMs` per stage (the
 * last step of a loop always); then `completed`, `failed` or `cancelled`.
 *
 * Every job has its own folder under the output root, `<root>/<job id>/`: `job.json` (the job, its original
 * request and its events; written at every event but step progress), `keyframes.safetensors` (the keyframe
 * latents, as soon as the keyframe stage completes: the spritesheet) and the video files the request asked for
 * (`video.mp4`, `video.gif`, `frames/0000.png …`). A new EmbeddedJobs on the same root loads every folder, so
 * a restarted `longshot serve` lists, watches and serves the jobs of the last one. A job that was queued or running
 * when its process died (no terminal event in its job.json) is recorded FAILED, code UNAVAILABLE, saying so: its
 * run cannot be resumed, and a client that wants it submits it again. `close()` (serve's drain) cancels the running
 * job and the queued ones, and records them CANCELLED.
 */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  CancelledError,
  InvalidArgumentError,
  type Logger,
  LongshotError,
  NotFoundError,
  ResourceExhaustedError,
} from "@longshot/core";
import type { Engine, GenerateOptions, ProgressEvent, WindowOptions } from "@longshot/engine";
import { planWindows, resolveGenerateOptions } from "@longshot/engine/light";
import {
  differingFields,
  type GenerateLimits,
  interpolationModeOf,
  keyframesSpritesheet,
  PackCatalog,
  plannedStages,
  schedulerNameOf,
  type VideoFiles,
  type VideoJobs,
  validateGenerateRequest,
} from "@longshot/http-api";
import { DEFAULT_SCALE, writeVideoOutputs } from "@longshot/media";
import {
  type Artifact,
  durationFromMs,
  GenerateRequest,
  type GenerateResponse,
  Job,
  JobEvent,
  JobState,
  type ListJobsRequest,
  type ListJobsResponse,
  OutputFormat,
  Stage,
  type StageProgress,
  StageState,
} from "@longshot/proto";
import { decodeSafetensors, encodeSafetensors, type Tensor } from "@longshot/tensor";

export interface EmbeddedJobsOptions {
  /** The engine jobs run on (one pack, models loaded); the caller closes it after {@link EmbeddedJobs.close}. */
  engine: Engine;
  /** Output root: one folder per job. */
  outRoot: string;
  /** The same limits the gateway puts on a request (prompt length, steps, guidance, encoded size). */
  limits: GenerateLimits;
  logger: Logger;
  /** Window plan of interpolation levels longer than `frames` (default the gateway's: 17 frames, overlap 4). */
  window?: WindowOptions;
  /** Upscale of video.mp4 and video.gif (default 4). */
  scale?: number;
  /** Least time between two step_progress events of one stage (default 250 ms). */
  progressIntervalMs?: number;
  /** Jobs queued or running at most; beyond: RESOURCE_EXHAUSTED (default 16). */
  maxActiveJobs?: number;
}

/** The job.json of a job folder. */
interface JobFile {
  format: typeof JOB_FILE_FORMAT;
  /** Job (protobuf JSON). */
  job: unknown;
  /** The request as the client sent it (GenerateRequest JSON): idempotency keys compare it. */
  originalRequest: unknown;
  /** Every event so far (JobEvent JSON). */
  events: unknown[];
}

interface Entry {
  job: Job;
  original: GenerateRequest;
  events: JobEvent[];
  dir: string;
  /** The keyframe latents once the keyframe stage has completed (also in keyframes.safetensors). */
  keyframes: Tensor | undefined;
  /** Aborts the run (cancel, close). */
  ac: AbortController | undefined;
  /** Called on every new event (watchers waiting for the next one). */
  wake: Set<() => void>;
  /** The job.json write in flight (writes are chained). */
  saving: Promise<void>;
}

const JOB_FILE = "job.json";
const JOB_FILE_FORMAT = "longshot-serve-job/1";
const KEYFRAMES_FILE = "keyframes.safetensors";
const JOB_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const DEFAULT_PAGE_SIZE = 50;
const TERMINAL = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

/** A new job id, `j<base-36 ms><12 hex>` as the gateway's: sortable by creation time. */
function newJobId(): string {
  return `j${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
}

function checkJobId(id: string): void {
  if (!JOB_ID_RE.test(id)) {
    const shown = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id);
    throw new InvalidArgumentError("job_id", `${shown} is not a valid job id (1-128 characters of A-Z a-z 0-9 _ -)`);
  }
}

function isTerminal(state: JobState): boolean {
  return TERMINAL.has(state);
}

function pageToken(jobId: string, states: readonly JobState[]): string {
  return Buffer.from(JSON.stringify({ after: jobId, states: [...states].sort() }), "utf8").toString("base64url");
}

function parsePageToken(token: string, states: readonly JobState[]): string {
  let t: { after?: unknown; states?: unknown };
  try {
    t = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { after?: unknown; states?: unknown };
  } catch {
    throw new InvalidArgumentError("page_token", "is not a token returned by ListJobs");
  }
  if (typeof t?.after !== "string" || !Array.isArray(t.states)) {
    throw new InvalidArgumentError("page_token", "is not a token returned by ListJobs");
  }
  if (JSON.stringify(t.states) !== JSON.stringify([...states].sort())) {
    throw new InvalidArgumentError("page_token", "was issued for another states filter");
  }
  return t.after;
}

const CONTENT_TYPES: Partial<Record<OutputFormat, string>> = {
  [OutputFormat.OUTPUT_FORMAT_MP4]: "video/mp4",
  [OutputFormat.OUTPUT_FORMAT_GIF]: "image/gif",
  [OutputFormat.OUTPUT_FORMAT_PNG]: "image/png",
};

export class EmbeddedJobs implements VideoJobs {
  readonly #o: EmbeddedJobsOptions;
  readonly #log: Logger;
  readonly #catalog: PackCatalog;
  readonly #window: WindowOptions;
  readonly #jobs = new Map<string, Entry>();
  /** Idempotency key → job id. */
  readonly #keys = new Map<string, string>();
  readonly #queue: Entry[] = [];
  #running: Entry | undefined;
  #runDone: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(o: EmbeddedJobsOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: "jobs" });
    const manifest = o.engine.pack.manifest;
    this.#catalog = new PackCatalog([manifest], o.limits);
    this.#window = o.window ?? { frames: 17, overlap: manifest.video.interpolationFactor };
  }

  /** Opens the output root (created if missing) and loads the jobs of earlier runs from its folders. */
  static async open(o: EmbeddedJobsOptions): Promise<EmbeddedJobs> {
    const jobs = new EmbeddedJobs(o);
    await mkdir(o.outRoot, { recursive: true });
    await jobs.#load();
    return jobs;
  }

  /** The folder of a job's files. */
  dirOf(jobId: string): string {
    return path.join(this.#o.outRoot, jobId);
  }

  // --- loading ----------------------------------------------------------------------------------

  async #load(): Promise<void> {
    const names = await readdir(this.#o.outRoot, { withFileTypes: true });
    let lost = 0;
    for (const d of names) {
      if (!d.isDirectory() || !JOB_ID_RE.test(d.name)) continue;
      const dir = path.join(this.#o.outRoot, d.name);
      let file: JobFile;
      try {
        file = JSON.parse(await readFile(path.join(dir, JOB_FILE), "utf8")) as JobFile;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          this.#log.warn({ dir, err: (err as Error).message }, "not a job folder (no readable job.json): skipped");
        }
        continue;
      }
      if (file.format !== JOB_FILE_FORMAT) continue;
      const parsed = Job.fromJSON(file.job);
      if (parsed.id !== d.name) continue;
      // The files where the folder is now (the output root may have been moved or renamed since).
      const job = { ...parsed, artifacts: parsed.artifacts.map((a) => ({ ...a, uri: movedUri(a.uri, dir) })) };
      const entry: Entry = {
        job,
        original: GenerateRequest.fromJSON(file.originalRequest),
        events: (file.events ?? []).map((e) => JobEvent.fromJSON(e)),
        dir,
        keyframes: undefined,
        ac: undefined,
        wake: new Set(),
        saving: Promise.resolve(),
      };
      this.#jobs.set(job.id, entry);
      if (entry.original.idempotencyKey !== "") this.#keys.set(entry.original.idempotencyKey, job.id);
      if (!isTerminal(job.state)) {
        lost++;
        const was = job.state === JobState.JOB_STATE_QUEUED ? "queued" : "running";
        this.#end(entry, JobState.JOB_STATE_FAILED, {
          code: "UNAVAILABLE",
          reason: `longshot serve stopped while this job was ${was}; it cannot be resumed: submit it again`,
          stage: Stage.STAGE_UNSPECIFIED,
        });
      }
    }
    await Promise.all([...this.#jobs.values()].map((e) => e.saving));
    this.#log.info({ root: this.#o.outRoot, jobs: this.#jobs.size, lost }, "jobs loaded");
  }

  // --- VideoJobs ----------------------------------------------------------------------------------

  async generate(request: GenerateRequest): Promise<GenerateResponse> {
    if (this.#closed) throw new LongshotError("longshot serve is stopping", { code: "UNAVAILABLE" });
    const { request: resolved } = validateGenerateRequest(request, this.#catalog, this.#o.limits);
    const key = request.idempotencyKey;
    if (key !== "") {
      const bound = this.#keys.get(key);
      const existing = bound === undefined ? undefined : this.#jobs.get(bound);
      if (existing !== undefined) {
        const fields = differingFields(existing.original, request).filter((f) => f !== "idempotency_key");
        if (fields.length > 0) {
          throw new LongshotError(
            `idempotency_key ${JSON.stringify(key)} was already used for job ${existing.job.id} with a different ` +
              `request (it differs in ${fields.join(", ")}); use a new key for a new request`,
            { code: "ALREADY_EXISTS" },
          );
        }
        return { job: this.#present(existing), deduplicated: true };
      }
    }
    const max = this.#o.maxActiveJobs ?? 16;
    const active = this.#queue.length + (this.#running === undefined ? 0 : 1);
    if (active >= max) {
      throw new ResourceExhaustedError(`${max} jobs are already queued or running; retry later`);
    }
    const id = newJobId();
    const now = new Date();
    const entry: Entry = {
      job: {
        id,
        state: JobState.JOB_STATE_QUEUED,
        request: resolved,
        stages: this.#initialStages(resolved),
        artifacts: [],
        error: undefined,
        createTime: now,
        startTime: undefined,
        updateTime: now,
        endTime: undefined,
        lastSequence: 0n,
      },
      original: request,
      events: [],
      dir: this.dirOf(id),
      keyframes: undefined,
      ac: undefined,
      wake: new Set(),
      saving: Promise.resolve(),
    };
    // Known (and its key bound) before the first await, so a concurrent request with the same key finds it.
    this.#jobs.set(id, entry);
    if (key !== "") this.#keys.set(key, id);
    this.#queue.push(entry);
    this.#emit(entry, { $case: "queued", value: { jobsAhead: active } }, now);
    await entry.saving;
    this.#log.info(
      { jobId: id, seed: String(resolved.seed), frames: resolved.frames, jobsAhead: active },
      "job queued",
    );
    this.#pump();
    return { job: this.#present(entry), deduplicated: false };
  }

  async getJob(jobId: string): Promise<Job> {
    return this.#present(this.#entry(jobId));
  }

  async listJobs(request: ListJobsRequest): Promise<ListJobsResponse> {
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    const states = [...new Set(request.states)];
    const after = request.pageToken === "" ? undefined : parsePageToken(request.pageToken, states);
    const all = [...this.#jobs.values()]
      .filter((e) => states.length === 0 || states.includes(e.job.state))
      .sort((a, b) => (a.job.id < b.job.id ? 1 : a.job.id > b.job.id ? -1 : 0));
    const start = after === undefined ? 0 : all.findIndex((e) => e.job.id < after);
    const page = start < 0 ? [] : all.slice(start, start + pageSize);
    const more = start >= 0 && start + pageSize < all.length;
    const last = page.at(-1);
    return {
      jobs: page.map((e) => this.#present(e)),
      nextPageToken: more && last !== undefined ? pageToken(last.job.id, states) : "",
    };
  }

  async cancelJob(jobId: string, reason: string): Promise<Job> {
    const entry = this.#entry(jobId);
    if (reason.length > 1000) throw new InvalidArgumentError("reason", `is ${reason.length} characters, at most 1000`);
    this.#cancel(entry, reason.trim() === "" ? "cancelled by request" : reason);
    await entry.saving;
    return this.#present(entry);
  }

  async *watchJob(jobId: string, fromSequence: bigint, signal: AbortSignal): AsyncGenerator<JobEvent> {
    const entry = this.#entry(jobId);
    let next = Number(fromSequence < 1n ? 1n : fromSequence) - 1;
    for (;;) {
      while (next < entry.events.length) {
        const event = entry.events[next++] as JobEvent;
        yield event;
        if (isTerminalEvent(event)) return;
      }
      if (isTerminal(entry.job.state) || signal.aborted) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          entry.wake.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        entry.wake.add(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  // --- files ----------------------------------------------------------------------------------------

  /** The job's files for the HTTP API: the folders under the output root, and the keyframes' PNG. */
  files(): VideoFiles {
    const root = path.resolve(this.#o.outRoot);
    const inRoot = (file: string) => {
      const rel = path.relative(root, file);
      if (rel.startsWith("..") || path.isAbsolute(rel)) {
        throw new InvalidArgumentError("uri", `${file} is not under the output root ${root}`);
      }
      return file;
    };
    return {
      keyOf: (uri) => inRoot(fileURLToPath(uri)),
      async stat(key) {
        try {
          return { bytes: (await stat(inRoot(key))).size };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new NotFoundError(`${key} is gone`);
          throw err;
        }
      },
      open: async (key): Promise<Readable> => createReadStream(inRoot(key)),
      keyframesPng: async (job) => {
        const entry = this.#entry(job.id);
        let latents = entry.keyframes;
        if (latents === undefined) {
          const bytes = await readFile(path.join(entry.dir, KEYFRAMES_FILE)).catch(() => undefined);
          if (bytes === undefined) {
            throw new NotFoundError(
              `job ${job.id} has no keyframes yet: they exist once its keyframe stage has completed`,
            );
          }
          latents = Object.values(decodeSafetensors(bytes).tensors)[0];
          if (latents === undefined) throw new NotFoundError(`job ${job.id}: ${KEYFRAMES_FILE} holds no tensor`);
          entry.keyframes = latents;
        }
        return keyframesSpritesheet(job.id, latents, this.#o.engine.pack.manifest);
      },
    };
  }

  /**
   * Stops taking jobs, cancels the queued ones and the running one (recorded CANCELLED, reason `reason`), and
   * waits until the run has stopped and every job.json is written. The engine stays open (the caller's).
   */
  async close(reason = "longshot serve stopped"): Promise<void> {
    this.#closed = true;
    for (const entry of [...this.#queue]) this.#cancel(entry, reason);
    if (this.#running !== undefined) this.#cancel(this.#running, reason);
    await this.#runDone;
    await Promise.all([...this.#jobs.values()].map((e) => e.saving));
  }

  // --- internals ------------------------------------------------------------------------------------

  #entry(jobId: string): Entry {
    checkJobId(jobId);
    const entry = this.#jobs.get(jobId);
    if (entry === undefined) throw new NotFoundError(`job ${jobId} not found`);
    return entry;
  }

  #present(entry: Entry): Job {
    return { ...entry.job, lastSequence: BigInt(entry.events.length) };
  }

  /** The stages of a new job, all PENDING: keyframe, each interpolation level (its windows), decode. */
  #initialStages(r: GenerateRequest): StageProgress[] {
    const manifest = this.#o.engine.pack.manifest;
    const { settings } = resolveGenerateOptions(manifest, { ...this.#engineOptions(r), window: this.#window });
    const factor = manifest.video.interpolationFactor;
    const windows = settings.levels
      .slice(1)
      .map((frames) => planWindows(frames, this.#window.frames, this.#window.overlap, factor).length);
    return plannedStages(r, windows, settings.frames);
  }

  /** The engine's options of a checked request. */
  #engineOptions(r: GenerateRequest): GenerateOptions {
    return {
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      seed: r.seed,
      frames: r.frames,
      mode: interpolationModeOf(r.mode),
      sampler: schedulerNameOf(r.sampler),
      keyframeSteps: r.keyframeSteps,
      interpolationSteps: r.interpolationSteps,
      keyframeGuidance: r.keyframeGuidance,
      interpolationGuidance: r.interpolationGuidance,
      interpolationStrength: r.interpolationStrength,
    };
  }

  /** Appends an event (numbered), wakes the watchers and, but for step progress, writes job.json. */
  #emit(entry: Entry, event: JobEvent["event"], time = new Date()): void {
    const e: JobEvent = { sequence: BigInt(entry.events.length + 1), jobId: entry.job.id, time, event };
    entry.events.push(e);
    entry.job = { ...entry.job, updateTime: time, lastSequence: e.sequence };
    for (const wake of [...entry.wake]) wake();
    if (event?.$case !== "stepProgress") this.#save(entry);
  }

  #save(entry: Entry): void {
    const file: JobFile = {
      format: JOB_FILE_FORMAT,
      job: Job.toJSON(entry.job),
      originalRequest: GenerateRequest.toJSON(entry.original),
      events: entry.events.map((e) => JobEvent.toJSON(e)),
    };
    const text = `${JSON.stringify(file, null, 1)}\n`;
    const target = path.join(entry.dir, JOB_FILE);
    const tmp = path.join(entry.dir, `.${JOB_FILE}.${process.pid}.partial`);
    entry.saving = entry.saving
      .then(async () => {
        await mkdir(entry.dir, { recursive: true });
        await writeFile(tmp, text);
        await rename(tmp, target);
      })
      .catch((err: unknown) => this.#log.error({ err, jobId: entry.job.id }, "job.json not written"));
  }

  #stage(entry: Entry, stage: Stage, level: number, change: (s: StageProgress) => StageProgress): void {
    entry.job = {
      ...entry.job,
      stages: entry.job.stages.map((s) => (s.stage === stage && s.level === level ? change(s) : s)),
    };
  }

  /** Ends a job (once): state, error, end time, the terminal event. */
  #end(entry: Entry, state: JobState, error?: { code: string; reason: string; stage: Stage }): void {
    if (isTerminal(entry.job.state)) return;
    const now = new Date();
    entry.job = { ...entry.job, state, endTime: now, ...(error === undefined ? {} : { error }) };
    if (state === JobState.JOB_STATE_SUCCEEDED) {
      this.#emit(entry, { $case: "completed", value: { artifacts: entry.job.artifacts } }, now);
    } else if (state === JobState.JOB_STATE_FAILED) {
      const e = error ?? { code: "INTERNAL", reason: "failed", stage: Stage.STAGE_UNSPECIFIED };
      this.#emit(entry, { $case: "failed", value: e }, now);
    } else {
      this.#emit(entry, { $case: "cancelled", value: { reason: error?.reason ?? "cancelled" } }, now);
    }
  }

  #cancel(entry: Entry, reason: string): void {
    if (isTerminal(entry.job.state)) return;
    const queued = this.#queue.indexOf(entry);
    if (queued >= 0) this.#queue.splice(queued, 1);
    this.#end(entry, JobState.JOB_STATE_CANCELLED, { code: "CANCELLED", reason, stage: Stage.STAGE_UNSPECIFIED });
    entry.ac?.abort(new CancelledError(reason));
  }

  /** Starts the next queued job when none runs. */
  #pump(): void {
    if (this.#running !== undefined || this.#closed) return;
    const entry = this.#queue.shift();
    if (entry === undefined) return;
    this.#running = entry;
    this.#runDone = this.#run(entry).finally(() => {
      this.#running = undefined;
      this.#pump();
    });
  }

  async #run(entry: Entry): Promise<void> {
    const ac = new AbortController();
    entry.ac = ac;
    const r = entry.job.request as GenerateRequest;
    const engine = this.#o.engine;
    const manifest = engine.pack.manifest;
    const interval = this.#o.progressIntervalMs ?? 250;
    const taskId = (stage: string) => `${entry.job.id}:${stage}`;
    /** When each stage's last step_progress went out. */
    const lastProgress = new Map<string, number>();
    /** Steps done per window of the running interpolation level. */
    let windowSteps = new Map<number, { step: number; total: number }>();
    let current: { stage: Stage; level: number; started: number } | undefined;

    const start = (stage: Stage, level: number) => {
      const now = new Date();
      const totalTasks = entry.job.stages.find((s) => s.stage === stage && s.level === level)?.totalTasks ?? 1;
      current = { stage, level, started: performance.now() };
      windowSteps = new Map();
      this.#stage(entry, stage, level, (s) => ({ ...s, state: StageState.STAGE_STATE_RUNNING, startTime: now }));
      this.#emit(entry, { $case: "stageStarted", value: { stage, level, totalTasks } }, now);
    };
    const complete = () => {
      if (current === undefined) return;
      const { stage, level, started } = current;
      const now = new Date();
      this.#stage(entry, stage, level, (s) => ({
        ...s,
        state: StageState.STAGE_STATE_COMPLETED,
        completedSteps: s.totalSteps,
        completedTasks: s.totalTasks,
        endTime: now,
      }));
      const duration = durationFromMs(performance.now() - started);
      this.#emit(entry, { $case: "stageCompleted", value: { stage, level, duration } }, now);
      current = undefined;
    };
    const progress = (e: ProgressEvent) => {
      if (isTerminal(entry.job.state)) return;
      const stage =
        e.stage === "encode" || e.stage === "keyframes"
          ? Stage.STAGE_KEYFRAME
          : e.stage === "interpolate"
            ? Stage.STAGE_INTERPOLATION
            : Stage.STAGE_DECODE;
      const level = e.stage === "interpolate" ? (e.level ?? 1) : 0;
      if (current?.stage !== stage || current.level !== level) start(stage, level);
      if (e.stage === "encode" || e.step === 0) return;
      const windowIndex = e.window?.index ?? 0;
      windowSteps.set(windowIndex, { step: e.step, total: e.total });
      const done = [...windowSteps.values()];
      this.#stage(entry, stage, level, (s) => ({
        ...s,
        completedSteps: Math.min(
          s.totalSteps,
          done.reduce((a, w) => a + w.step, 0),
        ),
        completedTasks: stage === Stage.STAGE_INTERPOLATION ? done.filter((w) => w.step >= w.total).length : 0,
      }));
      const key = `${stage}:${level}`;
      const now = performance.now();
      if (e.step < e.total && now - (lastProgress.get(key) ?? -Infinity) < interval) return;
      lastProgress.set(key, now);
      const name = stage === Stage.STAGE_KEYFRAME ? "keyframe" : stage === Stage.STAGE_DECODE ? "decode" : "";
      const window =
        e.window === undefined
          ? undefined
          : { start: e.window.start, end: e.window.end, index: e.window.index, count: e.window.count };
      this.#emit(entry, {
        $case: "stepProgress",
        value: {
          stage,
          level,
          step: e.step,
          total: e.total,
          window,
          taskId:
            stage === Stage.STAGE_INTERPOLATION
              ? taskId(`interp${level}${e.window === undefined ? "" : `:${e.window.start}-${e.window.end}`}`)
              : taskId(name),
        },
      });
    };

    const now = new Date();
    entry.job = { ...entry.job, state: JobState.JOB_STATE_RUNNING, startTime: now };
    try {
      const result = await engine.generate(
        { ...this.#engineOptions(r), window: this.#window },
        {
          signal: ac.signal,
          onProgress: progress,
          onLatents: (name, latents) => {
            if (isTerminal(entry.job.state)) return;
            if (name === "keyframes") {
              entry.keyframes = latents;
              const bytes = encodeSafetensors({ latent: latents });
              entry.saving = entry.saving
                .then(() => writeFile(path.join(entry.dir, KEYFRAMES_FILE), bytes))
                .catch((err: unknown) => this.#log.error({ err, jobId: entry.job.id }, "keyframes not written"));
            }
            complete(); // the keyframe stage, or an interpolation level
          },
        },
      );
      if (isTerminal(entry.job.state)) return;
      const formats = r.outputFormats.length === 0 ? [OutputFormat.OUTPUT_FORMAT_MP4] : r.outputFormats;
      const outputs = await writeVideoOutputs(
        entry.dir,
        { frames: result.frames, width: result.width, height: result.height, fps: manifest.video.fps },
        {
          scale: this.#o.scale ?? DEFAULT_SCALE,
          signal: ac.signal,
          mp4: formats.includes(OutputFormat.OUTPUT_FORMAT_MP4),
          gif: formats.includes(OutputFormat.OUTPUT_FORMAT_GIF),
          png: formats.includes(OutputFormat.OUTPUT_FORMAT_PNG),
        },
      );
      if (isTerminal(entry.job.state)) return;
      const artifacts: Artifact[] = [];
      for (const f of outputs.files) {
        const format = f.path.endsWith(".mp4")
          ? OutputFormat.OUTPUT_FORMAT_MP4
          : f.path.endsWith(".gif")
            ? OutputFormat.OUTPUT_FORMAT_GIF
            : OutputFormat.OUTPUT_FORMAT_PNG;
        const file = path.join(entry.dir, f.path);
        artifacts.push({
          format,
          uri: pathToFileURL(file).href,
          presignedUrl: "",
          presignedUrlExpireTime: undefined,
          sha256: f.sha256,
          bytes: BigInt(f.bytes),
          contentType: CONTENT_TYPES[format] ?? "application/octet-stream",
          frame: format === OutputFormat.OUTPUT_FORMAT_PNG ? Number(path.basename(f.path, ".png")) : 0,
        });
      }
      complete(); // decode
      entry.job = { ...entry.job, artifacts };
      this.#end(entry, JobState.JOB_STATE_SUCCEEDED);
      this.#log.info({ jobId: entry.job.id, files: artifacts.length }, "job completed");
    } catch (err) {
      if (isTerminal(entry.job.state)) return; // cancelled: already recorded
      const e = err instanceof LongshotError ? err : undefined;
      const stage = current?.stage ?? Stage.STAGE_UNSPECIFIED;
      if (e === undefined) this.#log.error({ err, jobId: entry.job.id }, "job failed");
      this.#end(entry, JobState.JOB_STATE_FAILED, {
        code: e?.code ?? "INTERNAL",
        reason: e?.message ?? `internal error: ${(err as Error).message}`,
        stage,
      });
    } finally {
      entry.ac = undefined;
      await entry.saving;
    }
  }
}

/** A job file's URI in the job's folder `dir`: its name, under frames/ for a PNG frame. */
function movedUri(uri: string, dir: string): string {
  let file: string;
  try {
    file = fileURLToPath(uri);
  } catch {
    return uri;
  }
  const parent = path.basename(path.dirname(file));
  const rel = parent === "frames" ? path.join("frames", path.basename(file)) : path.basename(file);
  return pathToFileURL(path.join(dir, rel)).href;
}

function isTerminalEvent(e: JobEvent): boolean {
  const c = e.event?.$case;
  return c === "completed" || c === "failed" || c === "cancelled";
}
