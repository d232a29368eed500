/**
 * The gateway's working record of a job (`run.<jobId>` in the KV bucket `longshot-runs`, JSON): the
 * plan, the trace context every task carries, every task published (attempt, stream sequence, when,
 * how often it was published again after being lost) and the result each one delivered (object refs,
 * worker id, timings), the stitched levels and how often a corrupted object's producer was re-run. The public `Job` (bucket `longshot-jobs`) says where a
 * job is; this record says how it got there. Both change only by compare-and-set.
 *
 * The functions here are pure: they take a record and return a changed copy, so the coordinator's
 * decisions (is a level complete? which tasks run next? may a producer run again?) are unit-tested
 * without servers.
 */
import type { StageName } from "@longshot/bus";
import { IntegrityError } from "@longshot/core";
import { Artifact, dataTypeOf, dtypeOf, type LatentRef } from "@longshot/proto";
import type { DType } from "@longshot/tensor";
import type { JobPlan, PlanWindow } from "./plan.js";

export const RUN_RECORD_VERSION = 1;

/** A stored tensor: LatentRef with plain numbers (JSON). */
export interface StoredRef {
  uri: string;
  shape: number[];
  dtype: DType;
  sha256: string;
  bytes: number;
}

export interface TaskResultRecord {
  workerId: string;
  /** When the worker started and finished (its clock), ISO 8601; empty when it did not say. */
  startTime: string;
  endTime: string;
  /** When the gateway recorded the result. */
  receivedAt: string;
  latents?: StoredRef;
  text?: StoredRef;
  /** Decode: the files, as Artifact JSON. */
  artifacts?: unknown[];
}

export interface TaskRecord {
  /** The base task id (without an attempt suffix); the record's key in `RunRecord.tasks`. */
  taskId: string;
  stage: StageName;
  /** Interpolation level; 0 for keyframe and decode. */
  level: number;
  window?: PlanWindow;
  /** 1 on the first publish; each re-run publishes again with the next attempt (task id `<taskId>.r<attempt>`). */
  attempt: number;
  /** Published for the current inputs and waiting for its result (false once it has one, or after a rewind). */
  pending: boolean;
  /** Sequence of the latest publish in LONGSHOT_TASKS (a dead letter of an older copy is stale). */
  streamSeq: number;
  /** When the latest copy was published (gateway clock, ISO 8601). */
  publishedAt: string;
  /**
   * Times the task was published again because its published copy was lost (no result, its message
   * gone from LONGSHOT_TASKS, no sign of life for the task timeout: see `lostTaskVerdict`). Absent: 0.
   */
  republished?: number;
  result?: TaskResultRecord;
}

export interface RunRecord {
  v: number;
  jobId: string;
  createdAt: string;
  pack: { name: string; version: string };
  /** W3C trace context of the job's root span (Generate's server span). */
  traceContext: Record<string, string>;
  /** SHA-256 (hex) of the client's request as sent, for idempotency-key comparisons. */
  requestSha256: string;
  /** The client's request as sent (protobuf, base64): names the fields a reused key differs in. */
  originalRequest: string;
  plan: JobPlan;
  /** The admission slot this job holds while it is queued or running (`slot.<n>`); null once released. */
  slot: number | null;
  tasks: Record<string, TaskRecord>;
  /** Stitched level latents, by level number. */
  levels: Record<string, StoredRef>;
  /** Re-runs of producers whose output was found corrupted, by object key. */
  reruns: Record<string, number>;
  /** Intermediate objects were removed (the job ended). */
  cleanedUp: boolean;
  /** The job's terminal event (completed, failed or cancelled) is in its event stream. */
  terminalEventPublished: boolean;
  /**
   * The stage events the gateway reported (an interpolation level's stage_started and stage_completed,
   * see drive.ts), by name (`interp<L>:started`, `interp<L>:completed`) → when (ISO 8601). Absent in a
   * record written before the gateway reported them.
   */
  stageEvents?: Record<string, string>;
}

// --- refs -------------------------------------------------------------------------------------------

export function storedRef(ref: LatentRef): StoredRef {
  return {
    uri: ref.uri,
    shape: [...ref.shape],
    dtype: dtypeOf(ref.dtype, "dtype"),
    sha256: ref.sha256,
    bytes: Number(ref.bytes),
  };
}

export function latentRef(ref: StoredRef): LatentRef {
  return {
    uri: ref.uri,
    shape: [...ref.shape],
    dtype: dataTypeOf(ref.dtype),
    sha256: ref.sha256,
    bytes: BigInt(ref.bytes),
  };
}

export function sameRef(a: StoredRef | undefined, b: StoredRef | undefined): boolean {
  return a !== undefined && b !== undefined && a.uri === b.uri && a.sha256 === b.sha256 && a.bytes === b.bytes;
}

// --- codec ------------------------------------------------------------------------------------------

export function encodeRunRecord(run: RunRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(run));
}

