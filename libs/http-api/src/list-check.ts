/** The checks of a ListJobs request that the job store does not make itself, for both APIs. */
import { InvalidArgumentError } from "@longshot/core";
import { JobState, type ListJobsRequest } from "@longshot/proto";

export const MAX_PAGE_SIZE = 1000;

/** Throws InvalidArgumentError naming page_size or states[i]. */
export function checkListJobs(request: ListJobsRequest): void {
  if (request.pageSize > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError("page_size", `must be at most ${MAX_PAGE_SIZE}, got ${request.pageSize}`);
  }
  request.states.forEach((state, i) => {
    if (state <= JobState.JOB_STATE_UNSPECIFIED || typeof JobState[state] !== "string") {
      throw new InvalidArgumentError(`states[${i}]`, `is not a job state: ${state}`);
    }
  });
}
