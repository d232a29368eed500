/**
 * `drive`: given a job's run record, does the next thing the job needs and returns the changed
 * record. It is the one place that decides what runs when:
 *
 * 1. no keyframe result → publish the keyframe task (unless it is in flight);
 * 2. for each interpolation level in order: stitched → go on; every window has a result → stitch
 *    the windows (`effects.stitch`: blendWindows, write `interp<L>.safetensors`), report the level's
 *    `stage_completed` → go on; otherwise publish the windows that are neither done nor in flight
 *    (the first time, after reporting the level's `stage_started` with its window count), and wait;
 * 3. every level stitched: no decode result → publish the decode task (unless in flight), and wait;
 *    decode result → done.
 *
 * Side effects (publishing, writing the stitched level) happen before the caller's compare-and-set
 * of the returned record; they are deterministic (same task ids, same object keys, same event
 * message ids), so when the compare-and-set loses and `drive` runs again, repeating them is harmless
 * (JetStream drops a re-published task or event with the same `Nats-Msg-Id`; the stitched object is
 * overwritten with the same bytes).
 *
 * Level events: an interpolation level is one stage of the job however many window tasks it has, and
 * only here is the whole level seen, so `drive` reports its `stage_started` (total_tasks = the window
 * count) before it publishes the level's first windows, and its `stage_completed` after the stitch.
 * The record remembers each one reported (`stageEvents`), so a level reports one pair even when
 * windows or the level are run again; the window tasks report only step_progress.
 *
 * A corrupted object met while stitching (a window's output, or the level's input) sends its
 * producer around once more (`takeRerun`): the window task, the keyframe task or the previous
 * level's stitch; a second corruption of the same object fails the job with DATA_LOSS.
 * `handleCorruptionReport` (corruption.ts) does the same for a stage worker that dead-lettered a task
 * because an input failed its hash check.
 */
import { IntegrityError } from "@longshot/core";
import {
  durationFromMs,
  type Job,
  type JobEvent,
  Mode,
  type OutputFormat,
  Stage,
  type StageTask,
} from "@longshot/proto";
import {
  attemptTaskId,
  decodeStageTask,
  decodeTaskId,
  type JobTaskFields,
  keyframesKey,
  keyframeTask,
  keyframeTaskId,
  levelKey,
  type PlanLevel,
  type PlanWindow,
  windowKey,
  windowTask,
  windowTaskId,
} from "./plan.js";
import {
  latentRef,
  nextAttempt,
  type RunRecord,
  type StoredRef,
  type TaskRecord,
  takeRerun,
  withLevelReset,
  withPublished,
  withTaskReset,
} from "./run-record.js";

/** An object that failed its hash check (or is missing) where a stored ref says it should be. */
export class CorruptObjectError extends IntegrityError {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CorruptObjectError";
    this.key = key;
  }
}

export interface StitchInput {
  jobId: string;
  level: PlanLevel;
  /** The level's window results, in window order. */
  windows: Array<{ window: PlanWindow; ref: StoredRef; key: string }>;
  /** The level's input latents (keyframes or the previous level), for pinned mode. */
  input: StoredRef;
  inputKey: string;
  mode: "pinned" | "seed";
  factor: number;
}

export interface DriveEffects {
  /** Publishes a task; returns its sequence in LONGSHOT_TASKS. */
  publish(task: StageTask): Promise<number>;
  /** Stitches a level and stores it under `levelKey`; throws CorruptObjectError naming a bad input object. */
  stitch(input: StitchInput): Promise<StoredRef>;
  /** Whether the object a ref names exists and has the ref's SHA-256 and size. */
  verify(ref: StoredRef): Promise<boolean>;
  /**
   * Publishes an event of the job with `msgId` as its `Nats-Msg-Id` (a repeat within JetStream's
   * duplicate window is dropped). Throws when it cannot: the caller tries again later.
   */
  event(jobId: string, event: NonNullable<JobEvent["event"]>, msgId: string): Promise<void>;
  now(): Date;
}

export type DriveOutcome =
  | { kind: "waiting"; run: RunRecord }
  | { kind: "done"; run: RunRecord; decode: TaskRecord }
  | { kind: "failed"; run: RunRecord; code: "DATA_LOSS" | "INTERNAL"; reason: string; stage: Stage };

