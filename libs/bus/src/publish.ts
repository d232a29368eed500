/**
 * Publishing tasks to the stage work queues (and, through `publishTraced`, results: results.ts), and
 * cancel notices.
 */
import { InvalidArgumentError } from "@longshot/core";
import type { StageTask } from "@longshot/proto";
import {
  ATTR_LONGSHOT_JOB_ID,
  ATTR_LONGSHOT_STAGE,
  ATTR_LONGSHOT_STREAM_SEQUENCE,
  ATTR_LONGSHOT_TASK_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
  injectHeaders,
  recordError,
  startProducerSpan,
  type TaskMetrics,
} from "@longshot/telemetry";
import type { JetStreamClient } from "@nats-io/jetstream";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { context } from "@opentelemetry/api";
import { toBusError } from "./errors.js";
import { cancelSubject, HEADER_JOB_ID, HEADER_TASK_ID, stageNameOf, TASKS_STREAM, taskSubject } from "./names.js";
import { encodeTask } from "./task-codec.js";

export interface PublishTaskOptions {
  /** `Nats-Msg-Id` for de-duplication within the stream's duplicate window. Default: the task id. */
  msgId?: string;
  /** More headers (the trace context and longshot's id headers are added). */
  headers?: MsgHdrs;
  /** Publish-ack timeout; default the JetStream client's. */
  timeoutMs?: number;
  metrics?: TaskMetrics;
}

export interface PublishResult {
  stream: string;
  /** Stream sequence of the task message (of the earlier copy when `duplicate`). */
  seq: number;
  /** The stream already had a message with this Msg-Id within its duplicate window: nothing was added. */
  duplicate: boolean;
}

/** One message to publish under a PRODUCER span (see `publishTraced`). */
export interface TracedMessage {
  subject: string;
  /** The stream the subject must land in (`expect.streamName`). */
  stream: string;
  data: Uint8Array;
  msgId: string;
  jobId: string;
  taskId: string;
  stage: string;
  /** "task kf1:keyframe", for the error of a failed publish. */
  what: string;
  headers?: MsgHdrs | undefined;
  timeoutMs?: number | undefined;
}

/**
 * The one way tasks and results are published: under a PRODUCER span `send <subject>`, the current trace
 * context and longshot's id headers in the message headers, `Nats-Msg-Id` for JetStream's de-duplication.
 * Throws UnavailableError (and the like) when NATS does not confirm.
 */
export async function publishTraced(js: JetStreamClient, m: TracedMessage): Promise<PublishResult> {
  const { span, context: spanCtx } = startProducerSpan(m.subject, {
    [ATTR_MESSAGING_MESSAGE_ID]: m.msgId,
    [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: m.data.length,
    [ATTR_LONGSHOT_JOB_ID]: m.jobId,
    [ATTR_LONGSHOT_TASK_ID]: m.taskId,
    [ATTR_LONGSHOT_STAGE]: m.stage,
  });
  try {
    const hdrs = injectHeaders(spanCtx, m.headers ?? natsHeaders());
    hdrs.set(HEADER_JOB_ID, m.jobId);
    hdrs.set(HEADER_TASK_ID, m.taskId);
    const ack = await context.with(spanCtx, () =>
      js.publish(m.subject, m.data, {
        msgID: m.msgId,
        headers: hdrs,
        expect: { streamName: m.stream },
        ...(m.timeoutMs === undefined ? {} : { timeout: m.timeoutMs }),
      }),
    );
    span.setAttribute(ATTR_LONGSHOT_STREAM_SEQUENCE, ack.seq);
    if (ack.duplicate) span.setAttribute("longshot.duplicate", true);
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    const e = toBusError(err, `publish ${m.what} to ${m.subject}`);
    recordError(span, e);
    throw e;
  } finally {
    span.end();
  }
}

/**
 * Publishes a task to its stage's queue (`longshot.tasks.<stage>`), protobuf-encoded, with
 * `Nats-Msg-Id` = task id (a repeated publish within the duplicate window is dropped by JetStream)
 * and the current trace context in the headers, under a PRODUCER span `send <subject>`.
 * Throws InvalidArgumentError for a bad task and UnavailableError when NATS does not confirm.
 */
export async function publishTask(
  js: JetStreamClient,
  task: StageTask,
  options: PublishTaskOptions = {},
): Promise<PublishResult> {
  const data = encodeTask(task);
  const stage = stageNameOf(task.stage);
  if (stage === undefined) throw new InvalidArgumentError("task.stage", "is not a stage"); // encodeTask checked it
  const msgId = options.msgId ?? task.taskId;
  if (msgId.length === 0 || /[\r\n]/.test(msgId)) {
    throw new InvalidArgumentError("msgId", "must be non-empty and on one line");
  }
  const published = await publishTraced(js, {
    subject: taskSubject(stage),
    stream: TASKS_STREAM,
    data,
    msgId,
    jobId: task.jobId,
    taskId: task.taskId,
    stage,
    what: `task ${task.taskId}`,
    headers: options.headers,
    timeoutMs: options.timeoutMs,
  });
  options.metrics?.taskPublished(stage);
  return published;
}

/**
 * Tells running workers that a job was cancelled (core NATS, at most once: workers also check the
 * job's state before they start a task). A worker running a task of the job aborts its signal.
 */
export function publishCancel(nc: NatsConnection, jobId: string, reason = "cancelled by request"): void {
  nc.publish(cancelSubject(jobId), reason);
}
