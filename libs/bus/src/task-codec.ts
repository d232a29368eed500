/**
 * StageTask payloads: protobuf encoding with an envelope check on both sides. The bus checks what
 * routing and bookkeeping depend on (ids, stage, params case, output key, size); each stage service
 * validates its own params (prompt, latent references) and answers a bad one with an
 * InvalidArgumentError, which the worker loop dead-letters.
 */
import { InvalidArgumentError } from "@longshot/core";
import { StageTask } from "@longshot/proto";
import { errorMessage, MalformedPayloadError } from "./errors.js";
import { isValidJobId, type StageName, stageNameOf } from "./names.js";

/** Largest task payload a worker accepts by default. Tasks carry references, never tensors. */
export const DEFAULT_MAX_TASK_BYTES = 256 * 1024;

const MAX_ID_CHARS = 256;
const MAX_KEY_CHARS = 1024;
// Printable ASCII without spaces: task ids become Nats-Msg-Id headers and log fields.
const TASK_ID_RE = /^[\x21-\x7e]+$/;
/** Object keys: no control characters, no U+FFFD (what invalid UTF-8 decodes to). */
function hasBadKeyChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0xfffd) return true;
  }
  return false;
}

/** What is wrong with a task's envelope, or undefined when it is fine. `field` is the proto field path. */
export function checkTaskEnvelope(task: StageTask): { field: string; problem: string } | undefined {
  if (!isValidJobId(task.jobId)) {
    return {
      field: "job_id",
      problem: `${show(task.jobId)} is not a valid job id (1-128 characters of A-Z a-z 0-9 _ -)`,
    };
  }
  if (task.taskId.length === 0 || task.taskId.length > MAX_ID_CHARS || !TASK_ID_RE.test(task.taskId)) {
    return {
      field: "task_id",
      problem: `${show(task.taskId)} must be 1-${MAX_ID_CHARS} printable ASCII characters without spaces`,
    };
  }
  const stage = stageNameOf(task.stage);
  if (stage === undefined)
    return { field: "stage", problem: `${task.stage} is not a stage (keyframe, interpolation, decode)` };
  if (task.params === undefined) return { field: "params", problem: `is missing (expected ${stage} params)` };
  if (task.params.$case !== stage) {
    return { field: "params", problem: `are ${task.params.$case} params but the task is for stage ${stage}` };
  }
  if (task.outputKey.length === 0 || task.outputKey.length > MAX_KEY_CHARS || hasBadKeyChar(task.outputKey)) {
    return {
      field: "output_key",
      problem: `${show(task.outputKey)} must be 1-${MAX_KEY_CHARS} characters without control characters`,
    };
  }
  return undefined;
}

/** Encodes a task after checking its envelope; throws InvalidArgumentError(`task.<field>`). */
export function encodeTask(task: StageTask): Uint8Array {
  const bad = checkTaskEnvelope(task);
  if (bad !== undefined) throw new InvalidArgumentError(`task.${bad.field}`, bad.problem);
  return StageTask.encode(task).finish();
}

export interface DecodeTaskOptions {
  /** The stage of the queue the message came from: a task for another stage is refused. */
  stage?: StageName;
  maxBytes?: number;
}

/** Decodes and checks a task payload; anything wrong throws MalformedPayloadError saying what. */
export function decodeTask(data: Uint8Array, options: DecodeTaskOptions = {}): StageTask {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_TASK_BYTES;
  if (data.length === 0) throw new MalformedPayloadError("empty payload (expected a protobuf longshot.v1.StageTask)");
  if (data.length > maxBytes) {
    throw new MalformedPayloadError(`${data.length} bytes exceeds the limit of ${maxBytes} bytes for a task`);
  }
  let task: StageTask;
  try {
    task = StageTask.decode(data);
  } catch (err) {
    throw new MalformedPayloadError(`not a protobuf longshot.v1.StageTask: ${errorMessage(err)}`, { cause: err });
  }
  const bad = checkTaskEnvelope(task);
  if (bad !== undefined) throw new MalformedPayloadError(`not a valid StageTask: ${bad.field} ${bad.problem}`);
  if (options.stage !== undefined && stageNameOf(task.stage) !== options.stage) {
    throw new MalformedPayloadError(
      `task ${task.taskId} is for stage ${stageNameOf(task.stage)} but arrived on the ${options.stage} queue`,
    );
  }
  return task;
}

function show(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}
