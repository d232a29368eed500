/**
 * Stage results: what a stage worker reports when a task is done, and the coordinator's loop that
 * reads them.
 *
 * - `publishResult` puts a `StageResult` (protobuf) on `longshot.results.<stage>` (stream
 *   LONGSHOT_RESULTS, WorkQueue) with `Nats-Msg-Id` = `result:<task id>`: a task that runs again
 *   within the duplicate window (a redelivery after a lost ack) does not report twice. The current
 *   trace context travels in the headers, under a PRODUCER span `send <subject>`.
 * - `runResultConsumer` is the coordinator's pull loop on the durable consumer `coordinator`, with
 *   the semantics of `runWorker`: one result at a time per slot (`next()`), `working()` while the
 *   handler runs, success → `ackAck`, transient failure with attempts left → `nak(delay)`, anything
 *   else (or the last attempt) → a dead-letter record on `longshot.dlq.results` and `term`, a
 *   `CancelledError` from the handler → `term` without a record (the job no longer wants it), stop →
 *   `nak()` (handed to another gateway replica). A malformed payload is dead-lettered and terminated
 *   with the reason and never stops the loop. A MAX_DELIVERIES advisory (the last delivery timed out)
 *   is a second path to the DLQ.
 */
import { hostname } from "node:os";
import {
  CancelledError,
  ConfigError,
  createLogger,
  InvalidArgumentError,
  type Logger,
  UnavailableError,
} from "@longshot/core";
import { StageResult } from "@longshot/proto";
import {
  ATTR_LONGSHOT_DELIVERY_COUNT,
  ATTR_LONGSHOT_JOB_ID,
  ATTR_LONGSHOT_STAGE,
  ATTR_LONGSHOT_STREAM_SEQUENCE,
  ATTR_LONGSHOT_TASK_ID,
  ATTR_LONGSHOT_TASK_OUTCOME,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
  extractContext,
  injectHeaders,
  recordError,
  startConsumerSpan,
  startProducerSpan,
  type TaskOutcome,
} from "@longshot/telemetry";
import { AckPolicy, type Consumer, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders, type Subscription } from "@nats-io/transport-node";
import { type Context, context } from "@opentelemetry/api";
import { supportsTermReason } from "./connect.js";
import {
  type DeadLetterKind,
  type DeadLetterRecord,
  makeDeadLetterRecord,
  oneLineReason,
  publishDeadLetter,
} from "./dead-letter.js";
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
import {
  backoffRetryDelay,
  checkPullOptions,
  connectionOf,
  failureDisposition,
  type HandlerResult,
  sleep,
} from "./pull-support.js";

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
export interface ResultContext {
  readonly stage: StageName;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** Deliveries JetStream allows (-1: unlimited). */
  readonly maxDeliver: number;
  readonly redelivered: boolean;
  readonly streamSequence: number;
  /** The context with the `process` span active (the handler already runs inside it); its parent is the worker's publish. */
  readonly traceContext: Context;
  /** Aborted when the consumer stops and the handler ran past `stopTimeoutMs`. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Extends the ack deadline now (the loop also does this on its own every heartbeatMs). */
  working(): void;
}

export type ResultHandler = (result: StageResult, ctx: ResultContext) => Promise<void>;

export type ResultDeadLetterHook = (
  result: StageResult | undefined,
  reason: string,
  record: DeadLetterRecord,
) => void | Promise<void>;