export function decodeRunRecord(bytes: Uint8Array, jobId: string): RunRecord {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new IntegrityError(`run record of job ${jobId} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const r = v as Partial<RunRecord> | null;
  if (
    r === null ||
    typeof r !== "object" ||
    r.v !== RUN_RECORD_VERSION ||
    r.jobId !== jobId ||
    typeof r.plan !== "object" ||
    typeof r.tasks !== "object" ||
    typeof r.levels !== "object"
  ) {
    throw new IntegrityError(`run record of job ${jobId} is not a version-${RUN_RECORD_VERSION} record of that job`);
  }
  const run = r as RunRecord;
  return {
    ...run,
    reruns: run.reruns ?? {},
    cleanedUp: run.cleanedUp ?? false,
    terminalEventPublished: run.terminalEventPublished ?? false,
  };
}

export function cloneRun(run: RunRecord): RunRecord {
  return structuredClone(run);
}

// --- decisions --------------------------------------------------------------------------------------

/** The tasks of one interpolation level, in window order. */
export function levelTasks(run: RunRecord, level: number): TaskRecord[] {
  return Object.values(run.tasks)
    .filter((t) => t.stage === "interpolation" && t.level === level)
    .sort((a, b) => (a.window?.start ?? 0) - (b.window?.start ?? 0));
}

/** Whether every window of `level` (as planned) has a result. */
export function levelComplete(run: RunRecord, level: number): boolean {
  const lvl = run.plan.interpolation[level - 1];
  if (lvl === undefined) return false;
  return lvl.windows.every((w) => {
    const t = Object.values(run.tasks).find(
      (x) => x.stage === "interpolation" && x.level === level && x.window?.start === w.start && x.window.end === w.end,
    );
    return t?.result !== undefined;
  });
}

/** Records that a task was published (a first publish, or a re-run with the next attempt). */
export function withPublished(
  run: RunRecord,
  task: Omit<TaskRecord, "attempt" | "streamSeq" | "publishedAt" | "result" | "pending">,
  attempt: number,
  streamSeq: number,
  now: Date,
): RunRecord {
  const next = cloneRun(run);
  const prev = next.tasks[task.taskId];
  next.tasks[task.taskId] = {
    ...task,
    attempt,
    pending: true,
    streamSeq: Math.max(streamSeq, prev?.streamSeq ?? 0),
    publishedAt: now.toISOString(),
    ...(prev?.republished === undefined ? {} : { republished: prev.republished }),
  };
  return next;
}

/** The attempt number the next publish of a task gets: 1, or one more than its last publish. */
export function nextAttempt(run: RunRecord, taskId: string): number {
  const t = run.tasks[taskId];
  return t === undefined ? 1 : t.attempt + 1;
}

/**
 * Forgets a task's result so that `drive` publishes it again (next attempt), and with it everything
 * computed from it: a keyframe reset clears every interpolation result, stitched level and the
 * decode; a window reset of level L clears stitched levels >= L, results of levels > L and the decode;
 * a decode reset clears the decode only.
 */
export function withTaskReset(run: RunRecord, taskId: string): RunRecord {
  const next = cloneRun(run);
  const t = next.tasks[taskId];
  if (t === undefined) return next;
  delete t.result;
  t.pending = false;
  const fromLevel = t.stage === "keyframe" ? 0 : t.stage === "interpolation" ? t.level : Number.POSITIVE_INFINITY;
  if (t.stage !== "decode") {
    for (const other of Object.values(next.tasks)) {
      const downstream = other.stage === "decode" || (other.stage === "interpolation" && other.level > fromLevel);
      if (downstream) {
        delete other.result;
        other.pending = false;
      }
    }
    for (const key of Object.keys(next.levels)) if (Number(key) >= Math.max(1, fromLevel)) delete next.levels[key];
  }
  return next;
}

/**
 * Forgets stitched level `level` (and everything after it: later levels' results and stitches, the
 * decode), so that `drive` stitches it again from its windows and re-publishes what follows.
 */
export function withLevelReset(run: RunRecord, level: number): RunRecord {
  const next = cloneRun(run);
  for (const key of Object.keys(next.levels)) if (Number(key) >= level) delete next.levels[key];
  for (const t of Object.values(next.tasks)) {
    if (t.stage === "decode" || (t.stage === "interpolation" && t.level > level)) {
      delete t.result;
      t.pending = false;
    }
  }
  return next;
}

/** The result of a task as the gateway records it. */
export function resultRecord(
  fields: Omit<TaskResultRecord, "receivedAt" | "artifacts"> & { artifacts?: Artifact[] },
  now: Date,
): TaskResultRecord {
  const { artifacts, ...rest } = fields;
  return {
    ...rest,
    receivedAt: now.toISOString(),
    ...(artifacts === undefined ? {} : { artifacts: artifacts.map((a) => Artifact.toJSON(a)) }),
  };
}

export function artifactsOf(result: TaskResultRecord | undefined): Artifact[] {
  return (result?.artifacts ?? []).map((a) => Artifact.fromJSON(a));
}

/** Maximum re-runs of the producer of a corrupted object ("re-run once, then fail"). */
export const MAX_CORRUPTION_RERUNS = 1;

/** Whether the producer of `key` may run again, and the record with the re-run counted. */
export function takeRerun(run: RunRecord, key: string): { allowed: boolean; run: RunRecord } {
  const used = run.reruns[key] ?? 0;
  if (used >= MAX_CORRUPTION_RERUNS) return { allowed: false, run };
  const next = cloneRun(run);
  next.reruns[key] = used + 1;
  return { allowed: true, run: next };
}

// --- lost tasks -------------------------------------------------------------------------------------

/**
 * Re-publishes of a lost task before its job fails with DEADLINE_EXCEEDED: a task is published at most
 * 1 + this many times for lost copies (re-runs after corruption are counted apart, `takeRerun`).
 */
export const MAX_LOST_TASK_REPUBLISHES = 2;

/** When a published task counts as lost. */
export interface LostTaskPolicy {
  /** Silence (no result, no message in LONGSHOT_TASKS, no job event) after which a task is lost. */
  timeoutMs: number;
  /** Re-publishes allowed before the job fails (MAX_LOST_TASK_REPUBLISHES). */
  maxRepublishes: number;
}

/** What the coordinator saw of a published task besides its run record. */
export interface TaskSignsOfLife {
  /**
   * The task's latest copy is still in LONGSHOT_TASKS: queued, being worked on (heartbeats keep it
   * there), or waiting for a redelivery. JetStream owns it then (redelivery, MaxDeliver, dead letter).
   */
  inStream: boolean;
  /** When the job's newest event was stored (stage started, step progress, stage completed, queued …). */
  lastEventAt: Date | undefined;
}

export type LostTaskVerdict =
  | { kind: "alive" }
  /** Lost: publish it again (the next attempt). */
  | { kind: "republish"; silentMs: number }
  /** Lost once more than the re-publishes allow: fail the job with DEADLINE_EXCEEDED and `reason`. */
  | { kind: "give_up"; silentMs: number; reason: string };

function msSince(iso: string, now: Date): number {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? now.getTime() - t : Number.POSITIVE_INFINITY;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * Tasks waiting for a result for at least `timeoutMs` since their latest publish: the candidates for
 * `lostTaskVerdict` (the only ones worth looking up in the streams).
 */
export function overdueTasks(run: RunRecord, now: Date, timeoutMs: number): TaskRecord[] {
  return Object.values(run.tasks).filter(
    (t) => t.pending && t.result === undefined && msSince(t.publishedAt, now) >= timeoutMs,
  );
}

/**
 * Whether a published task was lost: it has no result, its message is no longer in LONGSHOT_TASKS
 * (purged or deleted, a stream or consumer recreated, or a worker acknowledged it without publishing
 * a result) and neither its publish nor any event of its job is more recent than the task timeout.
 * A lost task is published again up to `maxRepublishes` times; lost once more, the job gives up.
 *
 * The job's newest event stands in for the task's own progress: while any task of the job reports
 * progress the job is alive, so a lost sibling is found at most one timeout after the job falls
 * silent. Stage results are published before the task is acknowledged, so a finished task whose
 * result waits in LONGSHOT_RESULTS has its last events (its final `step_progress`, and the
 * `stage_completed` of a keyframe or decode task) as a recent sign of life.
 */
export function lostTaskVerdict(
  task: TaskRecord,
  signs: TaskSignsOfLife,
  now: Date,
  policy: LostTaskPolicy,
): LostTaskVerdict {
  if (!task.pending || task.result !== undefined || signs.inStream) return { kind: "alive" };
  const sincePublish = msSince(task.publishedAt, now);
  const sinceEvent =
    signs.lastEventAt === undefined ? Number.POSITIVE_INFINITY : now.getTime() - signs.lastEventAt.getTime();
  const silentMs = Math.min(sincePublish, sinceEvent);
  if (silentMs < policy.timeoutMs) return { kind: "alive" };
  const used = task.republished ?? 0;
  if (used < policy.maxRepublishes) return { kind: "republish", silentMs };
  const lost = used === 0 ? "was lost" : `was lost ${used + 1} times`;
  return {
    kind: "give_up",
    silentMs,
    reason:
      `${task.stage} task ${task.taskId} ${lost} (attempt ${task.attempt}): ` +
      `its message left the work queue without a result and the job showed no sign of life for the task timeout ` +
      `(${seconds(policy.timeoutMs)}; the last copy was silent for ${seconds(silentMs)}); ` +
      `gave up after ${used} re-publish${used === 1 ? "" : "es"}`,
  };
}

/**
 * Marks a lost task for publishing again (`drive` publishes it with the next attempt) and counts the
 * re-publish; undefined when the task changed since it was judged lost at `attempt` (a result came,
 * or another replica re-published it already), so two replicas never both count one loss.
 */
export function withLostTaskRepublish(run: RunRecord, taskId: string, attempt: number): RunRecord | undefined {
  const t = run.tasks[taskId];
  if (t === undefined || !t.pending || t.result !== undefined || t.attempt !== attempt) return undefined;
  const next = cloneRun(run);
  next.tasks[taskId] = { ...t, pending: false, republished: (t.republished ?? 0) + 1 };
  return next;
}
