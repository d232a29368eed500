/**
 * Structural checks of the stage messages (StageTask, LatentRef) that arrive from the network:
 * gRPC Run… calls today, JetStream payloads with the distributed pipeline. A malformed or hostile
 * message is refused with an InvalidArgumentError naming the field (proto field names, e.g.
 * "task.interpolation.input_latents.sha256"), before anything reads a blob or runs a model.
 * Checks that need a pack (frame counts, the pack's name) belong to the service that has it.
 */
import { InvalidArgumentError } from "@longshot/core";
import { DataType, type LatentRef, Mode, OutputFormat, Sampler, Stage } from "./gen/longshot/v1/common.js";
import { type SamplerSettings, StageTask } from "./gen/longshot/v1/stage.js";

/** Upper bounds that keep a hostile message from asking for unbounded work or memory. */
export const STAGE_TASK_LIMITS = {
  idLength: 256,
  outputKeyLength: 1024,
  uriLength: 2048,
  promptLength: 2000,
  maxDims: 8,
  /** Denoising steps (diffusers schedulers have 1000 training timesteps). */
  maxSteps: 1000,
  maxGuidance: 100,
  /** Frames in one latent sequence or video. */
  maxFrames: 4096,
  traceContextEntries: 16,
  traceContextValueLength: 512,
} as const;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function fail(field: string, message: string): never {
  throw new InvalidArgumentError(field, message);
}

function checkId(value: string, field: string): void {
  if (value === "") fail(field, "is required");
  if (value.length > STAGE_TASK_LIMITS.idLength)
    fail(field, `is ${value.length} characters, at most ${STAGE_TASK_LIMITS.idLength}`);
  if (!ID_RE.test(value))
    fail(
      field,
      `${JSON.stringify(value)} may only contain letters, digits and . _ : / -, starting with a letter or digit`,
    );
  if (value.split("/").includes("..")) fail(field, `${JSON.stringify(value)} must not contain a ".." segment`);
}

/** An object key or path below a store's root: relative, no "..", no control characters. */
function checkKey(value: string, field: string): void {
  if (value === "") fail(field, "is required");
  if (value.length > STAGE_TASK_LIMITS.outputKeyLength)
    fail(field, `is ${value.length} characters, at most ${STAGE_TASK_LIMITS.outputKeyLength}`);
  if (CONTROL_RE.test(value)) fail(field, "must not contain control characters");
  if (value.startsWith("/")) fail(field, `${JSON.stringify(value)} must be relative (no leading "/")`);
  if (value.split("/").some((s) => s === ".." || s === "." || s === "")) {
    fail(field, `${JSON.stringify(value)} must not contain empty, "." or ".." segments`);
  }
}

function checkCount(value: number, field: string, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max)
    fail(field, `must be an integer from ${min} to ${max}, got ${value}`);
}

function checkEnum<E extends number>(
  value: E,
  field: string,
  known: Record<string, string | number>,
  unspecified: number,
): void {
  const name = (known as Record<number, string | undefined>)[value];
  if (value === unspecified || value < 0 || name === undefined) {
    const allowed = Object.entries(known)
      .filter(([, v]) => typeof v === "number" && v > 0)
      .map(([k]) => k)
      .join(", ");
    fail(field, `must be one of ${allowed}, got ${name ?? value}`);
  }
}

