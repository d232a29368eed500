/**
 * The one JetStream pull loop of longshot, parameterised by what it reads: stage tasks (`runWorker`,
 * worker.ts), stage results (`startResultConsumer`, results.ts) and dead-letter records
 * (`startDeadLetterConsumer`, dead-letter-consumer.ts). Each of `concurrency` slots asks for one
 * message at a time (`consumer.next()`), so a process never holds messages it cannot start, and:
 *
 * - decodes the payload; one that cannot be decoded is dead-lettered (kind `malformed`) and
 *   terminated with the reason, or, in a loop without dead letters, terminated and logged;
 * - asks `skip` (a cancelled job): a reason terminates the message without running it;
 * - runs the handler (under a CONSUMER span `process <subject>` when the loop is traced), sending
 *   `working()` every `heartbeatMs` (< AckWait / 2) so a long handler is not redelivered;
 * - settles the message: success → `ackAck()`; the handler aborted by `abortWhere` (a cancel notice) or
 *   throwing CancelledError → `term`; a transient error (`isTransient`) with deliveries left →
 *   `nak(retryDelayMs(deliveryCount))`; anything else → a dead-letter record, the dead-letter hook, then
 *   `term` (without dead letters: `term` and an error log). A record or hook that cannot be written
 *   naks the message instead, so nothing is dropped unrecorded;
 * - with dead letters, listens for `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`
 *   (queue group: one process acts): a message whose last delivery timed out (a crashed or hung
 *   process) is copied to the DLQ, reported through the hook and deleted from its stream.
 *
 * Stop (the `signal`, or `stop()`): no more pulls; in-flight handlers may finish within
 * `stopTimeoutMs`, then their signal is aborted, and after `abortGraceMs` their message is nak'ed at
 * once so another process takes it over. A message that arrives while stopping is nak'ed the same way.
 *
 * nats-server before 2.10 ignores a TERM that carries a reason (`+TERM <reason>`) and redelivers the
 * message; the loop sends a plain `term()` to those servers (the reason is in the DLQ record and the log).
 */
import { CancelledError, ConfigError, type Logger, UnavailableError } from "@longshot/core";
import {
  ATTR_LONGSHOT_DELIVERY_COUNT,
  ATTR_LONGSHOT_JOB_ID,
  ATTR_LONGSHOT_STAGE,
  ATTR_LONGSHOT_STREAM_SEQUENCE,
  ATTR_LONGSHOT_TASK_ID,
  ATTR_LONGSHOT_TASK_OUTCOME,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  recordError,
  startConsumerSpan,
  type TaskOutcome,
} from "@longshot/telemetry";
import type { JsMsg } from "@nats-io/jetstream";
import type { Subscription } from "@nats-io/transport-node";
import { type Context, context, ROOT_CONTEXT } from "@opentelemetry/api";
import { supportsTermReason } from "./connect.js";
import { type DeadLetterKind, oneLineReason } from "./dead-letter.js";
import { errorMessage, toBusError } from "./errors.js";
import { deadLetterWriter } from "./pull-dead-letters.js";
import {
  connectionOf,
  type DeliveryContext,
  defaultRetryDelay,
  failureDisposition,
  type OpenedConsumer,
  type PullLoop,
  type PullLoopSpec,
  type PullLoopStats,
} from "./pull-options.js";
import { PULL_BACKOFF, retryDelay, sleep } from "./retry.js";

/** How a handler ended: returned, threw, or was abandoned after the abort grace. */
type HandlerResult = { kind: "ok" } | { kind: "error"; err: unknown } | { kind: "abandoned" };

interface InFlight<P> {
  payload: P;
  ac: AbortController;
  abortKind: "stop" | "cancel" | undefined;
  settled: Promise<unknown>;
  abandon: () => void;
}