function modeName(mode: Mode): "pinned" | "seed" {
  return mode === Mode.MODE_SEED ? "seed" : "pinned";
}

export function jobTaskFieldsOf(run: RunRecord, job: Job): JobTaskFields {
  if (job.request === undefined) throw new IntegrityError(`job ${job.id} has no request`);
  return {
    jobId: run.jobId,
    request: job.request,
    packName: run.pack.name,
    packVersion: run.pack.version,
    traceContext: run.traceContext,
    keyframes: run.plan.levels[0] as number,
  };
}

async function publishTask(
  run: RunRecord,
  record: Omit<TaskRecord, "attempt" | "streamSeq" | "publishedAt" | "result" | "pending">,
  task: StageTask,
  effects: DriveEffects,
): Promise<RunRecord> {
  const attempt = nextAttempt(run, record.taskId);
  const seq = await effects.publish({ ...task, taskId: attemptTaskId(record.taskId, attempt) });
  return withPublished(run, record, attempt, seq, effects.now());
}

/** The `stageEvents` name of a level's event. */
export function levelEventName(level: number, kind: "started" | "completed"): string {
  return `interp${level}:${kind}`;
}

/** The `Nats-Msg-Id` of a level's event. */
export function levelEventMsgId(jobId: string, level: number, kind: "started" | "completed"): string {
  return `event:${jobId}:interp${level}:${kind}`;
}

/**
 * Reports a level's stage_started or stage_completed unless the record says it was reported; returns
 * the record with the report noted. A level's duration runs from its stage_started (else from its
 * first window's publish) to now.
 */
async function reportLevel(
  run: RunRecord,
  lvl: PlanLevel,
  kind: "started" | "completed",
  effects: DriveEffects,
): Promise<RunRecord> {
  const name = levelEventName(lvl.level, kind);
  if (run.stageEvents?.[name] !== undefined) return run;
  const now = effects.now();
  let event: NonNullable<JobEvent["event"]>;
  if (kind === "started") {
    event = {
      $case: "stageStarted",
      value: { stage: Stage.STAGE_INTERPOLATION, level: lvl.level, totalTasks: lvl.windows.length },
    };
  } else {
    const since =
      run.stageEvents?.[levelEventName(lvl.level, "started")] ??
      lvl.windows
        .map((w) => run.tasks[windowTaskId(run.jobId, lvl.level, w)]?.publishedAt)
        .filter((t): t is string => t !== undefined)
        .sort()[0];
    const ms = since === undefined ? 0 : Math.max(0, now.getTime() - Date.parse(since));
    event = {
      $case: "stageCompleted",
      value: { stage: Stage.STAGE_INTERPOLATION, level: lvl.level, duration: durationFromMs(ms) },
    };
  }
  await effects.event(run.jobId, event, levelEventMsgId(run.jobId, lvl.level, kind));
  return { ...run, stageEvents: { ...run.stageEvents, [name]: now.toISOString() } };
}

/** Why a job fails when an object is corrupted again after its producer ran once more. */
export function rerunReason(key: string, producer: string, detail: string): string {
  return `object ${key} failed its SHA-256 check again after its producer (${producer}) was re-run once: ${detail}`;
}

