/**
 * runWorker against a real nats-server (2.9.10 from Debian, started by @longshot/testing on a free port).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";
import { CancelledError, IntegrityError, UnavailableError } from "@longshot/core";
import { JobEvent, type StageTask } from "@longshot/proto";
import { waitFor } from "@longshot/testing";
import type { Bus } from "./connect.js";
import { type DeadLetterRecord, listDeadLetters } from "./dead-letter.js";
import { DLQ_STREAM, TASKS_STREAM, taskSubject } from "./names.js";
import { publishCancel, publishTask } from "./publish.js";
import { encodeTask } from "./task-codec.js";
import { delay, makeTask, type NatsServers, resetTopology, startNats, testLogger } from "./test-support.js";
import { runWorker, type TaskContext, type Worker } from "./worker.js";

const BASE = { ackWaitMs: 2000, maxDeliver: 3 };

describe("runWorker (real nats-server)", { timeout: 120_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;
  const workers: Worker[] = [];

  before(async () => {
    ({ servers, bus } = await startNats());
  });
  afterEach(async () => {
    // A failed test must not leave its worker pulling the next test's tasks.
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });
  after(async () => {
    await bus?.close();
    await servers?.stop();
  });

  async function start(
    opts: Partial<Parameters<typeof runWorker>[0]> & Pick<Parameters<typeof runWorker>[0], "handle">,
  ) {
    const w = await runWorker({
      js: bus.js,
      consumer: "keyframe",
      pullExpiresMs: 1000,
      retryDelayMs: () => 100,
      logger: testLogger("worker"),
      ...opts,
    });
    workers.push(w);
    return w;
  }

  async function consumerState() {
    const ci = await bus.jsm.consumers.info(TASKS_STREAM, "keyframe");
    const si = await bus.jsm.streams.info(TASKS_STREAM);
    return {
      ackPending: ci.num_ack_pending,
      redelivered: ci.num_redelivered,
      pending: ci.num_pending,
      stored: si.state.messages,
    };
  }

  it("stores a task published twice with the same Msg-Id once, handles it once and acks it", async () => {
    await resetTopology(bus, BASE);
    const task = makeTask("dedupe1");
    const first = await publishTask(bus.js, task);
    const second = await publishTask(bus.js, task);
    assert.equal(first.duplicate, false);
    assert.equal(second.duplicate, true);
    assert.equal(second.seq, first.seq);
    assert.equal((await bus.jsm.streams.info(TASKS_STREAM)).state.messages, 1);

    const seen: Array<{ task: StageTask; delivery: number }> = [];
    const w = await start({
      handle: async (t, ctx) => {
        seen.push({ task: t, delivery: ctx.deliveryCount });
      },
    });
    await waitFor("the ack", () => w.stats.acked === 1);
    await delay(300);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.task.taskId, task.taskId);
    assert.equal(seen[0]?.task.seed, 42n);
    assert.equal(seen[0]?.delivery, 1);
    assert.deepEqual(await consumerState(), { ackPending: 0, redelivered: 0, pending: 0, stored: 0 });
    await w.stop();
  });

  it("retries a transient failure after the backoff, then acks", async () => {
    await resetTopology(bus, BASE);
    const times: number[] = [];
    const deliveries: number[] = [];
    const w = await start({
      retryDelayMs: (n) => 400 * n,
      handle: async (_t, ctx) => {
        times.push(Date.now());
        deliveries.push(ctx.deliveryCount);
        if (ctx.deliveryCount === 1) throw new UnavailableError("model worker busy");
      },
    });
    await publishTask(bus.js, makeTask("transient1"));
    await waitFor("the ack", () => w.stats.acked === 1);
    assert.deepEqual(deliveries, [1, 2]);
    assert.equal(w.stats.retried, 1);
    const gap = (times[1] ?? 0) - (times[0] ?? 0);
    assert.ok(gap >= 380, `redelivered after ${gap} ms, expected the 400 ms backoff`);
    assert.ok(gap < 1900, `redelivered after ${gap} ms: the nak delay, not AckWait, should bring it back`);
    assert.equal((await consumerState()).stored, 0);
    await w.stop();
  });

  it("terminates a task that fails permanently, dead-letters it once and never redelivers it", async () => {
    await resetTopology(bus, BASE);
    const calls: string[] = [];
    const dead: Array<{ task: StageTask | undefined; reason: string; record: DeadLetterRecord }> = [];
    const w = await start({
      handle: async (t) => {
        calls.push(t.taskId);
        throw new IntegrityError("latent sha256 mismatch for jobs/perm1/keyframes");
      },
      onDeadLetter: (task, reason, record) => {
        dead.push({ task, reason, record });
      },
    });
    await publishTask(bus.js, makeTask("perm1"));
    await waitFor("the dead letter", () => w.stats.dead_lettered === 1);
    await delay(2500); // longer than AckWait: a redelivery would have happened by now
    assert.deepEqual(calls, ["perm1/keyframe"]);
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.task?.jobId, "perm1");
    assert.match(dead[0]?.reason ?? "", /latent sha256 mismatch/);
    assert.equal(dead[0]?.record.kind, "permanent");
    assert.equal(dead[0]?.record.code, "DATA_LOSS");
    assert.deepEqual(await consumerState(), { ackPending: 0, redelivered: 0, pending: 0, stored: 0 });
    const dlq = await listDeadLetters(bus.js, { stage: "keyframe" });
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0]?.taskId, "perm1/keyframe");
    assert.equal(dlq[0]?.kind, "permanent");
    await w.stop();
  });

  it("dead-letters a task after MaxDeliver transient failures and calls onDeadLetter with the reason", async () => {
    await resetTopology(bus, BASE); // maxDeliver 3
    const deliveries: number[] = [];
    const dead: Array<{ task: StageTask | undefined; reason: string }> = [];
    const w = await start({
      retryDelayMs: () => 50,
      handle: async (_t, ctx) => {
        deliveries.push(ctx.deliveryCount);
        assert.equal(ctx.maxDeliver, 3);
        throw new UnavailableError("S3 unreachable");
      },
      onDeadLetter: (task, reason) => {
        dead.push({ task, reason });
      },
    });
    await publishTask(bus.js, makeTask("exhaust1"));
    await waitFor("the dead letter", () => dead.length === 1);
    await delay(300);
    assert.deepEqual(deliveries, [1, 2, 3]);
    assert.equal(dead[0]?.task?.taskId, "exhaust1/keyframe");
    assert.match(dead[0]?.reason ?? "", /gave up after 3 of 3 deliveries: .*S3 unreachable/);
    const dlq = await listDeadLetters(bus.js, { stage: "keyframe" });
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0]?.kind, "max_deliveries");
    assert.equal(dlq[0]?.deliveryCount, 3);
    assert.equal(dlq[0]?.code, "UNAVAILABLE");
    assert.equal((await consumerState()).stored, 0);
    assert.equal(w.stats.retried, 2);
    await w.stop();
  });

  it("terminates malformed payloads with a reason and keeps running", async () => {
    await resetTopology(bus, BASE);
    const handled: string[] = [];
    const dead: Array<{ task: StageTask | undefined; reason: string }> = [];
    const w = await start({
      maxPayloadBytes: 64 * 1024,
      handle: async (t) => {
        handled.push(t.taskId);
      },
      onDeadLetter: (task, reason) => {
        dead.push({ task, reason });
      },
    });
    const subject = taskSubject("keyframe");
    const wrongType = JobEvent.encode({
      sequence: 7n,
      jobId: "j1",
      time: new Date(),
      event: { $case: "queued", value: { jobsAhead: 3 } },
    }).finish();
    const interpolationTask = encodeTask(makeTask("wrongstage", "interpolation"));
    await bus.js.publish(subject, randomBytes(512));
    await bus.js.publish(subject, wrongType);
    await bus.js.publish(subject, randomBytes(100 * 1024)); // oversized for this worker (limit 64 KiB)
    await bus.js.publish(subject, new Uint8Array(0));
    await bus.js.publish(subject, interpolationTask); // valid task, wrong queue
    await bus.js.publish(subject, new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])); // length far past the end
    await publishTask(bus.js, makeTask("good1"));

    await waitFor("all seven messages settled", () => w.stats.dead_lettered + w.stats.acked === 7);
    assert.deepEqual(handled, ["good1/keyframe"]);
    assert.equal(dead.length, 6);
    for (const d of dead) {
      assert.match(d.reason, /^malformed payload: /);
      assert.equal(d.task, undefined);
    }
    const reasons = dead.map((d) => d.reason).join("\n");
    assert.match(reasons, /102400 bytes exceeds the limit of 65536 bytes/);
    assert.match(reasons, /empty payload/);
    assert.match(reasons, /job_id "" is not a valid job id/); // the JobEvent decodes as a StageTask without ids
    assert.match(reasons, /for stage interpolation but arrived on the keyframe queue/);
    const dlq = await listDeadLetters(bus.js, { stage: "keyframe" });
    assert.equal(dlq.length, 6);
    assert.ok(dlq.every((r) => r.kind === "malformed" && r.code === "INVALID_ARGUMENT"));
    const big = dlq.find((r) => r.payloadBytes === 100 * 1024);
    assert.ok(big?.payloadTruncated, "the oversized payload's copy is truncated");
    assert.equal(Buffer.from(big?.payloadBase64 ?? "", "base64").length, 64 * 1024);
    assert.deepEqual(await consumerState(), { ackPending: 0, redelivered: 0, pending: 0, stored: 0 });
    await w.stop();
  });

  it("keeps a handler that runs longer than AckWait from being redelivered (working() heartbeats)", async () => {
    await resetTopology(bus, BASE); // AckWait 2 s
    const starts: number[] = [];
    const w = await start({
      handle: async (_t, ctx) => {
        starts.push(ctx.deliveryCount);
        await delay(5000);
      },
    });
    assert.equal(w.ackWaitMs, 2000);
    assert.ok(w.heartbeatMs < 1000, `heartbeat every ${w.heartbeatMs} ms`);
    await publishTask(bus.js, makeTask("long1"));
    await waitFor("the ack", () => w.stats.acked === 1, 15_000);
    await delay(200);
    assert.deepEqual(starts, [1]);
    assert.deepEqual(await consumerState(), { ackPending: 0, redelivered: 0, pending: 0, stored: 0 });
    await w.stop();
  });

  it("shares one queue between two workers: each task is handled once and both get work", async () => {
    await resetTopology(bus, BASE);
    const byWorker = new Map<string, string[]>();
    const handler = (id: string) => async (t: StageTask) => {
      byWorker.set(id, [...(byWorker.get(id) ?? []), t.taskId]);
      await delay(100);
    };
    const a = await start({ workerId: "a", handle: handler("a") });
    const b = await start({ workerId: "b", handle: handler("b") });
    const n = 12;
    for (let i = 0; i < n; i++) await publishTask(bus.js, makeTask(`share${i}`));
    await waitFor("all tasks acked", () => a.stats.acked + b.stats.acked === n);
    const all = [...(byWorker.get("a") ?? []), ...(byWorker.get("b") ?? [])].sort();
    assert.deepEqual(all, Array.from({ length: n }, (_, i) => `share${i}/keyframe`).sort());
    assert.ok((byWorker.get("a")?.length ?? 0) >= 2, `worker a handled ${byWorker.get("a")?.length ?? 0}`);
    assert.ok((byWorker.get("b")?.length ?? 0) >= 2, `worker b handled ${byWorker.get("b")?.length ?? 0}`);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("stops gracefully: an in-flight task that outlives stopTimeoutMs is aborted and handed to another worker", async () => {
    await resetTopology(bus, BASE);
    let aborted: unknown;
    const first = await start({
      workerId: "first",
      stopTimeoutMs: 300,
      handle: (_t, ctx) =>
        new Promise<void>((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
        }),
    });
    await publishTask(bus.js, makeTask("handoff1"));
    await waitFor("the first worker to start the task", () => first.inFlight === 1);
    const t0 = Date.now();
    await first.stop();
    await first.done;
    assert.ok(Date.now() - t0 < 2500, "stop() returned within stopTimeoutMs plus one pull");
    assert.ok(aborted instanceof CancelledError);
    assert.equal(first.stats.handed_back, 1);

    const seen: number[] = [];
    const second = await start({
      workerId: "second",
      handle: async (_t, ctx) => {
        seen.push(ctx.deliveryCount);
      },
    });
    await waitFor("the second worker's ack", () => second.stats.acked === 1);
    assert.deepEqual(seen, [2]); // the same message, redelivered at once (nak without delay)
    await second.stop();
  });

  it("lets an in-flight task finish when it ends within stopTimeoutMs", async () => {
    await resetTopology(bus, BASE);
    const w = await start({ stopTimeoutMs: 5000, handle: () => delay(600) });
    await publishTask(bus.js, makeTask("finish1"));
    await waitFor("the task to start", () => w.inFlight === 1);
    await w.stop();
    assert.equal(w.stats.acked, 1);
    assert.equal(w.stats.handed_back, 0);
    assert.equal((await consumerState()).stored, 0);
  });

  it("cancels: a cancel notice aborts the running task (terminated, no dead letter); isCancelled skips queued ones", async () => {
    await resetTopology(bus, BASE);
    const cancelledJobs = new Set(["skip1"]);
    const started: string[] = [];
    let dead = 0;
    const w = await start({
      isCancelled: (t) => cancelledJobs.has(t.jobId),
      onDeadLetter: () => {
        dead++;
      },
      handle: (t, ctx: TaskContext) =>
        new Promise<void>((resolve, reject) => {
          started.push(t.jobId);
          if (t.jobId !== "run1") return resolve();
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
        }),
    });
    await publishTask(bus.js, makeTask("skip1"));
    await waitFor("skip1 settled", () => w.stats.cancelled === 1);
    await publishTask(bus.js, makeTask("run1"));
    await waitFor("run1 started", () => w.inFlight === 1);
    publishCancel(bus.nc, "run1", "user asked");
    await waitFor("run1 cancelled", () => w.stats.cancelled === 2);
    assert.deepEqual(started, ["run1"]);
    assert.equal(dead, 0);
    await delay(300);
    assert.deepEqual(await consumerState(), { ackPending: 0, redelivered: 0, pending: 0, stored: 0 });
    assert.equal((await bus.jsm.streams.info(DLQ_STREAM)).state.messages, 0);
    await w.stop();
  });

  it("dead-letters a task whose last delivery timed out (MAX_DELIVERIES advisory, e.g. a crashed worker)", async () => {
    await resetTopology(bus, { ackWaitMs: 1000, maxDeliver: 2 });
    const task = makeTask("crash1");
    await publishTask(bus.js, task);
    // A "worker" that takes the task and dies without acking, twice.
    const raw = await bus.js.consumers.get(TASKS_STREAM, "keyframe");
    const d1 = await raw.next({ expires: 2000 });
    assert.equal(d1?.info.deliveryCount, 1);
    const d2 = await raw.next({ expires: 3000 });
    assert.equal(d2?.info.deliveryCount, 2);
    const dead: Array<{ task: StageTask | undefined; reason: string; record: DeadLetterRecord }> = [];
    const handled: string[] = [];
    const w = await start({
      handle: async (t) => {
        handled.push(t.taskId);
      },
      onDeadLetter: (t, reason, record) => {
        dead.push({ task: t, reason, record });
      },
    });
    await waitFor("the advisory dead letter", () => dead.length === 1, 5000);
    assert.equal(dead[0]?.task?.taskId, "crash1/keyframe");
    assert.equal(dead[0]?.record.kind, "advisory");
    assert.equal(dead[0]?.record.deliveryCount, 2);
    assert.match(
      dead[0]?.reason ?? "",
      /no delivery of task crash1\/keyframe finished within AckWait after 2 attempts/,
    );
    assert.deepEqual(handled, []);
    await waitFor("the task removed from the queue", async () => (await consumerState()).stored === 0);
    const dlq = await listDeadLetters(bus.js, { stage: "keyframe" });
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0]?.kind, "advisory");
    await w.stop();
  });

  it("survives a nats-server restart mid-run: reconnects and keeps handling tasks", async () => {
    await resetTopology(bus, BASE);
    const done = new Set<string>();
    const w = await start({
      handle: async (t) => {
        await delay(50);
        done.add(t.taskId);
      },
    });
    const publish = async (id: string) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await publishTask(bus.js, makeTask(id));
        } catch (err) {
          if (!(err instanceof UnavailableError) || attempt > 100) throw err;
          await delay(100);
        }
      }
    };
    for (let i = 0; i < 5; i++) await publish(`before${i}`);
    await waitFor("the first tasks", () => done.size >= 3);
    await servers.restartNats({ signal: "SIGKILL", downMs: 500 });
    for (let i = 0; i < 5; i++) await publish(`after${i}`);
    await waitFor("every task handled", () => done.size === 10, 30_000);
    // Nothing left to deliver or unacknowledged. (The stream itself may keep a "ghost" copy of a task
    // acked just before the SIGKILL: 2.9 persisted the consumer's ack floor but not the work-queue
    // delete. No consumer delivers it again; it ages out with max_age. Newer servers reconcile this.)
    await waitFor(
      "the consumer drained",
      async () => {
        const s = await consumerState();
        return s.pending === 0 && s.ackPending === 0;
      },
      15_000,
    );
    assert.ok(w.stats.acked >= 10, `acked ${w.stats.acked}`);
    await w.stop();
  });

  it("refuses to start on a consumer that does not exist, naming it", async () => {
    await assert.rejects(
      runWorker({ js: bus.js, consumer: "nope", handle: async () => {} }),
      (err: Error) => err.name === "NotFoundError" && /LONGSHOT_TASKS\/nope/.test(err.message),
    );
  });
});
