/**
 * A corrupted input reported by a stage worker (a task dead-lettered with DATA_LOSS: an input failed its
 * hash check): `handleCorruptionReport` finds which input is bad now, sends its producer around once
 * more (the keyframe task, or the stitch of the previous level) and marks the task for publishing
 * again; `drive` then runs what was reset. A second corruption of the same object fails the job with
 * DATA_LOSS. `taskInputs` is also what makes a result stale: one whose inputs are being produced again.
 */
import { stageOf } from "@longshot/bus";
import { Stage } from "@longshot/proto";
import { type DriveEffects, rerunReason } from "./drive.js";
import { keyframesKey, keyframeTaskId, levelKey, textKey } from "./plan.js";
import {
  type RunRecord,
  type StoredRef,
  type TaskRecord,
  takeRerun,
  withLevelReset,
  withTaskReset,
} from "./run-record.js";

/** One input of a task: its ref as the run has it now, its key, and who produces it. */
interface TaskInput {
  ref: StoredRef | undefined;
  key: string;
  /** The keyframe task, or the stitch of a level. */
  producer: { task: string } | { level: number };
}

/** The inputs of a task, from the run's current state. */
export function taskInputs(run: RunRecord, task: TaskRecord): TaskInput[] {
  const jobId = run.jobId;
  const kfId = keyframeTaskId(jobId);
  const kf = run.tasks[kfId]?.result;
  if (task.stage === "keyframe") return [];
  if (task.stage === "interpolation") {
    const L = task.level;
    const latents =
      L === 1
        ? { ref: kf?.latents, key: keyframesKey(jobId), producer: { task: kfId } }
        : { ref: run.levels[String(L - 1)], key: levelKey(jobId, L - 1), producer: { level: L - 1 } };
    return [latents, { ref: kf?.text, key: textKey(jobId), producer: { task: kfId } }];
  }
  const last = run.plan.interpolation.length;
  return [{ ref: run.levels[String(last)], key: levelKey(jobId, last), producer: { level: last } }];
}

export type CorruptionOutcome =
  | { kind: "stale"; run: RunRecord; why: string }
  | { kind: "rerun"; run: RunRecord; keys: string[] }
  | { kind: "failed"; run: RunRecord; code: "DATA_LOSS"; reason: string; stage: Stage };

/**
 * A stage worker dead-lettered `taskId` (base id) with DATA_LOSS: an input failed its hash check.
 * Finds which input is bad now (`effects.verify`), sends its producer around once more and marks
 * the task for publishing again (the caller then runs `drive`). `streamSeq` is the dead-lettered
 * message's sequence in LONGSHOT_TASKS: a report about an older copy of the task is stale.
 */
export async function handleCorruptionReport(
  run: RunRecord,
  taskId: string,
  streamSeq: number,
  reason: string,
  effects: Pick<DriveEffects, "verify">,
): Promise<CorruptionOutcome> {
  const task = run.tasks[taskId];
  if (task === undefined) return { kind: "stale", run, why: `task ${taskId} is not in the run record` };
  if (task.result !== undefined) return { kind: "stale", run, why: `task ${taskId} has a result` };
  if (streamSeq > 0 && streamSeq < task.streamSeq) {
    return {
      kind: "stale",
      run,
      why: `the report is about an older copy of ${taskId} (#${streamSeq} < #${task.streamSeq})`,
    };
  }
  const stage = stageOf(task.stage);
  const inputs = taskInputs(run, task);
  if (inputs.some((i) => i.ref === undefined)) {
    return { kind: "stale", run, why: `an input of ${taskId} is being produced again already` };
  }
  const bad: TaskInput[] = [];
  for (const i of inputs) if (!(await effects.verify(i.ref as StoredRef))) bad.push(i);
  let next = run;
  if (bad.length === 0) {
    // Every input checks out now: run the task itself once more.
    const taken = takeRerun(next, `task:${taskId}`);
    if (!taken.allowed) {
      return {
        kind: "failed",
        run,
        code: "DATA_LOSS",
        reason: `task ${taskId} failed again after a re-run with a data-integrity error although its inputs verify: ${reason}`,
        stage,
      };
    }
    return { kind: "rerun", run: withTaskReset(taken.run, taskId), keys: [] };
  }
  for (const b of bad) {
    const taken = takeRerun(next, b.key);
    const producer = "task" in b.producer ? `task ${b.producer.task}` : `the stitch of level ${b.producer.level}`;
    if (!taken.allowed) {
      return {
        kind: "failed",
        run,
        code: "DATA_LOSS",
        reason: rerunReason(b.key, producer, reason),
        stage: "task" in b.producer ? Stage.STAGE_KEYFRAME : Stage.STAGE_INTERPOLATION,
      };
    }
    next =
      "task" in b.producer ? withTaskReset(taken.run, b.producer.task) : withLevelReset(taken.run, b.producer.level);
  }
  // The dead-lettered task itself is downstream of every reset producer, so it is no longer pending.
  return { kind: "rerun", run: next, keys: bad.map((b) => b.key) };
}