/** See the module comment. `job` supplies the resolved request. */
export async function drive(start: RunRecord, job: Job, effects: DriveEffects, depth = 0): Promise<DriveOutcome> {
  if (depth > 8) throw new IntegrityError(`job ${start.jobId}: drive did not settle (too many rewinds)`);
  let run = start;
  const jobId = run.jobId;
  const ctx = jobTaskFieldsOf(run, job);
  const kfId = keyframeTaskId(jobId);
  const kf = run.tasks[kfId];
  if (kf?.result === undefined) {
    if (kf?.pending !== true) {
      run = await publishTask(run, { taskId: kfId, stage: "keyframe", level: 0 }, keyframeTask(ctx), effects);
    }
    return { kind: "waiting", run };
  }
  const text = kf.result.text;
  let input = kf.result.latents;
  if (text === undefined || input === undefined) {
    return {
      kind: "failed",
      run,
      code: "INTERNAL",
      reason: `keyframe result of job ${jobId} lacks ${text === undefined ? "text embeddings" : "latents"}`,
      stage: Stage.STAGE_KEYFRAME,
    };
  }
  let inputKey = keyframesKey(jobId);
  const mode = modeName(job.request?.mode ?? Mode.MODE_PINNED);

  for (const lvl of run.plan.interpolation) {
    const stitched = run.levels[String(lvl.level)];
    if (stitched !== undefined) {
      input = stitched;
      inputKey = levelKey(jobId, lvl.level);
      continue;
    }
    const ids = lvl.windows.map((w) => windowTaskId(jobId, lvl.level, w));
    const done = ids.map((id) => run.tasks[id]?.result?.latents);
    if (done.every((r) => r !== undefined)) {
      try {
        const ref = await effects.stitch({
          jobId,
          level: lvl,
          windows: lvl.windows.map((w, i) => ({
            window: w,
            ref: done[i] as StoredRef,
            key: windowKey(jobId, lvl.level, w),
          })),
          input,
          inputKey,
          mode,
          factor: run.plan.factor,
        });
        run = structuredClone(run);
        run.levels[String(lvl.level)] = ref;
        run = await reportLevel(run, lvl, "completed", effects);
        input = ref;
        inputKey = levelKey(jobId, lvl.level);
        continue;
      } catch (err) {
        if (!(err instanceof CorruptObjectError)) throw err;
        const windowIndex = lvl.windows.findIndex((w) => windowKey(jobId, lvl.level, w) === err.key);
        if (windowIndex >= 0) {
          const id = ids[windowIndex] as string;
          const taken = takeRerun(run, err.key);
          if (!taken.allowed) {
            return {
              kind: "failed",
              run,
              code: "DATA_LOSS",
              reason: rerunReason(err.key, `task ${id}`, err.message),
              stage: Stage.STAGE_INTERPOLATION,
            };
          }
          run = withTaskReset(taken.run, id);
          // fall through: the window is published again below
        } else if (err.key === inputKey) {
          const taken = takeRerun(run, err.key);
          const producer = lvl.level === 1 ? `task ${kfId}` : `the stitch of level ${lvl.level - 1}`;
          if (!taken.allowed) {
            return {
              kind: "failed",
              run,
              code: "DATA_LOSS",
              reason: rerunReason(err.key, producer, err.message),
              stage: lvl.level === 1 ? Stage.STAGE_KEYFRAME : Stage.STAGE_INTERPOLATION,
            };
          }
          run = lvl.level === 1 ? withTaskReset(taken.run, kfId) : withLevelReset(taken.run, lvl.level - 1);
          return drive(run, job, effects, depth + 1);
        } else {
          throw err;
        }
      }
    }
    // The level starts: its stage_started goes before any of its windows (a record from before level
    // events, with windows published already, reports none).
    if (ids.every((id) => run.tasks[id] === undefined)) run = await reportLevel(run, lvl, "started", effects);
    for (let i = 0; i < lvl.windows.length; i++) {
      const id = ids[i] as string;
      const t = run.tasks[id];
      if (t?.result !== undefined || t?.pending === true) continue;
      const w = lvl.windows[i] as PlanWindow;
      run = await publishTask(
        run,
        { taskId: id, stage: "interpolation", level: lvl.level, window: { start: w.start, end: w.end } },
        windowTask(ctx, run.plan, lvl, w, latentRef(input), latentRef(text)),
        effects,
      );
    }
    return { kind: "waiting", run };
  }

  const decId = decodeTaskId(jobId);
  const dec = run.tasks[decId];
  if (dec?.result !== undefined) return { kind: "done", run, decode: dec };
  if (dec?.pending !== true) {
    const frames = run.plan.levels[run.plan.levels.length - 1] as number;
    const formats: OutputFormat[] = job.request?.outputFormats ?? [];
    run = await publishTask(
      run,
      { taskId: decId, stage: "decode", level: 0 },
      decodeStageTask(ctx, latentRef(input), frames, formats),
      effects,
    );
  }
  return { kind: "waiting", run };
}
