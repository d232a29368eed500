/**
 * The coordinator's answer to one stage result (durable consumer `coordinator` on LONGSHOT_RESULTS):
 * check it against the plan and the task (result-check.ts), record it in the run record and `drive`
 * the job, all in one compare-and-set. A duplicate result (the task has one) or a stale one (its inputs
 * are being produced again) changes nothing; a result of an ended job has its objects removed; a result
 * that does not answer its task fails the job.
 */
import { isTerminalState } from "@longshot/bus";
import { type Logger, UnavailableError } from "@longshot/core";
import { type Job, JobState, type StageResult } from "@longshot/proto";
import { taskInputs } from "./corruption.js";
import { type DriveOutcome, drive } from "./drive.js";
import type { JobLifecycle } from "./lifecycle.js";
import { jobPrefix, type ParsedTaskId, parseTaskId } from "./plan.js";
import { checkResult, InvalidResultError } from "./result-check.js";
import { cloneRun, type RunRecord } from "./run-record.js";

/** What recording a result came to. */
type Recorded =
  | { kind: "drove"; outcome: DriveOutcome }
  | { kind: "invalid"; reason: string }
  | { kind: "ignored"; why: string };

function inPlan(run: RunRecord, parsed: ParsedTaskId): boolean {
  if (parsed.stage !== "interpolation") return true;
  const lvl = run.plan.interpolation[parsed.level - 1];
  return lvl?.windows.some((w) => w.start === parsed.window.start && w.end === parsed.window.end) ?? false;
}

/** Handles one stage result (see the module comment); throws transient errors (the result is retried). */
export async function handleResult(lc: JobLifecycle, result: StageResult, logger: Logger): Promise<void> {
  const jobId = result.jobId;
  const log = logger.child({ jobId, taskId: result.taskId });
  const stored = await lc.o.jobs.find(jobId);
  if (stored === undefined) {
    log.warn("result of an unknown job; dropped");
    return;
  }
  if (isTerminalState(stored.job.state)) {
    await removeLateObjects(lc, stored.job, result, log);
    await lc.settle(jobId);
    return;
  }
  const parsed = parseTaskId(jobId, result.taskId);
  if (parsed === undefined) {
    const reason = `a stage reported a result for task ${JSON.stringify(result.taskId)}, which is not a task of this job`;
    await lc.fail(jobId, "INTERNAL", reason, result.stage);
    return;
  }
  const { value: recorded } = await lc.o.runs.update<Recorded>(jobId, async (run) => {
    const task = run.tasks[parsed.baseId];
    if (!inPlan(run, parsed)) {
      const reason = `a stage reported a result for task ${result.taskId}, which is not in the job's plan`;
      return { next: null, value: { kind: "invalid", reason } };
    }
    if (task === undefined) {
      throw new UnavailableError(`result of ${result.taskId} arrived before its publish was recorded; retrying`);
    }
    if (task.result !== undefined) {
      return { next: null, value: { kind: "ignored", why: "duplicate result (the task already has one)" } };
    }
    if (taskInputs(run, task).some((i) => i.ref === undefined)) {
      return { next: null, value: { kind: "ignored", why: "stale result (its inputs are being produced again)" } };
    }
    let rec: ReturnType<typeof checkResult>;
    try {
      rec = checkResult(lc.o.store, lc.o.packShape(run.pack.name), run, stored.job, task, result);
    } catch (err) {
      if (!(err instanceof InvalidResultError)) throw err;
      return { next: null, value: { kind: "invalid", reason: err.message } };
    }
    const next = cloneRun(run);
    next.tasks[task.taskId] = { ...task, pending: false, result: rec };
    const outcome = await drive(next, stored.job, lc.effects);
    return { next: outcome.run, value: { kind: "drove", outcome } };
  });
  if (recorded.kind === "invalid") {
    await lc.fail(jobId, "INTERNAL", recorded.reason, result.stage);
  } else if (recorded.kind === "ignored") {
    log.info({ why: recorded.why }, "result changes nothing");
  } else {
    await lc.afterDrive(jobId, recorded.outcome);
  }
}

/** A result of a job that has ended: its objects are not wanted (a succeeded job keeps its video files). */
async function removeLateObjects(lc: JobLifecycle, job: Job, result: StageResult, log: Logger): Promise<void> {
  const keep = new Set(job.state === JobState.JOB_STATE_SUCCEEDED ? job.artifacts.map((a) => a.uri) : []);
  const uris = [result.latents?.uri, result.textEmbeddings?.uri, ...result.artifacts.map((a) => a.uri)].filter(
    (u): u is string => typeof u === "string" && u !== "" && !keep.has(u),
  );
  const prefix = jobPrefix(job.id);
  for (const uri of uris) {
    let key: string;
    try {
      key = lc.o.store.keyOf(uri);
    } catch {
      continue;
    }
    if (key.startsWith(prefix)) await lc.o.store.delete(key);
  }
  log.info({ state: JobState[job.state], removed: uris.length }, "result of an ended job; its objects removed");
}
