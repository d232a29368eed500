/**
 * Names of longshot's JetStream resources and subjects, in one place (docs/architecture.md lists them):
 *
 * | what                         | name / subject                                   |
 * |------------------------------|--------------------------------------------------|
 * | work queues (WorkQueue)      | stream LONGSHOT_TASKS, `longshot.tasks.<stage>`   |
 * | stage consumers (pull)       | `keyframe`, `interpolation`, `decode`             |
 * | job events (Limits)          | stream LONGSHOT_EVENTS, `longshot.events.<jobId>` |
 * | stage results (WorkQueue)    | stream LONGSHOT_RESULTS, `longshot.results.<stage>` |
 * | results consumer (pull)      | `coordinator`                                     |
 * | dead letters (Limits)        | stream LONGSHOT_DLQ, `longshot.dlq.<stage>`, `longshot.dlq.results` |
 * | dead-letter consumer (pull)  | `gateway`                                         |
 * | cancel notices (core NATS)   | `longshot.cancel.<jobId>`                         |
 * | job records (KV)             | bucket `longshot-jobs`, keys `job.<id>`, `idem.<sha256>` |
 * | run records, slots (KV)      | bucket `longshot-runs`, keys `run.<id>`, `slot.<n>` |
 * | progress listener (core NATS)| `longshot.events.*`, queue group `longshot-gateway-progress` |
 * | MAX_DELIVERIES advisories    | `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`, queue group `longshot-dlq.<stream>.<consumer>` |
 */
import { InvalidArgumentError } from "@longshot/core";
import { Stage } from "@longshot/proto";

export const STAGES = ["keyframe", "interpolation", "decode"] as const;
export type StageName = (typeof STAGES)[number];

export const TASKS_STREAM = "LONGSHOT_TASKS";
export const EVENTS_STREAM = "LONGSHOT_EVENTS";
export const DLQ_STREAM = "LONGSHOT_DLQ";
export const RESULTS_STREAM = "LONGSHOT_RESULTS";
/** The durable pull consumer that reads every stage's results (the gateway's coordinator). */
export const RESULTS_CONSUMER = "coordinator";
/** The durable pull consumer that reads the dead letters (the gateway: it fails their jobs). */
export const DLQ_CONSUMER = "gateway";
export const JOBS_BUCKET = "longshot-jobs";
/** The gateway's run records (`run.<jobId>`) and admission slots (`slot.<n>`). */
export const RUNS_BUCKET = "longshot-runs";
/** Queue group of the gateway's progress listener on job events (one replica handles each event). */
export const PROGRESS_QUEUE_GROUP = "longshot-gateway-progress";

export const TASKS_SUBJECT_PREFIX = "longshot.tasks";
export const EVENTS_SUBJECT_PREFIX = "longshot.events";
export const DLQ_SUBJECT_PREFIX = "longshot.dlq";
export const RESULTS_SUBJECT_PREFIX = "longshot.results";
/** The DLQ "stage" of dead-lettered results: records go to `longshot.dlq.results`. */
export const RESULTS_DLQ_STAGE = "results";
export const CANCEL_SUBJECT_PREFIX = "longshot.cancel";

/** Headers longshot sets on its messages (besides `Nats-Msg-Id` and the W3C trace headers). */
export const HEADER_JOB_ID = "Longshot-Job-Id";
export const HEADER_TASK_ID = "Longshot-Task-Id";
export const HEADER_EVENT_SEQUENCE = "Longshot-Event-Seq";
export const HEADER_DLQ_KIND = "Longshot-Dlq-Kind";
export const HEADER_DLQ_REASON = "Longshot-Dlq-Reason";

/** Job ids become subject tokens and KV keys: letters, digits, `_` and `-`, 1..128 characters. */
const JOB_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

export function isValidJobId(id: unknown): id is string {
  return typeof id === "string" && JOB_ID_RE.test(id);
}

/** Throws InvalidArgumentError(field) unless `id` is a valid job id. */
export function checkJobId(id: unknown, field = "jobId"): string {
  if (!isValidJobId(id)) {
    const shown = typeof id === "string" ? JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id) : typeof id;
    throw new InvalidArgumentError(field, `${shown} is not a valid job id (1-128 characters of A-Z a-z 0-9 _ -)`);
  }
  return id;
}

export function isStageName(s: unknown): s is StageName {
  return typeof s === "string" && (STAGES as readonly string[]).includes(s);
}

export function checkStageName(s: unknown, field = "stage"): StageName {
  if (!isStageName(s)) {
    throw new InvalidArgumentError(field, `${JSON.stringify(s)} is not a stage (expected ${STAGES.join(", ")})`);
  }
  return s;
}

/** The stage name of a proto Stage; undefined for STAGE_UNSPECIFIED or an unknown number. */
export function stageNameOf(stage: Stage): StageName | undefined {
  switch (stage) {
    case Stage.STAGE_KEYFRAME:
      return "keyframe";
    case Stage.STAGE_INTERPOLATION:
      return "interpolation";
    case Stage.STAGE_DECODE:
      return "decode";
    default:
      return undefined;
  }
}

export function stageOf(name: StageName): Stage {
  switch (name) {
    case "keyframe":
      return Stage.STAGE_KEYFRAME;
    case "interpolation":
      return Stage.STAGE_INTERPOLATION;
    case "decode":
      return Stage.STAGE_DECODE;
  }
}

export function taskSubject(stage: StageName): string {
  return `${TASKS_SUBJECT_PREFIX}.${checkStageName(stage)}`;
}

export function eventSubject(jobId: string): string {
  return `${EVENTS_SUBJECT_PREFIX}.${checkJobId(jobId)}`;
}

export function resultSubject(stage: StageName): string {
  return `${RESULTS_SUBJECT_PREFIX}.${checkStageName(stage)}`;
}

export function dlqSubject(stage: string): string {
  return `${DLQ_SUBJECT_PREFIX}.${stage}`;
}

export function cancelSubject(jobId: string): string {
  return `${CANCEL_SUBJECT_PREFIX}.${checkJobId(jobId)}`;
}

/** Where nats-server reports a message of `stream`/`consumer` that ran out of deliveries. */
export function maxDeliveriesAdvisorySubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/** The queue group the advisory listeners of one consumer share (one process acts on each advisory). */
export function advisoryQueueGroup(stream: string, consumer: string): string {
  return `longshot-dlq.${stream}.${consumer}`;
}

/** The stage a task subject (`longshot.tasks.<stage>`) is for, or undefined. */
export function stageOfSubject(subject: string): StageName | undefined {
  const prefix = `${TASKS_SUBJECT_PREFIX}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const rest = subject.slice(prefix.length);
  return isStageName(rest) ? rest : undefined;
}

/** The stage a result subject (`longshot.results.<stage>`) is for, or undefined. */
export function stageOfResultSubject(subject: string): StageName | undefined {
  const prefix = `${RESULTS_SUBJECT_PREFIX}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const rest = subject.slice(prefix.length);
  return isStageName(rest) ? rest : undefined;
}
