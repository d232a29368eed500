/**
 * Semantic-convention attribute names used by longshot, copied locally as the OpenTelemetry
 * `semantic-conventions` README advises for the incubating (unstable) messaging attributes, plus
 * longshot's own `longshot.*` attributes. There is no `MESSAGING_SYSTEM_VALUE_NATS` upstream, so
 * `"nats"` is defined here.
 */

// Messaging (https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/), incubating.
export const ATTR_MESSAGING_SYSTEM = "messaging.system";
export const MESSAGING_SYSTEM_VALUE_NATS = "nats";
export const ATTR_MESSAGING_DESTINATION_NAME = "messaging.destination.name";
export const ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME = "messaging.destination.subscription.name";
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = "messaging.consumer.group.name";
export const ATTR_MESSAGING_OPERATION_NAME = "messaging.operation.name";
export const ATTR_MESSAGING_OPERATION_TYPE = "messaging.operation.type";
export const MESSAGING_OPERATION_TYPE_VALUE_SEND = "send";
export const MESSAGING_OPERATION_TYPE_VALUE_RECEIVE = "receive";
export const MESSAGING_OPERATION_TYPE_VALUE_PROCESS = "process";
export const MESSAGING_OPERATION_TYPE_VALUE_SETTLE = "settle";
export const ATTR_MESSAGING_MESSAGE_ID = "messaging.message.id";
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = "messaging.message.body.size";

// longshot's own attributes.
export const ATTR_LONGSHOT_JOB_ID = "longshot.job.id";
export const ATTR_LONGSHOT_TASK_ID = "longshot.task.id";
export const ATTR_LONGSHOT_STAGE = "longshot.stage";
/** How many times JetStream has delivered the message (1 on the first delivery). */
export const ATTR_LONGSHOT_DELIVERY_COUNT = "longshot.task.delivery_count";
/** JetStream stream sequence of the message. */
export const ATTR_LONGSHOT_STREAM_SEQUENCE = "longshot.stream.sequence";
/** How a task delivery ended: acked, retried, terminated, dead_lettered, cancelled, handed_back. */
export const ATTR_LONGSHOT_TASK_OUTCOME = "longshot.task.outcome";
