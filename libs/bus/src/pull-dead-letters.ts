/**
 * The pull loop's dead letters (pull-loop.ts): a record on `longshot.dlq.<stage>` for a message the
 * loop gives up on, then the loop's dead-letter hook (the gateway fails the job), retried 3 times; and
 * the listener for `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>` (queue group, so
 * one process acts), which does the same for a message whose last delivery timed out (a crashed or
 * hung process) and deletes it from its stream.
 */
import type { Logger } from "@longshot/core";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { type DeadLetterKind, type DeadLetterRecord, makeDeadLetterRecord, publishDeadLetter } from "./dead-letter.js";
import { advisoryQueueGroup, maxDeliveriesAdvisorySubject } from "./names.js";
import type { DeadLetters, OpenedConsumer, PullLoopSpec } from "./pull-options.js";
import { HOOK_BACKOFF, retry } from "./retry.js";

/** Where a dead-lettered message was: its subject, stream sequence, deliveries and payload. */
export interface MessageAt {
  subject: string;
  seq: number;
  deliveries: number;
  data: Uint8Array;
}

export interface DeadLetterWriter<P> {
  /** Writes the record and runs the hook; undefined when either failed (logged: the caller naks). */
  write(
    kind: DeadLetterKind,
    reason: string,
    code: string,
    at: MessageAt,
    payload: P | undefined,
    log: Logger,
  ): Promise<DeadLetterRecord | undefined>;
  /** Subscribes to the consumer's MAX_DELIVERIES advisories; `onDeadLettered` counts each one handled. */
  listenForAdvisories(nc: NatsConnection, onDeadLettered: () => void): Subscription;
}

export function deadLetterWriter<P>(
  spec: PullLoopSpec<P>,
  dl: DeadLetters<P>,
  opened: OpenedConsumer,
): DeadLetterWriter<P> {
  const { js, stream, consumer, workerId, logger, noun } = spec;

  function record(kind: DeadLetterKind, reason: string, code: string, at: MessageAt, payload: P | undefined) {
    const ids = payload === undefined ? {} : spec.ids(payload);
    return makeDeadLetterRecord({
      kind,
      reason,
      code,
      stage: dl.stage,
      stream,
      consumer,
      subject: at.subject,
      streamSequence: at.seq,
      deliveryCount: at.deliveries,
      ...(ids.jobId === undefined ? {} : { jobId: ids.jobId }),
      ...(ids.taskId === undefined ? {} : { taskId: ids.taskId }),
      workerId,
      payload: at.data,
    });
  }

  async function runHook(payload: P | undefined, rec: DeadLetterRecord): Promise<boolean> {
    const hook = dl.hook;
    if (hook === undefined) return true;
    try {
      await retry(async () => hook(payload, rec.reason, rec), { attempts: 3, backoff: HOOK_BACKOFF });
      return true;
    } catch (err) {
      logger.error({ err, taskId: rec.taskId, jobId: rec.jobId }, "dead-letter hook failed 3 times");
      return false;
    }
  }

  async function write(
    kind: DeadLetterKind,
    reason: string,
    code: string,
    at: MessageAt,
    payload: P | undefined,
    log: Logger,
  ): Promise<DeadLetterRecord | undefined> {
    const rec = record(kind, reason, code, at, payload);
    try {
      await publishDeadLetter(js, rec);
    } catch (err) {
      log.error({ err, reason: rec.reason }, `cannot write the dead-letter record; ${noun} returned to the queue`);
      return undefined;
    }
    return (await runHook(payload, rec)) ? rec : undefined;
  }

  async function onMaxDeliveries(data: Uint8Array, onDeadLettered: () => void): Promise<void> {
    let adv: { stream_seq?: unknown; deliveries?: unknown };
    try {
      adv = JSON.parse(new TextDecoder().decode(data)) as typeof adv;
    } catch {
      return;
    }
    const seq = typeof adv.stream_seq === "number" ? adv.stream_seq : undefined;
    if (seq === undefined) return;
    const deliveries = typeof adv.deliveries === "number" ? adv.deliveries : opened.maxDeliver;
    const sm = await opened.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (sm === null) return; // already removed (acked, terminated or dead-lettered by a handler)
    let payload: P | undefined;
    try {
      payload = spec.decode(sm.data, sm.subject);
    } catch {
      payload = undefined;
    }
    const rec = record(
      "advisory",
      dl.timedOut(payload, seq, deliveries),
      "DEADLINE_EXCEEDED",
      { subject: sm.subject, seq, deliveries, data: sm.data },
      payload,
    );
    await publishDeadLetter(js, rec);
    if (!(await runHook(payload, rec))) return; // the message stays; an operator can replay it from the DLQ
    await opened.jsm.streams.deleteMessage(stream, seq, false).catch(() => false);
    spec.observe?.deadLettered?.("advisory");
    onDeadLettered();
    const ids = payload === undefined ? {} : spec.ids(payload);
    logger.error({ seq, ...ids, reason: rec.reason }, `${noun} dead-lettered (advisory)`);
  }

  return {
    write,
    listenForAdvisories: (nc, onDeadLettered) =>
      nc.subscribe(maxDeliveriesAdvisorySubject(stream, consumer), {
        queue: advisoryQueueGroup(stream, consumer),
        callback: (_err, m) => {
          if (m === undefined) return;
          onMaxDeliveries(m.data, onDeadLettered).catch((err: unknown) =>
            logger.error({ err }, `MAX_DELIVERIES advisory of a ${noun} could not be handled`),
          );
        },
      }),
  };
}
