/**
 * A job's way from the run record to its end, shared by every part of the coordinator:
 *
 * - `advance`: `drive` the job from its run record (after Generate, and from the reconciler), then
 *   `afterDrive`: bring `Job.stages` up to date, make the job SUCCEEDED with its artifacts (presigned
 *   URLs) once the decode result is in, or fail it when `drive` says it cannot go on;
 * - `fail` / `cancel`: end a queued or running job (compare-and-set of `job.<id>`) and tell its running
 *   tasks to stop (`longshot.cancel.<jobId>`);
 * - `settle`: once a job has ended, its terminal event is published (once), its admission slot is
 *   freed and its objects are removed (all of them for a cancelled or failed job, all but the video
 *   files and the keyframe latents for a succeeded one).
 */
import type { BlobStore, S3BlobStore } from "@longshot/blob";
import {
  EVENTS_STREAM,
  eventSubject,
  isTerminalEvent,
  isTerminalState,
  type JobStore,
  publishCancel,
  publishEvent,
  publishTask,
  sleep,
} from "@longshot/bus";
import type { Logger } from "@longshot/core";
import { type Artifact, type Job, JobEvent, JobState, OutputFormat, Stage } from "@longshot/proto";
import { extractRecordContext } from "@longshot/telemetry";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { context } from "@opentelemetry/api";
import { type DriveEffects, type DriveOutcome, drive } from "./drive.js";
import { intermediateKeys, jobPrefix, keyframesKey } from "./plan.js";
import { progressStages } from "./progress.js";
import type { PackShape } from "./result-check.js";
import { artifactsOf, type RunRecord, type TaskRecord } from "./run-record.js";
import type { RunStore } from "./run-store.js";
import { isIntact, listKeys, stitchLevel } from "./stitch.js";
import { terminalEventOf } from "./terminal-event.js";

