/**
 * `runStageWorker`: the JetStream side of a stage service, on top of `runWorker`. The service's
 * handler turns a task into a `StageResult`; around it this module
 *
 * - publishes the job events of the task (`longshot.events.<jobId>`): `stage_started` when the task
 *   starts, `step_progress` while it runs (throttled: at most one per `progressIntervalMs`, the
 *   latest step wins, the last one is always sent), `stage_completed` when it is done. Events are
 *   progress reports: a failure to publish one is logged, never fails the task. `stage_started`
 *   and `stage_completed` carry a `Nats-Msg-Id` derived from the task id, so a task that runs again
 *   within the duplicate window does not report them twice. An interpolation task publishes only
 *   `step_progress` (see below);
 * - publishes the result (`publishResult`) after `stage_completed`; a failure to publish it is a
 *   failure of the task (retried: the handler finds its outputs in place and reports them again);
 * - fills in the result's worker id and checks that the result answers the task.
 *
 * Events of an interpolation task: a level is one stage however many windows (tasks) it is split
 * into, with one `stage_started` / `stage_completed` pair, and only the gateway sees the whole
 * level (it plans the windows and stitches them), so it publishes that pair. The window task
 * publishes its `step_progress` events, each carrying its window: frames, index and the level's
 * window count (from the task's `window_index` / `window_count`).
 */
import { type Logger, LongshotError } from "@longshot/core";
import { durationFromMs, type JobEvent, Stage, type StageResult, type StageTask } from "@longshot/proto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { publishEvent } from "./events.js";
import { isTerminalState } from "./job-state.js";
import type { JobStore } from "./job-store.js";
import { stageNameOf } from "./names.js";
import { publishResult } from "./results.js";
import { runWorker, type TaskContext, type Worker, type WorkerOptions } from "./worker.js";

/** Where a task sits in its stage, for its events. */
export interface TaskPosition {
  stage: Stage;
  /** Interpolation level (1, 2, …); 0 for the other stages. */
  level: number;
  /**
   * Interpolation: output frames [start, end) of the task, its index in the level and the level's window
   * count (0: unknown, a task from a gateway that did not say); undefined for the other stages.
   */
  window: { start: number; end: number; index: number; count: number } | undefined;
  /** Tasks the stage is split into, when known (1 for keyframe and decode and a whole-level pass; 0: unknown). */
  totalTasks: number;
}

/** The position of a task from its params. */
export function taskPosition(task: StageTask): TaskPosition {
  const p = task.params;
  if (p?.$case === "interpolation") {
    const v = p.value;
    const whole = v.windowStart === 0 && v.windowEnd === v.outputFrames;
    const count = v.windowCount > 0 ? v.windowCount : whole ? 1 : 0;
    return {
      stage: Stage.STAGE_INTERPOLATION,
      level: v.level,
      window: { start: v.windowStart, end: v.windowEnd, index: count > 0 ? v.windowIndex : 0, count },
      totalTasks: count,
    };
  }
  return { stage: task.stage, level: 0, window: undefined, totalTasks: 1 };
}

export interface StageTaskContext extends TaskContext {
  /** Reports that `step` of `total` steps (decode: frames) are done; throttled into step_progress events. */
  progress(step: number, total: number): void;
}

/** Turns a task into its result; throw a LongshotError (see runWorker for how each kind is settled). */
export type StageHandler = (task: StageTask, ctx: StageTaskContext) => Promise<StageResult>;

export interface StageWorkerOptions extends Omit<WorkerOptions, "handle" | "isCancelled"> {
  handle: StageHandler;
  /**
   * Checked before a task starts: true terminates it without running. Default with `jobs`: the job's
   * record is in a terminal state (cancelled, failed or succeeded: nobody wants the output any more);
   * a job without a record runs.
   */
  isCancelled?: (task: StageTask) => boolean | Promise<boolean>;
  /** The job store `isCancelled` reads by default. */
  jobs?: JobStore;
  /** Least time between two step_progress events of one task (default 300 ms). */
  progressIntervalMs?: number;
}

/**
 * Publishes step_progress events of one task, at most one per `intervalMs`: the latest report wins,
 * and `flush()` sends the last one not sent yet. Publishing failures are logged once, never thrown.
 */
export class ProgressPublisher {
  readonly #js: JetStreamClient;
  readonly #task: StageTask;
  readonly #position: TaskPosition;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  #latest: { step: number; total: number } | undefined;
  #sentStep = -1;
  #lastSentAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #failed = false;
  /** step_progress events published so far. */
  published = 0;

  constructor(js: JetStreamClient, task: StageTask, position: TaskPosition, intervalMs: number, logger: Logger) {
    this.#js = js;
    this.#task = task;
    this.#position = position;
    this.#intervalMs = intervalMs;
    this.#logger = logger;
  }

