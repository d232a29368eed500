/**
 * What every task and result carries and the bus checks on both sides: a job id, a task id and a
 * stage (what routing and bookkeeping depend on), and the one way a payload is decoded: size limit,
 * protobuf, envelope, stage of the subject it came on. Anything wrong is a MalformedPayloadError
 * saying what, which the pull loop dead-letters.
 */
import { InvalidArgumentError } from "@longshot/core";
import type { Stage } from "@longshot/proto";
import { errorMessage, MalformedPayloadError } from "./errors.js";
import { isValidJobId, type StageName, stageNameOf } from "./names.js";

/** A field of an envelope and what is wrong with it (`field` is the proto field path). */
export interface EnvelopeProblem {
  field: string;
  problem: string;
}

const MAX_ID_CHARS = 256;
// Printable ASCII without spaces: task ids become Nats-Msg-Id headers and log fields.
const TASK_ID_RE = /^[\x21-\x7e]+$/;

/** A string as it is shown in a problem: quoted, at most 60 characters. */
export function show(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}

/** What is wrong with the job id, task id or stage of a task or result, or undefined. */
export function checkIds(m: { jobId: string; taskId: string; stage: Stage }): EnvelopeProblem | undefined {
  if (!isValidJobId(m.jobId)) {
    return { field: "job_id", problem: `${show(m.jobId)} is not a valid job id (1-128 characters of A-Z a-z 0-9 _ -)` };
  }
  if (m.taskId.length === 0 || m.taskId.length > MAX_ID_CHARS || !TASK_ID_RE.test(m.taskId)) {
    return {
      field: "task_id",
      problem: `${show(m.taskId)} must be 1-${MAX_ID_CHARS} printable ASCII characters without spaces`,
    };
  }
  if (stageNameOf(m.stage) === undefined) {
    return { field: "stage", problem: `${m.stage} is not a stage (keyframe, interpolation, decode)` };
  }
  return undefined;
}

/** How one message type is decoded and checked. */
export interface EnvelopeCodec<T extends { taskId: string; stage: Stage }> {
  /** "StageTask", "StageResult". */
  type: string;
  /** "task", "result". */
  noun: string;
  decode(data: Uint8Array): T;
  encode(m: T): Uint8Array;
  check(m: T): EnvelopeProblem | undefined;
  /** Where a message for `stage` should have come from ("the keyframe queue"). */
  from(stage: StageName): string;
  /** Largest payload a reader accepts by default. */
  maxBytes: number;
  /** Whether `encodeEnvelope` refuses a message over `maxBytes` (results; a task is refused by its queue). */
  limitOnEncode: boolean;
}

export interface DecodeOptions {
  /** The stage of the subject the message came on: a message for another stage is refused. */
  stage?: StageName;
  /** Default: the codec's `maxBytes`. */
  maxBytes?: number;
}

/** Encodes a message after checking its envelope (and size); throws InvalidArgumentError(`<noun>.<field>`). */
export function encodeEnvelope<T extends { taskId: string; stage: Stage }>(codec: EnvelopeCodec<T>, m: T): Uint8Array {
  const bad = codec.check(m);
  if (bad !== undefined) throw new InvalidArgumentError(`${codec.noun}.${bad.field}`, bad.problem);
  const data = codec.encode(m);
  if (codec.limitOnEncode && data.length > codec.maxBytes) {
    throw new InvalidArgumentError(
      codec.noun,
      `task ${m.taskId}: ${data.length} bytes encoded, over the ${codec.maxBytes}-byte limit of a ${codec.noun}`,
    );
  }
  return data;
}

/** Decodes and checks a payload (see the module comment); `stage`: the stage of the subject it came on. */
export function decodeEnvelope<T extends { taskId: string; stage: Stage }>(
  codec: EnvelopeCodec<T>,
  data: Uint8Array,
  options: DecodeOptions = {},
): T {
  const { stage, maxBytes = codec.maxBytes } = options;
  if (data.length === 0)
    throw new MalformedPayloadError(`empty payload (expected a protobuf longshot.v1.${codec.type})`);
  if (data.length > maxBytes) {
    throw new MalformedPayloadError(`${data.length} bytes exceeds the limit of ${maxBytes} bytes for a ${codec.noun}`);
  }
  let m: T;
  try {
    m = codec.decode(data);
  } catch (err) {
    throw new MalformedPayloadError(`not a protobuf longshot.v1.${codec.type}: ${errorMessage(err)}`, { cause: err });
  }
  const bad = codec.check(m);
  if (bad !== undefined) throw new MalformedPayloadError(`not a valid ${codec.type}: ${bad.field} ${bad.problem}`);
  if (stage !== undefined && stageNameOf(m.stage) !== stage) {
    const what = codec.noun === "task" ? `task ${m.taskId}` : `${codec.noun} of task ${m.taskId}`;
    throw new MalformedPayloadError(`${what} is for stage ${stageNameOf(m.stage)} but arrived on ${codec.from(stage)}`);
  }
  return m;
}
