/** A remote job's events as the progress display's events (the same display as an in-process run). */
import type { ProgressEvent } from "@longshot/engine";
import { type Job, type JobEvent, Stage } from "@longshot/proto";

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
