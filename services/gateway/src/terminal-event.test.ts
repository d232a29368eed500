import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Artifact, Job, JobState, OutputFormat, Stage } from "@longshot/proto";
import { terminalEventOf } from "./terminal-event.js";

const END = new Date("2026-01-02T03:04:05Z");

function job(fields: Partial<Job>): Job {
  return { ...Job.fromPartial({ id: "jterm", endTime: END }), ...fields };
}

describe("terminalEventOf", () => {
  it("a succeeded job completes with its artifacts, at its end time", () => {
    const succeeded = job({
      state: JobState.JOB_STATE_SUCCEEDED,
      artifacts: [Artifact.fromPartial({ format: OutputFormat.OUTPUT_FORMAT_MP4, uri: "s3://b/jobs/jterm/video.mp4" })],
    });
    const ev = terminalEventOf(succeeded);
    assert.equal(ev.sequence, 0n);
    assert.equal(ev.jobId, "jterm");
    assert.deepEqual(ev.time, END);
    assert.deepEqual(ev.event, { $case: "completed", value: { artifacts: succeeded.artifacts } });
  });

  it("a failed job fails with its error, or INTERNAL when it has none", () => {
    const error = { code: "DEADLINE_EXCEEDED", reason: "too slow", stage: Stage.STAGE_DECODE };
    assert.deepEqual(terminalEventOf(job({ state: JobState.JOB_STATE_FAILED, error })).event, {
      $case: "failed",
      value: error,
    });
    assert.deepEqual(terminalEventOf(job({ state: JobState.JOB_STATE_FAILED })).event, {
      $case: "failed",
      value: { code: "INTERNAL", reason: "failed", stage: Stage.STAGE_UNSPECIFIED },
    });
  });

  it("a cancelled job is cancelled with its reason; the time can be given", () => {
    const now = new Date("2026-05-06T07:08:09Z");
    const error = { code: "CANCELLED", reason: "user asked", stage: Stage.STAGE_UNSPECIFIED };
    const ev = terminalEventOf(job({ state: JobState.JOB_STATE_CANCELLED, error }), now);
    assert.deepEqual(ev.time, now);
    assert.deepEqual(ev.event, { $case: "cancelled", value: { reason: "user asked" } });
    assert.deepEqual(terminalEventOf(job({ state: JobState.JOB_STATE_CANCELLED })).event, {
      $case: "cancelled",
      value: { reason: "cancelled" },
    });
  });
});
