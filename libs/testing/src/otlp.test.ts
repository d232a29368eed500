import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { normalizeId, spansFromJaeger, spansFromOtlp } from "./otlp.js";
import { decodeTracesProtobuf } from "./otlp-protobuf.js";

const TRACE = "0af7651916cd43dd8448eb211c80319c";
const SPAN = "b7ad6b7169203331";
const PARENT = "00f067aa0ba902b7";

function kv(w: BinaryWriter, field: number, key: string, value: (v: BinaryWriter) => void): void {
  w.tag(field, 2).fork();
  w.tag(1, 2).string(key);
  w.tag(2, 2).fork();
  value(w);
  w.join();
  w.join();
}

describe("OTLP protobuf decoding", () => {
  it("decodes an ExportTraceServiceRequest with every AnyValue kind, events, links and status", () => {
    const w = new BinaryWriter();
    w.tag(1, 2).fork(); // ResourceSpans
    w.tag(1, 2).fork(); // Resource
    kv(w, 1, "service.name", (v) => v.tag(1, 2).string("keyframe"));
    w.join();
    w.tag(2, 2).fork(); // ScopeSpans
    w.tag(1, 2).fork().tag(1, 2).string("@longshot/telemetry").tag(2, 2).string("0.1.0").join();
    w.tag(2, 2).fork(); // Span
    w.tag(1, 2).bytes(Buffer.from(TRACE, "hex"));
    w.tag(2, 2).bytes(Buffer.from(SPAN, "hex"));
    w.tag(4, 2).bytes(Buffer.from(PARENT, "hex"));
    w.tag(5, 2).string("denoise");
    w.tag(6, 0).int32(2);
    w.tag(7, 1).fixed64(1_700_000_000_123_456_789n);
    w.tag(8, 1).fixed64(1_700_000_001_000_000_000n);
    kv(w, 9, "step", (v) => v.tag(3, 0).int64(-7n));
    kv(w, 9, "big", (v) => v.tag(3, 0).int64(2n ** 60n));
    kv(w, 9, "ok", (v) => v.tag(2, 0).bool(true));
    kv(w, 9, "cfg", (v) => v.tag(4, 1).double(7.5));
    kv(w, 9, "raw", (v) => v.tag(7, 2).bytes(new Uint8Array([1, 2, 3])));
    kv(w, 9, "dims", (v) => {
      v.tag(5, 2).fork();
      v.tag(1, 2).fork().tag(3, 0).int64(4n).join();
      v.tag(1, 2).fork().tag(1, 2).string("x").join();
      v.join();
    });
    kv(w, 9, "nested", (v) => {
      v.tag(6, 2).fork();
      v.tag(1, 2).fork().tag(1, 2).string("a").tag(2, 2).fork().tag(2, 0).bool(false).join().join();
      v.join();
    });
    w.tag(10, 0).uint32(0); // dropped_attributes_count: ignored
    w.tag(11, 2).fork().tag(1, 1).fixed64(5n).tag(2, 2).string("retry");
    kv(w, 3, "attempt", (v) => v.tag(3, 0).int64(2n));
    w.join();
    w.tag(13, 2).fork().tag(1, 2).bytes(Buffer.from(TRACE, "hex")).tag(2, 2).bytes(Buffer.from(PARENT, "hex")).join();
    w.tag(15, 2).fork().tag(2, 2).string("boom").tag(3, 0).int32(2).join();
    w.tag(16, 5).fixed32(1);
    w.tag(99, 2).string("unknown field is skipped");
    w.join(); // Span
    w.join(); // ScopeSpans
    w.join(); // ResourceSpans
    const spans = spansFromOtlp(decodeTracesProtobuf(w.finish()));
    assert.equal(spans.length, 1);
    assert.deepEqual(spans[0], {
      traceId: TRACE,
      spanId: SPAN,
      parentSpanId: PARENT,
      name: "denoise",
      kind: 2,
      serviceName: "keyframe",
      scopeName: "@longshot/telemetry",
      startTimeUnixNano: "1700000000123456789",
      endTimeUnixNano: "1700000001000000000",
      attributes: {
        step: -7,
        big: String(2n ** 60n),
        ok: true,
        cfg: 7.5,
        raw: "AQID",
        dims: [4, "x"],
        nested: { a: false },
      },
      resourceAttributes: { "service.name": "keyframe" },
      status: { code: 2, message: "boom" },
      events: [{ name: "retry", timeUnixNano: "5", attributes: { attempt: 2 } }],
      links: [{ traceId: TRACE, spanId: PARENT, attributes: {} }],
    });
  });

  it("rejects truncated protobuf", () => {
    const w = new BinaryWriter();
    w.tag(1, 2).fork().tag(2, 2).fork().tag(2, 2).fork().tag(5, 2).string("x").join().join().join();
    const bytes = w.finish();
    assert.throws(() => decodeTracesProtobuf(bytes.subarray(0, bytes.length - 2)));
  });
});