export interface ResultConsumerOptions {
  js: JetStreamClient;
  /** The connection of `js` (term reasons, MAX_DELIVERIES advisories); default: the one `js` was made from. */
  nc?: NatsConnection;
  handle: ResultHandler;
  /** Aborting it stops the consumer; the returned promise resolves once every slot has ended. */
  signal?: AbortSignal;
  logger?: Logger;
  /** Default LONGSHOT_RESULTS / `coordinator`. */
  stream?: string;
  consumer?: string;
  /** Results handled at once by this process (default 1). */
  concurrency?: number;
  /** Called once per dead-lettered result, before it is terminated (e.g. fail the job). Retried 3 times. */
  onDeadLetter?: ResultDeadLetterHook;
  /** Delay before a transient failure is retried (default: 1 s, 2 s, 4 s … up to 30 s, ±20 % jitter). */
  retryDelayMs?: (deliveryCount: number, err: unknown) => number;
  /** Interval of `working()` while a handler runs; below AckWait / 2 (default AckWait / 3). */
  heartbeatMs?: number;
  /** How long in-flight handlers may run on after stop before they are aborted and handed back (default 30 s). */
  stopTimeoutMs?: number;
  /** After aborting, how long to wait for a handler to return before naking its result anyway (default 5 s). */
  abortGraceMs?: number;
  /** Longest a pull waits before asking again (default 5 s; also bounds how long a stop waits for idle slots). */
  pullExpiresMs?: number;
  /** Largest accepted payload (default 256 KiB). */
  maxPayloadBytes?: number;
  /** Handle MAX_DELIVERIES advisories (default true). */
  deadLetterAdvisories?: boolean;
  /** Default `<hostname>/<pid>`. */
  workerId?: string;
}

export interface ResultConsumerStats {
  acked: number;
  retried: number;
  dead_lettered: number;
  cancelled: number;
  handed_back: number;
}

export interface ResultConsumer {
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly heartbeatMs: number;
  readonly inFlight: number;
  readonly stats: Readonly<ResultConsumerStats>;
  /** Stops (as aborting `signal`); resolves when every slot has ended. Idempotent. */
  stop(): Promise<void>;
  /** Resolves once stopped; rejects with UnavailableError if the NATS connection was closed under the consumer. */
  readonly done: Promise<void>;
}

/** The default `retryDelayMs`: 1 s, 2 s, 4 s … up to 30 s, ±20 % jitter. */
export function defaultResultRetryDelay(deliveryCount: number): number {
  return backoffRetryDelay(deliveryCount);
}

interface InFlight {
  ac: AbortController;
  stopping: boolean;
  settled: Promise<unknown>;
  abandon: () => void;
}

/**
 * Starts the coordinator's result loop (see the module comment) and returns once it is pulling.
 * Throws NotFoundError when the consumer does not exist (run ensureTopology) and ConfigError for
 * bad options.
 */
