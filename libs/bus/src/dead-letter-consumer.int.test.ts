/**
 * startDeadLetterConsumer (the gateway's reader of LONGSHOT_DLQ, consumer `gateway`) against a real
 * nats-server: each record handed over once and acknowledged, a transient failure retried, a record
 * that cannot be read or handled dropped (terminated, not redelivered), a stop that hands back.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { IntegrityError, UnavailableError } from "@longshot/core";
import { waitFor } from "@longshot/testing";
import type { Bus } from "./connect.js";
import { type DeadLetterRecord, makeDeadLetterRecord, publishDeadLetter } from "./dead-letter.js";
import { startDeadLetterConsumer } from "./dead-letter-consumer.js";
import { DLQ_CONSUMER, DLQ_STREAM } from "./names.js";
import type { PullLoop } from "./pull-options.js";
import { delay, type NatsServers, resetTopology, startNats, testLogger } from "./test-support.js";

const TOPOLOGY = { ackWaitMs: 2000, maxDeliver: 3 };

function record(jobId: string, seq: number): DeadLetterRecord {
  return makeDeadLetterRecord({
    kind: "permanent",
    reason: `task of ${jobId} failed`,
    code: "INVALID_ARGUMENT",
    stage: "keyframe",
    stream: "LONGSHOT_TASKS",
    consumer: "keyframe",
    subject: "longshot.tasks.keyframe",
    streamSequence: seq,
    deliveryCount: 1,
    jobId,
    taskId: `${jobId}/keyframe`,
    workerId: "host/1",
    payload: new Uint8Array([1, 2, 3]),
  });
}

describe("startDeadLetterConsumer (real nats-server)", { timeout: 60_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;
  const loops: PullLoop<DeadLetterRecord>[] = [];

  before(async () => {
    ({ servers, bus } = await startNats());
  });
  afterEach(async () => {
    await Promise.all(loops.splice(0).map((l) => l.stop()));
  });
  after(async () => {
    await bus?.close();
    await servers?.stop();
  });

  async function start(handle: (r: DeadLetterRecord, delivery: number) => Promise<void>, maxDeliveries?: number) {
    const loop = await startDeadLetterConsumer({
      js: bus.js,
      pullExpiresMs: 1000,
      retryDelayMs: () => 100,
      logger: testLogger("dlq"),
      handle: (r, ctx) => handle(r, ctx.deliveryCount),
      ...(maxDeliveries === undefined ? {} : { maxDeliveries }),
    });
    loops.push(loop);
    return loop;
  }

  async function pending(): Promise<number> {
    const ci = await bus.jsm.consumers.info(DLQ_STREAM, DLQ_CONSUMER);
    return ci.num_pending + ci.num_ack_pending;
  }

  it("hands each record over once and acknowledges it; a transient failure is tried again", async () => {
    await resetTopology(bus, TOPOLOGY);
    const seen: string[] = [];
    const loop = await start(async (r, delivery) => {
      seen.push(`${r.jobId}#${delivery}`);
      if (r.jobId === "t1" && delivery === 1) throw new UnavailableError("job store unreachable");
    });
    await publishDeadLetter(bus.js, record("a1", 1));
    await publishDeadLetter(bus.js, record("t1", 2));
    await waitFor("both acknowledged", () => loop.stats.acked === 2);
    assert.deepEqual(seen.sort(), ["a1#1", "t1#1", "t1#2"]);
    assert.equal(loop.stats.retried, 1);
    assert.equal(await pending(), 0);
  });

  it("drops a record it cannot read or handle (terminated, never redelivered), and one that keeps failing", async () => {
    await resetTopology(bus, TOPOLOGY);
    const calls: string[] = [];
    const loop = await start(async (r, delivery) => {
      calls.push(`${r.jobId}#${delivery}`);
      if (r.jobId === "p1") throw new IntegrityError("not a job this gateway knows");
      throw new UnavailableError("still down");
    }, 2);
    await bus.js.publish("longshot.dlq.keyframe", "not json");
    await publishDeadLetter(bus.js, record("p1", 3));
    await publishDeadLetter(bus.js, record("x1", 4));
    await waitFor("three dropped", () => loop.stats.dead_lettered === 3);
    await delay(2500); // past AckWait: a redelivery would have happened
    assert.deepEqual(calls.sort(), ["p1#1", "x1#1", "x1#2"]);
    assert.equal(loop.stats.acked, 0);
    assert.equal(await pending(), 0);
  });

  it("hands an in-flight record back when stopped, so the next reader gets it", async () => {
    await resetTopology(bus, TOPOLOGY);
    const first = await startDeadLetterConsumer({
      js: bus.js,
      pullExpiresMs: 1000,
      stopTimeoutMs: 100,
      abortGraceMs: 1000,
      logger: testLogger("dlq-1"),
      handle: (_r, ctx) =>
        new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
    });
    await publishDeadLetter(bus.js, record("h1", 5));
    await waitFor("the first reader's handler", () => first.inFlight === 1);
    await first.stop();
    assert.equal(first.stats.handed_back, 1);
    const deliveries: number[] = [];
    const second = await start(async (_r, delivery) => {
      deliveries.push(delivery);
    });
    await waitFor("the second reader's ack", () => second.stats.acked === 1);
    assert.deepEqual(deliveries, [2]);
  });
});
