import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type LostTaskPolicy,
  lostTaskVerdict,
  MAX_LOST_TASK_REPUBLISHES,
  overdueTasks,
  RUN_RECORD_VERSION,
  type RunRecord,
  type TaskRecord,
  withLostTaskRepublish,
  withPublished,
  withTaskReset,
} from "./run-record.js";

const JOB = "jlost1";
const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(T0 + ms);
const POLICY: LostTaskPolicy = { timeoutMs: 60_000, maxRepublishes: 2 };
const GONE = { inStream: false, lastEventAt: undefined };

function task(fields: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId: `${JOB}:keyframe`,
    stage: "keyframe",
    level: 0,
    attempt: 1,
    pending: true,
    streamSeq: 7,
    publishedAt: at(0).toISOString(),
    ...fields,
  };
}

function runWith(...tasks: TaskRecord[]): RunRecord {
  return {
    v: RUN_RECORD_VERSION,
    jobId: JOB,
    createdAt: at(0).toISOString(),
    pack: { name: "tiny-pack", version: "1.0.0" },
    traceContext: {},
    requestSha256: "0".repeat(64),
    originalRequest: "",
    plan: { levels: [5, 17], interpolation: [], window: { frames: 17, overlap: 4 }, factor: 4 },
    slot: 0,
    tasks: Object.fromEntries(tasks.map((t) => [t.taskId, t])),
    levels: {},
    reruns: {},
    cleanedUp: false,
    terminalEventPublished: false,
  };
}

const result = { workerId: "w", startTime: "", endTime: "", receivedAt: at(0).toISOString() };

describe("lost tasks", () => {
  it("overdueTasks: only pending tasks without a result, published at least the timeout ago", () => {
    const run = runWith(
      task({ taskId: `${JOB}:keyframe` }),
      task({ taskId: `${JOB}:interp1:0-17`, stage: "interpolation", level: 1, publishedAt: at(30_000).toISOString() }),
      task({ taskId: `${JOB}:decode`, stage: "decode", pending: false, result }),
    );
    assert.deepEqual(
      overdueTasks(run, at(59_999), 60_000).map((t) => t.taskId),
      [],
    );
    assert.deepEqual(
      overdueTasks(run, at(60_000), 60_000).map((t) => t.taskId),
      [`${JOB}:keyframe`],
    );
    assert.deepEqual(
      overdueTasks(run, at(90_000), 60_000).map((t) => t.taskId),
      [`${JOB}:keyframe`, `${JOB}:interp1:0-17`],
    );
  });

  it("a task whose message is still in the work queue is alive however long it waits", () => {
    const v = lostTaskVerdict(task(), { inStream: true, lastEventAt: undefined }, at(3_600_000), POLICY);
    assert.deepEqual(v, { kind: "alive" });
  });

  it("a task gone from the queue is lost only after the timeout since its publish and the job's last event", () => {
    assert.equal(lostTaskVerdict(task(), GONE, at(59_999), POLICY).kind, "alive");
    assert.deepEqual(lostTaskVerdict(task(), GONE, at(60_000), POLICY), { kind: "republish", silentMs: 60_000 });
    // A recent event of the job (e.g. stage_completed while its result waits to be recorded) keeps it alive.
    const recent = { inStream: false, lastEventAt: at(100_000) };
    assert.equal(lostTaskVerdict(task(), recent, at(159_999), POLICY).kind, "alive");
    assert.deepEqual(lostTaskVerdict(task(), recent, at(160_000), POLICY), { kind: "republish", silentMs: 60_000 });
    // An event older than the publish does not shorten the wait.
    const old = { inStream: false, lastEventAt: at(-500_000) };
    assert.equal(lostTaskVerdict(task(), old, at(30_000), POLICY).kind, "alive");
  });

  it("a task with a result, or not in flight, is never lost", () => {
    assert.equal(lostTaskVerdict(task({ pending: false, result }), GONE, at(1e9), POLICY).kind, "alive");
    assert.equal(lostTaskVerdict(task({ pending: false }), GONE, at(1e9), POLICY).kind, "alive");
  });

  it("re-publishes at most maxRepublishes times, then gives up naming the stage and task", () => {
    assert.equal(MAX_LOST_TASK_REPUBLISHES, 2);
    assert.equal(lostTaskVerdict(task({ republished: 1, attempt: 2 }), GONE, at(60_000), POLICY).kind, "republish");
    const v = lostTaskVerdict(task({ republished: 2, attempt: 3 }), GONE, at(61_000), POLICY);
    assert.equal(v.kind, "give_up");
    assert.ok(v.kind === "give_up");
    assert.match(v.reason, new RegExp(`^keyframe task ${JOB}:keyframe was lost 3 times \\(attempt 3\\)`));
    assert.match(v.reason, /task timeout \(60 s; the last copy was silent for 61 s\)/);
    assert.match(v.reason, /gave up after 2 re-publishes$/);
    const none = lostTaskVerdict(task(), GONE, at(60_000), { ...POLICY, maxRepublishes: 0 });
    assert.ok(none.kind === "give_up");
    assert.match(none.reason, /keyframe task \S+ was lost \(attempt 1\).*gave up after 0 re-publishes$/);
  });

  it("withLostTaskRepublish marks the task for publishing and counts it, once per observed attempt", () => {
    const run = runWith(task());
    const marked = withLostTaskRepublish(run, `${JOB}:keyframe`, 1);
    assert.ok(marked);
    assert.equal(marked.tasks[`${JOB}:keyframe`]?.pending, false);
    assert.equal(marked.tasks[`${JOB}:keyframe`]?.republished, 1);
    assert.equal(run.tasks[`${JOB}:keyframe`]?.pending, true, "the input record is not changed");
    // Another replica re-published it meanwhile (attempt 2), or a result came: nothing to do.
    assert.equal(withLostTaskRepublish(runWith(task({ attempt: 2 })), `${JOB}:keyframe`, 1), undefined);
    assert.equal(withLostTaskRepublish(runWith(task({ pending: false, result })), `${JOB}:keyframe`, 1), undefined);
    assert.equal(withLostTaskRepublish(run, `${JOB}:decode`, 1), undefined);
  });

  it("the re-publish count survives the next publish and a reset", () => {
    const marked = withLostTaskRepublish(runWith(task()), `${JOB}:keyframe`, 1) as RunRecord;
    const published = withPublished(marked, { taskId: `${JOB}:keyframe`, stage: "keyframe", level: 0 }, 2, 9, at(5));
    const t = published.tasks[`${JOB}:keyframe`];
    assert.equal(t?.attempt, 2);
    assert.equal(t?.pending, true);
    assert.equal(t?.republished, 1);
    assert.equal(t?.publishedAt, at(5).toISOString(), "the timeout starts again from the re-publish");
    assert.equal(t?.streamSeq, 9);
    assert.equal(withTaskReset(published, `${JOB}:keyframe`).tasks[`${JOB}:keyframe`]?.republished, 1);
    const first = withPublished(runWith(), { taskId: `${JOB}:keyframe`, stage: "keyframe", level: 0 }, 1, 3, at(0));
    assert.equal("republished" in (first.tasks[`${JOB}:keyframe`] ?? {}), false, "absent until a re-publish");
  });
});
