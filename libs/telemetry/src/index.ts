export { initTelemetry, type Telemetry, telemetryConfig } from "./init.js";
export { createTaskMetrics, type TaskMetrics, type TaskOutcome } from "./metrics.js";
export {
  extractContext,
  extractMetadataContext,
  extractRecordContext,
  injectHeaders,
  injectRecord,
} from "./propagation.js";
export {
  ATTR_LONGSHOT_DELIVERY_COUNT,
  ATTR_LONGSHOT_JOB_ID,
  ATTR_LONGSHOT_STAGE,
  ATTR_LONGSHOT_STREAM_SEQUENCE,
  ATTR_LONGSHOT_TASK_ID,
  ATTR_LONGSHOT_TASK_OUTCOME,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
} from "./semconv.js";
export { getTracer, recordError, startConsumerSpan, startProducerSpan, traceLogMixin, withSpan } from "./spans.js";
