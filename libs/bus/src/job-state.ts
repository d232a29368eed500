/**
 * The job lifecycle (proto `JobState`): QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, and
 * QUEUED -> CANCELLED | FAILED directly. Terminal states never change again. Staying in the same
 * state is always allowed (progress updates).
 */
import { JobState, jobStateToJSON } from "@longshot/proto";

const ALLOWED: ReadonlyMap<JobState, ReadonlySet<JobState>> = new Map([
  [
    JobState.JOB_STATE_QUEUED,
    new Set([JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_CANCELLED, JobState.JOB_STATE_FAILED]),
  ],
  [
    JobState.JOB_STATE_RUNNING,
    new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]),
  ],
  [JobState.JOB_STATE_SUCCEEDED, new Set<JobState>()],
  [JobState.JOB_STATE_FAILED, new Set<JobState>()],
  [JobState.JOB_STATE_CANCELLED, new Set<JobState>()],
]);

export function isTerminalState(state: JobState): boolean {
  return (
    state === JobState.JOB_STATE_SUCCEEDED ||
    state === JobState.JOB_STATE_FAILED ||
    state === JobState.JOB_STATE_CANCELLED
  );
}

/** Whether a stored state may become `to`. UNSPECIFIED (or an unknown number) is never allowed. */
export function canTransition(from: JobState, to: JobState): boolean {
  if (!ALLOWED.has(to)) return false;
  if (from === to) return true;
  return ALLOWED.get(from)?.has(to) ?? false;
}

/** `JOB_STATE_RUNNING` etc., or the number for an unknown value. */
export function stateName(state: JobState): string {
  const name = jobStateToJSON(state);
  return name === "UNRECOGNIZED" ? String(state) : name;
}
