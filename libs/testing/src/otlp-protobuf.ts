/**
 * The protobuf form of an OTLP ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1/trace_service.proto
 * and the messages it uses) decoded into its JSON form (otlp.ts), on @bufbuild/protobuf's wire reader.
 *
 * Field by field rather than through generated types: the maintained OpenTelemetry packages ship no decoder for
 * requests (@opentelemetry/otlp-transformer encodes them with its own writer) nor the OTLP .proto files, and
 * generating types here would add a code generator and its output for the few fields the test receiver reads.
 * See CONTRIBUTING.md (library choices).
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { type OtlpAnyValue, type OtlpKeyValue, type OtlpSpan, type OtlpTracesRequest, toHex } from "./otlp.js";

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