/** Starts the loop on an opened consumer (see the module comment); returns once it is pulling. */
export function startPullLoop<P>(spec: PullLoopSpec<P>, opened: OpenedConsumer): PullLoop<P> {
  const { name, noun, stream, consumer: consumerName, js, logger } = spec;
  const { consumer, ackWaitMs, maxDeliver } = opened;
  const nc = spec.nc ?? connectionOf(js);
  const heartbeatMs = spec.heartbeatMs ?? Math.max(100, Math.floor(ackWaitMs / 3));
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 50 || heartbeatMs >= ackWaitMs / 2) {
    throw new ConfigError(
      `${name}: heartbeatMs (${heartbeatMs}) must be an integer in [50, AckWait/2) with AckWait ${ackWaitMs} ms`,
    );
  }
  const concurrency = spec.concurrency ?? 1;
  const stopTimeoutMs = spec.stopTimeoutMs ?? 30_000;
  const abortGraceMs = spec.abortGraceMs ?? 5000;
  const pullExpiresMs = spec.pullExpiresMs ?? 5000;
  const retryDelayOf = spec.retryDelayMs ?? defaultRetryDelay;
  const maxDeliveries = spec.maxDeliveries ?? maxDeliver;
  const termReason = supportsTermReason(nc?.info?.version);
  const dl = spec.deadLetters;
  const writer = dl === undefined ? undefined : deadLetterWriter(spec, dl, opened);

  const stats: PullLoopStats = { acked: 0, retried: 0, dead_lettered: 0, cancelled: 0, handed_back: 0 };
  const inflight = new Set<InFlight<P>>();
  const stopAc = new AbortController();
  let stopping = false;
  let connectionLost = false;

  const term = (msg: JsMsg, reason: string) => {
    if (termReason) msg.term(oneLineReason(reason));
    else msg.term();
  };

  /** Dead-letters a delivered message, then terminates it; naks instead when the record or hook could not be written. */
  async function giveUp(
    msg: JsMsg,
    payload: P | undefined,
    kind: DeadLetterKind,
    reason: string,
    code: string,
    log: Logger,
  ): Promise<TaskOutcome> {
    if (dl === undefined) {
      term(msg, reason);
      log.error({ kind, code, reason }, `${noun} could not be handled; dropped`);
      return "dead_lettered";
    }
    const where = { subject: msg.subject, seq: msg.seq, deliveries: msg.info.deliveryCount, data: msg.data };
    const rec = await writer?.write(kind, reason, code, where, payload, log);
    if (rec === undefined) {
      msg.nak(retryDelayOf(msg.info.deliveryCount, undefined));
      return "retried";
    }
    term(msg, rec.reason);
    spec.observe?.deadLettered?.(kind);
    log.error({ kind, code, reason: rec.reason }, `${noun} dead-lettered`);
    return "dead_lettered";
  }

  async function runHandler(msg: JsMsg, payload: P, ctx: Omit<DeliveryContext, "signal" | "working">) {
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
    const full: DeliveryContext = {
      ...ctx,
      signal: ac.signal,
      working() {
        if (Date.now() - lastBeat >= 250) beat();
      },
    };
    const handlerDone: Promise<HandlerResult> = (async () =>
      context.with(ctx.traceContext, () => spec.handle(payload, full)))().then(
      () => ({ kind: "ok" }),
      (err: unknown) => ({ kind: "error", err }),
    );
    const entry: InFlight<P> = { payload, ac, abortKind: undefined, settled: handlerDone, abandon };
    inflight.add(entry);
    const timer = setInterval(beat, heartbeatMs);
    try {
      return { result: await Promise.race([handlerDone, abandoned]), entry };
    } finally {
      clearInterval(timer);
      inflight.delete(entry);
    }
  }

  async function processMessage(msg: JsMsg): Promise<TaskOutcome> {
    const deliveryCount = msg.info.deliveryCount;
    const baseLog = logger.child({ seq: msg.seq, delivery: deliveryCount });
    let payload: P;
    try {
      payload = spec.decode(msg.data, msg.subject);
    } catch (err) {
      const reason = `${dl?.malformed ?? `malformed ${noun}`}: ${errorMessage(err)}`;
      return giveUp(msg, undefined, "malformed", reason, "INVALID_ARGUMENT", baseLog);
    }
    const ids = spec.ids(payload);
    const log = baseLog.child(ids);
    let traceContext: Context = ROOT_CONTEXT;
    const span = spec.trace
      ? (() => {
          const started = startConsumerSpan(msg.subject, spec.trace.parent(msg.headers, payload), {
            [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumerName,
            [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: msg.data.length,
            ...(ids.jobId === undefined ? {} : { [ATTR_LONGSHOT_JOB_ID]: ids.jobId }),
            ...(ids.taskId === undefined ? {} : { [ATTR_LONGSHOT_TASK_ID]: ids.taskId }),
            [ATTR_LONGSHOT_STAGE]: spec.trace.stage(payload),
            [ATTR_LONGSHOT_DELIVERY_COUNT]: deliveryCount,
            [ATTR_LONGSHOT_STREAM_SEQUENCE]: msg.seq,
          });
          traceContext = started.context;
          return started.span;
        })()
      : undefined;
    const finish = (outcome: TaskOutcome): TaskOutcome => {
      span?.setAttribute(ATTR_LONGSHOT_TASK_OUTCOME, outcome);
      return outcome;
    };
    try {
      const skipped = spec.skip === undefined ? undefined : await spec.skip(payload, log);
      if (skipped !== undefined) {
        term(msg, skipped);
        log.info({ reason: skipped }, `${noun} terminated without running`);
        return finish("cancelled");
      }
      const { result, entry } = await runHandler(msg, payload, {
        deliveryCount,
        maxDeliver,
        redelivered: msg.redelivered,
        streamSequence: msg.seq,
        traceContext,
        logger: log,
      });
      if (result.kind === "abandoned") {
        msg.nak();
        log.warn(`${noun} handler did not return after being aborted; ${noun} handed back`);
        return finish("handed_back");
      }
      if (result.kind === "ok") {
        try {
          if (!(await msg.ackAck())) log.warn(`ack was not confirmed; the ${noun} may be handled again`);
        } catch (err) {
          log.warn({ err }, `ack was not confirmed; the ${noun} may be handled again`);
        }
        return finish("acked");
      }
      const err = result.err;
      if (entry.abortKind === "stop") {
        msg.nak();
        log.info(`worker stopping; ${noun} handed back`);
        return finish("handed_back");
      }
      if (entry.abortKind === "cancel" || err instanceof CancelledError) {
        term(msg, spec.cancelled(payload, err));
        log.info({ reason: errorMessage(err) }, `${noun} cancelled`);
        return finish("cancelled");
      }
      if (span !== undefined) recordError(span, err);
      const d = failureDisposition(err, deliveryCount, maxDeliveries, retryDelayOf);
      if (d.kind === "retry") {
        msg.nak(d.delayMs);
        log.warn({ err, delayMs: d.delayMs, maxDeliver: maxDeliveries }, `transient failure; ${noun} will be retried`);
        return finish("retried");
      }
      return finish(await giveUp(msg, payload, d.kind, d.reason, d.code, log));
    } finally {
      span?.end();
    }
  }

  async function handleDelivery(msg: JsMsg): Promise<void> {
    const t0 = performance.now();
    spec.observe?.started?.();
    let outcome: TaskOutcome;
    try {
      outcome = await processMessage(msg);
    } catch (err) {
      // A bug or an unexpected client failure in the loop itself: give the message back, keep running.
      logger.error({ err, seq: msg.seq }, `${name} failed on a ${noun}; returning it to the queue`);
      try {
        msg.nak(retryDelayOf(msg.info.deliveryCount, err));
      } catch {
        // the connection is gone; AckWait brings the message back
      }
      outcome = "retried";
    }
    stats[outcome]++;
    spec.observe?.finished?.(outcome, (performance.now() - t0) / 1000);
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
          logger.warn(
            { err: toBusError(err, `pull from ${stream}/${consumerName}`), slot: index, failures },
            "pull failed; retrying",
          );
        }
        await sleep(retryDelay(failures, PULL_BACKOFF), stopAc.signal);
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
  if (nc !== undefined && writer !== undefined && spec.deadLetterAdvisories !== false) {
    subs.push(
      writer.listenForAdvisories(nc, () => {
        stats.dead_lettered++;
      }),
    );
  }

  // --- start / stop ---------------------------------------------------------------------------
  const slots = Array.from({ length: concurrency }, (_, i) => slot(i));
  logger.info({ concurrency, ackWaitMs, maxDeliver, heartbeatMs, termReason }, `${name} started`);

  let stopPromise: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopPromise ??= (async () => {
      stopping = true;
      stopAc.abort();
      const settledAll = () => Promise.all([...inflight].map((e) => e.settled));
      if (inflight.size > 0) {
        logger.info({ inFlight: inflight.size, stopTimeoutMs }, `stopping: waiting for in-flight ${noun}s`);
        await Promise.race([settledAll(), sleep(stopTimeoutMs)]);
      }
      if (inflight.size > 0) {
        for (const e of inflight) {
          if (!e.ac.signal.aborted) {
            e.abortKind = "stop";
            e.ac.abort(new CancelledError(`${name} stopping; the ${noun} goes back to the queue`));
          }
        }
        await Promise.race([settledAll(), sleep(abortGraceMs)]);
        for (const e of inflight) e.abandon();
      }
      await Promise.all(slots);
      for (const s of subs) s.unsubscribe();
      logger.info({ stats }, `${name} stopped`);
    })();
    return stopPromise;
  };
  spec.signal?.addEventListener("abort", () => void stop(), { once: true });
  if (spec.signal?.aborted) void stop();

  const done = (async () => {
    await Promise.all(slots);
    const lost = connectionLost && !stopping;
    await stop();
    if (lost) {
      throw new UnavailableError(`${name} ${stream}/${consumerName}: the NATS connection was closed while running`);
    }
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
    abortWhere(pick, reason) {
      for (const e of inflight) {
        if (pick(e.payload) && !e.ac.signal.aborted) {
          e.abortKind = "cancel";
          e.ac.abort(reason);
        }
      }
    },
    stop,
    done,
  };
}
