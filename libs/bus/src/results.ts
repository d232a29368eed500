/**
 * Stage results: what a stage worker reports when a task is done, and the coordinator's loop that
 * reads them.
 *
 * - `publishResult` puts a `StageResult` (protobuf) on `longshot.results.<stage>` (stream
 *   LONGSHOT_RESULTS, WorkQueue) with `Nats-Msg-Id` = `result:<task id>`: a task that runs again
 *   within the duplicate window (a redelivery after a lost ack) does not report twice. The current
 *   trace context travels in the headers, under a PRODUCER span `send <subject>`.
 * - `runResultConsumer` is the coordinator's pull loop on the durable consumer `coordinator`, the
 *   result side of the one pull loop (pull-loop.ts): one result at a time per slot (`next()`), `working()` while the
 *   handler runs, success → `ackAck`, transient failure with attempts left → `nak(delay)`, anything
 *   else (or the last attempt) → a dead-letter record on `longshot.dlq.results` and `term`, a
 *   `CancelledError` from the handler → `term` without a record (the job no longer wants it), stop →
 *   `nak()` (handed to another gateway replica). A malformed payload is dead-lettered and terminated
 *   with the reason and never stops the loop. A MAX_DELIVERIES advisory (the last delivery timed out)
 *   is a second path to the DLQ.
 */
import { hostname } from "node:os";
import { createLogger, InvalidArgumentError } from "@longshot/core";
import { StageResult } from "@longshot/proto";
import {
  ATTR_LONGSHOT_JOB_ID,
  ATTR_LONGSHOT_STAGE,
  ATTR_LONGSHOT_STREAM_SEQUENCE,
  ATTR_LONGSHOT_TASK_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
  extractContext,
  injectHeaders,
  recordError,
  startProducerSpan,
} from "@longshot/telemetry";
import type { JetStreamClient } from "@nats-io/jetstream";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { context } from "@opentelemetry/api";
import type { DeadLetterRecord } from "./dead-letter.js";
import { errorMessage, MalformedPayloadError, toBusError } from "./errors.js";
import {
  HEADER_JOB_ID,
  HEADER_TASK_ID,
  isValidJobId,
  RESULTS_CONSUMER,
  RESULTS_DLQ_STAGE,
  RESULTS_STREAM,
  resultSubject,
  type StageName,
  stageNameOf,
  stageOfResultSubject,
} from "./names.js";
import { startPullLoop } from "./pull-loop.js";
import {
  type DeliveryContext,
  openPullConsumer,
  type PullLoopHandle,
  type PullLoopStats,
  type PullOptions,
} from "./pull-options.js";

/** Largest result payload accepted by default (results carry references, never tensors). */
export const DEFAULT_MAX_RESULT_BYTES = 256 * 1024;

const MAX_ID_CHARS = 256;
const TASK_ID_RE = /^[\x21-\x7e]+$/;

/** The `Nats-Msg-Id` of a task's result. */
export function resultMsgId(taskId: string): string {
  return `result:${taskId}`;
}

/** What is wrong with a result's envelope, or undefined when it is fine. `field` is the proto field name. */
export function checkResultEnvelope(result: StageResult): { field: string; problem: string } | undefined {
  if (!isValidJobId(result.jobId)) {
    return {
      field: "job_id",
      problem: `${show(result.jobId)} is not a valid job id (1-128 characters of A-Z a-z 0-9 _ -)`,
    };
  }
  if (result.taskId.length === 0 || result.taskId.length > MAX_ID_CHARS || !TASK_ID_RE.test(result.taskId)) {
    return {
      field: "task_id",
      problem: `${show(result.taskId)} must be 1-${MAX_ID_CHARS} printable ASCII characters without spaces`,
    };
  }
  if (stageNameOf(result.stage) === undefined) {
    return { field: "stage", problem: `${result.stage} is not a stage (keyframe, interpolation, decode)` };
  }
  return undefined;
}