  report(step: number, total: number): void {
    this.#latest = { step, total };
    if (this.#timer !== undefined) return;
    const wait = this.#lastSentAt + this.#intervalMs - Date.now();
    if (wait <= 0) this.#send();
    else this.#timer = setTimeout(() => this.#send(), wait);
  }

  /** Sends the latest report if it was not sent, and waits for every publish started so far. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#latest !== undefined && this.#latest.step !== this.#sentStep) this.#send();
    await this.#chain;
  }

  #send(): void {
    this.#timer = undefined;
    const latest = this.#latest;
    if (latest === undefined || latest.step === this.#sentStep) return;
    this.#sentStep = latest.step;
    this.#lastSentAt = Date.now();
    const { stage, level, window } = this.#position;
    const event: JobEvent = {
      sequence: 0n,
      jobId: this.#task.jobId,
      time: new Date(),
      event: {
        $case: "stepProgress",
        value: { stage, level, step: latest.step, total: latest.total, window, taskId: this.#task.taskId },
      },
    };
    this.#chain = this.#chain.then(async () => {
      try {
        await publishEvent(this.#js, this.#task.jobId, event);
        this.published++;
      } catch (err) {
        if (!this.#failed) this.#logger.warn({ err }, "cannot publish step_progress events (progress only)");
        this.#failed = true;
      }
    });
  }
}

async function publishStageEvent(
  js: JetStreamClient,
  task: StageTask,
  event: JobEvent["event"],
  msgId: string,
  logger: Logger,
): Promise<void> {
  try {
    await publishEvent(js, task.jobId, { sequence: 0n, jobId: task.jobId, time: new Date(), event }, { msgId });
  } catch (err) {
    logger.warn({ err, event: event?.$case }, "cannot publish a job event (progress only)");
  }
}

/** `isCancelled` that reads the job's record: true when it is in a terminal state. */
export function jobFinished(jobs: JobStore): (task: StageTask) => Promise<boolean> {
  return async (task) => {
    const stored = await jobs.find(task.jobId);
    return stored !== undefined && isTerminalState(stored.job.state);
  };
}

/** Checks that a handler's result answers `task`; fills in worker id and window. Throws LongshotError (INTERNAL). */
export function completeResult(task: StageTask, result: StageResult, workerId: string): StageResult {
  const mismatch =
    result.jobId !== task.jobId
      ? "job_id"
      : result.taskId !== task.taskId
        ? "task_id"
        : result.stage !== task.stage
          ? "stage"
          : undefined;
  if (mismatch !== undefined) {
    throw new LongshotError(`stage handler returned a result whose ${mismatch} does not match task ${task.taskId}`, {
      code: "INTERNAL",
    });
  }
  const position = taskPosition(task);
  return {
    ...result,
    workerId: result.workerId === "" ? workerId : result.workerId,
    windowStart: position.window?.start ?? result.windowStart,
    windowEnd: position.window?.end ?? result.windowEnd,
  };
}

/** Starts `runWorker` with the stage protocol around `handle` (see the module comment). */
export async function runStageWorker(options: StageWorkerOptions): Promise<Worker> {
  const { handle, jobs, progressIntervalMs = 300, isCancelled, ...rest } = options;
  if (!Number.isInteger(progressIntervalMs) || progressIntervalMs < 0) {
    throw new LongshotError(`runStageWorker: progressIntervalMs must be an integer >= 0, got ${progressIntervalMs}`, {
      code: "INVALID_ARGUMENT",
    });
  }
  const js = options.js;
  const check = isCancelled ?? (jobs === undefined ? undefined : jobFinished(jobs));
  return runWorker({
    ...rest,
    ...(check === undefined ? {} : { isCancelled: check }),
    handle: async (task, ctx) => {
      const position = taskPosition(task);
      const started = Date.now();
      // An interpolation level's stage_started / stage_completed are the gateway's (module comment).
      const stageEvents = position.stage !== Stage.STAGE_INTERPOLATION;
      if (stageEvents) {
        await publishStageEvent(
          js,
          task,
          {
            $case: "stageStarted",
            value: { stage: position.stage, level: position.level, totalTasks: position.totalTasks },
          },
          `event:${task.taskId}:started`,
          ctx.logger,
        );
      }
      const progress = new ProgressPublisher(js, task, position, progressIntervalMs, ctx.logger);
      let result: StageResult;
      try {
        result = await handle(task, { ...ctx, progress: (step, total) => progress.report(step, total) });
      } finally {
        await progress.flush();
      }
      const complete = completeResult(task, result, ctx.workerId);
      if (stageEvents) {
        await publishStageEvent(
          js,
          task,
          {
            $case: "stageCompleted",
            value: {
              stage: position.stage,
              level: position.level,
              duration: durationFromMs(Date.now() - started),
            },
          },
          `event:${task.taskId}:completed`,
          ctx.logger,
        );
      }
      await publishResult(js, complete);
      ctx.logger.info(
        { outputs: outputKeysOf(complete), ms: Date.now() - started },
        `${stageNameOf(task.stage) ?? "stage"} task done; result published`,
      );
    },
  });
}

function outputKeysOf(result: StageResult): string[] {
  return [result.latents?.uri, result.textEmbeddings?.uri, ...result.artifacts.map((a) => a.uri)].filter(
    (u): u is string => typeof u === "string" && u !== "",
  );
}
