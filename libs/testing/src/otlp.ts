/**
 * OTLP trace payloads (https://opentelemetry.io/docs/specs/otlp/): ExportTraceServiceRequest in its JSON form
 * (otlp-protobuf.ts decodes the protobuf form into it), and one flat span shape (`TestSpan`) that tests assert on, whichever backend
 * (the local receiver or Jaeger's query API) stored the spans.
 */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };

export interface TestSpanEvent {
  name: string;
  timeUnixNano: string;
  attributes: Record<string, AttributeValue>;
}

export interface TestSpanLink {
  traceId: string;
  spanId: string;
  attributes: Record<string, AttributeValue>;
}

/** A span as tests see it. IDs are lowercase hex; times are decimal nanosecond strings. */
export interface TestSpan {
  traceId: string;
  spanId: string;
  /** Absent for a root span. */
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** The `service.name` resource attribute. */
  serviceName?: string;
  scopeName?: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, AttributeValue>;
  resourceAttributes: Record<string, AttributeValue>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  events: TestSpanEvent[];
  links: TestSpanLink[];
}

// ---------------------------------------------------------------------------------------------
// OTLP JSON (the protobuf decoder below produces the same structure)

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
export interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  traceState?: string;
  parentSpanId?: string;
  flags?: number;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: OtlpKeyValue[];
  events?: Array<{ timeUnixNano?: string | number; name?: string; attributes?: OtlpKeyValue[] }>;
  links?: Array<{ traceId?: string; spanId?: string; traceState?: string; attributes?: OtlpKeyValue[] }>;
  status?: { message?: string; code?: number | string };
}
export interface OtlpTracesRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ scope?: { name?: string; version?: string }; spans?: OtlpSpan[]; schemaUrl?: string }>;
    schemaUrl?: string;
  }>;
}

const SPAN_KINDS = [
  "SPAN_KIND_UNSPECIFIED",
  "SPAN_KIND_INTERNAL",
  "SPAN_KIND_SERVER",
  "SPAN_KIND_CLIENT",
  "SPAN_KIND_PRODUCER",
  "SPAN_KIND_CONSUMER",
];
const STATUS_CODES = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** OTLP/JSON uses hex IDs; some producers send base64 (the protobuf-JSON default). Accept both. */
export function normalizeId(id: string | undefined, byteLength: number): string {
  if (!id) return "";
  if (id.length === byteLength * 2 && /^[0-9a-fA-F]+$/.test(id)) return id.toLowerCase();
  const bytes = Buffer.from(id, "base64");
  if (bytes.length === byteLength) return bytes.toString("hex");
  return id.toLowerCase();
}

function enumValue(v: number | string | undefined, names: readonly string[]): number {
  if (v === undefined) return 0;
  if (typeof v === "number") return v;
  const i = names.indexOf(v);
  if (i >= 0) return i;
  const n = Number(v);
  return Number.isInteger(n) ? n : 0;
}

export function attributeValue(v: OtlpAnyValue | undefined): AttributeValue {
  if (v === undefined || v === null) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : String(v.intValue);
  }
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(attributeValue);
  if (v.kvlistValue !== undefined) return attributes(v.kvlistValue.values);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

