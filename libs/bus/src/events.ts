/**
 * Job events on `longshot.events.<jobId>` (stream LONGSHOT_EVENTS): every event of a job gets the
 * next number of that job (1, 2, 3, … without gaps) even when several processes publish for the
 * same job at once, and WatchJob can replay a job's events from any number, then follow live ones.
 *
 * Numbering uses JetStream's optimistic concurrency: read the job's last event, publish with
 * `Nats-Expected-Last-Subject-Sequence` = its stream sequence, and retry when another publisher
 * won. A `msgId` makes a retried publish (after a crash or a lost ack) a no-op within the stream's
 * duplicate window.
 */
import { InvalidArgumentError, type Logger } from "@longshot/core";
import { JobEvent } from "@longshot/proto";
import { injectHeaders } from "@longshot/telemetry";
import { DeliverPolicy, type JetStreamClient, type StoredMsg } from "@nats-io/jetstream";
import { Match, type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { errorMessage, isWrongLastSequence, RevisionConflictError, toBusError } from "./errors.js";
import { checkJobId, EVENTS_STREAM, eventSubject, HEADER_EVENT_SEQUENCE, HEADER_JOB_ID } from "./names.js";
import { retry, SEQUENCE_BACKOFF } from "./retry.js";

export interface PublishEventOptions {
  /** `Nats-Msg-Id`: a second publish with the same id within the duplicate window returns the first event. */
  msgId?: string;
  /** Numbering attempts under contention before RevisionConflictError (default 50). */
  maxAttempts?: number;
}

export interface PublishedEvent {
  /** The event as stored, with its job sequence number and time. */
  event: JobEvent;
  sequence: bigint;
  /** Sequence in the LONGSHOT_EVENTS stream. */
  streamSequence: number;
  /** The msgId was seen before: nothing was added and `event` is the earlier one. */
  duplicate: boolean;
}

function headerSequence(h: MsgHdrs | undefined): bigint | undefined {
  if (h === undefined || !h.has(HEADER_EVENT_SEQUENCE, Match.IgnoreCase)) return undefined;
  const v = h.get(HEADER_EVENT_SEQUENCE, Match.IgnoreCase);
  return /^\d{1,20}$/.test(v) ? BigInt(v) : undefined;
}

/** The job sequence of a stored event, or undefined when the message is not a valid event. */
function storedSequence(sm: StoredMsg): bigint | undefined {
  const fromHeader = headerSequence(sm.header);
  if (fromHeader !== undefined) return fromHeader;
  try {
    const ev = JobEvent.decode(sm.data);
    return ev.sequence > 0n ? ev.sequence : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The highest valid event sequence on a job's subject, reading all of it: only needed when the
 * newest message there is not an event (someone published junk on the subject).
 */
async function scanMaxSequence(js: JetStreamClient, subject: string): Promise<bigint> {
  let max = 0n;
  const consumer = await js.consumers.get(EVENTS_STREAM, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.All,
  });
  for (;;) {
    let got = 0;
    let pending = 0;
    for await (const m of await consumer.fetch({ max_messages: 1000, expires: 1000 })) {
      got++;
      pending = m.info.pending;
      const seq =
        headerSequence(m.headers) ??
        (() => {
          try {
            return JobEvent.decode(m.data).sequence;
          } catch {
            return 0n;
          }
        })();
      if (seq > max) max = seq;
      if (pending === 0) break;
    }
    if (got === 0 || pending === 0) return max;
  }
}

/** Whether the event ends the job's history (completed, failed or cancelled). */
export function isTerminalEvent(event: JobEvent): boolean {
  const c = event.event?.$case;
  return c === "completed" || c === "failed" || c === "cancelled";
}

/**
 * Appends an event to the job's history with the next sequence number (the given `sequence` is
 * ignored) and `time` (now, unless set). The current trace context travels in the headers.
 */
export async function publishEvent(
  js: JetStreamClient,
  jobId: string,
  event: JobEvent,
  options: PublishEventOptions = {},
): Promise<PublishedEvent> {
  checkJobId(jobId);
  if (event.event === undefined) throw new InvalidArgumentError("event.event", "is empty (set one of the event kinds)");
  if (event.jobId !== "" && event.jobId !== jobId) {
    throw new InvalidArgumentError(
      "event.job_id",
      `is ${JSON.stringify(event.jobId)} but the event is published for job ${jobId}`,
    );
  }
  const maxAttempts = options.maxAttempts ?? 50;
  const subject = eventSubject(jobId);
  const what = `publish event for job ${jobId}`;
  try {
    const jsm = await js.jetstreamManager();
    return await retry(
      async () => {
        const last = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject });
        const prevSeq = last === null ? 0n : (storedSequence(last) ?? (await scanMaxSequence(js, subject)));
        const stored: JobEvent = { ...event, jobId, sequence: prevSeq + 1n, time: event.time ?? new Date() };
        const hdrs = injectHeaders(undefined, natsHeaders());
        hdrs.set(HEADER_EVENT_SEQUENCE, String(stored.sequence));
        hdrs.set(HEADER_JOB_ID, jobId);
        const ack = await js.publish(subject, JobEvent.encode(stored).finish(), {
          headers: hdrs,
          expect: { streamName: EVENTS_STREAM, lastSubjectSequence: last?.seq ?? 0 },
          ...(options.msgId === undefined ? {} : { msgID: options.msgId }),
        });
        if (ack.duplicate) {
          const earlier = await jsm.streams.getMessage(EVENTS_STREAM, { seq: ack.seq });
          const ev = earlier === null ? stored : JobEvent.decode(earlier.data);
          return { event: ev, sequence: ev.sequence, streamSequence: ack.seq, duplicate: true };
        }
        return { event: stored, sequence: stored.sequence, streamSequence: ack.seq, duplicate: false };
      },
      { attempts: maxAttempts, backoff: SEQUENCE_BACKOFF, retryIf: isWrongLastSequence },
    ).catch((err: unknown) => {
      if (!isWrongLastSequence(err)) throw err;
      throw new RevisionConflictError(subject, `${what}: lost the numbering race ${maxAttempts} times`, { cause: err });
    });
  } catch (err) {
    throw toBusError(err, what);
  }
}