/** Checks a tensor reference: a supported URI, a shape, a dtype, a SHA-256 and a size. */
export function validateLatentRef(ref: LatentRef | undefined, field: string): LatentRef {
  if (!ref) fail(field, "is required");
  if (ref.uri === "") fail(`${field}.uri`, "is required");
  if (ref.uri.length > STAGE_TASK_LIMITS.uriLength)
    fail(`${field}.uri`, `is longer than ${STAGE_TASK_LIMITS.uriLength} characters`);
  if (CONTROL_RE.test(ref.uri)) fail(`${field}.uri`, "must not contain control characters");
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref.uri);
  if (s3) {
    checkKey(s3[2] ?? "", `${field}.uri`);
  } else if (ref.uri.startsWith("file:///")) {
    if (ref.uri.split("/").includes(".."))
      fail(`${field}.uri`, `${JSON.stringify(ref.uri)} must not contain ".." segments`);
  } else {
    fail(`${field}.uri`, `${JSON.stringify(ref.uri)} must be s3://<bucket>/<key> or file:///<absolute path>`);
  }
  if (ref.shape.length === 0) fail(`${field}.shape`, "is required");
  if (ref.shape.length > STAGE_TASK_LIMITS.maxDims)
    fail(`${field}.shape`, `has ${ref.shape.length} dimensions, at most ${STAGE_TASK_LIMITS.maxDims}`);
  ref.shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 1) fail(`${field}.shape[${i}]`, `must be a positive size, got ${d}`);
  });
  checkEnum(ref.dtype, `${field}.dtype`, DataType, DataType.DATA_TYPE_UNSPECIFIED);
  if (!SHA256_RE.test(ref.sha256)) fail(`${field}.sha256`, "must be 64 lowercase hex characters");
  if (ref.bytes <= 0n) fail(`${field}.bytes`, `must be positive, got ${ref.bytes}`);
  return ref;
}

function validateSampler(settings: SamplerSettings | undefined, field: string): void {
  if (!settings) fail(field, "is required for a denoising stage");
  checkEnum(settings.sampler, `${field}.sampler`, Sampler, Sampler.SAMPLER_UNSPECIFIED);
  checkCount(settings.steps, `${field}.steps`, 1, STAGE_TASK_LIMITS.maxSteps);
  if (
    !Number.isFinite(settings.guidance) ||
    settings.guidance < 0 ||
    settings.guidance > STAGE_TASK_LIMITS.maxGuidance
  ) {
    fail(`${field}.guidance`, `must be a number from 0 to ${STAGE_TASK_LIMITS.maxGuidance}, got ${settings.guidance}`);
  }
}

const PARAMS_OF_STAGE: Readonly<Record<number, string>> = {
  [Stage.STAGE_KEYFRAME]: "keyframe",
  [Stage.STAGE_INTERPOLATION]: "interpolation",
  [Stage.STAGE_DECODE]: "decode",
};

/**
 * Checks every field of a stage task; throws InvalidArgumentError naming the first bad one.
 * `expectedStage`, when given, is the only stage accepted (a service refuses other stages' tasks).
 */
