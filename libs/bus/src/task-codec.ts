import { StageTask } from "@longshot/proto";
import {
  checkIds,
  type DecodeOptions,
  decodeEnvelope,
  type EnvelopeCodec,
  type EnvelopeProblem,
  encodeEnvelope,
  show,
} from "./envelope.js";
import { type StageName, stageNameOf } from "./names.js";

/** Largest task payload a worker accepts by default. Tasks carry references, never tensors. */
export const DEFAULT_MAX_TASK_BYTES = 256 * 1024;

const MAX_KEY_CHARS = 1024;
/** Object keys: no control characters, no U+FFFD (what invalid UTF-8 decodes to). */
function hasBadKeyChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0xfffd) return true;
  }
  return false;
}

/** What is wrong with a task's envelope, or undefined when it is fine. `field` is the proto field path. */
export function checkTaskEnvelope(task: StageTask): EnvelopeProblem | undefined {
  const ids = checkIds(task);
  if (ids !== undefined) return ids;
  const stage = stageNameOf(task.stage) as StageName; // checkIds checked it
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

const TASK_CODEC: EnvelopeCodec<StageTask> = {
  type: "StageTask",
  noun: "task",
  decode: (data) => StageTask.decode(data),
  encode: (task) => StageTask.encode(task).finish(),
  check: checkTaskEnvelope,
  from: (stage) => `the ${stage} queue`,
  maxBytes: DEFAULT_MAX_TASK_BYTES,
  limitOnEncode: false,
};

/** Encodes a task after checking its envelope; throws InvalidArgumentError(`task.<field>`). */
export function encodeTask(task: StageTask): Uint8Array {
  return encodeEnvelope(TASK_CODEC, task);
}

/** Decodes and checks a task payload; anything wrong throws MalformedPayloadError saying what. */
export function decodeTask(data: Uint8Array, options: DecodeOptions = {}): StageTask {
  return decodeEnvelope(TASK_CODEC, data, options);
}
