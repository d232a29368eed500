/**
 * ensureTopology against a real nats-server 2.9.10.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "@longshot/core";
import { RetentionPolicy } from "@nats-io/jetstream";
import type { Bus } from "./connect.js";
import {
  DLQ_CONSUMER,
  DLQ_STREAM,
  EVENTS_STREAM,
  JOBS_BUCKET,
  RESULTS_CONSUMER,
  RESULTS_STREAM,
  RUNS_BUCKET,
  STAGES,
  TASKS_STREAM,
} from "./names.js";
import { type NatsServers, startNats } from "./test-support.js";
import { ensureTopology } from "./topology.js";

describe("ensureTopology (real nats-server)", { timeout: 60_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;

  before(async () => {
    ({ servers, bus } = await startNats());
  });
  after(async () => {
    await bus?.close();
    await servers?.stop();
  });

  it("creates every stream, consumer and KV bucket, then finds them unchanged", async () => {
    const first = await ensureTopology(bus.js, {
      ackWaitMs: 10_000,
      maxDeliver: 4,
      maxAckPending: { interpolation: 8 },
    });
    assert.ok(
      Object.values(first.actions).every((a) => a === "created"),
      JSON.stringify(first.actions),
    );
    // 4 streams (tasks, results, events, DLQ), one consumer per stage + the results and DLQ consumers,
    // the job and run buckets.
    assert.equal(Object.keys(first.actions).length, 4 + STAGES.length + 2 + 2);

    const tasks = await bus.jsm.streams.info(TASKS_STREAM);
    assert.equal(tasks.config.retention, RetentionPolicy.Workqueue);
    assert.deepEqual(tasks.config.subjects, ["longshot.tasks.>"]);
    assert.equal(tasks.config.duplicate_window, 120e9);
    assert.equal((await bus.jsm.streams.info(EVENTS_STREAM)).config.retention, RetentionPolicy.Limits);
    assert.equal((await bus.jsm.streams.info(DLQ_STREAM)).config.retention, RetentionPolicy.Limits);
    for (const stage of STAGES) {
      const ci = await bus.jsm.consumers.info(TASKS_STREAM, stage);
      assert.equal(ci.config.filter_subject, `longshot.tasks.${stage}`);
      assert.equal(ci.config.ack_policy, "explicit");
      assert.equal(ci.config.ack_wait, 10e9);
      assert.equal(ci.config.max_deliver, 4);
      assert.deepEqual(ci.config.backoff, [10e9, 20e9, 40e9]);
      assert.equal(ci.config.max_ack_pending, stage === "interpolation" ? 8 : 64);
    }
    assert.equal((await bus.jsm.streams.info(`KV_${JOBS_BUCKET}`)).config.max_msgs_per_subject, 5);
    const results = await bus.jsm.streams.info(RESULTS_STREAM);
    assert.equal(results.config.retention, RetentionPolicy.Workqueue);
    assert.deepEqual(results.config.subjects, ["longshot.results.>"]);
    assert.equal(results.config.duplicate_window, 120e9);
    const coordinator = await bus.jsm.consumers.info(RESULTS_STREAM, RESULTS_CONSUMER);
    assert.equal(coordinator.config.filter_subject, "longshot.results.>");
    assert.equal(coordinator.config.ack_policy, "explicit");
    assert.equal(coordinator.config.ack_wait, 30e9);
    assert.equal(coordinator.config.max_deliver, 4); // follows maxDeliver unless resultsMaxDeliver is set
    const gateway = await bus.jsm.consumers.info(DLQ_STREAM, DLQ_CONSUMER);
    assert.equal(gateway.config.filter_subject, "longshot.dlq.>");
    assert.equal(gateway.config.ack_policy, "explicit");
    assert.equal(gateway.config.ack_wait, 10e9);
    assert.equal(gateway.config.max_deliver, -1); // its reader gives up on its own
    const runs = await bus.jsm.streams.info(`KV_${RUNS_BUCKET}`);
    assert.equal(runs.config.max_msgs_per_subject, 1);
    assert.equal(runs.config.max_age, 7 * 24 * 3600e9);
    assert.equal(runs.config.allow_direct, false);

    const again = await ensureTopology(bus.js, {
      ackWaitMs: 10_000,
      maxDeliver: 4,
      maxAckPending: { interpolation: 8 },
    });
    assert.ok(
      Object.values(again.actions).every((a) => a === "unchanged"),
      JSON.stringify(again.actions),
    );
  });

  it("updates settings that drifted, in place, keeping queued tasks", async () => {
    await bus.js.publish("longshot.tasks.decode", "x", { msgID: "drift-1" });
    const report = await ensureTopology(bus.js, {
      ackWaitMs: 5000,
      maxDeliver: 3,
      backoffMs: [5000, 9000],
      eventsMaxAgeMs: 3_600_000,
      jobsHistory: 10,
    });
    assert.equal(report.actions[`consumer ${TASKS_STREAM}/decode`], "updated");
    assert.equal(report.actions[`stream ${EVENTS_STREAM}`], "updated");
    assert.equal(report.actions[`kv ${JOBS_BUCKET}`], "updated");
    assert.equal(report.actions[`stream ${TASKS_STREAM}`], "unchanged");
    const ci = await bus.jsm.consumers.info(TASKS_STREAM, "decode");
    assert.equal(ci.config.ack_wait, 5e9);
    assert.equal(ci.config.max_deliver, 3);
    assert.deepEqual(ci.config.backoff, [5e9, 9e9]);
    assert.equal(ci.num_pending, 1, "the queued task survived the update");
    assert.equal((await bus.jsm.streams.info(EVENTS_STREAM)).config.max_age, 3_600_000e6);
    assert.equal((await bus.jsm.streams.info(`KV_${JOBS_BUCKET}`)).config.max_msgs_per_subject, 10);
    // Turning BackOff off is drift too.
    const off = await ensureTopology(bus.js, { ackWaitMs: 5000, maxDeliver: 3, backoffMs: [] });
    assert.equal(off.actions[`consumer ${TASKS_STREAM}/decode`], "updated");
    assert.equal((await bus.jsm.consumers.info(TASKS_STREAM, "decode")).config.backoff, undefined);
  });

  it("runs safely when several callers reconcile at once", async () => {
    const reports = await Promise.all(
      [1, 2, 3].map(() => ensureTopology(bus.js, { ackWaitMs: 7000, maxDeliver: 3, backoffMs: [] })),
    );
    for (const r of reports) for (const a of Object.values(r.actions)) assert.ok(["updated", "unchanged"].includes(a));
    assert.equal((await bus.jsm.consumers.info(TASKS_STREAM, "keyframe")).config.ack_wait, 7e9);
  });

  it("refuses to replace a stream whose retention cannot change, saying what to do", async () => {
    await bus.jsm.streams.delete(DLQ_STREAM);
    await bus.jsm.streams.add({ name: DLQ_STREAM, subjects: ["longshot.dlq.>"], retention: RetentionPolicy.Interest });
    await assert.rejects(
      ensureTopology(bus.js),
      (err: Error) => err instanceof ConfigError && /LONGSHOT_DLQ exists with retention=interest/.test(err.message),
    );
    await bus.jsm.streams.delete(DLQ_STREAM);
    assert.equal((await ensureTopology(bus.js)).actions[`stream ${DLQ_STREAM}`], "created");
  });
});
