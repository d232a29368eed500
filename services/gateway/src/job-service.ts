/**
 * The VideoService operations, independent of gRPC: Generate (validate, idempotency key, admission,
 * create, queue), GetJob, ListJobs, CancelJob and WatchJob.
 *
 * Generate, in order: validate the request against its pack (INVALID_ARGUMENT naming the field);
 * with an idempotency key, bind the key to a new job id (KV create: replicas racing on one key agree
 * on one job) — a key bound before returns that job when the request is the same and ALREADY_EXISTS
 * when it differs; claim an admission slot (RESOURCE_EXHAUSTED when maxActiveJobs jobs are queued or
 * running); write the run record and the job (QUEUED); publish the `queued` event; publish the
 * keyframe task (`drive`). A key bound to a job that was never created (a gateway crashed midway,
 * or the job was refused for capacity) is taken over by the next request with that key.
 */
import { createHash } from "node:crypto";
import {
  AlreadyExistsError,
  checkJobId,
  EVENTS_STREAM,
  eventSubject,
  HEADER_EVENT_SEQUENCE,
  isTerminalState,
  type JobStore,
  publishEvent,
  RevisionConflictError,
  replayEvents,
  sleep,
  TASKS_STREAM,
} from "@longshot/bus";
import {
  InvalidArgumentError,
  type Logger,
  LongshotError,
  ResourceExhaustedError,
  UnavailableError,
} from "@longshot/core";
import { differingFields, type GenerateLimits, type PackCatalog, validateGenerateRequest } from "@longshot/http-api";
import type { PackManifest } from "@longshot/pack";
import {
  GenerateRequest,
  type GenerateResponse,
  type Job,
  type JobEvent,
  JobState,
  type ListJobsRequest,
  type ListJobsResponse,
} from "@longshot/proto";
import { injectRecord } from "@longshot/telemetry";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Coordinator } from "./coordinator.js";
import { newJobId, planJob, type WindowConfig } from "./plan.js";
import { initialStages } from "./progress.js";
import { RUN_RECORD_VERSION, type RunRecord } from "./run-record.js";
import type { RunStore } from "./run-store.js";
import { terminalEventOf } from "./terminal-event.js";

export interface JobServiceOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  jobs: JobStore;
  runs: RunStore;
  coordinator: Coordinator;
  catalog: PackCatalog;
  limits: GenerateLimits;
  manifests: ReadonlyMap<string, PackManifest>;
  window: WindowConfig;
  maxActiveJobs: number;
  logger: Logger;
  /** How long WatchJob on an ended job waits for its terminal event before ending the stream (default 3 s). */
  endedWatchIdleMs?: number;
}

const DEFAULT_PAGE_SIZE = 50;
/** A run record without its job is taken over by a later call with the same key only after this long. */
const ADOPT_AFTER_MS = 30_000;

function requestDigest(request: GenerateRequest): string {
  return createHash("sha256").update(GenerateRequest.encode(request).finish()).digest("hex");
}

/** ListJobs page token over several states: wraps the job store's (unfiltered) cursor. */
interface MultiStateToken {
  inner: string;
  states: number[];
}

function encodeMultiToken(t: MultiStateToken): string {
  return `m.${Buffer.from(JSON.stringify(t), "utf8").toString("base64url")}`;
}

function decodeMultiToken(token: string, states: number[]): string {
  let t: Partial<MultiStateToken>;
  try {
    t = JSON.parse(Buffer.from(token.slice(2), "base64url").toString("utf8")) as Partial<MultiStateToken>;
  } catch {
    throw new InvalidArgumentError("page_token", "is not a token returned by ListJobs");
  }
  if (typeof t?.inner !== "string" || !Array.isArray(t.states)) {
    throw new InvalidArgumentError("page_token", "is not a token returned by ListJobs");
  }
  if (JSON.stringify([...t.states].sort()) !== JSON.stringify([...states].sort())) {
    throw new InvalidArgumentError("page_token", "was issued for another states filter");
  }
  return t.inner;
}

export class JobService {
  readonly #o: JobServiceOptions;
  readonly #log: Logger;

