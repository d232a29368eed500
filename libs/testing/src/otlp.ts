/**
 * OTLP trace payloads (https://opentelemetry.io/docs/specs/otlp/): decoding of ExportTraceServiceRequest in
 * protobuf and JSON form, and one flat span shape (`TestSpan`) that tests assert on, whichever backend
 * (the local receiver or Jaeger's query API) stored the spans.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

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

function toHex(bytes: Uint8Array): string {
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
// Protobuf (opentelemetry/proto/collector/trace/v1/trace_service.proto and the messages it uses)

type Reader = BinaryReader;

function sub(r: Reader): Reader {
  return new BinaryReader(r.bytes());
}

function fields(r: Reader, on: (field: number, wire: WireType) => boolean): void {
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (!on(field, wire)) r.skip(wire, field);
  }
}

function decodeAnyValue(r: Reader): OtlpAnyValue {
  const v: OtlpAnyValue = {};
  fields(r, (f, w) => {
    if (f === 1 && w === WireType.LengthDelimited) v.stringValue = r.string();
    else if (f === 2 && w === WireType.Varint) v.boolValue = r.bool();
    else if (f === 3 && w === WireType.Varint) v.intValue = String(r.int64());
    else if (f === 4 && w === WireType.Bit64) v.doubleValue = r.double();
    else if (f === 5 && w === WireType.LengthDelimited) {
      const values: OtlpAnyValue[] = [];
      const inner = sub(r);
      fields(inner, (ff, ww) => {
        if (ff !== 1 || ww !== WireType.LengthDelimited) return false;
        values.push(decodeAnyValue(sub(inner)));
        return true;
      });
      v.arrayValue = { values };
    } else if (f === 6 && w === WireType.LengthDelimited) {
      const values: OtlpKeyValue[] = [];
      const inner = sub(r);
      fields(inner, (ff, ww) => {
        if (ff !== 1 || ww !== WireType.LengthDelimited) return false;
        values.push(decodeKeyValue(sub(inner)));
        return true;
      });
      v.kvlistValue = { values };
    } else if (f === 7 && w === WireType.LengthDelimited) v.bytesValue = Buffer.from(r.bytes()).toString("base64");
    else return false;
    return true;
  });
  return v;
}

function decodeKeyValue(r: Reader): OtlpKeyValue {
  const kv: OtlpKeyValue = { key: "" };
  fields(r, (f, w) => {
    if (w !== WireType.LengthDelimited) return false;
    if (f === 1) kv.key = r.string();
    else if (f === 2) kv.value = decodeAnyValue(sub(r));
    else return false;
    return true;
  });
  return kv;
}

function decodeSpan(r: Reader): OtlpSpan {
  const s: OtlpSpan = { attributes: [], events: [], links: [] };
  fields(r, (f, w) => {
    switch (f) {
      case 1:
        if (w !== WireType.LengthDelimited) return false;
        s.traceId = toHex(r.bytes());
        return true;
      case 2:
        if (w !== WireType.LengthDelimited) return false;
        s.spanId = toHex(r.bytes());
        return true;
      case 3:
        if (w !== WireType.LengthDelimited) return false;
        s.traceState = r.string();
        return true;
      case 4:
        if (w !== WireType.LengthDelimited) return false;
        s.parentSpanId = toHex(r.bytes());
        return true;
      case 5:
        if (w !== WireType.LengthDelimited) return false;
        s.name = r.string();
        return true;
      case 6:
        if (w !== WireType.Varint) return false;
        s.kind = r.int32();
        return true;
      case 7:
        if (w !== WireType.Bit64) return false;
        s.startTimeUnixNano = String(r.fixed64());
        return true;
      case 8:
        if (w !== WireType.Bit64) return false;
        s.endTimeUnixNano = String(r.fixed64());
        return true;
      case 9:
        if (w !== WireType.LengthDelimited) return false;
        s.attributes?.push(decodeKeyValue(sub(r)));
        return true;
      case 11: {
        if (w !== WireType.LengthDelimited) return false;
        const e: { timeUnixNano?: string; name?: string; attributes: OtlpKeyValue[] } = { attributes: [] };
        const er = sub(r);
        fields(er, (ef, ew) => {
          if (ef === 1 && ew === WireType.Bit64) e.timeUnixNano = String(er.fixed64());
          else if (ef === 2 && ew === WireType.LengthDelimited) e.name = er.string();
          else if (ef === 3 && ew === WireType.LengthDelimited) e.attributes.push(decodeKeyValue(sub(er)));
          else return false;
          return true;
        });
        s.events?.push(e);
        return true;
      }
      case 13: {
        if (w !== WireType.LengthDelimited) return false;
        const l: { traceId?: string; spanId?: string; traceState?: string; attributes: OtlpKeyValue[] } = {
          attributes: [],
        };
        const lr = sub(r);
        fields(lr, (lf, lw) => {
          if (lw !== WireType.LengthDelimited) return false;
          if (lf === 1) l.traceId = toHex(lr.bytes());
          else if (lf === 2) l.spanId = toHex(lr.bytes());
          else if (lf === 3) l.traceState = lr.string();
          else if (lf === 4) l.attributes.push(decodeKeyValue(sub(lr)));
          else return false;
          return true;
        });
        s.links?.push(l);
        return true;
      }
      case 15: {
        if (w !== WireType.LengthDelimited) return false;
        const st: { message?: string; code?: number } = {};
        const sr = sub(r);
        fields(sr, (sf, sw) => {
          if (sf === 2 && sw === WireType.LengthDelimited) st.message = sr.string();
          else if (sf === 3 && sw === WireType.Varint) st.code = sr.int32();
          else return false;
          return true;
        });
        s.status = st;
        return true;
      }
      case 16:
        if (w !== WireType.Bit32) return false;
        s.flags = r.fixed32();
        return true;
      default:
        return false;
    }
  });
  return s;
}

/** Decodes a protobuf ExportTraceServiceRequest into its OTLP/JSON form (hex IDs). Throws on malformed input. */
export function decodeTracesProtobuf(bytes: Uint8Array): OtlpTracesRequest {
  const req: Required<OtlpTracesRequest> = { resourceSpans: [] };
  const r = new BinaryReader(bytes);
  fields(r, (f, w) => {
    if (f !== 1 || w !== WireType.LengthDelimited) return false;
    const rs: NonNullable<OtlpTracesRequest["resourceSpans"]>[number] = { scopeSpans: [] };
    const rr = sub(r);
    fields(rr, (rf, rw) => {
      if (rw !== WireType.LengthDelimited) return false;
      if (rf === 1) {
        const attrs: OtlpKeyValue[] = [];
        const resr = sub(rr);
        fields(resr, (af, aw) => {
          if (af !== 1 || aw !== WireType.LengthDelimited) return false;
          attrs.push(decodeKeyValue(sub(resr)));
          return true;
        });
        rs.resource = { attributes: attrs };
      } else if (rf === 2) {
        const ss: { scope?: { name?: string; version?: string }; spans: OtlpSpan[] } = { spans: [] };
        const sr = sub(rr);
        fields(sr, (sf, sw) => {
          if (sw !== WireType.LengthDelimited) return false;
          if (sf === 1) {
            const scope: { name?: string; version?: string } = {};
            const scr = sub(sr);
            fields(scr, (cf, cw) => {
              if (cw !== WireType.LengthDelimited) return false;
              if (cf === 1) scope.name = scr.string();
              else if (cf === 2) scope.version = scr.string();
              else return false;
              return true;
            });
            ss.scope = scope;
          } else if (sf === 2) ss.spans.push(decodeSpan(sub(sr)));
          else return false;
          return true;
        });
        rs.scopeSpans?.push(ss);
      } else return false;
      return true;
    });
    req.resourceSpans.push(rs);
    return true;
  });
  return req;
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