/**
 * Encodes a result after checking its envelope and size (the coordinator refuses results over
 * DEFAULT_MAX_RESULT_BYTES); throws InvalidArgumentError(`result.<field>`).
 */
export function encodeResult(result: StageResult): Uint8Array {
  const bad = checkResultEnvelope(result);
  if (bad !== undefined) throw new InvalidArgumentError(`result.${bad.field}`, bad.problem);
  const data = StageResult.encode(result).finish();
  if (data.length > DEFAULT_MAX_RESULT_BYTES) {
    throw new InvalidArgumentError(
      "result",
      `task ${result.taskId}: ${data.length} bytes encoded, over the ${DEFAULT_MAX_RESULT_BYTES}-byte limit of a result`,
    );
  }
  return data;
}

export interface DecodeResultOptions {
  /** The stage of the subject the message came from: a result for another stage is refused. */
  stage?: StageName;
  maxBytes?: number;
}

/** Decodes and checks a result payload; anything wrong throws MalformedPayloadError saying what. */
export function decodeResult(data: Uint8Array, options: DecodeResultOptions = {}): StageResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_RESULT_BYTES;
  if (data.length === 0) throw new MalformedPayloadError("empty payload (expected a protobuf longshot.v1.StageResult)");
  if (data.length > maxBytes) {
    throw new MalformedPayloadError(`${data.length} bytes exceeds the limit of ${maxBytes} bytes for a result`);
  }
  let result: StageResult;
  try {
    result = StageResult.decode(data);
  } catch (err) {
    throw new MalformedPayloadError(`not a protobuf longshot.v1.StageResult: ${errorMessage(err)}`, { cause: err });
  }
  const bad = checkResultEnvelope(result);
  if (bad !== undefined) throw new MalformedPayloadError(`not a valid StageResult: ${bad.field} ${bad.problem}`);
  if (options.stage !== undefined && stageNameOf(result.stage) !== options.stage) {
    throw new MalformedPayloadError(
      `result of task ${result.taskId} is for stage ${stageNameOf(result.stage)} but arrived on longshot.results.${options.stage}`,
    );
  }
  return result;
}

export interface PublishResultOptions {
  /** More headers (the trace context and longshot's id headers are added). */
  headers?: MsgHdrs;
  /** Publish-ack timeout; default the JetStream client's. */
  timeoutMs?: number;
}

/**
 * Publishes a task's result to `longshot.results.<stage>` (see the module comment). Throws
 * InvalidArgumentError for a bad result and UnavailableError when NATS does not confirm.
 */
