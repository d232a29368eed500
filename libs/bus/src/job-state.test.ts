import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JobState } from "@longshot/proto";
import { canTransition, isTerminalState } from "./job-state.js";

const {
  JOB_STATE_QUEUED: Q,
  JOB_STATE_RUNNING: R,
  JOB_STATE_SUCCEEDED: S,
  JOB_STATE_FAILED: F,
  JOB_STATE_CANCELLED: C,
} = JobState;

describe("job lifecycle", () => {
  it("allows QUEUED -> RUNNING -> terminal, QUEUED -> CANCELLED/FAILED, and staying put", () => {
    for (const [from, to] of [
      [Q, R],
      [Q, C],
      [Q, F],
      [R, S],
      [R, F],
      [R, C],
      [Q, Q],
      [R, R],
      [S, S],
    ] as const) {
      assert.ok(canTransition(from, to), `${from} -> ${to}`);
    }
  });
  it("refuses going back, skipping RUNNING to SUCCEEDED, leaving a terminal state, and UNSPECIFIED", () => {
    for (const [from, to] of [
      [S, R],
      [F, R],
      [C, Q],
      [R, Q],
      [Q, S],
      [S, F],
      [Q, JobState.JOB_STATE_UNSPECIFIED],
      [Q, 42 as JobState],
    ] as const) {
      assert.ok(!canTransition(from, to), `${from} -> ${to}`);
    }
    assert.deepEqual([Q, R, S, F, C].map(isTerminalState), [false, false, true, true, true]);
  });
});
