/**
 * Span helpers: `withSpan` for any unit of work, and the messaging spans that the bus creates
 * (`send <subject>` PRODUCER, `process <subject>` CONSUMER) following the OpenTelemetry messaging
 * semantic conventions.
 */
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_OPERATION_TYPE_VALUE_SEND,
  MESSAGING_SYSTEM_VALUE_NATS,
} from "./semconv.js";

/** Instrumentation scope of spans created by longshot's own code. */
export const TRACER_NAME = "longshot";

/** The tracer of longshot's code (a no-op tracer until a tracer provider is registered). */
export function getTracer(name: string = TRACER_NAME): Tracer {
  return trace.getTracer(name);
}

export interface WithSpanOptions {
  kind?: SpanKind;
  /** Parent context; default: the active context. */
  parent?: Context;
  tracer?: Tracer;
}

/**
 * Runs `fn` inside a new active span named `name`. The span ends when `fn` settles; a thrown error
 * is recorded as an exception and sets the span status to ERROR, then rethrown unchanged.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => T | Promise<T>,
  options: WithSpanOptions = {},
): Promise<T> {
  const tracer = options.tracer ?? getTracer();
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    recordError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Records `err` on `span` as an exception event, sets `error.type` (the error's class name, e.g.
 * "IntegrityError") and marks the span as failed (status ERROR with the error's message).
 */
export function recordError(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setAttribute(ATTR_ERROR_TYPE, error.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** A started messaging span and the context that has it as the active span. */
export interface MessagingSpan {
  span: Span;
  context: Context;
}

/**
 * Starts the PRODUCER span `send <subject>` as a child of `parent`. Inject `result.context` into
 * the message headers so consumers become its children; end the span once the publish settled.
 */
export function startProducerSpan(
  subject: string,
  attributes: Attributes = {},
  parent: Context = context.active(),
  tracer: Tracer = getTracer(),
): MessagingSpan {
  const span = tracer.startSpan(
    `send ${subject}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_NATS,
        [ATTR_MESSAGING_DESTINATION_NAME]: subject,
        [ATTR_MESSAGING_OPERATION_NAME]: "send",
        [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_SEND,
        ...attributes,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Starts the CONSUMER span `process <subject>` as a child of the context extracted from the
 * message (`parent`). Run the handler in `result.context` and end the span when it settles.
 */
export function startConsumerSpan(
  subject: string,
  parent: Context,
  attributes: Attributes = {},
  tracer: Tracer = getTracer(),
): MessagingSpan {
  const span = tracer.startSpan(
    `process ${subject}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_NATS,
        [ATTR_MESSAGING_DESTINATION_NAME]: subject,
        [ATTR_MESSAGING_OPERATION_NAME]: "process",
        [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
        ...attributes,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** `{ traceId, spanId }` of the active span, for log lines (pass as `mixin` to `createLogger`). */
export function traceLogMixin(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const sc = span.spanContext();
  if (!trace.isSpanContextValid(sc)) return {};
  return { traceId: sc.traceId, spanId: sc.spanId };
}
