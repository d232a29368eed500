/**
 * W3C trace-context propagation across process boundaries: NATS message headers, gRPC metadata and
 * plain string records (the `trace_context` map of a StageTask).
 *
 * Producers inject the context of their span; consumers extract it and start their span as its
 * child, as the opentelemetry-js-contrib kafkajs instrumentation does. nats.js header lookups are
 * case-sensitive by default (`Match.Exact`), so the NATS getter and setter use `Match.IgnoreCase`:
 * a `Traceparent` written by another client is still found, and never duplicated.
 */

import { Match, type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";

/** Reads NATS headers case-insensitively; a missing header is `undefined` (nats.js returns ""). */
export const natsHeadersGetter: TextMapGetter<MsgHdrs | undefined> = {
  get(carrier, key) {
    if (carrier === undefined || !carrier.has(key, Match.IgnoreCase)) return undefined;
    return carrier.get(key, Match.IgnoreCase);
  },
  keys(carrier) {
    return carrier === undefined ? [] : carrier.keys();
  },
};

/** Writes NATS headers, replacing any existing header of the same name in any letter case. */
export const natsHeadersSetter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value, Match.IgnoreCase);
  },
};

/**
 * Writes the trace context of `ctx` (default: the active context) into NATS headers, creating them
 * when none are given, and returns them. Without an active span (or without a registered
 * propagator) nothing is written.
 */
export function injectHeaders(ctx: Context = context.active(), hdrs: MsgHdrs = natsHeaders()): MsgHdrs {
  propagation.inject(ctx, hdrs, natsHeadersSetter);
  return hdrs;
}

/** The context carried by NATS headers, on top of `base` (default: the root context). */
export function extractContext(hdrs: MsgHdrs | undefined, base: Context = ROOT_CONTEXT): Context {
  return propagation.extract(base, hdrs, natsHeadersGetter);
}

/**
 * The subset of `@grpc/grpc-js`'s `Metadata` used here (structural, so this package does not load
 * grpc-js). grpc-js lowercases keys.
 */
export interface MetadataCarrier {
  get(key: string): ReadonlyArray<string | Uint8Array>;
  set(key: string, value: string): void;
  getMap(): Record<string, unknown>;
}

export const grpcMetadataGetter: TextMapGetter<MetadataCarrier | undefined> = {
  get(carrier, key) {
    if (carrier === undefined) return undefined;
    const values = carrier.get(key.toLowerCase()).filter((v): v is string => typeof v === "string");
    if (values.length === 0) return undefined;
    return values.length === 1 ? values[0] : values;
  },
  keys(carrier) {
    return carrier === undefined ? [] : Object.keys(carrier.getMap());
  },
};

export const grpcMetadataSetter: TextMapSetter<MetadataCarrier> = {
  set(carrier, key, value) {
    carrier.set(key.toLowerCase(), value);
  },
};

/** Writes the trace context of `ctx` into gRPC metadata (client side, before a call). */
export function injectMetadata<M extends MetadataCarrier>(ctx: Context, metadata: M): M {
  propagation.inject(ctx, metadata, grpcMetadataSetter);
  return metadata;
}

/** The context carried by incoming gRPC metadata (server side, in a handler). */
export function extractMetadataContext(metadata: MetadataCarrier | undefined, base: Context = ROOT_CONTEXT): Context {
  return propagation.extract(base, metadata, grpcMetadataGetter);
}

const recordGetter: TextMapGetter<Readonly<Record<string, string>> | undefined> = {
  get(carrier, key) {
    if (carrier === undefined) return undefined;
    const wanted = key.toLowerCase();
    for (const [k, v] of Object.entries(carrier)) if (k.toLowerCase() === wanted) return v;
    return undefined;
  },
  keys(carrier) {
    return carrier === undefined ? [] : Object.keys(carrier);
  },
};

/** The trace context of `ctx` as a plain record (`{ traceparent, tracestate? }`), e.g. for `StageTask.trace_context`. */
export function injectRecord(ctx: Context = context.active()): Record<string, string> {
  const out: Record<string, string> = {};
  propagation.inject(ctx, out, {
    set(carrier, key, value) {
      carrier[key] = value;
    },
  });
  return out;
}

/** The context carried by a plain record (keys matched case-insensitively). */
export function extractRecordContext(
  record: Readonly<Record<string, string>> | undefined,
  base: Context = ROOT_CONTEXT,
): Context {
  return propagation.extract(base, record, recordGetter);
}
