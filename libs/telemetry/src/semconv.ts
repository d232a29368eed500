/**
 * Semantic-convention attribute names used by longshot, copied locally as the OpenTelemetry
 * `semantic-conventions` README advises for the incubating (unstable) messaging attributes, plus
 * longshot's own `longshot.*` attributes (where no convention exists) and the names of the spans of
 * the stage work. There is no `MESSAGING_SYSTEM_VALUE_NATS` upstream, so `"nats"` is defined here.
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

// The stage work inside a task (and inside an embedded run): the spans below and their attributes.
/** Span of one embedded `Engine.generate` run (the distributed root is the gateway's Generate span). */
export const SPAN_GENERATE = "generate";
/** The text encoder call: `[negative, prompt]` → text embeddings. */
export const SPAN_ENCODE_PROMPT = "encode prompt";
/** One denoising loop: the keyframes, or one interpolation pass or window. */
export const SPAN_DENOISE = "denoise";
/** VAE decode of latents into RGB frames, in batches. */
export const SPAN_DECODE = "decode";
/** Reading an input tensor from the blob store by reference and checking it against the ref. */
export const SPAN_FETCH_LATENTS = "fetch latents";
/** Writing an output tensor to the blob store. */
export const SPAN_STORE_LATENTS = "store latents";
/** Encoding frames as one output format (MP4, GIF, PNG frames). */
export const SPAN_ENCODE_VIDEO = "encode video";

/** ONNX Runtime execution provider the stage's sessions run on: "cpu" or "cuda". */
export const ATTR_LONGSHOT_EXECUTION_PROVIDER = "longshot.execution_provider";
/** Frames a span works on: a denoising loop's (or window's) frames, the frames decoded or encoded. */
export const ATTR_LONGSHOT_FRAMES = "longshot.frames";
/** Denoising steps the loop runs (an interpolation pass of strength < 1 runs the last part of its schedule). */
export const ATTR_LONGSHOT_DENOISE_STEPS = "longshot.denoise.steps";
/** The sampler (scheduler) of the loop: "ddim", "euler", "euler-a", "dpm++2m". */
export const ATTR_LONGSHOT_DENOISE_SAMPLER = "longshot.denoise.sampler";
/** Classifier-free guidance scale of the loop. */
export const ATTR_LONGSHOT_DENOISE_GUIDANCE = "longshot.denoise.guidance";
/** First output frame of an interpolation window (set only on a window smaller than its level). */
export const ATTR_LONGSHOT_WINDOW_START = "longshot.window.start";
/** End (exclusive) output frame of an interpolation window (set only on a window smaller than its level). */
export const ATTR_LONGSHOT_WINDOW_END = "longshot.window.end";
/** Frames per VAE decoder call. */
export const ATTR_LONGSHOT_DECODE_BATCH = "longshot.decode.batch";
/** The task field a latent is read for (e.g. "task.interpolation.input_latents"). */
export const ATTR_LONGSHOT_LATENTS_FIELD = "longshot.latents.field";
/** URI of a latent object in the blob store. */
export const ATTR_LONGSHOT_LATENTS_URI = "longshot.latents.uri";
/** Size of a latent object in bytes. */
export const ATTR_LONGSHOT_LATENTS_BYTES = "longshot.latents.bytes";
/**
 * Whether the object read matched its ref (size, SHA-256, dtype and shape): true once checked, false on
 * an IntegrityError; absent when it could not be read at all.
 */
export const ATTR_LONGSHOT_LATENTS_SHA256_OK = "longshot.latents.sha256_ok";
/** Output format encoded: "mp4", "gif", "png". */
export const ATTR_LONGSHOT_VIDEO_FORMAT = "longshot.video.format";
/** Bytes of the encoded output (PNG: all frames together). */
export const ATTR_LONGSHOT_VIDEO_BYTES = "longshot.video.bytes";