describe("OTLP JSON normalisation", () => {
  it("accepts hex or base64 ids, enum names, and drops an all-zero parent", () => {
    const spans = spansFromOtlp({
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "gateway" } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: Buffer.from(TRACE, "hex").toString("base64"),
                  spanId: SPAN.toUpperCase(),
                  parentSpanId: "0000000000000000",
                  name: "Generate",
                  kind: "SPAN_KIND_SERVER",
                  startTimeUnixNano: 1,
                  endTimeUnixNano: "2",
                  status: { code: "STATUS_CODE_OK" },
                  attributes: [{ key: "n", value: { intValue: "65" } }],
                },
              ],
            },
          ],
        },
      ],
    });
    assert.equal(spans[0]?.traceId, TRACE);
    assert.equal(spans[0]?.spanId, SPAN);
    assert.equal(spans[0]?.parentSpanId, undefined);
    assert.equal(spans[0]?.kind, 2);
    assert.equal(spans[0]?.status.code, 1);
    assert.deepEqual(spans[0]?.attributes, { n: 65 });
    assert.equal(normalizeId("", 8), "");
  });
});

describe("Jaeger query API normalisation", () => {
  it("maps operationName, CHILD_OF, tags, process and logs", () => {
    const spans = spansFromJaeger({
      data: [
        {
          traceID: TRACE,
          processes: { p1: { serviceName: "decoder", tags: [{ key: "host.name", type: "string", value: "h" }] } },
          spans: [
            {
              traceID: TRACE,
              spanID: SPAN,
              operationName: "vae.decode",
              references: [{ refType: "CHILD_OF", traceID: TRACE, spanID: PARENT }],
              startTime: 1_700_000_000_000_000,
              duration: 1500,
              tags: [
                { key: "span.kind", type: "string", value: "consumer" },
                { key: "otel.status_code", type: "string", value: "ERROR" },
                { key: "otel.status_description", type: "string", value: "bad latent" },
                { key: "otel.scope.name", type: "string", value: "@longshot/telemetry" },
                { key: "frames", type: "int64", value: 65 },
              ],
              logs: [
                { timestamp: 1_700_000_000_000_500, fields: [{ key: "event", type: "string", value: "exception" }] },
              ],
              processID: "p1",
            },
          ],
        },
      ],
    });
    assert.deepEqual(spans, [
      {
        traceId: TRACE,
        spanId: SPAN,
        parentSpanId: PARENT,
        name: "vae.decode",
        kind: 5,
        serviceName: "decoder",
        scopeName: "@longshot/telemetry",
        startTimeUnixNano: "1700000000000000000",
        endTimeUnixNano: "1700000000001500000",
        attributes: { frames: 65 },
        resourceAttributes: { "host.name": "h", "service.name": "decoder" },
        status: { code: 2, message: "bad latent" },
        events: [{ name: "exception", timeUnixNano: "1700000000000500000", attributes: {} }],
        links: [],
      },
    ]);
  });
});