  constructor(options: JobServiceOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "jobs" });
  }

  // --- Generate ---------------------------------------------------------------------------------

  async generate(request: GenerateRequest): Promise<GenerateResponse> {
    const o = this.#o;
    const { request: resolved, pack } = validateGenerateRequest(request, o.catalog, o.limits);
    const manifest = o.manifests.get(pack.name);
    if (manifest === undefined) throw new LongshotError(`pack ${pack.name} has no manifest`, { code: "INTERNAL" });
    const plan = planJob(manifest, resolved.frames ?? manifest.video.defaultFrames, o.window);
    const digest = requestDigest(request);
    const key = request.idempotencyKey;

    let jobId = newJobId();
    let adopted = false;
    if (key !== "") {
      const claim = await o.jobs.claimIdempotencyKey(key, jobId);
      if (!claim.claimed) {
        const existing = await this.#existing(claim.jobId, digest, request);
        if (existing !== undefined) return existing;
        jobId = claim.jobId; // bound, but the job was never created: take the id over
        adopted = true;
      }
    }

    const slot = await o.runs.claimSlot(jobId, o.maxActiveJobs, async (holder, claimedAt) => {
      const held = await o.jobs.find(holder);
      if (held !== undefined) return isTerminalState(held.job.state);
      return Date.now() - claimedAt.getTime() > 60_000;
    });
    if (slot === undefined) {
      throw new ResourceExhaustedError(
        `${o.maxActiveJobs} jobs are already queued or running (the gateway's maxActiveJobs); retry later`,
      );
    }

    let created = false;
    try {
      const now = new Date();
      const run: RunRecord = {
        v: RUN_RECORD_VERSION,
        jobId,
        createdAt: now.toISOString(),
        pack: { name: manifest.name, version: manifest.version },
        traceContext: injectRecord(),
        requestSha256: digest,
        originalRequest: Buffer.from(GenerateRequest.encode(request).finish()).toString("base64"),
        plan,
        slot,
        tasks: {},
        levels: {},
        reruns: {},
        cleanedUp: false,
        terminalEventPublished: false,
      };
      const prior = await o.runs.find(jobId);
      if (prior === undefined) {
        await o.runs.create(run);
      } else if (Date.now() - Date.parse(prior.run.createdAt) < ADOPT_AFTER_MS) {
        // A young record of a job not created yet: another call with this key is creating it now.
        throw new RevisionConflictError(`run.${jobId}`, `job ${jobId} is being created by another call`);
      } else {
        await o.runs.compareAndSet(run, prior.revision); // left behind by a call that died midway
      }
      const jobsAhead = await this.#jobsAhead();
      await o.jobs.create({
        id: jobId,
        state: JobState.JOB_STATE_QUEUED,
        request: resolved,
        stages: initialStages(plan, resolved),
        artifacts: [],
        error: undefined,
        createTime: now,
        startTime: undefined,
        updateTime: now,
        endTime: undefined,
        lastSequence: 0n,
      });
      created = true;
      await publishEvent(
        o.js,
        jobId,
        { sequence: 0n, jobId, time: now, event: { $case: "queued", value: { jobsAhead } } },
        { msgId: `${jobId}:queued` },
      );
      await o.coordinator.advance(jobId);
      this.#log.info(
        { jobId, pack: pack.name, frames: resolved.frames, seed: String(resolved.seed), slot, jobsAhead },
        "job queued",
      );
    } catch (err) {
      if (!created) {
        await o.runs.releaseSlot(slot, jobId).catch(() => {});
        if (adopted && (err instanceof RevisionConflictError || err instanceof AlreadyExistsError)) {
          // Another request with this idempotency key is creating the same job right now.
          await sleep(250);
          const existing = await this.#existing(jobId, digest, request);
          if (existing !== undefined) return existing;
          throw new UnavailableError(
            `a request with idempotency_key ${JSON.stringify(key)} is being handled by another call; retry`,
            { cause: err },
          );
        }
      } else {
        // The job exists but may not be queued: fail it rather than leave it waiting for nothing.
        await o.coordinator
          .fail(jobId, "UNAVAILABLE", `the job could not be queued: ${(err as Error).message}`)
          .catch(() => {});
      }
      throw err;
    }
    return { job: await this.getJob(jobId), deduplicated: false };
  }

  /** The job an idempotency key is bound to, if it exists and the request is the same; ALREADY_EXISTS if not the same. */
  async #existing(jobId: string, digest: string, request: GenerateRequest): Promise<GenerateResponse | undefined> {
    const found = await this.#o.jobs.find(jobId);
    if (found === undefined) return undefined;
    const run = await this.#o.runs.find(jobId);
    if (run !== undefined && run.run.requestSha256 !== digest) {
      const before = GenerateRequest.decode(Buffer.from(run.run.originalRequest, "base64"));
      const fields = differingFields(before, request).filter((f) => f !== "idempotency_key");
      throw new LongshotError(
        `idempotency_key ${JSON.stringify(request.idempotencyKey)} was already used for job ${jobId} with a different ` +
          `request (it differs in ${fields.join(", ") || "its encoding"}); use a new key for a new request`,
        { code: "ALREADY_EXISTS" },
      );
    }
    if (found.job.state === JobState.JOB_STATE_QUEUED) {
      // The first call may have died before queueing the keyframe task: drive republishes what is missing.
      await this.#o.coordinator.advance(jobId);
    }
    this.#log.info({ jobId }, "idempotency key seen before: returning its job");
    return { job: await this.getJob(jobId), deduplicated: true };
  }

  /** Keyframe tasks queued or running now: the jobs ahead of a new one. */
  async #jobsAhead(): Promise<number> {
    try {
      const ci = await this.#o.jsm.consumers.info(TASKS_STREAM, "keyframe");
      return ci.num_pending + ci.num_ack_pending;
    } catch {
      return 0;
    }
  }

  // --- GetJob / ListJobs / CancelJob -------------------------------------------------------------

  async getJob(jobId: string): Promise<Job> {
    checkJobId(jobId, "job_id");
    const { job } = await this.#o.jobs.get(jobId);
    return this.#present(job);
  }

  /** The job as clients see it: the latest event sequence, and fresh presigned URLs. */
  async #present(job: Job): Promise<Job> {
    let lastSequence = job.lastSequence;
    const last = await this.#o.jsm.streams
      .getMessage(EVENTS_STREAM, { last_by_subj: eventSubject(job.id) })
      .catch(() => null);
    const header = last?.header?.get(HEADER_EVENT_SEQUENCE);
    if (header !== undefined && /^\d{1,20}$/.test(header)) lastSequence = BigInt(header);
    const artifacts =
      job.state === JobState.JOB_STATE_SUCCEEDED ? await this.#o.coordinator.presign(job.artifacts) : job.artifacts;
    return { ...job, lastSequence, artifacts };
  }

  async listJobs(request: ListJobsRequest): Promise<ListJobsResponse> {
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    const states = [...new Set(request.states)];
    if (states.length <= 1) {
      const page = await this.#o.jobs.list({
        pageSize,
        pageToken: request.pageToken,
        ...(states.length === 1 ? { state: states[0] as JobState } : {}),
      });
      return { jobs: await Promise.all(page.jobs.map((s) => this.#present(s.job))), nextPageToken: page.nextPageToken };
    }
    // Several states: walk the unfiltered list, keeping matches, until the page is full.
    let inner = request.pageToken === "" ? "" : decodeMultiToken(request.pageToken, states);
    const jobs: Job[] = [];
    for (;;) {
      const page = await this.#o.jobs.list({ pageSize: pageSize - jobs.length, pageToken: inner });
      for (const s of page.jobs) if (states.includes(s.job.state)) jobs.push(s.job);
      inner = page.nextPageToken;
      if (inner === "" || jobs.length >= pageSize) break;
    }
    return {
      jobs: await Promise.all(jobs.map((j) => this.#present(j))),
      nextPageToken: inner === "" ? "" : encodeMultiToken({ inner, states }),
    };
  }

  async cancelJob(jobId: string, reason: string): Promise<Job> {
    checkJobId(jobId, "job_id");
    if (reason.length > 1000) throw new InvalidArgumentError("reason", `is ${reason.length} characters, at most 1000`);
    await this.#o.jobs.get(jobId); // NOT_FOUND for an unknown job
    const job = await this.#o.coordinator.cancel(jobId, reason.trim() === "" ? "cancelled by request" : reason);
    return this.#present(job);
  }

  // --- WatchJob ---------------------------------------------------------------------------------

  /**
   * The job's events from `fromSequence` on, then live ones, until the terminal event. For a job
   * that has ended and whose terminal event does not come (it aged out of the stream, or the caller
   * resumes after it), the stream ends after a short idle wait; a watch from the start then gets a
   * terminal event made from the job record (sequence 0).
   */
  async *watchJob(jobId: string, fromSequence: bigint, signal: AbortSignal): AsyncGenerator<JobEvent> {
    checkJobId(jobId, "job_id");
    const { job } = await this.#o.jobs.get(jobId);
    const ended = isTerminalState(job.state);
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal.addEventListener("abort", stop, { once: true });
    try {
      const iter = replayEvents(this.#o.js, jobId, fromSequence, {
        signal: ac.signal,
        untilTerminal: true,
        logger: this.#log,
      });
      if (!ended) {
        yield* iter;
        return;
      }
      const idleMs = this.#o.endedWatchIdleMs ?? 3000;
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<"idle">((resolve) => {
          timer = setTimeout(() => resolve("idle"), idleMs);
        });
        const next = await Promise.race([iter.next(), timeout]);
        clearTimeout(timer);
        if (next === "idle") {
          ac.abort();
          await iter.return(undefined);
          if (fromSequence <= 1n) yield terminalEventOf(job);
          return;
        }
        if (next.done === true) return;
        yield next.value;
      }
    } finally {
      signal.removeEventListener("abort", stop);
      ac.abort();
    }
  }
}