export function attributes(kvs: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of kvs ?? []) {
    Object.defineProperty(out, kv.key, {
      value: attributeValue(kv.value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Flattens an ExportTraceServiceRequest (JSON form) into TestSpans. */
export function spansFromOtlp(req: OtlpTracesRequest): TestSpan[] {
  const out: TestSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resourceAttributes = attributes(rs.resource?.attributes);
    const serviceName =
      typeof resourceAttributes["service.name"] === "string" ? resourceAttributes["service.name"] : undefined;
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const parent = normalizeId(s.parentSpanId, 8);
        const span: TestSpan = {
          traceId: normalizeId(s.traceId, 16),
          spanId: normalizeId(s.spanId, 8),
          name: s.name ?? "",
          kind: enumValue(s.kind, SPAN_KINDS),
          startTimeUnixNano: String(s.startTimeUnixNano ?? "0"),
          endTimeUnixNano: String(s.endTimeUnixNano ?? "0"),
          attributes: attributes(s.attributes),
          resourceAttributes,
          status: { code: enumValue(s.status?.code, STATUS_CODES) },
          events: (s.events ?? []).map((e) => ({
            name: e.name ?? "",
            timeUnixNano: String(e.timeUnixNano ?? "0"),
            attributes: attributes(e.attributes),
          })),
          links: (s.links ?? []).map((l) => ({
            traceId: normalizeId(l.traceId, 16),
            spanId: normalizeId(l.spanId, 8),
            attributes: attributes(l.attributes),
          })),
        };
        if (parent && !/^0+$/.test(parent)) span.parentSpanId = parent;
        if (serviceName !== undefined) span.serviceName = serviceName;
        if (ss.scope?.name) span.scopeName = ss.scope.name;
        if (s.status?.message) span.status.message = s.status.message;
        out.push(span);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Jaeger query API (GET /api/traces/{traceId}), used when the harness runs Jaeger in Docker.

interface JaegerTag {
  key: string;
  type?: string;
  value: unknown;
}
interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: Array<{ refType: string; traceID: string; spanID: string }>;
  startTime: number; // microseconds
  duration: number; // microseconds
  tags?: JaegerTag[];
  logs?: Array<{ timestamp: number; fields?: JaegerTag[] }>;
  processID: string;
}
export interface JaegerTracesResponse {
  data?: Array<{
    traceID: string;
    spans: JaegerSpan[];
    processes: Record<string, { serviceName: string; tags?: JaegerTag[] }>;
  }>;
}

const JAEGER_KINDS: Record<string, number> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };

function jaegerTags(tags: JaegerTag[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const t of tags ?? []) {
    Object.defineProperty(out, t.key, {
      value: t.value as AttributeValue,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function padId(id: string, bytes: number): string {
  return id.toLowerCase().padStart(bytes * 2, "0");
}

/** Flattens a Jaeger query-API trace response into TestSpans. */
export function spansFromJaeger(res: JaegerTracesResponse): TestSpan[] {
  const out: TestSpan[] = [];
  for (const trace of res.data ?? []) {
    for (const s of trace.spans) {
      const tags = jaegerTags(s.tags);
      const process = trace.processes[s.processID];
      const kind = typeof tags["span.kind"] === "string" ? (JAEGER_KINDS[tags["span.kind"]] ?? 0) : 0;
      const statusTag = tags["otel.status_code"];
      const code = statusTag === "ERROR" || tags.error === true ? 2 : statusTag === "OK" ? 1 : 0;
      const scopeName = tags["otel.scope.name"] ?? tags["otel.library.name"];
      const message = tags["otel.status_description"];
      for (const k of [
        "span.kind",
        "otel.status_code",
        "otel.status_description",
        "otel.scope.name",
        "otel.scope.version",
        "otel.library.name",
        "otel.library.version",
        "error",
        "internal.span.format",
      ]) {
        delete tags[k];
      }
      const start = BigInt(s.startTime) * 1000n;
      const parent = s.references?.find((r) => r.refType === "CHILD_OF");
      const span: TestSpan = {
        traceId: padId(s.traceID, 16),
        spanId: padId(s.spanID, 8),
        name: s.operationName,
        kind,
        startTimeUnixNano: String(start),
        endTimeUnixNano: String(start + BigInt(s.duration) * 1000n),
        attributes: tags,
        resourceAttributes: {
          ...jaegerTags(process?.tags),
          ...(process ? { "service.name": process.serviceName } : {}),
        },
        status: { code },
        events: (s.logs ?? []).map((l) => {
          const f = jaegerTags(l.fields);
          const name = typeof f.event === "string" ? f.event : "";
          delete f.event;
          return { name, timeUnixNano: String(BigInt(l.timestamp) * 1000n), attributes: f };
        }),
        links: (s.references ?? [])
          .filter((r) => r !== parent)
          .map((r) => ({ traceId: padId(r.traceID, 16), spanId: padId(r.spanID, 8), attributes: {} })),
      };
      if (parent) span.parentSpanId = padId(parent.spanID, 8);
      if (process) span.serviceName = process.serviceName;
      if (typeof scopeName === "string") span.scopeName = scopeName;
      if (typeof message === "string" && message) span.status.message = message;
      out.push(span);
    }
  }
  return out;
}
