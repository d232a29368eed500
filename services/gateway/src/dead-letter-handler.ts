/**
 * The coordinator's answer to one dead-letter record (durable consumer `gateway` on LONGSHOT_DLQ): a
 * task (or a result) that failed for good fails its job with the record's code and reason; a DATA_LOSS
 * (a stage found a corrupted input) sends the input's producer around once more instead (see drive.ts).
 * The record of a task copy that was superseded (the task has a result, or was published again
 * after it) changes nothing.
 */
import { type DeadLetterRecord, isTerminalState, RESULTS_DLQ_STAGE, STAGES, stageOf } from "@longshot/bus";
import type { Logger } from "@longshot/core";
import { type Job, Stage } from "@longshot/proto";
import { type CorruptionOutcome, handleCorruptionReport } from "./corruption.js";
import { type DriveOutcome, drive } from "./drive.js";
import type { JobLifecycle } from "./lifecycle.js";
import { type ParsedTaskId, parseTaskId } from "./plan.js";

function stageOfRecord(stage: string): Stage {
  const name = STAGES.find((s) => s === stage);
  return name === undefined ? Stage.STAGE_UNSPECIFIED : stageOf(name);
}

/** Handles one DLQ record (see the module comment). Throws transient errors (the record is retried). */
export async function handleDeadLetter(lc: JobLifecycle, record: DeadLetterRecord): Promise<void> {
  const jobId = record.jobId;
  const log = lc.log.child({ jobId, taskId: record.taskId, dlqKind: record.kind, code: record.code });
  if (jobId === undefined) {
    log.warn({ reason: record.reason }, "dead letter without a job (malformed payload); nothing to fail");
    return;
  }
  const stored = await lc.o.jobs.find(jobId);
  if (stored === undefined || isTerminalState(stored.job.state)) return;
  if (record.stage === RESULTS_DLQ_STAGE) {
    const reason = `the result of task ${record.taskId} could not be handled: ${record.reason}`;
    await lc.fail(jobId, record.code || "INTERNAL", reason);
    return;
  }
  const parsed = record.taskId === undefined ? undefined : parseTaskId(jobId, record.taskId);
  if (parsed !== undefined) {
    const found = await lc.o.runs.find(jobId);
    const task = found?.run.tasks[parsed.baseId];
    if (task !== undefined && (task.result !== undefined || record.streamSequence < task.streamSeq)) {
      log.info("dead letter of a task copy that was superseded; ignored");
      return;
    }
  }
  if (record.code === "DATA_LOSS" && parsed !== undefined) {
    await rerunProducer(lc, stored.job, parsed, record, log);
    return;
  }
  const reason = `${record.stage} task ${record.taskId ?? "?"} failed (${record.kind}): ${record.reason}`;
  await lc.fail(jobId, record.code || "INTERNAL", reason, stageOfRecord(record.stage));
}

/** What a corruption report came to, and the drive it led to. */
interface Reported {
  report: CorruptionOutcome;
  outcome: DriveOutcome | undefined;
}

/** A corrupted input: its producer runs again (recorded and driven in one compare-and-set), or the job fails. */
async function rerunProducer(
  lc: JobLifecycle,
  job: Job,
  parsed: ParsedTaskId,
  record: DeadLetterRecord,
  log: Logger,
): Promise<void> {
  const jobId = job.id;
  const { value } = await lc.o.runs.update<Reported>(jobId, async (run) => {
    const report = await handleCorruptionReport(run, parsed.baseId, record.streamSequence, record.reason, lc.effects);
    if (report.kind !== "rerun") return { next: null, value: { report, outcome: undefined } };
    const outcome = await drive(report.run, job, lc.effects);
    return { next: outcome.run, value: { report, outcome } };
  });
  const r: CorruptionOutcome = value.report;
  if (r.kind === "failed") {
    await lc.fail(jobId, r.code, r.reason, r.stage);
  } else if (r.kind === "stale") {
    log.info({ why: r.why }, "corruption report changes nothing");
  } else {
    log.warn({ corrupted: r.keys, reason: record.reason }, "corrupted input: its producer runs again");
    if (value.outcome !== undefined) await lc.afterDrive(jobId, value.outcome);
  }
}
