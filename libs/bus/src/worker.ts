/**
 * `runWorker`: the pull loop of a stage service. Each of `concurrency` slots asks JetStream for one
 * task at a time (`consumer.next()`), so replicas never hoard tasks they cannot start, and:
 *
 * - decodes the payload; a malformed or hostile one (bad protobuf, wrong message type, wrong stage,
 *   oversized) is dead-lettered and terminated with the reason, and the loop goes on;
 * - runs `handle(task, ctx)` under a CONSUMER span `process <subject>` whose parent is the trace
 *   context in the message headers (or, failing that, the task's `trace_context`);
 * - while the handler runs, sends `working()` (in-progress) every `heartbeatMs` (< AckWait / 2), so
 *   long step loops are not redelivered; handlers may call `ctx.working()` more often;
 * - settles the message:
 *   success → `ackAck()` (acknowledged and confirmed);
 *   transient error (`isTransient`) with attempts left → `nak(retryDelay(deliveryCount))`;
 *   permanent error, or transient on the last allowed delivery → dead letter: a record on
 *   `longshot.dlq.<stage>`, the `onDeadLetter(task, reason)` hook (the gateway fails the job), then `term`;
 *   the job was cancelled (`isCancelled`, a cancel notice, or the handler threw CancelledError) → `term`,
 *   no dead letter;
 * - listens for `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>` (queue group, so
 *   one replica acts): a task whose last delivery timed out (a crashed or hung worker) is copied to
 *   the DLQ, reported through the hook and deleted from the work queue.
 *
 * Stop (the `signal`, or `stop()`): no more pulls; in-flight handlers may finish within
 * `stopTimeoutMs`, after which their signal is aborted and their message is nak'ed at once, so
 * another replica takes it over. A task that arrives while stopping is nak'ed the same way.
 *
 * Handlers must keep the event loop free (run onnxruntime in worker_threads): heartbeats are
 * timers on this thread.
 *
 * nats-server before 2.10 ignores a TERM that carries a reason (`+TERM <reason>`) and redelivers the
 * message; the loop sends a plain `term()` to those servers (the reason is in the DLQ record and the log).
 */
