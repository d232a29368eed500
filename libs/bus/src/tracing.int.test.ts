/**
 * Trace context across the queue: publishTask's PRODUCER span is the parent of the worker's CONSUMER
 * span, whose context the handler runs in; spans reach an OTLP/HTTP endpoint (the harness's receiver).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { initTelemetry, injectRecord, type Telemetry, withSpan } from "@longshot/telemetry";
import { waitFor } from "@longshot/testing";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import type { Bus } from "./connect.js";
import { taskSubject } from "./names.js";
import { publishTask } from "./publish.js";
import { encodeTask } from "./task-codec.js";
import { makeTask, type NatsServers, resetTopology, startNats, testLogger } from "./test-support.js";
import { runWorker, type Worker } from "./worker.js";

describe("trace context through NATS (real nats-server, OTLP receiver)", { timeout: 60_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;
  let telemetry: Telemetry;
  let worker: Worker;
  const memory = new InMemorySpanExporter();
  const handled: Array<{ jobId: string; traceId: string; spanId: string }> = [];

  before(async () => {
    ({ servers, bus } = await startNats(true));
    const otlp = servers.otlp;
    assert.ok(otlp);
    telemetry = await initTelemetry({
      serviceName: "bus-trace-test",
      otlpEndpoint: otlp.endpoint,
      spanExporters: [memory],
    });
    await resetTopology(bus, { ackWaitMs: 2000, maxDeliver: 3 });
    worker = await runWorker({
      js: bus.js,
      consumer: "keyframe",
      pullExpiresMs: 1000,
      logger: testLogger("worker"),
      handle: async (task) => {
        await withSpan("denoise keyframes", { "longshot.job.id": task.jobId }, async (span) => {
          const sc = span.spanContext();
          handled.push({ jobId: task.jobId, traceId: sc.traceId, spanId: sc.spanId });
        });
      },
    });
  });
  after(async () => {
    await worker?.stop();
    await telemetry?.shutdown();
    await bus?.close();
    await servers?.stop();
  });

  const byName = (name: string, traceId: string): ReadableSpan => {
    const s = memory.getFinishedSpans().find((x) => x.name === name && x.spanContext().traceId === traceId);
    assert.ok(
      s,
      `span ${name} in trace ${traceId}; have ${memory
        .getFinishedSpans()
        .map((x) => x.name)
        .join(", ")}`,
    );
    return s;
  };

  it("makes the publisher's span the ancestor of the worker's process span and the handler's spans", async () => {
    const tracer = trace.getTracer("test");
    const root = tracer.startSpan("Generate");
    await context.with(trace.setSpan(context.active(), root), () => publishTask(bus.js, makeTask("trace1")));
    root.end();
    await waitFor("the task handled", () => handled.some((h) => h.jobId === "trace1"));
    await waitFor("the process span ended", () =>
      memory
        .getFinishedSpans()
        .some(
          (s) => s.name === "process longshot.tasks.keyframe" && s.spanContext().traceId === root.spanContext().traceId,
        ),
    );
    const traceId = root.spanContext().traceId;
    const send = byName("send longshot.tasks.keyframe", traceId);
    const proc = byName("process longshot.tasks.keyframe", traceId);
    const step = byName("denoise keyframes", traceId);
    assert.equal(send.kind, SpanKind.PRODUCER);
    assert.equal(send.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(proc.kind, SpanKind.CONSUMER);
    assert.equal(proc.parentSpanContext?.spanId, send.spanContext().spanId);
    assert.equal(step.parentSpanContext?.spanId, proc.spanContext().spanId);
    assert.equal(send.attributes["messaging.system"], "nats");
    assert.equal(send.attributes["messaging.destination.name"], "longshot.tasks.keyframe");
    assert.equal(send.attributes["messaging.operation.type"], "send");
    assert.equal(send.attributes["messaging.message.id"], "trace1/keyframe");
    assert.equal(proc.attributes["messaging.operation.type"], "process");
    assert.equal(proc.attributes["longshot.task.delivery_count"], 1);
    assert.equal(proc.attributes["longshot.task.outcome"], "acked");

    // The same trace reached the OTLP/HTTP endpoint.
    await telemetry.forceFlush();
    const otlp = servers.otlp;
    assert.ok(otlp);
    const exported = await otlp.waitForSpans(traceId, { count: 4 });
    const names = exported.map((s) => s.name).sort();
    assert.deepEqual(names, [
      "Generate",
      "denoise keyframes",
      "process longshot.tasks.keyframe",
      "send longshot.tasks.keyframe",
    ]);
    const exportedProc = exported.find((s) => s.name === "process longshot.tasks.keyframe");
    assert.equal(exportedProc?.kind, 5);
    assert.equal(exportedProc?.parentSpanId, send.spanContext().spanId);
    assert.equal(exportedProc?.serviceName, "bus-trace-test");
  });

  it("reads a trace header written in any letter case, and falls back to the task's trace_context", async () => {
    const upper = natsHeaders();
    const remoteTrace = "0af7651916cd43dd8448eb211c80319c";
    upper.set("TraceParent", `00-${remoteTrace}-b7ad6b7169203331-01`);
    await bus.js.publish(taskSubject("keyframe"), encodeTask(makeTask("trace2")), { headers: upper });
    await waitFor("trace2 handled", () => handled.some((h) => h.jobId === "trace2"));
    assert.equal(handled.find((h) => h.jobId === "trace2")?.traceId, remoteTrace);

    const tracer = trace.getTracer("test");
    const jobSpan = tracer.startSpan("job trace3");
    const record = injectRecord(trace.setSpan(context.active(), jobSpan));
    jobSpan.end();
    assert.match(record.traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await bus.js.publish(taskSubject("keyframe"), encodeTask({ ...makeTask("trace3"), traceContext: record }));
    await waitFor("trace3 handled", () => handled.some((h) => h.jobId === "trace3"));
    assert.equal(handled.find((h) => h.jobId === "trace3")?.traceId, jobSpan.spanContext().traceId);
    await waitFor("the trace3 process span", () =>
      memory
        .getFinishedSpans()
        .some((s) => s.name.startsWith("process") && s.spanContext().traceId === jobSpan.spanContext().traceId),
    );
    const proc = byName("process longshot.tasks.keyframe", jobSpan.spanContext().traceId);
    assert.equal(proc.parentSpanContext?.spanId, jobSpan.spanContext().spanId);
  });
});
