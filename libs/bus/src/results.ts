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
import { createLogger } from "@longshot/core";
import { StageResult } from "@longshot/proto";
import { extractContext } from "@longshot/telemetry";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import {
  checkIds,
  type DecodeOptions,
  decodeEnvelope,
  type EnvelopeCodec,
  type EnvelopeProblem,
  encodeEnvelope,
} from "./envelope.js";
import { errorMessage, MalformedPayloadError } from "./errors.js";
import {
  RESULTS_CONSUMER,
  RESULTS_DLQ_STAGE,
  RESULTS_STREAM,
  resultSubject,
  type StageName,
  stageNameOf,
  stageOfResultSubject,
} from "./names.js";
import { publishTraced } from "./publish.js";
import { startPullLoop } from "./pull-loop.js";
import {
  type DeadLetterHook,
  type DeliveryContext,
  openPullConsumer,
  type PullLoopHandle,
  type PullLoopStats,
  type PullOptions,
} from "./pull-options.js";

/** Largest result payload accepted by default (results carry references, never tensors). */
export const DEFAULT_MAX_RESULT_BYTES = 256 * 1024;

/** The `Nats-Msg-Id` of a task's result. */
export function resultMsgId(taskId: string): string {
  return `result:${taskId}`;
}

/** What is wrong with a result's envelope, or undefined when it is fine. `field` is the proto field name. */
export function checkResultEnvelope(result: StageResult): EnvelopeProblem | undefined {
  return checkIds(result);
}

const RESULT_CODEC: EnvelopeCodec<StageResult> = {
  type: "StageResult",
  noun: "result",
  decode: (data) => StageResult.decode(data),
  encode: (result) => StageResult.encode(result).finish(),
  check: checkResultEnvelope,
  from: (stage) => resultSubject(stage),
  maxBytes: DEFAULT_MAX_RESULT_BYTES,
  limitOnEncode: true,
};

/**
 * Encodes a result after checking its envelope and size (the coordinator refuses results over
 * DEFAULT_MAX_RESULT_BYTES); throws InvalidArgumentError(`result.<field>`).
 */
export function encodeResult(result: StageResult): Uint8Array {
  return encodeEnvelope(RESULT_CODEC, result);
}

/** Decodes and checks a result payload; anything wrong throws MalformedPayloadError saying what. */
export function decodeResult(data: Uint8Array, options: DecodeOptions = {}): StageResult {
  return decodeEnvelope(RESULT_CODEC, data, options);
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
  await publishTraced(js, {
    subject: resultSubject(stage),
    stream: RESULTS_STREAM,
    data,
    msgId: resultMsgId(result.taskId),
    jobId: result.jobId,
    taskId: result.taskId,
    stage,
    what: `result of task ${result.taskId}`,
    headers: options.headers,
    timeoutMs: options.timeoutMs,
  });
}

/** What a result handler knows besides the result. */
export interface ResultContext extends DeliveryContext {
  readonly stage: StageName;
}

export type ResultHandler = (result: StageResult, ctx: ResultContext) => Promise<void>;

export interface ResultConsumerOptions extends PullOptions {
  handle: ResultHandler;
  /** Default LONGSHOT_RESULTS / `coordinator`. */
  stream?: string;
  consumer?: string;
  /** Called once per dead-lettered result, before it is terminated (e.g. fail the job). Retried 3 times. */
  onDeadLetter?: DeadLetterHook<StageResult>;
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