import { hostname } from "node:os";
import { CancelledError, ConfigError, createLogger, type Logger, UnavailableError } from "@longshot/core";
import type { StageTask } from "@longshot/proto";
import {
  ATTR_LONGSHOT_DELIVERY_COUNT,
  ATTR_LONGSHOT_JOB_ID,
  ATTR_LONGSHOT_STAGE,
  ATTR_LONGSHOT_STREAM_SEQUENCE,
  ATTR_LONGSHOT_TASK_ID,
  ATTR_LONGSHOT_TASK_OUTCOME,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  createTaskMetrics,
  extractContext,
  extractRecordContext,
  recordError,
  startConsumerSpan,
  type TaskMetrics,
  type TaskOutcome,
} from "@longshot/telemetry";
import { AckPolicy, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { type Context, context, trace } from "@opentelemetry/api";
import { supportsTermReason } from "./connect.js";
import {
  type DeadLetterKind,
  type DeadLetterRecord,
  makeDeadLetterRecord,
  oneLineReason,
  publishDeadLetter,
} from "./dead-letter.js";
import { errorMessage, MalformedPayloadError, toBusError } from "./errors.js";
import { CANCEL_SUBJECT_PREFIX, type StageName, stageOfSubject, TASKS_STREAM } from "./names.js";
import {
  backoffRetryDelay,
  checkPullOptions,
  connectionOf,
  failureDisposition,
  type HandlerResult,
  sleep,
} from "./pull-support.js";
import { DEFAULT_MAX_TASK_BYTES, decodeTask } from "./task-codec.js";

export interface TaskContext {
  readonly task: StageTask;
  readonly stage: StageName;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** Deliveries JetStream allows (-1: unlimited). The last attempt has deliveryCount === maxDeliver. */
  readonly maxDeliver: number;
  readonly redelivered: boolean;
  readonly streamSequence: number;
  /** Aborted when the worker stops (after stopTimeoutMs) or the job is cancelled; the reason is a CancelledError. */
  readonly signal: AbortSignal;
  /** The context with the `process` span active (the handler already runs inside it). */
  readonly traceContext: Context;
  /** Logger with jobId, taskId and delivery fields. */
  readonly logger: Logger;
  readonly workerId: string;
  /** Extends the ack deadline now (the loop also does this on its own every heartbeatMs). */
  working(): void;
}

export type TaskHandler = (task: StageTask, ctx: TaskContext) => Promise<void>;

export type DeadLetterHook = (
  task: StageTask | undefined,
  reason: string,
  record: DeadLetterRecord,
) => void | Promise<void>;

export interface WorkerOptions {
  js: JetStreamClient;
  /** The connection of `js`, for cancel notices and advisories; default: the one `js` was made from. */
  nc?: NatsConnection;
  /** Default LONGSHOT_TASKS. */
  stream?: string;
  /** Durable consumer name: the stage name (`keyframe`, `interpolation`, `decode`). */
  consumer: string;
  /** The stage; default: from the consumer's filter subject (`longshot.tasks.<stage>`). */
  stage?: StageName;
  handle: TaskHandler;
  /** Tasks handled at once by this process (default 1: one model worker). */
  concurrency?: number;
  /** Aborting it stops the worker (as `stop()`). */
  signal?: AbortSignal;
  logger?: Logger;
  /** Called once per dead-lettered task, before it is terminated; should fail the job. Retried 3 times. */
  onDeadLetter?: DeadLetterHook;
  /** Checked before a task starts: true terminates it without running (e.g. the job's KV state is CANCELLED). */
  isCancelled?: (task: StageTask) => boolean | Promise<boolean>;
  /** Delay before a transient failure is retried (default: 1 s, 2 s, 4 s … up to 30 s, ±20 % jitter). */
  retryDelayMs?: (deliveryCount: number, err: unknown) => number;
  /** Interval of `working()` while a handler runs; must be below AckWait / 2 (default AckWait / 3). */
  heartbeatMs?: number;
  /** How long in-flight handlers may run on after stop() before they are aborted and handed back (default 30 s). */
  stopTimeoutMs?: number;
  /** After aborting, how long to wait for a handler to return before naking its task anyway (default 5 s). */
  abortGraceMs?: number;
  /** Longest a pull waits for a task before asking again (default 5 s; also bounds how long stop() waits for idle slots). */
  pullExpiresMs?: number;
  /** Largest accepted payload (default 256 KiB). */
  maxPayloadBytes?: number;
  /** Handle MAX_DELIVERIES advisories (default true). */
  deadLetterAdvisories?: boolean;
  /** Listen for cancel notices on `longshot.cancel.<jobId>` (default true). */
  cancelNotices?: boolean;
  /** Default `<hostname>/<pid>`. */
  workerId?: string;
  /** Default: instruments on the global meter provider, created when the worker starts. */
  metrics?: TaskMetrics;
}

export interface WorkerStats {
  acked: number;
  retried: number;
  dead_lettered: number;
  cancelled: number;
  handed_back: number;
}

export interface Worker {
  readonly stage: StageName;
  readonly workerId: string;
  /** AckWait and MaxDeliver of the consumer, as the server reports them. */
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly heartbeatMs: number;
  /** Tasks being handled right now. */
  readonly inFlight: number;
  readonly stats: Readonly<WorkerStats>;
  /** Stops (see the module comment); resolves when every slot has ended. Idempotent. */
  stop(): Promise<void>;
  /** Resolves once stopped; rejects if the NATS connection was closed under the worker. */
  readonly done: Promise<void>;
}

interface InFlight {
  task: StageTask;
  ac: AbortController;
  abortKind: "stop" | "cancel" | undefined;
  settled: Promise<unknown>;
  abandon: () => void;
}

const RECENT_CANCELS = 1000;

/** The default `retryDelayMs`: 1 s, 2 s, 4 s … up to 30 s, ±20 % jitter. */
export function defaultRetryDelay(deliveryCount: number): number {
  return backoffRetryDelay(deliveryCount);
}

/**
 * Starts the worker loop (see the module comment) and returns once it is pulling. Throws
 * NotFoundError when the consumer does not exist (run ensureTopology) and ConfigError for bad options.
 */
export async function runWorker(options: WorkerOptions): Promise<Worker> {
  const stream = options.stream ?? TASKS_STREAM;
  const consumerName = options.consumer;
  const concurrency = options.concurrency ?? 1;
  checkPullOptions("runWorker", { ...options, concurrency });
  const js = options.js;
  const nc = options.nc ?? connectionOf(js);
  const workerId = options.workerId ?? `${hostname()}/${process.pid}`;
  const baseLogger = options.logger ?? createLogger("bus", "warn");

  let jsm: JetStreamManager;
  let consumer: Consumer;
  let ackWaitMs: number;
  let maxDeliver: number;
  let stage: StageName;
  try {
    jsm = await js.jetstreamManager();
    const ci = await jsm.consumers.info(stream, consumerName);
    if (ci.config.ack_policy !== AckPolicy.Explicit) {
      throw new ConfigError(
        `runWorker: consumer ${stream}/${consumerName} must use explicit acks, has ${ci.config.ack_policy}`,
      );
    }
    ackWaitMs = Math.round((ci.config.ack_wait ?? 30e9) / 1e6);
    maxDeliver = ci.config.max_deliver ?? -1;
    const fromSubject = stageOfSubject(ci.config.filter_subject ?? "");
    if (options.stage !== undefined && fromSubject !== undefined && options.stage !== fromSubject) {
      throw new ConfigError(
        `runWorker: stage ${options.stage} given, but consumer ${stream}/${consumerName} reads ${ci.config.filter_subject}`,
      );
    }
    const resolved = options.stage ?? fromSubject;
    if (resolved === undefined) {
      throw new ConfigError(
        `runWorker: cannot tell the stage of consumer ${stream}/${consumerName} (filter ${ci.config.filter_subject ?? "none"}); pass stage`,
      );
    }
    stage = resolved;
    consumer = await js.consumers.get(stream, consumerName);
  } catch (err) {
    throw toBusError(err, `runWorker ${stream}/${consumerName}`);
  }
  const heartbeatMs = options.heartbeatMs ?? Math.max(100, Math.floor(ackWaitMs / 3));
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 50 || heartbeatMs >= ackWaitMs / 2) {
    throw new ConfigError(
      `runWorker: heartbeatMs (${heartbeatMs}) must be an integer in [50, AckWait/2) with AckWait ${ackWaitMs} ms`,
    );
  }
  const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
  const abortGraceMs = options.abortGraceMs ?? 5000;
  const pullExpiresMs = options.pullExpiresMs ?? 5000;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_TASK_BYTES;
  const retryDelay = options.retryDelayMs ?? defaultRetryDelay;
  const termReason = supportsTermReason(nc?.info?.version);
  const metrics = options.metrics ?? createTaskMetrics();
  const logger = baseLogger.child({ component: "worker", stage, consumer: consumerName, workerId });
  if (nc === undefined) {
    logger.warn("no NATS connection available (pass nc): cancel notices and MAX_DELIVERIES advisories are off");
  }

  const stats: WorkerStats = { acked: 0, retried: 0, dead_lettered: 0, cancelled: 0, handed_back: 0 };
  const inflight = new Set<InFlight>();
  const recentCancels = new Map<string, string>();
  const stopAc = new AbortController();
  let stopping = false;
  let connectionLost: Error | undefined;

  const term = (msg: JsMsg, reason: string) => {
    if (termReason) msg.term(oneLineReason(reason));
    else msg.term();
  };

  async function runHook(task: StageTask | undefined, record: DeadLetterRecord): Promise<boolean> {
    if (options.onDeadLetter === undefined) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        await options.onDeadLetter(task, record.reason, record);
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

  /** Dead-letters a delivered message, then terminates it; naks instead when the record or hook could not be written. */
  async function deadLetter(
    msg: JsMsg,
    task: StageTask | undefined,
    kind: DeadLetterKind,
    reason: string,
    code: string,
    log: Logger,
  ): Promise<TaskOutcome> {
    const record = makeDeadLetterRecord({
      kind,
      reason,
      code,
      stage,
      stream,
      consumer: consumerName,
      subject: msg.subject,
      streamSequence: msg.seq,
      deliveryCount: msg.info.deliveryCount,
      ...(task === undefined ? {} : { jobId: task.jobId, taskId: task.taskId }),
      workerId,
      payload: msg.data,
    });
    try {
      await publishDeadLetter(js, record);
    } catch (err) {
      log.error({ err, reason: record.reason }, "cannot write the dead-letter record; task returned to the queue");
      msg.nak(retryDelay(msg.info.deliveryCount, err));
      return "retried";
    }
    if (!(await runHook(task, record))) {
      msg.nak(retryDelay(msg.info.deliveryCount, undefined));
      return "retried";
    }
    term(msg, record.reason);
    metrics.deadLettered(stage, kind);
    log.error({ kind, code, reason: record.reason }, "task dead-lettered");
    return "dead_lettered";
  }

  async function settleAck(msg: JsMsg, log: Logger): Promise<void> {
    try {
      const ok = await msg.ackAck();
      if (!ok) log.warn("ack was not confirmed; the task may run again (stages are idempotent)");
    } catch (err) {
      log.warn({ err }, "ack was not confirmed; the task may run again (stages are idempotent)");
    }
  }

  async function processMessage(msg: JsMsg): Promise<TaskOutcome> {
    const deliveryCount = msg.info.deliveryCount;
    const baseLog = logger.child({ seq: msg.seq, delivery: deliveryCount });
    let task: StageTask;
    try {
      task = decodeTask(msg.data, { stage, maxBytes: maxPayloadBytes });
    } catch (err) {
      const why = err instanceof MalformedPayloadError ? err.message : errorMessage(err);
      return deadLetter(msg, undefined, "malformed", `malformed payload: ${why}`, "INVALID_ARGUMENT", baseLog);
    }
    const log = baseLog.child({ jobId: task.jobId, taskId: task.taskId });

    let parent = extractContext(msg.headers);
    if (trace.getSpanContext(parent) === undefined) parent = extractRecordContext(task.traceContext);
    const { span, context: spanCtx } = startConsumerSpan(msg.subject, parent, {
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumerName,
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: msg.data.length,
      [ATTR_LONGSHOT_JOB_ID]: task.jobId,
      [ATTR_LONGSHOT_TASK_ID]: task.taskId,
      [ATTR_LONGSHOT_STAGE]: stage,
      [ATTR_LONGSHOT_DELIVERY_COUNT]: deliveryCount,
      [ATTR_LONGSHOT_STREAM_SEQUENCE]: msg.seq,
    });
    const finish = (outcome: TaskOutcome): TaskOutcome => {
      span.setAttribute(ATTR_LONGSHOT_TASK_OUTCOME, outcome);
      return outcome;
    };
    try {
      const noticed = recentCancels.get(task.jobId);
      let cancelled = noticed !== undefined;
      if (!cancelled && options.isCancelled !== undefined) {
        try {
          cancelled = await options.isCancelled(task);
        } catch (err) {
          // Cannot tell (the job store is unreachable): run the task; a cancel still reaches it by notice.
          log.warn({ err }, "isCancelled failed; running the task");
        }
      }
      if (cancelled) {
        term(msg, `job ${task.jobId} cancelled`);
        log.info("job cancelled; task terminated without running");
        return finish("cancelled");
      }

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
      const ctx: TaskContext = {
        task,
        stage,
        deliveryCount,
        maxDeliver,
        redelivered: msg.redelivered,
        streamSequence: msg.seq,
        signal: ac.signal,
        traceContext: spanCtx,
        logger: log,
        workerId,
        working() {
          if (Date.now() - lastBeat >= 250) beat();
        },
      };
      const handlerDone: Promise<HandlerResult> = (async () =>
        context.with(spanCtx, () => options.handle(task, ctx)))().then(
        () => ({ kind: "ok" }),
        (err: unknown) => ({ kind: "error", err }),
      );
      const entry: InFlight = { task, ac, abortKind: undefined, settled: handlerDone, abandon };
      inflight.add(entry);
      const timer = setInterval(beat, heartbeatMs);
      let result: HandlerResult;
      try {
        result = await Promise.race([handlerDone, abandoned]);
      } finally {
        clearInterval(timer);
        inflight.delete(entry);
      }

      if (result.kind === "abandoned") {
        msg.nak();
        log.warn("handler did not return after being aborted; task handed back");
        return finish("handed_back");
      }
      if (result.kind === "ok") {
        await settleAck(msg, log);
        return finish("acked");
      }
      const err = result.err;
      if (entry.abortKind === "stop") {
        msg.nak();
        log.info("worker stopping; task handed back");
        return finish("handed_back");
      }
      if (entry.abortKind === "cancel" || err instanceof CancelledError) {
        term(msg, `job ${task.jobId} cancelled`);
        log.info({ reason: errorMessage(err) }, "task cancelled");
        return finish("cancelled");
      }
      recordError(span, err);
      const d = failureDisposition(err, deliveryCount, maxDeliver, retryDelay);
      if (d.kind === "retry") {
        msg.nak(d.delayMs);
        log.warn({ err, delayMs: d.delayMs, maxDeliver }, "transient failure; task will be retried");
        return finish("retried");
      }
      return finish(await deadLetter(msg, task, d.kind, d.reason, d.code, log));
    } finally {
      span.end();
    }
  }

  async function handleDelivery(msg: JsMsg): Promise<void> {
    const t0 = performance.now();
    metrics.taskStarted(stage);
    let outcome: TaskOutcome;
    try {
      outcome = await processMessage(msg);
    } catch (err) {
      // A bug or an unexpected client failure in the loop itself: give the task back, keep running.
      logger.error({ err, seq: msg.seq }, "worker loop failed on a task; returning it to the queue");
      try {
        msg.nak(retryDelay(msg.info.deliveryCount, err));
      } catch {
        // the connection is gone; AckWait brings the task back
      }
      outcome = "retried";
    }
    stats[outcome]++;
    metrics.taskFinished(stage, outcome, (performance.now() - t0) / 1000);
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
          connectionLost = new Error("NATS connection closed");
          break;
        }
        failures++;
        const e = toBusError(err, `pull from ${stream}/${consumerName}`);
        if (failures === 1 || failures % 20 === 0)
          logger.warn({ err: e, slot: index, failures }, "pull failed; retrying");
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

  // --- cancel notices -------------------------------------------------------------------------
  const subs: Subscription[] = [];
  if (nc !== undefined && options.cancelNotices !== false) {
    subs.push(
      nc.subscribe(`${CANCEL_SUBJECT_PREFIX}.*`, {
        callback: (_err, m) => {
          if (m === undefined) return;
          const jobId = m.subject.slice(CANCEL_SUBJECT_PREFIX.length + 1);
          const reason = oneLineReason(m.string() || "cancelled") || "cancelled";
          recentCancels.set(jobId, reason);
          if (recentCancels.size > RECENT_CANCELS) {
            const oldest = recentCancels.keys().next().value;
            if (oldest !== undefined) recentCancels.delete(oldest);
          }
          for (const e of inflight) {
            if (e.task.jobId === jobId && !e.ac.signal.aborted) {
              e.abortKind = "cancel";
              e.ac.abort(new CancelledError(`job ${jobId} cancelled: ${reason}`));
            }
          }
        },
      }),
    );
  }

  // --- MAX_DELIVERIES advisories ------------------------------------------------------------
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
    const log = logger.child({ seq, delivery: deliveries, path: "advisory" });
    const sm = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (sm === null) return; // already removed (acked, terminated or dead-lettered by a worker)
    let task: StageTask | undefined;
    try {
      task = decodeTask(sm.data, { stage, maxBytes: maxPayloadBytes });
    } catch {
      task = undefined;
    }
    const reason =
      `no delivery of task ${task?.taskId ?? `#${seq}`} finished within AckWait after ${deliveries} attempts ` +
      "(worker crashed or hung)";
    const record = makeDeadLetterRecord({
      kind: "advisory",
      reason,
      code: "DEADLINE_EXCEEDED",
      stage,
      stream,
      consumer: consumerName,
      subject: sm.subject,
      streamSequence: seq,
      deliveryCount: deliveries,
      ...(task === undefined ? {} : { jobId: task.jobId, taskId: task.taskId }),
      workerId,
      payload: sm.data,
    });
    await publishDeadLetter(js, record);
    if (!(await runHook(task, record))) return; // the message stays; an operator can replay it from the DLQ
    await jsm.streams.deleteMessage(stream, seq, false).catch(() => false);
    metrics.deadLettered(stage, "advisory");
    stats.dead_lettered++;
    log.error({ jobId: task?.jobId, taskId: task?.taskId, reason: record.reason }, "task dead-lettered (advisory)");
  }
  if (nc !== undefined && options.deadLetterAdvisories !== false) {
    subs.push(
      nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumerName}`, {
        queue: `longshot-dlq.${stream}.${consumerName}`,
        callback: (_err, m) => {
          if (m === undefined) return;
          onMaxDeliveries(m.data).catch((err: unknown) =>
            logger.error({ err }, "MAX_DELIVERIES advisory could not be handled"),
          );
        },
      }),
    );
  }

  const unobserve = metrics.observeQueueDepth(async () => {
    const ci = await jsm.consumers.info(stream, consumerName);
    return { [stage]: ci.num_pending + ci.num_ack_pending };
  });

  // --- start ------------------------------------------------------------------------------------
  const slots = Array.from({ length: concurrency }, (_, i) => slot(i));
  logger.info({ concurrency, ackWaitMs, maxDeliver, heartbeatMs, termReason }, "worker started");

  let stopPromise: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopPromise ??= (async () => {
      stopping = true;
      stopAc.abort();
      const settledAll = () => Promise.all([...inflight].map((e) => e.settled));
      if (inflight.size > 0) {
        logger.info({ inFlight: inflight.size, stopTimeoutMs }, "stopping: waiting for in-flight tasks");
        await Promise.race([settledAll(), sleep(stopTimeoutMs)]);
      }
      if (inflight.size > 0) {
        for (const e of inflight) {
          if (!e.ac.signal.aborted) {
            e.abortKind = "stop";
            e.ac.abort(new CancelledError("worker stopping; the task goes back to the queue"));
          }
        }
        await Promise.race([settledAll(), sleep(abortGraceMs)]);
        for (const e of inflight) e.abandon();
      }
      await Promise.all(slots);
      for (const s of subs) s.unsubscribe();
      unobserve();
      logger.info({ stats }, "worker stopped");
    })();
    return stopPromise;
  };
  options.signal?.addEventListener("abort", () => void stop(), { once: true });
  if (options.signal?.aborted) void stop();

  const done = (async () => {
    await Promise.all(slots);
    if (connectionLost !== undefined && !stopping) {
      await stop();
      throw new UnavailableError(`worker ${stream}/${consumerName}: the NATS connection was closed while running`, {
        cause: connectionLost,
      });
    }
    await stop();
  })();
  done.catch(() => {});

  return {
    stage,
    workerId,
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
