/**
 * initTelemetry against real endpoints: the harness's OTLP/HTTP receiver and the Prometheus endpoint.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startServers, type TestServers } from "@longshot/testing";
import { SpanKind, trace } from "@opentelemetry/api";
import { initTelemetry, type Telemetry } from "./init.js";
import { createTaskMetrics } from "./metrics.js";
import { withSpan } from "./spans.js";

describe("initTelemetry (OTLP receiver, Prometheus)", { timeout: 60_000 }, () => {
  let servers: TestServers<{ otlp: true }>;
  let t: Telemetry;

  before(async () => {
    servers = await startServers({ otlp: true, log: () => {} });
    t = await initTelemetry({
      serviceName: "telemetry-test",
      serviceVersion: "1.2.3",
      otlpEndpoint: servers.otlp.endpoint,
      prometheus: { port: 0, host: "127.0.0.1" },
    });
  });
  after(async () => {
    await t?.shutdown();
    await servers?.stop();
  });

  it("exports spans over OTLP/HTTP with the service name and parent links", async () => {
    let traceId = "";
    await withSpan("Generate", { "longshot.job.id": "j1" }, async (root) => {
      traceId = root.spanContext().traceId;
      await withSpan("plan", {}, async () => {}, { kind: SpanKind.INTERNAL });
    });
    await t.forceFlush();
    const spans = await servers.otlp.waitForSpans(traceId, { count: 2 });
    const root = spans.find((s) => s.name === "Generate");
    const child = spans.find((s) => s.name === "plan");
    assert.equal(root?.serviceName, "telemetry-test");
    assert.equal(root?.resourceAttributes["service.version"], "1.2.3");
    assert.equal(root?.attributes["longshot.job.id"], "j1");
    assert.equal(child?.parentSpanId, root?.spanId);
    assert.equal(trace.getActiveSpan(), undefined);
  });

  it("serves task metrics at /metrics in the Prometheus text format", async () => {
    assert.match(t.metricsUrl ?? "", /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const m = createTaskMetrics();
    m.taskPublished("keyframe");
    m.taskStarted("keyframe");
    m.taskFinished("keyframe", "acked", 1.5);
    m.deadLettered("decode", "malformed");
    const stop = m.observeQueueDepth(() => ({ keyframe: 7 }));
    const text = await (await fetch(t.metricsUrl ?? "")).text();
    stop();
    assert.match(text, /longshot_task_published(_total)?\{[^}]*longshot_stage="keyframe"[^}]*\} 1/);
    assert.match(text, /longshot_task_deliveries(_total)?\{[^}]*longshot_task_outcome="acked"[^}]*\} 1/);
    assert.match(text, /longshot_task_duration(_seconds)?_bucket\{[^}]*le="2.5"[^}]*\} 1/);
    assert.match(text, /longshot_task_dead_letters(_total)?\{[^}]*longshot_dead_letter_kind="malformed"[^}]*\} 1/);
    assert.match(text, /longshot_queue_depth\{[^}]*longshot_stage="keyframe"[^}]*\} 7/);
    assert.equal((await fetch(t.metricsUrl?.replace("/metrics", "/other") ?? "")).status, 404);
  });
});