export async function startResultConsumer(options: ResultConsumerOptions): Promise<ResultConsumer> {
  const stream = options.stream ?? RESULTS_STREAM;
  const consumerName = options.consumer ?? RESULTS_CONSUMER;
  const concurrency = options.concurrency ?? 1;
  checkPullOptions("runResultConsumer", { ...options, concurrency });
  const js = options.js;
  const nc = options.nc ?? connectionOf(js);
  const workerId = options.workerId ?? `${hostname()}/${process.pid}`;
  const logger = (options.logger ?? createLogger("bus", "warn")).child({
    component: "result-consumer",
    consumer: consumerName,
    workerId,
  });

  let consumer: Consumer;
  let ackWaitMs: number;
  let maxDeliver: number;
  const jsm = await js.jetstreamManager().catch((err: unknown) => {
    throw toBusError(err, `runResultConsumer ${stream}/${consumerName}`);
  });
  try {
    const ci = await jsm.consumers.info(stream, consumerName);
    if (ci.config.ack_policy !== AckPolicy.Explicit) {
      throw new ConfigError(
        `runResultConsumer: consumer ${stream}/${consumerName} must use explicit acks, has ${ci.config.ack_policy}`,
      );
    }
    ackWaitMs = Math.round((ci.config.ack_wait ?? 30e9) / 1e6);
    maxDeliver = ci.config.max_deliver ?? -1;
    consumer = await js.consumers.get(stream, consumerName);
  } catch (err) {
    throw toBusError(err, `runResultConsumer ${stream}/${consumerName}`);
  }
  const heartbeatMs = options.heartbeatMs ?? Math.max(100, Math.floor(ackWaitMs / 3));
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 50 || heartbeatMs >= ackWaitMs / 2) {
    throw new ConfigError(
      `runResultConsumer: heartbeatMs (${heartbeatMs}) must be an integer in [50, AckWait/2) with AckWait ${ackWaitMs} ms`,
    );
  }
  const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
  const abortGraceMs = options.abortGraceMs ?? 5000;
  const pullExpiresMs = options.pullExpiresMs ?? 5000;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_RESULT_BYTES;
  const retryDelay = options.retryDelayMs ?? defaultResultRetryDelay;
  const termReason = supportsTermReason(nc?.info?.version);

  const stats: ResultConsumerStats = { acked: 0, retried: 0, dead_lettered: 0, cancelled: 0, handed_back: 0 };
  const inflight = new Set<InFlight>();
  const stopAc = new AbortController();
  let stopping = false;
  let connectionLost = false;

  const term = (msg: JsMsg, reason: string) => {
    if (termReason) msg.term(oneLineReason(reason));
    else msg.term();
  };

  async function runHook(result: StageResult | undefined, record: DeadLetterRecord): Promise<boolean> {
    if (options.onDeadLetter === undefined) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        await options.onDeadLetter(result, record.reason, record);
        return true;
      } catch (err) {
        if (attempt >= 3) {
          logger.error({ err, taskId: record.taskId, jobId: record.jobId }, "onDeadLetter failed 3 times");
          return false;
        }
        await sleep(200 * 4 ** (attempt - 1));
      }
    }
  }

  function deadLetterRecord(
    kind: DeadLetterKind,
    reason: string,
    code: string,
    subject: string,
    seq: number,
    deliveries: number,
    result: StageResult | undefined,
    payload: Uint8Array,
  ): DeadLetterRecord {
    return makeDeadLetterRecord({
      kind,
      reason,
      code,
      stage: RESULTS_DLQ_STAGE,
      stream,
      consumer: consumerName,
      subject,
      streamSequence: seq,
      deliveryCount: deliveries,
      ...(result === undefined ? {} : { jobId: result.jobId, taskId: result.taskId }),
      workerId,
      payload,
    });
  }

  /** Dead-letters a delivered result, then terminates it; naks instead when the record or hook could not be written. */
  async function deadLetter(
    msg: JsMsg,
    result: StageResult | undefined,
    kind: DeadLetterKind,
    reason: string,
    code: string,
    log: Logger,
  ): Promise<TaskOutcome> {
    const record = deadLetterRecord(kind, reason, code, msg.subject, msg.seq, msg.info.deliveryCount, result, msg.data);
    try {
      await publishDeadLetter(js, record);
    } catch (err) {
      log.error({ err, reason: record.reason }, "cannot write the dead-letter record; result returned to the queue");
      msg.nak(retryDelay(msg.info.deliveryCount, err));
      return "retried";
    }
    if (!(await runHook(result, record))) {
      msg.nak(retryDelay(msg.info.deliveryCount, undefined));
      return "retried";
    }
    term(msg, record.reason);
    log.error({ kind, code, reason: record.reason }, "result dead-lettered");
    return "dead_lettered";
  }

  async function processMessage(msg: JsMsg): Promise<TaskOutcome> {
    const deliveryCount = msg.info.deliveryCount;
    const baseLog = logger.child({ seq: msg.seq, delivery: deliveryCount, subject: msg.subject });
    const stage = stageOfResultSubject(msg.subject);
    let result: StageResult;
    try {
      if (stage === undefined) throw new MalformedPayloadError(`subject ${msg.subject} is not a result subject`);
      result = decodeResult(msg.data, { stage, maxBytes: maxPayloadBytes });
    } catch (err) {
      const why = errorMessage(err);
      return deadLetter(msg, undefined, "malformed", `malformed result payload: ${why}`, "INVALID_ARGUMENT", baseLog);
    }
    const log = baseLog.child({ jobId: result.jobId, taskId: result.taskId });
    const { span, context: spanCtx } = startConsumerSpan(msg.subject, extractContext(msg.headers), {
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumerName,
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: msg.data.length,
      [ATTR_LONGSHOT_JOB_ID]: result.jobId,
      [ATTR_LONGSHOT_TASK_ID]: result.taskId,
      [ATTR_LONGSHOT_STAGE]: stage,
      [ATTR_LONGSHOT_DELIVERY_COUNT]: deliveryCount,
      [ATTR_LONGSHOT_STREAM_SEQUENCE]: msg.seq,
    });
    const finish = (outcome: TaskOutcome): TaskOutcome => {
      span.setAttribute(ATTR_LONGSHOT_TASK_OUTCOME, outcome);
      return outcome;
    };
    try {
      const ac = new AbortController();
      let abandon: () => void = () => {};
      const abandoned = new Promise<HandlerResult>((resolve) => {
        abandon = () => resolve({ kind: "abandoned" });
      });
      let lastBeat = Date.now();
      const beat = () => {
        lastBeat = Date.now();
        msg.working();
      };
      const ctx: ResultContext = {
        stage: stage as StageName,
        deliveryCount,
        maxDeliver,
        redelivered: msg.redelivered,
        streamSequence: msg.seq,
        traceContext: spanCtx,
        signal: ac.signal,
        logger: log,
        working() {
          if (Date.now() - lastBeat >= 250) beat();
        },
      };
      const handlerDone: Promise<HandlerResult> = (async () =>
        context.with(spanCtx, () => options.handle(result, ctx)))().then(
        () => ({ kind: "ok" }),
        (err: unknown) => ({ kind: "error", err }),
      );
      const entry: InFlight = { ac, stopping: false, settled: handlerDone, abandon };
      inflight.add(entry);
      const timer = setInterval(beat, heartbeatMs);
      let outcome: HandlerResult;
      try {
        outcome = await Promise.race([handlerDone, abandoned]);
      } finally {
        clearInterval(timer);
        inflight.delete(entry);
      }
      if (outcome.kind === "abandoned") {
        msg.nak();
        log.warn("result handler did not return after being aborted; result handed back");
        return finish("handed_back");
      }
      if (outcome.kind === "ok") {
        try {
          if (!(await msg.ackAck())) log.warn("ack was not confirmed; the result may be handled again");
        } catch (err) {
          log.warn({ err }, "ack was not confirmed; the result may be handled again");
        }
        return finish("acked");
      }
      const err = outcome.err;
      if (entry.stopping) {
        msg.nak();
        log.info("consumer stopping; result handed back");
        return finish("handed_back");
      }
      if (err instanceof CancelledError) {
        term(msg, `result of task ${result.taskId} no longer wanted: ${errorMessage(err)}`);
        log.info({ reason: errorMessage(err) }, "result dropped (cancelled)");
        return finish("cancelled");
      }
      recordError(span, err);
      const d = failureDisposition(err, deliveryCount, maxDeliver, retryDelay);
      if (d.kind === "retry") {
        msg.nak(d.delayMs);
        log.warn({ err, delayMs: d.delayMs, maxDeliver }, "transient failure handling a result; it will be retried");
        return finish("retried");
      }
      return finish(await deadLetter(msg, result, d.kind, d.reason, d.code, log));
    } finally {
      span.end();
    }
  }

  async function handleDelivery(msg: JsMsg): Promise<void> {
    let outcome: TaskOutcome;
    try {
      outcome = await processMessage(msg);
    } catch (err) {
      logger.error({ err, seq: msg.seq }, "result loop failed on a message; returning it to the queue");
      try {
        msg.nak(retryDelay(msg.info.deliveryCount, err));
      } catch {
        // the connection is gone; AckWait brings the result back
      }
      outcome = "retried";
    }
    stats[outcome]++;
  }

  async function slot(index: number): Promise<void> {
    let failures = 0;
    while (!stopping) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: pullExpiresMs });
        failures = 0;
      } catch (err) {
        if (stopping) break;
        if (nc?.isClosed()) {
          connectionLost = true;
          break;
        }
        failures++;
        if (failures === 1 || failures % 20 === 0) {
          logger.warn({ err: toBusError(err, "pull results"), slot: index, failures }, "pull failed; retrying");
        }
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)), stopAc.signal);
        continue;
      }
      if (msg === null) continue;
      if (stopping) {
        msg.nak();
        stats.handed_back++;
        continue;
      }
      await handleDelivery(msg);
    }
  }

  // --- MAX_DELIVERIES advisories ------------------------------------------------------------
  const subs: Subscription[] = [];
  async function onMaxDeliveries(data: Uint8Array): Promise<void> {
    let adv: { stream_seq?: unknown; deliveries?: unknown };
    try {
      adv = JSON.parse(new TextDecoder().decode(data)) as typeof adv;
    } catch {
      return;
    }
    const seq = typeof adv.stream_seq === "number" ? adv.stream_seq : undefined;
    if (seq === undefined) return;
    const deliveries = typeof adv.deliveries === "number" ? adv.deliveries : maxDeliver;
    const sm = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (sm === null) return; // already removed (acked, terminated or dead-lettered by a handler)
    let result: StageResult | undefined;
    try {
      result = decodeResult(sm.data, { maxBytes: maxPayloadBytes });
    } catch {
      result = undefined;
    }
    const reason =
      `no delivery of the result of task ${result?.taskId ?? `#${seq}`} finished within AckWait after ` +
      `${deliveries} attempts (coordinator crashed or hung)`;
    const record = deadLetterRecord(
      "advisory",
      reason,
      "DEADLINE_EXCEEDED",
      sm.subject,
      seq,
      deliveries,
      result,
      sm.data,
    );
    await publishDeadLetter(js, record);
    if (!(await runHook(result, record))) return; // stays in the stream; an operator can replay it
    await jsm.streams.deleteMessage(stream, seq, false).catch(() => false);
    stats.dead_lettered++;
    logger.error({ seq, jobId: result?.jobId, taskId: result?.taskId, reason }, "result dead-lettered (advisory)");
  }
  if (nc !== undefined && options.deadLetterAdvisories !== false) {
    subs.push(
      nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumerName}`, {
        queue: `longshot-dlq.${stream}.${consumerName}`,
        callback: (_err, m) => {
          if (m === undefined) return;
          onMaxDeliveries(m.data).catch((err: unknown) =>
            logger.error({ err }, "MAX_DELIVERIES advisory of a result could not be handled"),
          );
        },
      }),
    );
  }

  // --- start / stop ---------------------------------------------------------------------------
  const slots = Array.from({ length: concurrency }, (_, i) => slot(i));
  logger.info({ concurrency, ackWaitMs, maxDeliver, heartbeatMs }, "result consumer started");

  let stopPromise: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopPromise ??= (async () => {
      stopping = true;
      stopAc.abort();
      const settledAll = () => Promise.all([...inflight].map((e) => e.settled));
      if (inflight.size > 0) {
        logger.info({ inFlight: inflight.size, stopTimeoutMs }, "stopping: waiting for in-flight results");
        await Promise.race([settledAll(), sleep(stopTimeoutMs)]);
      }
      if (inflight.size > 0) {
        for (const e of inflight) {
          e.stopping = true;
          if (!e.ac.signal.aborted) e.ac.abort(new CancelledError("result consumer stopping; the result goes back"));
        }
        await Promise.race([settledAll(), sleep(abortGraceMs)]);
        for (const e of inflight) e.abandon();
      }
      await Promise.all(slots);
      for (const s of subs) s.unsubscribe();
      logger.info({ stats }, "result consumer stopped");
    })();
    return stopPromise;
  };
  options.signal?.addEventListener("abort", () => void stop(), { once: true });
  if (options.signal?.aborted) void stop();

  const done = (async () => {
    await Promise.all(slots);
    if (connectionLost && !stopping) {
      await stop();
      throw new UnavailableError(
        `result consumer ${stream}/${consumerName}: the NATS connection was closed while running`,
      );
    }
    await stop();
  })();
  done.catch(() => {});

  return {
    ackWaitMs,
    maxDeliver,
    heartbeatMs,
    get inFlight() {
      return inflight.size;
    },
    stats,
    stop,
    done,
  };
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
