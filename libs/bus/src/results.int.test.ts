/**
 * publishResult / runResultConsumer against a real nats-server (started by @longshot/testing).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";
import { CancelledError, IntegrityError, InvalidArgumentError, UnavailableError } from "@longshot/core";
import { DataType, Stage, StageResult } from "@longshot/proto";
import { initTelemetry, type Telemetry } from "@longshot/telemetry";
import { waitFor } from "@longshot/testing";
import { context, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import type { Bus } from "./connect.js";
import { listDeadLetters } from "./dead-letter.js";
import { DLQ_STREAM, RESULTS_CONSUMER, RESULTS_STREAM, resultSubject } from "./names.js";
import {
  publishResult,
  type ResultConsumer,
  type ResultConsumerOptions,
  type ResultContext,
  runResultConsumer,
  startResultConsumer,
} from "./results.js";
import { delay, type NatsServers, startNats, testLogger } from "./test-support.js";
import { ensureTopology } from "./topology.js";

function makeResult(jobId: string, taskId = `${jobId}/keyframe`, stage = Stage.STAGE_KEYFRAME): StageResult {
  return StageResult.fromPartial({
    jobId,
    taskId,
    stage,
    latents: {
      uri: `s3://longshot/jobs/${jobId}/keyframes.safetensors`,
      shape: [1, 4, 5, 16, 16],
      dtype: DataType.DATA_TYPE_FLOAT32,
      sha256: "a".repeat(64),
      bytes: 20_560n,
    },
    workerId: "host/1",
  });
}

describe("stage results (real nats-server)", { timeout: 90_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;
  let telemetry: Telemetry;
  const consumers: ResultConsumer[] = [];

  before(async () => {
    ({ servers, bus } = await startNats());
    telemetry = await initTelemetry({ serviceName: "results-test", spanExporters: [new InMemorySpanExporter()] });
  });
  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((c) => c.stop()));
  });
  after(async () => {
    await telemetry?.shutdown();
    await bus?.close();
    await servers?.stop();
  });

  async function reset(maxDeliver = 3): Promise<void> {
    await ensureTopology(bus.js, { resultsAckWaitMs: 2000, resultsMaxDeliver: maxDeliver });
    for (const s of [RESULTS_STREAM, DLQ_STREAM]) await bus.jsm.streams.purge(s);
  }

  async function start(opts: Partial<ResultConsumerOptions> & Pick<ResultConsumerOptions, "handle">) {
    const c = await startResultConsumer({
      js: bus.js,
      pullExpiresMs: 1000,
      retryDelayMs: () => 100,
      logger: testLogger("results"),
      ...opts,
    });
    consumers.push(c);
    return c;
  }

  async function stored(): Promise<number> {
    return (await bus.jsm.streams.info(RESULTS_STREAM)).state.messages;
  }

  it("delivers a published result once, decoded, under the publisher's trace, and acks it", async () => {
    await reset();
    const seen: Array<{ result: StageResult; ctx: ResultContext; traceId: string | undefined }> = [];
    const c = await start({
      handle: async (result, ctx) => {
        seen.push({ result, ctx, traceId: trace.getSpanContext(ctx.traceContext)?.traceId });
      },
    });
    const root = trace.getTracer("test").startSpan("job");
    const sent = makeResult("r1");
    await context.with(trace.setSpan(context.active(), root), () => publishResult(bus.js, sent));
    root.end();
    await waitFor("the ack", () => c.stats.acked === 1);
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0]?.result, sent);
    assert.equal(seen[0]?.ctx.stage, "keyframe");
    assert.equal(seen[0]?.ctx.deliveryCount, 1);
    assert.equal(seen[0]?.traceId, root.spanContext().traceId);
    assert.equal(await stored(), 0);
  });

  it("stores a result published twice for the same task once (Nats-Msg-Id result:<task id>)", async () => {
    await reset();
    await publishResult(bus.js, makeResult("dup1"));
    await publishResult(bus.js, { ...makeResult("dup1"), workerId: "other/2" });
    assert.equal(await stored(), 1);
    const msg = await bus.jsm.streams.getMessage(RESULTS_STREAM, { last_by_subj: resultSubject("keyframe") });
    assert.equal(msg?.header?.get("Nats-Msg-Id"), "result:dup1/keyframe");
    assert.equal(StageResult.decode(msg?.data ?? new Uint8Array()).workerId, "host/1");
  });

  it("refuses to publish a result with a bad envelope, naming the field", async () => {
    await assert.rejects(publishResult(bus.js, makeResult("bad id!")), (err: unknown) => {
      return err instanceof InvalidArgumentError && err.field === "result.job_id";
    });
    await assert.rejects(publishResult(bus.js, { ...makeResult("j"), stage: Stage.STAGE_UNSPECIFIED }), {
      field: "result.stage",
    });
    await assert.rejects(publishResult(bus.js, { ...makeResult("j"), taskId: "" }), { field: "result.task_id" });
    const huge = {
      ...makeResult("j"),
      artifacts: Array.from({ length: 3000 }, () => ({ uri: `s3://b/${"k".repeat(100)}` })),
    };
    await assert.rejects(
      publishResult(bus.js, StageResult.fromPartial(huge)),
      /over the 262144-byte limit of a result/,
    );
  });

  it("retries a transient failure after a nak, then acks", async () => {
    await reset();
    const deliveries: number[] = [];
    const c = await start({
      handle: async (_r, ctx) => {
        deliveries.push(ctx.deliveryCount);
        if (ctx.deliveryCount === 1) throw new UnavailableError("job store unreachable");
      },
    });
    await publishResult(bus.js, makeResult("t1"));
    await waitFor("the ack", () => c.stats.acked === 1);
    assert.deepEqual(deliveries, [1, 2]);
    assert.equal(c.stats.retried, 1);
    assert.equal(await stored(), 0);
  });

  it("dead-letters a permanent failure on longshot.dlq.results with the reason, once, and terminates it", async () => {
    await reset();
    const calls: string[] = [];
    const hooked: string[] = [];
    const c = await start({
      handle: async (r) => {
        calls.push(r.taskId);
        throw new IntegrityError("window latents of p1 do not match the plan");
      },
      onDeadLetter: (r, reason) => {
        hooked.push(`${r?.taskId}: ${reason}`);
      },
    });
    await publishResult(bus.js, makeResult("p1"));
    await waitFor("the dead letter", () => c.stats.dead_lettered === 1);
    await delay(2500); // past AckWait: a redelivery would have happened
    assert.deepEqual(calls, ["p1/keyframe"]);
    assert.deepEqual(hooked, ["p1/keyframe: window latents of p1 do not match the plan"]);
    const dlq = await listDeadLetters(bus.js, { stage: "results" });
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0]?.kind, "permanent");
    assert.equal(dlq[0]?.code, "DATA_LOSS");
    assert.equal(dlq[0]?.jobId, "p1");
    assert.equal(dlq[0]?.consumer, RESULTS_CONSUMER);
    assert.equal(dlq[0]?.subject, "longshot.results.keyframe");
    assert.equal(await stored(), 0);
  });

  it("dead-letters after MaxDeliver transient failures", async () => {
    await reset(2);
    const deliveries: number[] = [];
    const c = await start({
      handle: async (_r, ctx) => {
        deliveries.push(ctx.deliveryCount);
        throw new UnavailableError("S3 down");
      },
    });
    await publishResult(bus.js, makeResult("x1"));
    await waitFor("the dead letter", () => c.stats.dead_lettered === 1);
    assert.deepEqual(deliveries, [1, 2]);
    const dlq = await listDeadLetters(bus.js, { stage: "results" });
    assert.equal(dlq[0]?.kind, "max_deliveries");
    assert.match(dlq[0]?.reason ?? "", /gave up after 2 of 2 deliveries: .*S3 down/);
  });

  it("terminates malformed payloads with a reason and keeps running", async () => {
    await reset();
    const handled: string[] = [];
    const c = await start({
      handle: async (r) => {
        handled.push(r.taskId);
      },
    });
    await bus.js.publish(resultSubject("decode"), randomBytes(300));
    await bus.js.publish(resultSubject("decode"), new Uint8Array(0));
    // A valid keyframe result on the decode subject, and one on a subject that is no stage.
    await bus.js.publish(resultSubject("decode"), StageResult.encode(makeResult("wrong")).finish());
    await bus.js.publish("longshot.results.bogus", StageResult.encode(makeResult("bogus")).finish());
    await bus.js.publish(
      resultSubject("keyframe"),
      StageResult.encode({ ...makeResult("x"), jobId: "../../etc" }).finish(),
    );
    await publishResult(bus.js, makeResult("good1"));
    await waitFor("the good result", () => c.stats.acked === 1);
    await waitFor("five dead letters", () => c.stats.dead_lettered === 5);
    assert.deepEqual(handled, ["good1/keyframe"]);
    const reasons = (await listDeadLetters(bus.js, { stage: "results" })).map((r) => `${r.kind}: ${r.reason}`);
    assert.equal(reasons.length, 5);
    assert.ok(
      reasons.every((r) => r.startsWith("malformed: malformed result payload: ")),
      reasons.join("\n"),
    );
    assert.ok(reasons.some((r) => /for stage keyframe but arrived on longshot.results.decode/.test(r)));
    assert.ok(reasons.some((r) => /longshot.results.bogus is not a result subject/.test(r)));
    assert.ok(reasons.some((r) => /empty payload/.test(r)));
    assert.ok(reasons.some((r) => /job_id ".*" is not a valid job id/.test(r)));
    assert.equal(await stored(), 0);
  });

  it("terminates a result whose handler throws CancelledError, without a dead letter", async () => {
    await reset();
    const c = await start({
      handle: async () => {
        throw new CancelledError("job c1 was cancelled");
      },
    });
    await publishResult(bus.js, makeResult("c1"));
    await waitFor("the cancel", () => c.stats.cancelled === 1);
    await delay(2500);
    assert.equal(c.stats.dead_lettered, 0);
    assert.equal((await listDeadLetters(bus.js, { stage: "results" })).length, 0);
    assert.equal(await stored(), 0);
  });

  it("hands an in-flight result back when stopped, so another consumer takes it; runResultConsumer resolves", async () => {
    await reset();
    let release: () => void = () => {};
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    const firstSignals: AbortSignal[] = [];
    const ac = new AbortController();
    const running = runResultConsumer({
      js: bus.js,
      pullExpiresMs: 1000,
      stopTimeoutMs: 200,
      abortGraceMs: 2000,
      signal: ac.signal,
      logger: testLogger("results-1"),
      handle: async (_r, ctx) => {
        firstSignals.push(ctx.signal);
        await Promise.race([
          blocked,
          new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
        ]);
      },
    });
    await publishResult(bus.js, makeResult("h1"));
    await waitFor("the first handler", () => firstSignals.length === 1);
    ac.abort();
    await running; // resolves once the in-flight result was handed back
    assert.equal(firstSignals[0]?.aborted, true);
    release();
    const deliveries: number[] = [];
    const second = await start({
      handle: async (_r, ctx) => {
        deliveries.push(ctx.deliveryCount);
      },
    });
    await waitFor("the second consumer's ack", () => second.stats.acked === 1);
    assert.deepEqual(deliveries, [2]);
  });

  it("fails to start without the consumer, naming it", async () => {
    await assert.rejects(
      runResultConsumer({ js: bus.js, consumer: "nobody", handle: async () => {} }),
      /LONGSHOT_RESULTS\/nobody/,
    );
  });
});
