/**
 * Generate in its server span, for both APIs: the span is the root of the job's trace, or a child of the
 * caller's trace (gRPC metadata or HTTP headers carrying a W3C traceparent, extracted by the caller into
 * `parent`). The run record keeps the span's context, so every task of the job joins that trace.
 */
import type { GenerateRequest, GenerateResponse } from "@longshot/proto";
import { ATTR_LONGSHOT_JOB_ID, getTracer } from "@longshot/telemetry";
import { type Attributes, type Context, context, SpanKind, trace } from "@opentelemetry/api";

export async function generateInSpan(
  service: { generate(request: GenerateRequest): Promise<GenerateResponse> },
  request: GenerateRequest,
  parent: Context,
  name: string,
  attributes: Attributes,
): Promise<GenerateResponse> {
  const span = getTracer().startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  try {
    const response = await context.with(trace.setSpan(parent, span), () => service.generate(request));
    if (response.job !== undefined) span.setAttribute(ATTR_LONGSHOT_JOB_ID, response.job.id);
    return response;
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: 2, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
