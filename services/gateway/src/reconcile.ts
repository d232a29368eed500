/**
 * The reconciler's pass (every few seconds, on any gateway replica): settles ended jobs still holding
 * an admission slot, frees the slots of jobs never created, and drives active jobs, which publishes
 * anything a crashed replica recorded nothing for. Then `recoverLostTasks` looks for tasks that were
 * published and recorded but lost afterwards (their message purged or deleted from LONGSHOT_TASKS, a
 * stream or consumer recreated, a worker that acknowledged a task without publishing its result): a
 * task with no result, no message left in LONGSHOT_TASKS and no event of its job for `taskTimeoutMs`
 * is published again with the next attempt id (a new `Nats-Msg-Id`, so JetStream's de-duplication does
 * not swallow it), at most `maxTaskRepublishes` times; lost once more, its job fails with
 * DEADLINE_EXCEEDED naming the stage and task. A re-published task is the same task (same output key
 * and fingerprint, so a stage reuses an output the lost copy left), and whichever result comes first
 * is recorded: the other is a duplicate and changes nothing.
 */
import {
  EVENTS_STREAM,
  eventSubject,
  HEADER_TASK_ID,
  isTerminalState,
  stageOf,
  TASKS_STREAM,
  toBusError,
} from "@longshot/bus";
import { isTransient } from "@longshot/core";
import { StageTask } from "@longshot/proto";
import type { StoredMsg } from "@nats-io/jetstream";
import { type DriveOutcome, drive } from "./drive.js";
import { DEFAULT_TASK_TIMEOUT_MS, type JobLifecycle } from "./lifecycle.js";
import { parseTaskId } from "./plan.js";
import {
  type LostTaskPolicy,
  lostTaskVerdict,
  MAX_LOST_TASK_REPUBLISHES,
  overdueTasks,
  type TaskRecord,
  withLostTaskRepublish,
} from "./run-record.js";

/** One pass over the admission slots (see the module comment). Errors of one job do not stop the pass. */
export async function reconcile(lc: JobLifecycle): Promise<void> {
  const orphanMs = lc.o.orphanSlotMs ?? 60_000;
  for (const { slot, jobId, created } of await lc.o.runs.slotHolders()) {
    try {
      const stored = await lc.o.jobs.find(jobId);
      if (stored === undefined) {
        if (lc.clock.now() - created.getTime() > orphanMs) {
          await lc.o.runs.releaseSlot(slot, jobId);
          lc.log.warn({ slot, jobId }, "freed the admission slot of a job that was never created");
        }
        continue;
      }
      if (isTerminalState(stored.job.state)) {
        await lc.settle(jobId);
        // A slot this job still holds besides the one its record names (two requests with one
        // idempotency key racing) is freed here too.
        await lc.o.runs.releaseSlot(slot, jobId);
      } else {
        await lc.advance(jobId);
        await recoverLostTasks(lc, jobId);
      }
    } catch (err) {
      (isTransient(err) ? lc.log.debug : lc.log.warn).call(lc.log, { err, jobId }, "reconcile: job skipped");
    }
  }
}

/**
 * Publishes again the tasks of an active job that were lost after they were published, or fails the
 * job with DEADLINE_EXCEEDED once a task was lost more often than allowed (see the module comment
 * and `lostTaskVerdict`). Only tasks silent for the task timeout since their publish are looked up
 * in the streams. Errors (NATS unreachable) are thrown: nothing is re-published on a guess.
 */
export async function recoverLostTasks(lc: JobLifecycle, jobId: string): Promise<void> {
  const policy: LostTaskPolicy = {
    timeoutMs: lc.o.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS,
    maxRepublishes: lc.o.maxTaskRepublishes ?? MAX_LOST_TASK_REPUBLISHES,
  };
  const found = await lc.o.runs.find(jobId);
  if (found === undefined) return;
  const overdue = overdueTasks(found.run, lc.effects.now(), policy.timeoutMs);
  if (overdue.length === 0) return;
  const lastEventAt = await lastEventTime(lc, jobId);
  for (const task of overdue) {
    const inStream = await inTaskStream(lc, jobId, task);
    const verdict = lostTaskVerdict(task, { inStream, lastEventAt }, lc.effects.now(), policy);
    if (verdict.kind === "alive") continue;
    const log = lc.log.child({ jobId, taskId: task.taskId, attempt: task.attempt, silentMs: verdict.silentMs });
    if (verdict.kind === "give_up") {
      const latest = (await lc.o.runs.find(jobId))?.run.tasks[task.taskId];
      if (latest?.attempt !== task.attempt || latest.result !== undefined || !latest.pending) continue; // it moved on
      log.error({ reason: verdict.reason }, "task lost too often; failing the job");
      await lc.fail(jobId, "DEADLINE_EXCEEDED", verdict.reason, stageOf(task.stage));
      return;
    }
    const stored = await lc.o.jobs.find(jobId);
    if (stored === undefined || isTerminalState(stored.job.state)) return;
    const { value: outcome } = await lc.o.runs.update<DriveOutcome | undefined>(jobId, async (run) => {
      const marked = withLostTaskRepublish(run, task.taskId, task.attempt);
      if (marked === undefined) return { next: null, value: undefined }; // a result came, or another replica re-published it
      const out = await drive(marked, stored.job, lc.effects);
      // drive publishes the marked task unless the job cannot go on (then the failure is recorded).
      if (out.kind !== "failed" && (out.run.tasks[task.taskId]?.attempt ?? 0) <= task.attempt) {
        return { next: null, value: undefined };
      }
      return { next: out.run, value: out };
    });
    if (outcome === undefined) continue;
    const again = outcome.run.tasks[task.taskId];
    if (outcome.kind !== "failed") {
      log.warn(
        { newAttempt: again?.attempt, republished: again?.republished, timeoutMs: policy.timeoutMs },
        "task lost after it was published (no result, not in the work queue, no job event): published again",
      );
    }
    await lc.afterDrive(jobId, outcome);
  }
}

/** When the newest event of a job was stored; undefined when it has none. */
async function lastEventTime(lc: JobLifecycle, jobId: string): Promise<Date | undefined> {
  try {
    const last = await lc.o.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: eventSubject(jobId) });
    return last?.time;
  } catch (err) {
    throw toBusError(err, `last event of job ${jobId}`);
  }
}

/** Whether the latest published copy of `task` is still in LONGSHOT_TASKS (queued, in flight or to be redelivered). */
async function inTaskStream(lc: JobLifecycle, jobId: string, task: TaskRecord): Promise<boolean> {
  let sm: StoredMsg | null;
  try {
    sm = await lc.o.jsm.streams.getMessage(TASKS_STREAM, { seq: task.streamSeq });
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
