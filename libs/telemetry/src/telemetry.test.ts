import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { ConfigError, InvalidArgumentError } from "@longshot/core";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { context, propagation, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { initTelemetry, otlpTracesUrl, type Telemetry } from "./init.js";
import {
  extractContext,
  extractMetadataContext,
  extractRecordContext,
  injectHeaders,
  injectMetadata,
  injectRecord,
} from "./propagation.js";
import { startConsumerSpan, startProducerSpan, traceLogMixin, withSpan } from "./spans.js";

const REMOTE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

describe("telemetry", () => {
  let t: Telemetry | undefined;
  // A fresh exporter per test: shutdown() shuts the exporters down with the provider.
  let memory = new InMemorySpanExporter();
  afterEach(async () => {
    await t?.shutdown();
    t = undefined;
    memory = new InMemorySpanExporter();
  });

  it("round-trips trace context through NATS headers, matching header names in any case", async () => {
    t = await initTelemetry({ serviceName: "unit", spanExporters: [memory] });
    const span = trace.getTracer("t").startSpan("parent");
    const ctx = trace.setSpan(context.active(), span);
    const h = injectHeaders(ctx);
    assert.match(
      h.get("traceparent"),
      new RegExp(`^00-${span.spanContext().traceId}-${span.spanContext().spanId}-01$`),
    );
    assert.equal(trace.getSpanContext(extractContext(h))?.spanId, span.spanContext().spanId);

    const upper = natsHeaders();
    upper.set("TRACEPARENT", REMOTE);
    const remote = trace.getSpanContext(extractContext(upper));
    assert.equal(remote?.traceId, "0af7651916cd43dd8448eb211c80319c");
    assert.equal(remote?.isRemote, true);
    // Injecting into headers that already carry "Traceparent" replaces it instead of adding a second value.
    injectHeaders(ctx, upper);
    assert.equal(upper.values("traceparent", "insensitive").length, 1);
    assert.equal(trace.getSpanContext(extractContext(upper))?.spanId, span.spanContext().spanId);
    assert.equal(trace.getSpanContext(extractContext(undefined)), undefined);
    assert.equal(trace.getSpanContext(extractContext(natsHeaders())), undefined);
    span.end();
  });

  it("round-trips trace context through gRPC metadata and plain records", async () => {
    t = await initTelemetry({ serviceName: "unit", spanExporters: [memory] });
    const span = trace.getTracer("t").startSpan("client call");
    const ctx = trace.setSpan(context.active(), span);
    const md = injectMetadata(ctx, new Metadata());
    assert.equal(md.get("traceparent").length, 1);
    assert.equal(trace.getSpanContext(extractMetadataContext(md))?.spanId, span.spanContext().spanId);
    const rec = injectRecord(ctx);
    assert.deepEqual(Object.keys(rec), ["traceparent"]);
    assert.equal(
      trace.getSpanContext(extractRecordContext({ TraceParent: rec.traceparent ?? "" }))?.spanId,
      span.spanContext().spanId,
    );
    span.end();
  });

  it("passes a remote trace through even without an exporter (spans are non-recording)", async () => {
    t = await initTelemetry({ serviceName: "unit" });
    assert.equal(t.tracing, false);
    const upper = natsHeaders();
    upper.set("traceparent", REMOTE);
    const { span, context: ctx } = startConsumerSpan("longshot.tasks.decode", extractContext(upper));
    assert.equal(span.isRecording(), false);
    const out = injectHeaders(ctx);
    assert.match(out.get("traceparent"), /^00-0af7651916cd43dd8448eb211c80319c-/);
    span.end();
  });

  it("withSpan ends the span, records a thrown error (status ERROR, exception, error.type) and rethrows it; producer spans carry messaging attributes", async () => {
    t = await initTelemetry({ serviceName: "unit", spanExporters: [memory] });
    await assert.rejects(
      withSpan("fails", { a: 1 }, async () => {
        assert.ok(traceLogMixin().traceId);
        throw new Error("boom");
      }),
      /boom/,
    );
    const ok = await withSpan("works", {}, async (span) => span.spanContext().spanId);
    const { span } = startProducerSpan("longshot.tasks.keyframe", { "messaging.message.id": "m1" });
    span.end();
    const spans = memory.getFinishedSpans();
    const failed = spans.find((s) => s.name === "fails");
    assert.equal(failed?.status.code, SpanStatusCode.ERROR);
    assert.equal(failed?.status.message, "boom");
    assert.equal(failed?.events[0]?.name, "exception");
    assert.equal(failed?.attributes["error.type"], "Error", "error.type: the error's class name");
    assert.equal(spans.find((s) => s.name === "works")?.spanContext().spanId, ok);
    const send = spans.find((s) => s.name === "send longshot.tasks.keyframe");
    assert.equal(send?.attributes["messaging.system"], "nats");
    assert.equal(send?.attributes["messaging.operation.type"], "send");
    assert.equal(send?.resource.attributes["service.name"], "unit");
    assert.deepEqual(traceLogMixin(), {});
  });

  it("samples root traces by ratio and follows the parent's decision", async () => {
    t = await initTelemetry({ serviceName: "unit", spanExporters: [memory], sampleRatio: 0 });
    const root = trace.getTracer("t").startSpan("unsampled root");
    assert.equal(root.isRecording(), false);
    root.end();
    const sampledParent = natsHeaders();
    sampledParent.set("traceparent", REMOTE);
    const { span } = startConsumerSpan("s", extractContext(sampledParent));
    assert.equal(span.isRecording(), true);
    span.end();
  });

  it("checks its options and refuses a second initialisation", async () => {
    await assert.rejects(initTelemetry({ serviceName: "" }), InvalidArgumentError);
    await assert.rejects(
      initTelemetry({ serviceName: "x", sampleRatio: 2 }),
      /sampleRatio: must be a number in \[0, 1\]/,
    );
    await assert.rejects(initTelemetry({ serviceName: "x", otlpEndpoint: "localhost:4318" }), /otlpEndpoint/);
    await assert.rejects(initTelemetry({ serviceName: "x", otlpEndpoint: "ftp://h/" }), /must be an http\(s\) URL/);
    await assert.rejects(initTelemetry({ serviceName: "x", prometheus: { port: 70000 } }), /prometheus.port/);
    t = await initTelemetry({ serviceName: "x" });
    await assert.rejects(initTelemetry({ serviceName: "y" }), ConfigError);
    await t.shutdown();
    await t.shutdown(); // idempotent
    t = await initTelemetry({ serviceName: "z" });
    assert.ok(propagation.fields().includes("traceparent"));
  });

  it("builds the OTLP traces URL from a base endpoint", () => {
    assert.equal(otlpTracesUrl("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
    assert.equal(otlpTracesUrl("http://jaeger:4318/"), "http://jaeger:4318/v1/traces");
    assert.equal(otlpTracesUrl("https://c.example/otlp/v1/traces"), "https://c.example/otlp/v1/traces");
  });
});
