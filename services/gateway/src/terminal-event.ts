/**
 * The terminal event of an ended job (completed, failed or cancelled), made from its record. One builder for
 * both places that need it: the coordinator publishes it when the job settles, and WatchJob sends it (sequence 0)
 * to a watcher from the start when the published one is no longer in the stream.
 */
import { type Job, type JobEvent, JobState, Stage } from "@longshot/proto";

/**
 * The terminal event of `job`, sequence 0 (publishing numbers it), at `time` (default the job's end). A job
 * that neither succeeded nor failed is taken as cancelled: callers pass ended jobs only.
 */
export function terminalEventOf(job: Job, time: Date = job.endTime ?? new Date()): JobEvent {
  let event: JobEvent["event"];
  if (job.state === JobState.JOB_STATE_SUCCEEDED) {
    event = { $case: "completed", value: { artifacts: job.artifacts } };
  } else if (job.state === JobState.JOB_STATE_FAILED) {
    event = {
      $case: "failed",
      value: {
        code: job.error?.code ?? "INTERNAL",
        reason: job.error?.reason ?? "failed",
        stage: job.error?.stage ?? Stage.STAGE_UNSPECIFIED,
      },
    };
  } else {
    event = { $case: "cancelled", value: { reason: job.error?.reason ?? "cancelled" } };
  }
  return { sequence: 0n, jobId: job.id, time, event };
}
