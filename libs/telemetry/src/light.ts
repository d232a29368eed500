/**
 * `@longshot/telemetry/light`: the span helpers and attribute names over `@opentelemetry/api` alone, for
 * libraries that only make spans (the engine's stage functions). It loads no SDK, exporter or NATS client:
 * until a process registers a tracer provider (`initTelemetry`, or its own), every span is a no-op.
 */

export type { Span } from "@opentelemetry/api";
export {
  ATTR_LONGSHOT_DECODE_BATCH,
  ATTR_LONGSHOT_DENOISE_GUIDANCE,
  ATTR_LONGSHOT_DENOISE_SAMPLER,
  ATTR_LONGSHOT_DENOISE_STEPS,
  ATTR_LONGSHOT_EXECUTION_PROVIDER,
  ATTR_LONGSHOT_FRAMES,
  ATTR_LONGSHOT_STAGE,
  ATTR_LONGSHOT_WINDOW_END,
  ATTR_LONGSHOT_WINDOW_START,
  SPAN_DECODE,
  SPAN_DENOISE,
  SPAN_ENCODE_PROMPT,
  SPAN_GENERATE,
} from "./semconv.js";
export { getTracer, recordError, withSpan } from "./spans.js";