export interface ReplayOptions {
  /** Ends the iteration (the iterator returns). */
  signal?: AbortSignal;
  /** Return after a completed, failed or cancelled event (default true). */
  untilTerminal?: boolean;
  /** Where undecodable events are reported (they are skipped). */
  logger?: Logger;
}

/**
 * The job's events with sequence >= `fromSequence` (0 and 1 both mean from the start), in order,
 * then live ones as they are published, through an ordered consumer (it recovers on its own across
 * reconnects). Returns after a terminal event (unless `untilTerminal` is false) or when `signal` aborts.
 */
export async function* replayEvents(
  js: JetStreamClient,
  jobId: string,
  fromSequence: bigint | number = 1n,
  options: ReplayOptions = {},
): AsyncGenerator<JobEvent, void, undefined> {
  const subject = eventSubject(jobId);
  let from: bigint;
  try {
    from = BigInt(fromSequence);
  } catch {
    throw new InvalidArgumentError("from_sequence", `${String(fromSequence)} is not an integer`);
  }
  if (from < 1n) from = 1n;
  const untilTerminal = options.untilTerminal ?? true;
  if (options.signal?.aborted) return;

  let iter: Awaited<ReturnType<Awaited<ReturnType<JetStreamClient["consumers"]["get"]>>["consume"]>>;
  try {
    // Resuming after the newest event (the usual reconnect): start right after it instead of re-reading the job's history.
    let startSeq: number | undefined;
    if (from > 1n) {
      const jsm = await js.jetstreamManager();
      const last = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject });
      const lastSeq = last === null ? undefined : storedSequence(last);
      if (last !== null && lastSeq !== undefined && lastSeq < from) startSeq = last.seq + 1;
    }
    const consumer = await js.consumers.get(EVENTS_STREAM, {
      filter_subjects: subject, // a string: servers before 2.10 only know filter_subject
      ...(startSeq === undefined
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }),
    });
    iter = await consumer.consume({ max_messages: 256 });
  } catch (err) {
    throw toBusError(err, `replay events of job ${jobId}`);
  }
  const stop = () => {
    void iter.close();
  };
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of iter) {
      const hs = headerSequence(m.headers);
      if (hs !== undefined && hs < from) continue;
      let ev: JobEvent;
      try {
        ev = JobEvent.decode(m.data);
      } catch (err) {
        options.logger?.warn({ jobId, streamSeq: m.seq, err: errorMessage(err) }, "skipping an undecodable job event");
        continue;
      }
      if (ev.sequence < from) continue;
      yield ev;
      if (untilTerminal && isTerminalEvent(ev)) return;
    }
  } finally {
    options.signal?.removeEventListener("abort", stop);
    await iter.close().catch(() => {});
  }
}
