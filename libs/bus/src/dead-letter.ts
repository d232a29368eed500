/**
 * Dead letters: a task that can never succeed (malformed payload, permanent error, attempts
 * exhausted) is recorded on `longshot.dlq.<stage>` (stream LONGSHOT_DLQ, Limits retention) as a
 * JSON record with the reason and the original payload, so the job can be failed with that reason
 * and the task inspected or replayed later.
 */
import { IntegrityError } from "@longshot/core";
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { errorMessage, toBusError } from "./errors.js";
import { DLQ_STREAM, dlqSubject, HEADER_DLQ_KIND, HEADER_DLQ_REASON, HEADER_JOB_ID, HEADER_TASK_ID } from "./names.js";

/** Why a task was dead-lettered. */
export type DeadLetterKind =
  /** The handler failed with a non-transient error. */
  | "permanent"
  /** Transient failures on every allowed delivery. */
  | "max_deliveries"
  /** The payload is not a valid task. */
  | "malformed"
  /** JetStream gave up redelivering (MAX_DELIVERIES advisory: the last delivery timed out, e.g. a worker crash). */
  | "advisory";

export interface DeadLetterRecord {
  kind: DeadLetterKind;
  /** One-line reason, shown to users as the job's failure reason. */
  reason: string;
  /** gRPC status name of the failure (INVALID_ARGUMENT, DATA_LOSS, UNAVAILABLE, INTERNAL, …). */
  code: string;
  stage: string;
  stream: string;
  consumer: string;
  subject: string;
  streamSequence: number;
  deliveryCount: number;
  jobId?: string;
  taskId?: string;
  /** Worker that wrote the record (host/pid). */
  workerId: string;
  /** ISO 8601. */
  time: string;
  /** Size of the original payload, and its first bytes (up to 64 KiB) in base64. */
  payloadBytes: number;
  payloadBase64: string;
  payloadTruncated: boolean;
}

const MAX_PAYLOAD_COPY = 64 * 1024;
const MAX_REASON_CHARS = 2000;

/** One line, bounded: reasons end up in logs, headers and job records. */
export function oneLineReason(reason: string): string {
  const line = reason.replace(/\s+/g, " ").trim();
  return line.length > MAX_REASON_CHARS ? `${line.slice(0, MAX_REASON_CHARS - 1)}…` : line;
}

export function makeDeadLetterRecord(
  fields: Omit<DeadLetterRecord, "time" | "payloadBytes" | "payloadBase64" | "payloadTruncated" | "reason"> & {
    reason: string;
    payload: Uint8Array;
  },
): DeadLetterRecord {
  const { payload, ...rest } = fields;
  const copy = payload.subarray(0, MAX_PAYLOAD_COPY);
  return {
    ...rest,
    reason: oneLineReason(fields.reason),
    time: new Date().toISOString(),
    payloadBytes: payload.length,
    payloadBase64: Buffer.from(copy).toString("base64"),
    payloadTruncated: copy.length < payload.length,
  };
}

/**
 * Writes a record to `longshot.dlq.<stage>`. The Msg-Id is derived from the task's stream and
 * sequence, so a second record for the same message (a retry after a crash, or both the worker and
 * the advisory path) within the duplicate window is dropped.
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  record: DeadLetterRecord,
): Promise<{ seq: number; duplicate: boolean }> {
  const subject = dlqSubject(record.stage);
  const hdrs = natsHeaders();
  hdrs.set(HEADER_DLQ_KIND, record.kind);
  hdrs.set(HEADER_DLQ_REASON, record.reason.slice(0, 512));
  if (record.jobId !== undefined) hdrs.set(HEADER_JOB_ID, record.jobId);
  if (record.taskId !== undefined) hdrs.set(HEADER_TASK_ID, record.taskId);
  try {
    const ack = await js.publish(subject, JSON.stringify(record), {
      msgID: `dlq:${record.stream}:${record.streamSequence}`,
      headers: hdrs,
      expect: { streamName: DLQ_STREAM },
    });
    return { seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    throw toBusError(err, `publish dead letter for ${record.stream}#${record.streamSequence} to ${subject}`);
  }
}

/** Parses a DLQ message body; throws IntegrityError when it is not a record. */
export function decodeDeadLetter(data: Uint8Array): DeadLetterRecord {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new IntegrityError(`dead-letter record is not JSON: ${errorMessage(err)}`, { cause: err });
  }
  const r = v as Partial<DeadLetterRecord> | null;
  if (
    r === null ||
    typeof r !== "object" ||
    typeof r.kind !== "string" ||
    typeof r.reason !== "string" ||
    typeof r.stage !== "string" ||
    typeof r.streamSequence !== "number"
  ) {
    throw new IntegrityError("dead-letter record lacks kind, reason, stage or streamSequence");
  }
  return r as DeadLetterRecord;
}

export interface ListDeadLettersOptions {
  /** Only this stage's records. */
  stage?: string;
  /** Most records returned (default 100). */
  limit?: number;
  /** Stop waiting for more after this long without a message (default 1 s). */
  idleMs?: number;
}

/** Reads dead-letter records, oldest first (for operators, tests and replays). */
export async function listDeadLetters(
  js: JetStreamClient,
  options: ListDeadLettersOptions = {},
): Promise<Array<DeadLetterRecord & { dlqSequence: number }>> {
  const limit = options.limit ?? 100;
  const subject = options.stage === undefined ? `${dlqSubject("*")}` : dlqSubject(options.stage);
  const out: Array<DeadLetterRecord & { dlqSequence: number }> = [];
  try {
    const jsm = await js.jetstreamManager();
    const info = await jsm.streams.info(DLQ_STREAM);
    if (info.state.messages === 0) return out;
    const consumer = await js.consumers.get(DLQ_STREAM, {
      filter_subjects: subject, // a string: servers before 2.10 only know filter_subject
      deliver_policy: DeliverPolicy.All,
    });
    const batch = await consumer.fetch({ max_messages: limit, expires: Math.max(1000, options.idleMs ?? 1000) });
    for await (const m of batch) {
      out.push({ ...decodeDeadLetter(m.data), dlqSequence: m.seq });
      if (out.length >= limit || m.info.pending === 0) break;
    }
    return out;
  } catch (err) {
    throw toBusError(err, `list dead letters on ${subject}`);
  }
}