/** The time the reconciler reads (task timeouts, orphaned slots) and waits on (its interval); tests pass their own. */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` is or becomes aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: Date.now() and the bus's abortable sleep. */
export const systemClock: Clock = { now: () => Date.now(), sleep };

export interface CoordinatorOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  nc: NatsConnection;
  jobs: JobStore;
  runs: RunStore;
  /** Where latents and videos are (the gateway reads window latents and writes stitched levels). */
  store: S3BlobStore;
  /** Signs artifact URLs (the store itself, or one on the public endpoint). */
  presigner: BlobStore;
  presignExpirySeconds: number;
  /** The tensor sizes of a pack the gateway serves, by name. */
  packShape(packName: string): PackShape | undefined;
  logger: Logger;
  /** A slot whose job does not exist is freed after this long (a Generate that crashed midway). Default 60 s. */
  orphanSlotMs?: number;
  /**
   * A published task with no result, no message left in LONGSHOT_TASKS and no event of its job for
   * this long was lost and is published again (`recoverLostTasks`). Default 30 min.
   */
  taskTimeoutMs?: number;
  /** Re-publishes of a lost task before its job fails with DEADLINE_EXCEEDED. Default MAX_LOST_TASK_REPUBLISHES (2). */
  maxTaskRepublishes?: number;
  /** When tasks were published and how long ago (`taskTimeoutMs`, `orphanSlotMs`). Default systemClock. */
  clock?: Clock;
}

/** Default of `CoordinatorOptions.taskTimeoutMs` (and of the gateway's --task-timeout). */
export const DEFAULT_TASK_TIMEOUT_MS = 30 * 60_000;

const MIME: Record<number, string> = {
  [OutputFormat.OUTPUT_FORMAT_MP4]: "video/mp4",
  [OutputFormat.OUTPUT_FORMAT_GIF]: "image/gif",
  [OutputFormat.OUTPUT_FORMAT_PNG]: "image/png",
};

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

export class JobLifecycle {
  readonly o: CoordinatorOptions;
  readonly log: Logger;
  readonly clock: Clock;
  /** What `drive` does in the world: publish tasks and events, stitch levels, check objects. */
  readonly effects: DriveEffects;

  constructor(options: CoordinatorOptions) {
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger.child({ component: "coordinator" });
    this.effects = {
      publish: async (task) => (await publishTask(options.js, task)).seq,
      stitch: (input) => stitchLevel(options.store, input, this.log),
      verify: (ref) => isIntact(options.store, ref),
      event: async (jobId, event, msgId) => {
        await publishEvent(options.js, jobId, { sequence: 0n, jobId, time: new Date(), event }, { msgId });
      },
      now: () => new Date(this.clock.now()),
    };
  }

  /** Drives a job from its current record (after Generate, and from the reconciler). */
  async advance(jobId: string): Promise<void> {
    const stored = await this.o.jobs.find(jobId);
    if (stored === undefined) return;
    if (isTerminalState(stored.job.state)) {
      await this.settle(jobId);
      return;
    }
    const { value: outcome } = await this.o.runs.update(jobId, async (run) => {
      const out = await drive(run, stored.job, this.effects);
      return { next: JSON.stringify(out.run) === JSON.stringify(run) ? null : out.run, value: out };
    });
    await this.afterDrive(jobId, outcome);
  }

  /** What follows a `drive` whose record was written: progress, success or failure. */
  async afterDrive(jobId: string, outcome: DriveOutcome): Promise<void> {
    if (outcome.kind === "failed") {
      await this.fail(jobId, outcome.code, outcome.reason, outcome.stage);
      return;
    }
    await this.#updateProgress(jobId, outcome.run);
    if (outcome.kind === "done") await this.#succeed(jobId, outcome.run, outcome.decode);
  }

  /** Brings Job.stages up to date; QUEUED becomes RUNNING once a task has a result. */
  async #updateProgress(jobId: string, run: RunRecord): Promise<void> {
    const started = Object.values(run.tasks).some((t) => t.result !== undefined);
    await this.o.jobs.update(jobId, (job) => {
      if (isTerminalState(job.state)) return null;
      const stages = progressStages(run, job);
      const state = started && job.state === JobState.JOB_STATE_QUEUED ? JobState.JOB_STATE_RUNNING : job.state;
      if (state === job.state && JSON.stringify(stages) === JSON.stringify(job.stages)) return null;
      return { ...job, state, stages, startTime: job.startTime ?? (started ? new Date() : undefined) };
    });
  }

  async #succeed(jobId: string, run: RunRecord, decode: TaskRecord): Promise<void> {
    const artifacts = await this.presign(artifactsOf(decode.result));
    const now = new Date();
    await this.o.jobs.update(jobId, (job) => {
      if (isTerminalState(job.state)) return null;
      return {
        ...job,
        state: JobState.JOB_STATE_SUCCEEDED,
        artifacts,
        stages: progressStages(run, job),
        startTime: job.startTime ?? now,
        endTime: now,
      };
    });
    this.log.info({ jobId, artifacts: artifacts.map((a) => a.uri) }, "job succeeded");
    await this.settle(jobId);
  }

  /** Artifacts with fresh presigned GET URLs. */
  async presign(artifacts: readonly Artifact[]): Promise<Artifact[]> {
    const expiry = this.o.presignExpirySeconds;
    const out: Artifact[] = [];
    for (const a of artifacts) {
      let key: string;
      try {
        key = this.o.store.keyOf(a.uri);
      } catch {
        out.push(a);
        continue;
      }
      const url = await this.o.presigner.presignGet(key, expiry);
      out.push({
        ...a,
        contentType: a.contentType !== "" ? a.contentType : (MIME[a.format] ?? "application/octet-stream"),
        presignedUrl: url,
        presignedUrlExpireTime: new Date(Date.now() + expiry * 1000),
      });
    }
    return out;
  }

  /** Fails a job (unless it already ended) with a gRPC code name and a reason; stops its running tasks. */
  async fail(jobId: string, code: string, reason: string, stage: Stage = Stage.STAGE_UNSPECIFIED): Promise<void> {
    const now = new Date();
    const updated = await this.o.jobs.update(jobId, (job) =>
      isTerminalState(job.state)
        ? null
        : { ...job, state: JobState.JOB_STATE_FAILED, error: { code, reason, stage }, endTime: now },
    );
    if (updated.job.state === JobState.JOB_STATE_FAILED) {
      this.log.warn({ jobId, code, reason, stage: Stage[stage] }, "job failed");
      publishCancel(this.o.nc, jobId, `job failed: ${reason}`);
    }
    await this.settle(jobId);
  }

  /** Cancels a queued or running job; an ended job is returned unchanged. */
  async cancel(jobId: string, reason: string): Promise<Job> {
    const now = new Date();
    const updated = await this.o.jobs.update(jobId, (job) =>
      isTerminalState(job.state)
        ? null
        : {
            ...job,
            state: JobState.JOB_STATE_CANCELLED,
            error: { code: "CANCELLED", reason, stage: Stage.STAGE_UNSPECIFIED },
            endTime: now,
          },
    );
    if (updated.job.state === JobState.JOB_STATE_CANCELLED) {
      publishCancel(this.o.nc, jobId, reason);
      try {
        await this.settle(jobId);
      } catch (err) {
        // The job is cancelled; the reconciler finishes the clean-up.
        this.log.warn({ jobId, err }, "cancelled; clean-up postponed");
      }
    }
    return (await this.o.jobs.get(jobId)).job;
  }

  /**
   * For an ended job: publishes its terminal event (once), removes its objects (all for a cancelled
   * or failed job; all but the video files for a succeeded one) and frees its admission slot.
   */
  async settle(jobId: string): Promise<void> {
    const stored = await this.o.jobs.find(jobId);
    if (stored === undefined || !isTerminalState(stored.job.state)) return;
    const job = stored.job;
    const found = await this.o.runs.find(jobId);
    if (found === undefined) {
      await this.#publishTerminalEvent(job, undefined);
      return;
    }
    const run = found.run;
    if (run.terminalEventPublished && run.cleanedUp && run.slot === null) return;
    if (!run.terminalEventPublished) await this.#publishTerminalEvent(job, run);
    if (!run.cleanedUp) {
      const store = this.o.store;
      if (job.state === JobState.JOB_STATE_SUCCEEDED) {
        // Everything under jobs/<id>/ but the artifacts and the keyframe latents (the HTTP API's spritesheet):
        // the planned intermediates, and whatever else a stage left there (e.g. the decoder's manifest).
        const keep = new Set([...job.artifacts.map((a) => a.uri), store.uriFor(keyframesKey(jobId))]);
        const listed = await listKeys(store, jobPrefix(jobId));
        const keys = new Set([...intermediateKeys(jobId, run.plan), ...listed]);
        await forEachLimit(
          [...keys].filter((k) => !keep.has(store.uriFor(k))),
          8,
          (key) => store.delete(key),
        );
      } else {
        await store.deletePrefix(jobPrefix(jobId));
      }
    }
    if (run.slot !== null) await this.o.runs.releaseSlot(run.slot, jobId);
    await this.o.runs.update(jobId, (r) => ({
      next:
        r.terminalEventPublished && r.cleanedUp && r.slot === null
          ? null
          : { ...r, terminalEventPublished: true, cleanedUp: true, slot: null },
      value: undefined,
    }));
    this.log.debug({ jobId, state: JobState[job.state] }, "job settled");
  }

  async #publishTerminalEvent(job: Job, run: RunRecord | undefined): Promise<void> {
    const jobId = job.id;
    if (run === undefined) {
      // No run record to remember it by: look at the newest event instead.
      const last = await this.o.jsm.streams
        .getMessage(EVENTS_STREAM, { last_by_subj: eventSubject(jobId) })
        .catch(() => null);
      if (last !== null) {
        try {
          if (isTerminalEvent(JobEvent.decode(last.data))) return;
        } catch {
          // not an event: publish ours
        }
      }
    }
    const ctx = extractRecordContext(run?.traceContext);
    await context.with(ctx, () =>
      publishEvent(this.o.js, jobId, terminalEventOf(job, new Date()), { msgId: `${jobId}:terminal` }),
    );
  }
}
