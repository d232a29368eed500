/**
 * `Job.stages`: one entry per stage (keyframe, each interpolation level, decode), created when the
 * job is and recomputed from the run record whenever it changes, so the numbers are what the run
 * record says (results in, levels stitched) however often a result is redelivered.
 */

import type { JobStore } from "@longshot/bus";
import { NotFoundError } from "@longshot/core";
import { plannedStages } from "@longshot/http-api";
import {
  type GenerateRequest,
  type Job,
  type JobEvent,
  JobState,
  Stage,
  type StageProgress,
  StageState,
} from "@longshot/proto";
import { decodeTaskId, type JobPlan, keyframeTaskId, windowTaskId } from "./plan.js";
import type { RunRecord, TaskRecord } from "./run-record.js";

/** The stages of a new job, all PENDING, with their planned steps and tasks. */
export function initialStages(plan: JobPlan, request: GenerateRequest): StageProgress[] {
  return plannedStages(
    request,
    plan.interpolation.map((lvl) => lvl.windows.length),
    plan.levels[plan.levels.length - 1] as number,
  );
}

function earliest(tasks: TaskRecord[], pick: (t: TaskRecord) => string | undefined): Date | undefined {
  let best: number | undefined;
  for (const t of tasks) {
    const v = pick(t);
    if (v === undefined || v === "") continue;
    const ms = Date.parse(v);
    if (Number.isFinite(ms) && (best === undefined || ms < best)) best = ms;
  }
  return best === undefined ? undefined : new Date(best);
}

function latest(tasks: TaskRecord[], pick: (t: TaskRecord) => string | undefined): Date | undefined {
  let best: number | undefined;
  for (const t of tasks) {
    const v = pick(t);
    if (v === undefined || v === "") continue;
    const ms = Date.parse(v);
    if (Number.isFinite(ms) && (best === undefined || ms > best)) best = ms;
  }
  return best === undefined ? undefined : new Date(best);
}

/** The stage entries of `job` brought up to date with `run`. */
export function progressStages(run: RunRecord, job: Job): StageProgress[] {
  const jobId = run.jobId;
  const entries = job.stages.length > 0 ? job.stages : initialStages(run.plan, job.request ?? ({} as GenerateRequest));
  return entries.map((entry) => {
    let tasks: TaskRecord[];
    let complete: boolean;
    if (entry.stage === Stage.STAGE_KEYFRAME) {
      const t = run.tasks[keyframeTaskId(jobId)];
      tasks = t === undefined ? [] : [t];
      complete = t?.result !== undefined;
    } else if (entry.stage === Stage.STAGE_INTERPOLATION) {
      const lvl = run.plan.interpolation[entry.level - 1];
      tasks = (lvl?.windows ?? [])
        .map((w) => run.tasks[windowTaskId(jobId, entry.level, w)])
        .filter((t): t is TaskRecord => t !== undefined);
      complete = run.levels[String(entry.level)] !== undefined;
    } else {
      const t = run.tasks[decodeTaskId(jobId)];
      tasks = t === undefined ? [] : [t];
      complete = t?.result !== undefined;
    }
    const withResult = tasks.filter((t) => t.result !== undefined);
    const stepsPerTask = entry.totalTasks > 0 ? entry.totalSteps / entry.totalTasks : 0;
    const state = complete
      ? StageState.STAGE_STATE_COMPLETED
      : tasks.length > 0
        ? StageState.STAGE_STATE_RUNNING
        : entry.state === StageState.STAGE_STATE_RUNNING
          ? StageState.STAGE_STATE_RUNNING
          : StageState.STAGE_STATE_PENDING;
    return {
      ...entry,
      state,
      completedTasks: complete ? entry.totalTasks : withResult.length,
      completedSteps: complete ? entry.totalSteps : Math.round(withResult.length * stepsPerTask),
      startTime: entry.startTime ?? earliest(tasks, (t) => t.result?.startTime || t.publishedAt),
      endTime: complete ? (latest(withResult, (t) => t.result?.receivedAt) ?? entry.endTime) : undefined,
    };
  });
}

/**
 * A job event seen on the event stream (the gateway's progress listener): the keyframe stage starting
 * makes a queued job RUNNING, with the stage's start time.
 */
export async function onJobEvent(jobs: JobStore, event: JobEvent): Promise<void> {
  if (event.event?.$case !== "stageStarted" || event.event.value.stage !== Stage.STAGE_KEYFRAME) return;
  const started = event.time ?? new Date();
  await jobs
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