export async function publishResult(
  js: JetStreamClient,
  result: StageResult,
  options: PublishResultOptions = {},
): Promise<void> {
  const data = encodeResult(result);
  const stage = stageNameOf(result.stage) as StageName; // encodeResult checked it
  const subject = resultSubject(stage);
  const msgId = resultMsgId(result.taskId);
  const { span, context: spanCtx } = startProducerSpan(subject, {
    [ATTR_MESSAGING_MESSAGE_ID]: msgId,
    [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: data.length,
    [ATTR_LONGSHOT_JOB_ID]: result.jobId,
    [ATTR_LONGSHOT_TASK_ID]: result.taskId,
    [ATTR_LONGSHOT_STAGE]: stage,
  });
  try {
    const hdrs = injectHeaders(spanCtx, options.headers ?? natsHeaders());
    hdrs.set(HEADER_JOB_ID, result.jobId);
    hdrs.set(HEADER_TASK_ID, result.taskId);
    const ack = await context.with(spanCtx, () =>
      js.publish(subject, data, {
        msgID: msgId,
        headers: hdrs,
        expect: { streamName: RESULTS_STREAM },
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      }),
    );
    span.setAttribute(ATTR_LONGSHOT_STREAM_SEQUENCE, ack.seq);
    if (ack.duplicate) span.setAttribute("longshot.duplicate", true);
  } catch (err) {
    const e = toBusError(err, `publish result of task ${result.taskId} to ${subject}`);
    recordError(span, e);
    throw e;
  } finally {
    span.end();
  }
}

/** What a result handler knows besides the result. */
export interface ResultContext extends DeliveryContext {
  readonly stage: StageName;
}

export type ResultHandler = (result: StageResult, ctx: ResultContext) => Promise<void>;

export type ResultDeadLetterHook = (
  result: StageResult | undefined,
  reason: string,
  record: DeadLetterRecord,
) => void | Promise<void>;

export interface ResultConsumerOptions extends PullOptions {
  handle: ResultHandler;
  /** Default LONGSHOT_RESULTS / `coordinator`. */
  stream?: string;
  consumer?: string;
  /** Called once per dead-lettered result, before it is terminated (e.g. fail the job). Retried 3 times. */
  onDeadLetter?: ResultDeadLetterHook;
}

export type ResultConsumerStats = PullLoopStats;

export type ResultConsumer = PullLoopHandle;

/** A result and the stage of the subject it came on. */
interface Delivered {
  result: StageResult;
  stage: StageName;
}

/**
 * Starts the coordinator's result loop (see the module comment) and returns once it is pulling.
 * Throws NotFoundError when the consumer does not exist (run ensureTopology) and ConfigError for
 * bad options.
 */
export async function startResultConsumer(options: ResultConsumerOptions): Promise<ResultConsumer> {
  const stream = options.stream ?? RESULTS_STREAM;
  const consumerName = options.consumer ?? RESULTS_CONSUMER;
  const opened = await openPullConsumer("runResultConsumer", options, stream, consumerName);
  const workerId = options.workerId ?? `${hostname()}/${process.pid}`;
  const maxBytes = options.maxPayloadBytes ?? DEFAULT_MAX_RESULT_BYTES;
  const onDeadLetter = options.onDeadLetter;
  const loop = startPullLoop<Delivered>(
    {
      ...options,
      name: "runResultConsumer",
      noun: "result",
      stream,
      consumer: consumerName,
      workerId,
      logger: (options.logger ?? createLogger("bus", "warn")).child({
        component: "result-consumer",
        consumer: consumerName,
        workerId,
      }),
      decode(data, subject) {
        const stage = stageOfResultSubject(subject);
        if (stage === undefined) throw new MalformedPayloadError(`subject ${subject} is not a result subject`);
        return { result: decodeResult(data, { stage, maxBytes }), stage };
      },
      ids: ({ result }) => ({ jobId: result.jobId, taskId: result.taskId }),
      handle: ({ result, stage }, ctx) => options.handle(result, { ...ctx, stage }),
      cancelled: ({ result }, err) => `result of task ${result.taskId} no longer wanted: ${errorMessage(err)}`,
      trace: { parent: (headers) => extractContext(headers), stage: (d) => d.stage },
      deadLetters: {
        stage: RESULTS_DLQ_STAGE,
        malformed: "malformed result payload",
        hook: onDeadLetter && ((d, reason, record) => onDeadLetter(d?.result, reason, record)),
        timedOut: (d, seq, deliveries) =>
          `no delivery of the result of task ${d?.result.taskId ?? `#${seq}`} finished within AckWait after ` +
          `${deliveries} attempts (coordinator crashed or hung)`,
      },
    },
    opened,
  );
  return loop;
}

/**
 * The coordinator's result loop (see the module comment): runs until `signal` aborts, then
 * resolves once in-flight results are settled. Rejects with NotFoundError when the consumer does
 * not exist (run ensureTopology), ConfigError for bad options, UnavailableError when the NATS
 * connection is closed under it.
 */
export async function runResultConsumer(options: ResultConsumerOptions): Promise<void> {
  const rc = await startResultConsumer(options);
  await rc.done;
}

function show(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}