export function validateStageTask(task: StageTask | undefined, field = "task", expectedStage?: Stage): StageTask {
  if (!task) fail(field, "is required");
  checkId(task.jobId, `${field}.job_id`);
  checkId(task.taskId, `${field}.task_id`);
  checkKey(task.outputKey, `${field}.output_key`);
  checkEnum(task.stage, `${field}.stage`, Stage, Stage.STAGE_UNSPECIFIED);
  if (expectedStage !== undefined && task.stage !== expectedStage) {
    fail(`${field}.stage`, `must be ${Stage[expectedStage]} for this service, got ${Stage[task.stage] ?? task.stage}`);
  }
  const entries = Object.entries(task.traceContext);
  if (entries.length > STAGE_TASK_LIMITS.traceContextEntries) {
    fail(`${field}.trace_context`, `has ${entries.length} entries, at most ${STAGE_TASK_LIMITS.traceContextEntries}`);
  }
  for (const [key, value] of entries) {
    if (key.length > 64 || value.length > STAGE_TASK_LIMITS.traceContextValueLength || CONTROL_RE.test(key + value)) {
      fail(`${field}.trace_context`, `entry ${JSON.stringify(key.slice(0, 64))} is too long or has control characters`);
    }
  }
  checkId(task.packName, `${field}.pack_name`);
  if (task.packVersion === "") fail(`${field}.pack_version`, "is required");

  const expectedParams = PARAMS_OF_STAGE[task.stage];
  const params = task.params;
  if (!params || params.$case !== expectedParams) {
    fail(
      `${field}.${expectedParams}`,
      `is required for ${Stage[task.stage]}${params ? ` (got ${params.$case} params)` : ""}`,
    );
  }
  switch (params.$case) {
    case "keyframe": {
      validateSampler(task.sampler, `${field}.sampler`);
      const p = params.value;
      const where = `${field}.keyframe`;
      if (p.prompt.trim() === "") fail(`${where}.prompt`, "must not be empty");
      if (p.prompt.length > STAGE_TASK_LIMITS.promptLength)
        fail(`${where}.prompt`, `is longer than ${STAGE_TASK_LIMITS.promptLength} characters`);
      if ((p.negativePrompt?.length ?? 0) > STAGE_TASK_LIMITS.promptLength) {
        fail(`${where}.negative_prompt`, `is longer than ${STAGE_TASK_LIMITS.promptLength} characters`);
      }
      checkCount(p.numFrames, `${where}.num_frames`, 1, STAGE_TASK_LIMITS.maxFrames);
      break;
    }
    case "interpolation": {
      validateSampler(task.sampler, `${field}.sampler`);
      const p = params.value;
      const where = `${field}.interpolation`;
      validateLatentRef(p.inputLatents, `${where}.input_latents`);
      validateLatentRef(p.textEmbeddings, `${where}.text_embeddings`);
      checkCount(p.level, `${where}.level`, 1, 16);
      checkCount(p.outputFrames, `${where}.output_frames`, 2, STAGE_TASK_LIMITS.maxFrames);
      if (!(p.windowStart < p.windowEnd && p.windowEnd <= p.outputFrames)) {
        fail(
          `${where}.window_end`,
          `window [${p.windowStart}, ${p.windowEnd}) must be non-empty and within [0, ${p.outputFrames})`,
        );
      }
      let previous = -1;
      p.anchorFrames.forEach((frame, i) => {
        if (frame < p.windowStart || frame >= p.windowEnd || frame <= previous) {
          fail(
            `${where}.anchor_frames[${i}]`,
            `must be increasing frame indices inside [${p.windowStart}, ${p.windowEnd}), got ${frame}`,
          );
        }
        previous = frame;
      });
      if (!(Number.isFinite(p.frameStride) && p.frameStride > 0))
        fail(`${where}.frame_stride`, `must be positive, got ${p.frameStride}`);
      checkEnum(p.mode, `${where}.mode`, Mode, Mode.MODE_UNSPECIFIED);
      break;
    }
    case "decode": {
      const p = params.value;
      const where = `${field}.decode`;
      validateLatentRef(p.latents, `${where}.latents`);
      if (!(p.frameStart < p.frameEnd && p.frameEnd <= STAGE_TASK_LIMITS.maxFrames)) {
        fail(
          `${where}.frame_end`,
          `frame range [${p.frameStart}, ${p.frameEnd}) must be non-empty and end by ${STAGE_TASK_LIMITS.maxFrames}`,
        );
      }
      if (p.outputFormats.length === 0) fail(`${where}.output_formats`, "must name at least one format");
      p.outputFormats.forEach((f, i) => {
        checkEnum(f, `${where}.output_formats[${i}]`, OutputFormat, OutputFormat.OUTPUT_FORMAT_UNSPECIFIED);
      });
      break;
    }
  }
  return task;
}

/**
 * Decodes and checks a StageTask from untrusted bytes (a JetStream payload): malformed protobuf
 * and invalid fields both throw InvalidArgumentError, so the caller can terminate the message.
 */
export function parseStageTask(bytes: Uint8Array, expectedStage?: Stage): StageTask {
  let task: StageTask;
  try {
    task = StageTask.decode(bytes);
  } catch (err) {
    throw new InvalidArgumentError("payload", `is not a valid longshot.v1.StageTask: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return validateStageTask(task, "task", expectedStage);
}
