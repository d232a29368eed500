/**
 * The coordinator: moves jobs forward from what the stages report. Any gateway replica may take any
 * message; every change is a compare-and-set, so replicas (and restarts) never step on each other.
 *
 * - `handleResult` (stage results, durable consumer `coordinator`): records the result in the run
 *   record and `drive`s the job (next tasks, stitching, and each interpolation level's one
 *   `stage_started` / `stage_completed` pair); a decode result makes the job SUCCEEDED with
 *   its artifacts (presigned URLs). Duplicate, stale and late results change nothing (a late result
 *   of an ended job has its objects removed).
 * - `handleDeadLetter` (DLQ records, durable consumer `gateway` on LONGSHOT_DLQ): a task that failed
 *   for good fails its job with the record's code and reason; a DATA_LOSS (a corrupted input) sends
 *   the input's producer around once more instead (see drive.ts).
 * - `settle`: once a job has ended, its terminal event is published (once), its admission slot is
 *   freed and its intermediate objects are removed (all of them for a cancelled or failed job, all
 *   but the video files for a succeeded one).
 * - `reconcile` (every few seconds): settles ended jobs still holding a slot and drives active jobs,
 *   which republishes anything a crashed replica recorded nothing for; then `recoverLostTasks` looks
 *   for tasks that were published and recorded but lost afterwards (their message purged or deleted
 *   from LONGSHOT_TASKS, a stream or consumer recreated, a worker that acknowledged a task without
 *   publishing its result): a task with no result, no message left in LONGSHOT_TASKS and no event of
 *   its job for `taskTimeoutMs` is published again with the next attempt id (a new `Nats-Msg-Id`, so
 *   JetStream's de-duplication does not swallow it), at most `maxTaskRepublishes` times; lost once
 *   more, its job fails with DEADLINE_EXCEEDED naming the stage and task. A re-published task is the
 *   same task (same output key and fingerprint, so a stage reuses an output the lost copy left), and
 *   whichever result comes first is recorded: the other is a duplicate and changes nothing.
 */

import { setTimeout as delay } from "node:timers/promises";
import { type BlobStore, getTensor, putTensor, type S3BlobStore } from "@longshot/blob";
import {
  type DeadLetterRecord,
  EVENTS_STREAM,
  eventSubject,
  HEADER_TASK_ID,
  isTerminalEvent,
  isTerminalState,
  type JobStore,
  publishCancel,
  publishEvent,
  publishTask,
  RESULTS_DLQ_STAGE,
  RevisionConflictError,
  stageOf,
  TASKS_STREAM,
  toBusError,
} from "@longshot/bus";
import {
  IntegrityError,
  isTransient,
  type Logger,
  LongshotError,
  NotFoundError,
  UnavailableError,
} from "@longshot/core";
import { blendWindows, type WindowResult } from "@longshot/engine/light";
import {
  type Artifact,
  DataType,
  type Job,
  JobEvent,
  JobState,
  type LatentRef,
  OutputFormat,
  Stage,
  type StageResult,
  StageState,
  StageTask,
  validateLatentRef,
} from "@longshot/proto";
import { extractRecordContext } from "@longshot/telemetry";
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { context } from "@opentelemetry/api";
import {
  CorruptObjectError,
  type DriveEffects,
  type DriveOutcome,
  drive,
  handleCorruptionReport,
  type StitchInput,
  taskInputs,
} from "./drive.js";
import {
  intermediateKeys,
  jobPrefix,
  keyframesKey,
  levelKey,
  type ParsedTaskId,
  parseTaskId,
  textKey,
  windowKey,
} from "./plan.js";
import { progressStages } from "./progress.js";
import {
  artifactsOf,
  cloneRun,
  type LostTaskPolicy,
  lostTaskVerdict,
  MAX_LOST_TASK_REPUBLISHES,
  overdueTasks,
  type RunRecord,
  resultRecord,
  type StoredRef,
  storedRef,
  type TaskRecord,
  type TaskResultRecord,
  withLostTaskRepublish,
} from "./run-record.js";
import type { RunStore } from "./run-store.js";
import { terminalEventOf } from "./terminal-event.js";

/** The time the reconciler reads (task timeouts, orphaned slots) and waits on (its interval); tests pass their own. */
export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` is or becomes aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: Date.now() and setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => {}),
};

/** Tensor sizes of a pack that results are checked against. */
export interface PackShape {
  latentChannels: number;
  latentHeight: number;
  latentWidth: number;
  textTokens: number;
  textHidden: number;
}

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

/** A stage result that does not answer its task (wrong shapes, keys, missing outputs): fails the job. */
export class InvalidResultError extends LongshotError {
  constructor(message: string) {
    super(message, { code: "INTERNAL" });
    this.name = "InvalidResultError";
  }
}

function stageOfName(name: string): Stage {
  switch (name) {
    case "keyframe":
      return Stage.STAGE_KEYFRAME;
    case "interpolation":
      return Stage.STAGE_INTERPOLATION;
    case "decode":
      return Stage.STAGE_DECODE;
    default:
      return Stage.STAGE_UNSPECIFIED;
  }
}

function sameShape(shape: readonly number[], expected: readonly number[]): boolean {
  return shape.length === expected.length && shape.every((d, i) => d === expected[i]);
}

const MIME: Record<number, string> = {
  [OutputFormat.OUTPUT_FORMAT_MP4]: "video/mp4",
  [OutputFormat.OUTPUT_FORMAT_GIF]: "image/gif",
  [OutputFormat.OUTPUT_FORMAT_PNG]: "image/png",
};

/** A lost compare-and-set race is worth retrying (with the message), not a reason to give up on a job. */
function asRetryable(err: unknown): unknown {
  if (err instanceof RevisionConflictError) {
    return new UnavailableError(`${err.message}; retrying`, { cause: err });
  }
  return err;
}

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

export class Coordinator {
  readonly #o: CoordinatorOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly effects: DriveEffects;

  constructor(options: CoordinatorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger.child({ component: "coordinator" });
    this.effects = {
      publish: async (task) => (await publishTask(options.js, task)).seq,
      stitch: (input) => this.#stitch(input),
      verify: (ref) => this.#verify(ref),
      event: async (jobId, event, msgId) => {
        await publishEvent(options.js, jobId, { sequence: 0n, jobId, time: new Date(), event }, { msgId });
      },
      now: () => new Date(this.#clock.now()),
    };
  }

  // --- results ----------------------------------------------------------------------------------

  /**
   * Handles one stage result (see the module comment). Throws transient errors (the result is retried,
   * which is safe: handling is idempotent), including losing too many compare-and-set races.
   */
  async handleResult(result: StageResult, logger: Logger = this.#log): Promise<void> {
    try {
      await this.#handleResult(result, logger);
    } catch (err) {
      throw asRetryable(err);
    }
  }

  async #handleResult(result: StageResult, logger: Logger): Promise<void> {
    const jobId = result.jobId;
    const log = logger.child({ jobId, taskId: result.taskId });
    const stored = await this.#o.jobs.find(jobId);
    if (stored === undefined) {
      log.warn("result of an unknown job; dropped");
      return;
    }
    if (isTerminalState(stored.job.state)) {
      await this.#lateResult(stored.job, result, log);
      await this.settle(jobId);
      return;
    }
    const parsed = parseTaskId(jobId, result.taskId);
    if (parsed === undefined) {
      await this.fail(
        jobId,
        "INTERNAL",
        `a stage reported a result for task ${JSON.stringify(result.taskId)}, which is not a task of this job`,
        result.stage,
      );
      return;
    }
    let outcome: DriveOutcome | undefined;
    let invalid: string | undefined;
    let ignored: string | undefined;
    await this.#o.runs.update(jobId, async (run) => {
      outcome = undefined;
      invalid = undefined;
      ignored = undefined;
      const task = run.tasks[parsed.baseId];
      if (!this.#inPlan(run, parsed)) {
        invalid = `a stage reported a result for task ${result.taskId}, which is not in the job's plan`;
        return null;
      }
      if (task === undefined) {
        throw new UnavailableError(`result of ${result.taskId} arrived before its publish was recorded; retrying`);
      }
      if (task.result !== undefined) {
        ignored = "duplicate result (the task already has one)";
        return null;
      }
      if (taskInputs(run, task).some((i) => i.ref === undefined)) {
        ignored = "stale result (its inputs are being produced again)";
        return null;
      }
      let rec: TaskResultRecord;
      try {
        rec = this.#checkResult(run, stored.job, task, result);
      } catch (err) {
        if (!(err instanceof InvalidResultError)) throw err;
        invalid = err.message;
        return null;
      }
      const next = cloneRun(run);
      next.tasks[task.taskId] = { ...task, pending: false, result: rec };
      outcome = await drive(next, stored.job, this.effects);
      return outcome.run;
    });
    if (invalid !== undefined) {
      await this.fail(jobId, "INTERNAL", invalid, result.stage);
      return;
    }
    if (ignored !== undefined) {
      log.info({ why: ignored }, "result changes nothing");
      return;
    }
    if (outcome !== undefined) await this.#afterDrive(jobId, outcome);
  }

  #inPlan(run: RunRecord, parsed: ParsedTaskId): boolean {
    if (parsed.stage !== "interpolation") return true;
    const lvl = run.plan.interpolation[parsed.level - 1];
    return lvl?.windows.some((w) => w.start === parsed.window.start && w.end === parsed.window.end) ?? false;
  }

  /** The result as recorded, after checking that it answers its task; InvalidResultError otherwise. */
  #checkResult(run: RunRecord, job: Job, task: TaskRecord, result: StageResult): TaskResultRecord {
    const shape = this.#o.packShape(run.pack.name);
    if (shape === undefined) throw new InvalidResultError(`pack ${run.pack.name} is not served by this gateway`);
    const jobId = run.jobId;
    const where = `result of task ${result.taskId}`;
    const ref = (r: LatentRef | undefined, field: string, key: string, dims: number[]): StoredRef => {
      let valid: LatentRef;
      try {
        valid = validateLatentRef(r, field);
      } catch (err) {
        throw new InvalidResultError(`${where}: ${(err as Error).message}`);
      }
      if (valid.dtype !== DataType.DATA_TYPE_FLOAT32) {
        throw new InvalidResultError(`${where}: ${field}.dtype must be float32`);
      }
      if (!sameShape(valid.shape, dims)) {
        throw new InvalidResultError(
          `${where}: ${field}.shape must be [${dims.join(", ")}], got [${valid.shape.join(", ")}]`,
        );
      }
      let actualKey: string;
      try {
        actualKey = this.#o.store.keyOf(valid.uri);
      } catch {
        throw new InvalidResultError(`${where}: ${field}.uri ${valid.uri} is not in bucket ${this.#o.store.bucket}`);
      }
      if (actualKey !== key)
        throw new InvalidResultError(`${where}: ${field} must be stored at ${key}, is at ${actualKey}`);
      return storedRef(valid);
    };
    const { latentChannels: c, latentHeight: h, latentWidth: w } = shape;
    const base = {
      workerId: result.workerId,
      startTime: result.timings?.startTime?.toISOString() ?? "",
      endTime: result.timings?.endTime?.toISOString() ?? "",
    };
    const now = new Date();
    if (task.stage === "keyframe") {
      const k = run.plan.levels[0] as number;
      return resultRecord(
        {
          ...base,
          latents: ref(result.latents, "latents", keyframesKey(jobId), [1, c, k, h, w]),
          text: ref(result.textEmbeddings, "text_embeddings", textKey(jobId), [2, shape.textTokens, shape.textHidden]),
        },
        now,
      );
    }
    if (task.stage === "interpolation") {
      const win = task.window;
      if (win === undefined) throw new InvalidResultError(`${where}: the run record has no window for this task`);
      if (result.windowEnd !== 0 && (result.windowStart !== win.start || result.windowEnd !== win.end)) {
        throw new InvalidResultError(
          `${where}: covers frames [${result.windowStart}, ${result.windowEnd}) but the task is [${win.start}, ${win.end})`,
        );
      }
      return resultRecord(
        {
          ...base,
          latents: ref(result.latents, "latents", windowKey(jobId, task.level, win), [1, c, win.end - win.start, h, w]),
        },
        now,
      );
    }
    if (result.artifacts.length === 0) throw new InvalidResultError(`${where}: the decode produced no files`);
    const prefix = jobPrefix(jobId);
    result.artifacts.forEach((a, i) => {
      let key: string;
      try {
        key = this.#o.store.keyOf(a.uri);
      } catch {
        throw new InvalidResultError(`${where}: artifacts[${i}].uri ${a.uri} is not in bucket ${this.#o.store.bucket}`);
      }
      if (!key.startsWith(prefix)) throw new InvalidResultError(`${where}: artifacts[${i}] is outside ${prefix}`);
      if (!/^[0-9a-f]{64}$/.test(a.sha256)) throw new InvalidResultError(`${where}: artifacts[${i}].sha256 is not hex`);
      if (a.bytes <= 0n) throw new InvalidResultError(`${where}: artifacts[${i}] is empty`);
    });
    for (const format of job.request?.outputFormats ?? []) {
      if (!result.artifacts.some((a) => a.format === format)) {
        throw new InvalidResultError(`${where}: no ${OutputFormat[format]} file, which the request asked for`);
      }
    }
    return resultRecord({ ...base, artifacts: result.artifacts }, now);
  }

  /** A result of a job that has ended: its objects are not wanted (a succeeded job keeps its video files). */
  async #lateResult(job: Job, result: StageResult, log: Logger): Promise<void> {
    const keep = new Set(job.state === JobState.JOB_STATE_SUCCEEDED ? job.artifacts.map((a) => a.uri) : []);
    const uris = [result.latents?.uri, result.textEmbeddings?.uri, ...result.artifacts.map((a) => a.uri)].filter(
      (u): u is string => typeof u === "string" && u !== "" && !keep.has(u),
    );
    const prefix = jobPrefix(job.id);
    for (const uri of uris) {
      let key: string;
      try {
        key = this.#o.store.keyOf(uri);
      } catch {
        continue;
      }
      if (key.startsWith(prefix)) await this.#o.store.delete(key);
    }
    log.info({ state: JobState[job.state], removed: uris.length }, "result of an ended job; its objects removed");
  }

  // --- driving ----------------------------------------------------------------------------------

  /** Drives a job from its current record (after Generate, and from the reconciler). */
  async advance(jobId: string): Promise<void> {
    const stored = await this.#o.jobs.find(jobId);
    if (stored === undefined) return;
    if (isTerminalState(stored.job.state)) {
      await this.settle(jobId);
      return;
    }
    let outcome: DriveOutcome | undefined;
    await this.#o.runs.update(jobId, async (run) => {
      outcome = await drive(run, stored.job, this.effects);
      return JSON.stringify(outcome.run) === JSON.stringify(run) ? null : outcome.run;
    });
    if (outcome !== undefined) await this.#afterDrive(jobId, outcome);
  }

  async #afterDrive(jobId: string, outcome: DriveOutcome): Promise<void> {
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
    await this.#o.jobs.update(jobId, (job) => {
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
    await this.#o.jobs.update(jobId, (job) => {
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
    this.#log.info({ jobId, artifacts: artifacts.map((a) => a.uri) }, "job succeeded");
    await this.settle(jobId);
  }

  /** Artifacts with fresh presigned GET URLs. */
  async presign(artifacts: readonly Artifact[]): Promise<Artifact[]> {
    const expiry = this.#o.presignExpirySeconds;
    const out: Artifact[] = [];
    for (const a of artifacts) {
      let key: string;
      try {
        key = this.#o.store.keyOf(a.uri);
      } catch {
        out.push(a);
        continue;
      }
      const url = await this.#o.presigner.presignGet(key, expiry);
      out.push({
        ...a,
        contentType: a.contentType !== "" ? a.contentType : (MIME[a.format] ?? "application/octet-stream"),
        presignedUrl: url,
        presignedUrlExpireTime: new Date(Date.now() + expiry * 1000),
      });
    }
    return out;
  }

  // --- ending -----------------------------------------------------------------------------------

  /** Fails a job (unless it already ended) with a gRPC code name and a reason; stops its running tasks. */
  async fail(jobId: string, code: string, reason: string, stage: Stage = Stage.STAGE_UNSPECIFIED): Promise<void> {
    const now = new Date();
    const updated = await this.#o.jobs.update(jobId, (job) =>
      isTerminalState(job.state)
        ? null
        : { ...job, state: JobState.JOB_STATE_FAILED, error: { code, reason, stage }, endTime: now },
    );
    if (updated.job.state === JobState.JOB_STATE_FAILED) {
      this.#log.warn({ jobId, code, reason, stage: Stage[stage] }, "job failed");
      publishCancel(this.#o.nc, jobId, `job failed: ${reason}`);
    }
    await this.settle(jobId);
  }

  /** Cancels a queued or running job; an ended job is returned unchanged. */
  async cancel(jobId: string, reason: string): Promise<Job> {
    const now = new Date();
    const updated = await this.#o.jobs.update(jobId, (job) =>
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
      publishCancel(this.#o.nc, jobId, reason);
      try {
        await this.settle(jobId);
      } catch (err) {
        // The job is cancelled; the reconciler finishes the clean-up.
        this.#log.warn({ jobId, err }, "cancelled; clean-up postponed");
      }
    }
    return (await this.#o.jobs.get(jobId)).job;
  }

  /**
   * For an ended job: publishes its terminal event (once), removes its objects (all for a cancelled
   * or failed job; all but the video files for a succeeded one) and frees its admission slot.
   */
  async settle(jobId: string): Promise<void> {
    const stored = await this.#o.jobs.find(jobId);
    if (stored === undefined || !isTerminalState(stored.job.state)) return;
    const job = stored.job;
    const found = await this.#o.runs.find(jobId);
    if (found === undefined) {
      await this.#publishTerminalEvent(job, undefined);
      return;
    }
    const run = found.run;
    if (run.terminalEventPublished && run.cleanedUp && run.slot === null) return;
    if (!run.terminalEventPublished) await this.#publishTerminalEvent(job, run);
    if (!run.cleanedUp) {
      if (job.state === JobState.JOB_STATE_SUCCEEDED) {
        // Everything under jobs/<id>/ but the artifacts and the keyframe latents (the HTTP API's spritesheet):
        // the planned intermediates, and whatever else a stage left there (e.g. the decoder's manifest).
        const keep = new Set([...job.artifacts.map((a) => a.uri), this.#o.store.uriFor(keyframesKey(jobId))]);
        const listed = await this.#listKeys(jobPrefix(jobId));
        const keys = new Set([...intermediateKeys(jobId, run.plan), ...listed]);
        await forEachLimit(
          [...keys].filter((k) => !keep.has(this.#o.store.uriFor(k))),
          8,
          (key) => this.#o.store.delete(key),
        );
      } else {
        await this.#o.store.deletePrefix(jobPrefix(jobId));
      }
    }
    if (run.slot !== null) await this.#o.runs.releaseSlot(run.slot, jobId);
    await this.#o.runs.update(jobId, (r) =>
      r.terminalEventPublished && r.cleanedUp && r.slot === null
        ? null
        : { ...r, terminalEventPublished: true, cleanedUp: true, slot: null },
    );
    this.#log.debug({ jobId, state: JobState[job.state] }, "job settled");
  }

  async #publishTerminalEvent(job: Job, run: RunRecord | undefined): Promise<void> {
    const jobId = job.id;
    if (run === undefined) {
      // No run record to remember it by: look at the newest event instead.
      const last = await this.#o.jsm.streams
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
      publishEvent(this.#o.js, jobId, terminalEventOf(job, new Date()), { msgId: `${jobId}:terminal` }),
    );
  }

  // --- dead letters -----------------------------------------------------------------------------

  /** Handles one DLQ record (see the module comment). Throws transient errors (the record is retried). */
  async handleDeadLetter(record: DeadLetterRecord): Promise<void> {
    try {
      await this.#handleDeadLetter(record);
    } catch (err) {
      throw asRetryable(err);
    }
  }

  async #handleDeadLetter(record: DeadLetterRecord): Promise<void> {
    const jobId = record.jobId;
    const log = this.#log.child({ jobId, taskId: record.taskId, dlqKind: record.kind, code: record.code });
    if (jobId === undefined) {
      log.warn({ reason: record.reason }, "dead letter without a job (malformed payload); nothing to fail");
      return;
    }
    const stored = await this.#o.jobs.find(jobId);
    if (stored === undefined || isTerminalState(stored.job.state)) return;
    if (record.stage === RESULTS_DLQ_STAGE) {
      await this.fail(
        jobId,
        record.code || "INTERNAL",
        `the result of task ${record.taskId} could not be handled: ${record.reason}`,
      );
      return;
    }
    const stage = stageOfName(record.stage);
    const parsed = record.taskId === undefined ? undefined : parseTaskId(jobId, record.taskId);
    if (parsed !== undefined) {
      const found = await this.#o.runs.find(jobId);
      const task = found?.run.tasks[parsed.baseId];
      if (task !== undefined && (task.result !== undefined || record.streamSequence < task.streamSeq)) {
        log.info("dead letter of a task copy that was superseded; ignored");
        return;
      }
    }
    if (record.code === "DATA_LOSS" && parsed !== undefined) {
      let report: Awaited<ReturnType<typeof handleCorruptionReport>> | undefined;
      let outcome: DriveOutcome | undefined;
      await this.#o.runs.update(jobId, async (run) => {
        outcome = undefined;
        report = await handleCorruptionReport(run, parsed.baseId, record.streamSequence, record.reason, this.effects);
        if (report.kind !== "rerun") return null;
        outcome = await drive(report.run, stored.job, this.effects);
        return outcome.run;
      });
      const r = report as NonNullable<typeof report>;
      if (r.kind === "failed") {
        await this.fail(jobId, r.code, r.reason, r.stage);
      } else if (r.kind === "stale") {
        log.info({ why: r.why }, "corruption report changes nothing");
      } else {
        log.warn({ corrupted: r.keys, reason: record.reason }, "corrupted input: its producer runs again");
        if (outcome !== undefined) await this.#afterDrive(jobId, outcome);
      }
      return;
    }
    await this.fail(
      jobId,
      record.code || "INTERNAL",
      `${record.stage} task ${record.taskId ?? "?"} failed (${record.kind}): ${record.reason}`,
      stage,
    );
  }

  // --- progress events --------------------------------------------------------------------------

  /** A job event seen on the event stream: the keyframe stage starting makes a queued job RUNNING. */
  async onJobEvent(event: JobEvent): Promise<void> {
    if (event.event?.$case !== "stageStarted" || event.event.value.stage !== Stage.STAGE_KEYFRAME) return;
    const started = event.time ?? new Date();
    await this.#o.jobs
      .update(event.jobId, (job) => {
        if (job.state !== JobState.JOB_STATE_QUEUED) return null;
        return {
          ...job,
          state: JobState.JOB_STATE_RUNNING,
          startTime: job.startTime ?? started,
          stages: job.stages.map((s) =>
            s.stage === Stage.STAGE_KEYFRAME
              ? { ...s, state: StageState.STAGE_STATE_RUNNING, startTime: s.startTime ?? started }
              : s,
          ),
        };
      })
      .catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
      });
  }

  // --- reconciling ------------------------------------------------------------------------------

  /** One pass over the admission slots (see the module comment). Errors of one job do not stop the pass. */
  async reconcile(): Promise<void> {
    const orphanMs = this.#o.orphanSlotMs ?? 60_000;
    for (const { slot, jobId, created } of await this.#o.runs.slotHolders()) {
      try {
        const stored = await this.#o.jobs.find(jobId);
        if (stored === undefined) {
          if (this.#clock.now() - created.getTime() > orphanMs) {
            await this.#o.runs.releaseSlot(slot, jobId);
            this.#log.warn({ slot, jobId }, "freed the admission slot of a job that was never created");
          }
          continue;
        }
        if (isTerminalState(stored.job.state)) {
          await this.settle(jobId);
          // A slot this job still holds besides the one its record names (two requests with one
          // idempotency key racing) is freed here too.
          await this.#o.runs.releaseSlot(slot, jobId);
        } else {
          await this.advance(jobId);
          await this.recoverLostTasks(jobId);
        }
      } catch (err) {
        (isTransient(err) ? this.#log.debug : this.#log.warn).call(this.#log, { err, jobId }, "reconcile: job skipped");
      }
    }
  }

  /**
   * Publishes again the tasks of an active job that were lost after they were published, or fails the
   * job with DEADLINE_EXCEEDED once a task was lost more often than allowed (see the module comment
   * and `lostTaskVerdict`). Only tasks silent for the task timeout since their publish are looked up
   * in the streams. Errors (NATS unreachable) are thrown: nothing is re-published on a guess.
   */
  async recoverLostTasks(jobId: string): Promise<void> {
    const policy: LostTaskPolicy = {
      timeoutMs: this.#o.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS,
      maxRepublishes: this.#o.maxTaskRepublishes ?? MAX_LOST_TASK_REPUBLISHES,
    };
    const found = await this.#o.runs.find(jobId);
    if (found === undefined) return;
    const overdue = overdueTasks(found.run, this.effects.now(), policy.timeoutMs);
    if (overdue.length === 0) return;
    const lastEventAt = await this.#lastEventTime(jobId);
    for (const task of overdue) {
      const inStream = await this.#inTaskStream(jobId, task);
      const verdict = lostTaskVerdict(task, { inStream, lastEventAt }, this.effects.now(), policy);
      if (verdict.kind === "alive") continue;
      const log = this.#log.child({ jobId, taskId: task.taskId, attempt: task.attempt, silentMs: verdict.silentMs });
      if (verdict.kind === "give_up") {
        const latest = (await this.#o.runs.find(jobId))?.run.tasks[task.taskId];
        if (latest?.attempt !== task.attempt || latest.result !== undefined || !latest.pending) continue; // it moved on
        log.error({ reason: verdict.reason }, "task lost too often; failing the job");
        await this.fail(jobId, "DEADLINE_EXCEEDED", verdict.reason, stageOf(task.stage));
        return;
      }
      const stored = await this.#o.jobs.find(jobId);
      if (stored === undefined || isTerminalState(stored.job.state)) return;
      let outcome: DriveOutcome | undefined;
      await this.#o.runs.update(jobId, async (run) => {
        outcome = undefined;
        const marked = withLostTaskRepublish(run, task.taskId, task.attempt);
        if (marked === undefined) return null; // a result came, or another replica re-published it
        const out = await drive(marked, stored.job, this.effects);
        // drive publishes the marked task unless the job cannot go on (then the failure is recorded).
        if (out.kind !== "failed" && (out.run.tasks[task.taskId]?.attempt ?? 0) <= task.attempt) return null;
        outcome = out;
        return out.run;
      });
      if (outcome === undefined) continue;
      const again = outcome.run.tasks[task.taskId];
      if (outcome.kind !== "failed") {
        log.warn(
          { newAttempt: again?.attempt, republished: again?.republished, timeoutMs: policy.timeoutMs },
          "task lost after it was published (no result, not in the work queue, no job event): published again",
        );
      }
      await this.#afterDrive(jobId, outcome);
    }
  }

  /** When the newest event of a job was stored; undefined when it has none. */
  async #lastEventTime(jobId: string): Promise<Date | undefined> {
    try {
      const last = await this.#o.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: eventSubject(jobId) });
      return last?.time;
    } catch (err) {
      throw toBusError(err, `last event of job ${jobId}`);
    }
  }

  /** Whether the latest published copy of `task` is still in LONGSHOT_TASKS (queued, in flight or to be redelivered). */
  async #inTaskStream(jobId: string, task: TaskRecord): Promise<boolean> {
    let sm: StoredMsg | null;
    try {
      sm = await this.#o.jsm.streams.getMessage(TASKS_STREAM, { seq: task.streamSeq });
    } catch (err) {
      throw toBusError(err, `task ${task.taskId} at #${task.streamSeq} in ${TASKS_STREAM}`);
    }
    if (sm === null) return false;
    // The same sequence holds another message when the stream was deleted and created again.
    let id = sm.header?.get(HEADER_TASK_ID) ?? "";
    if (id === "") {
      try {
        id = StageTask.decode(sm.data).taskId;
      } catch {
        return false;
      }
    }
    return parseTaskId(jobId, id)?.baseId === task.taskId;
  }

  // --- effects ----------------------------------------------------------------------------------

  async #listKeys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const item of this.#o.store.client.listObjectsV2(this.#o.store.bucket, prefix, true)) {
        const name = (item as { name?: string }).name;
        if (name !== undefined) out.push(name);
      }
    } catch (err) {
      throw new UnavailableError(`list ${prefix} in bucket ${this.#o.store.bucket}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return out;
  }

  async #readTensor(ref: StoredRef, key: string) {
    try {
      return await getTensor(this.#o.store, ref);
    } catch (err) {
      if (err instanceof IntegrityError || err instanceof NotFoundError) {
        throw new CorruptObjectError(key, err.message, { cause: err });
      }
      throw err;
    }
  }

  async #stitch(input: StitchInput): Promise<StoredRef> {
    const results: WindowResult[] = [];
    for (const w of input.windows) {
      results.push({ window: w.window, latents: await this.#readTensor(w.ref, w.key) });
    }
    const keyframes = input.mode === "pinned" ? await this.#readTensor(input.input, input.inputKey) : undefined;
    const out = blendWindows(results, {
      frames: input.level.outputFrames,
      mode: input.mode,
      keyframes,
      factor: input.factor,
    });
    const ref = await putTensor(this.#o.store, out, { key: levelKey(input.jobId, input.level.level) });
    this.#log.debug({ jobId: input.jobId, level: input.level.level, windows: input.windows.length }, "level stitched");
    return { uri: ref.uri, shape: ref.shape, dtype: ref.dtype, sha256: ref.sha256, bytes: ref.bytes };
  }

  async #verify(ref: StoredRef): Promise<boolean> {
    const store = this.#o.store;
    let key: string;
    try {
      key = store.keyOf(ref.uri);
    } catch {
      return false;
    }
    try {
      await store.get(store.refFor(key, ref.sha256, ref.bytes));
      return true;
    } catch (err) {
      if (err instanceof IntegrityError || err instanceof NotFoundError) return false;
      throw err;
    }
  }
}
