import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { DataType, LatentRef, Mode, OutputFormat, Sampler, Stage } from "./gen/longshot/v1/common.js";
import { StageTask } from "./gen/longshot/v1/stage.js";
import { parseStageTask, validateLatentRef, validateStageTask } from "./validate.js";

const SHA = "a".repeat(64);

function ref(overrides: Partial<LatentRef> = {}): LatentRef {
  return LatentRef.create({
    uri: "s3://longshot/jobs/j1/keyframe/latents.safetensors",
    shape: [1, 4, 5, 16, 16],
    dtype: DataType.DATA_TYPE_FLOAT32,
    sha256: SHA,
    bytes: 20_480n,
    ...overrides,
  });
}

function keyframeTask(): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/keyframe",
    outputKey: "jobs/j1/keyframe",
    stage: Stage.STAGE_KEYFRAME,
    packName: "shapes-mini",
    packVersion: "1.0.0",
    seed: 42n,
    sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 25, guidance: 5 },
    params: { $case: "keyframe", value: { prompt: "a red circle moving left", numFrames: 5 } },
  });
}

function interpolationTask(): StageTask {
  return StageTask.create({
    ...keyframeTask(),
    taskId: "j1/interpolation/1/w0",
    outputKey: "jobs/j1/interpolation/1/w0",
    stage: Stage.STAGE_INTERPOLATION,
    params: {
      $case: "interpolation",
      value: {
        inputLatents: ref(),
        textEmbeddings: ref({ shape: [2, 32, 384] }),
        level: 1,
        outputFrames: 17,
        windowStart: 0,
        windowEnd: 17,
        anchorFrames: [0, 4, 8, 12, 16],
        frameStride: 4,
        mode: Mode.MODE_PINNED,
      },
    },
  });
}

function decodeTask(): StageTask {
  return StageTask.create({
    ...keyframeTask(),
    taskId: "j1/decode",
    outputKey: "jobs/j1/decode",
    stage: Stage.STAGE_DECODE,
    sampler: undefined,
    params: {
      $case: "decode",
      value: {
        latents: ref({ shape: [1, 4, 65, 16, 16] }),
        frameStart: 0,
        frameEnd: 65,
        outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4],
      },
    },
  });
}

function rejectsField(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.field, field, err.message);
    return true;
  });
}

describe("validateStageTask", () => {
  it("accepts well-formed tasks of each stage", () => {
    validateStageTask(keyframeTask(), "task", Stage.STAGE_KEYFRAME);
    validateStageTask(interpolationTask(), "task", Stage.STAGE_INTERPOLATION);
    validateStageTask(decodeTask(), "task", Stage.STAGE_DECODE);
  });

  const cases: [string, () => StageTask | undefined, string][] = [
    ["missing task", () => undefined, "task"],
    ["empty job id", () => ({ ...keyframeTask(), jobId: "" }), "task.job_id"],
    ["job id with spaces", () => ({ ...keyframeTask(), jobId: "j 1" }), "task.job_id"],
    ["task id with ..", () => ({ ...keyframeTask(), taskId: "j1/../x" }), "task.task_id"],
    ["absolute output key", () => ({ ...keyframeTask(), outputKey: "/etc/passwd" }), "task.output_key"],
    ["output key escaping", () => ({ ...keyframeTask(), outputKey: "jobs/../../x" }), "task.output_key"],
    ["unspecified stage", () => ({ ...keyframeTask(), stage: Stage.STAGE_UNSPECIFIED }), "task.stage"],
    ["unknown stage number", () => ({ ...keyframeTask(), stage: 42 as Stage }), "task.stage"],
    ["params of another stage", () => ({ ...keyframeTask(), stage: Stage.STAGE_DECODE }), "task.decode"],
    ["no params", () => ({ ...keyframeTask(), params: undefined }), "task.keyframe"],
    ["no pack name", () => ({ ...keyframeTask(), packName: "" }), "task.pack_name"],
    ["no pack version", () => ({ ...keyframeTask(), packVersion: "" }), "task.pack_version"],
    ["no sampler settings", () => ({ ...keyframeTask(), sampler: undefined }), "task.sampler"],
    [
      "unspecified sampler",
      () => ({ ...keyframeTask(), sampler: { sampler: 0, steps: 25, guidance: 5 } }),
      "task.sampler.sampler",
    ],
    ["zero steps", () => ({ ...keyframeTask(), sampler: { sampler: 1, steps: 0, guidance: 5 } }), "task.sampler.steps"],
    [
      "too many steps",
      () => ({ ...keyframeTask(), sampler: { sampler: 1, steps: 5000, guidance: 5 } }),
      "task.sampler.steps",
    ],
    [
      "NaN guidance",
      () => ({ ...keyframeTask(), sampler: { sampler: 1, steps: 5, guidance: Number.NaN } }),
      "task.sampler.guidance",
    ],
    [
      "negative guidance",
      () => ({ ...keyframeTask(), sampler: { sampler: 1, steps: 5, guidance: -1 } }),
      "task.sampler.guidance",
    ],
    [
      "blank prompt",
      () => ({ ...keyframeTask(), params: { $case: "keyframe", value: { prompt: "  ", numFrames: 5 } } }),
      "task.keyframe.prompt",
    ],
    [
      "zero keyframes",
      () => ({ ...keyframeTask(), params: { $case: "keyframe", value: { prompt: "x", numFrames: 0 } } }),
      "task.keyframe.num_frames",
    ],
    [
      "too many trace entries",
      () => ({
        ...keyframeTask(),
        traceContext: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, "v"])),
      }),
      "task.trace_context",
    ],
  ];
  for (const [name, make, field] of cases) {
    it(`refuses ${name} naming ${field}`, () => rejectsField(() => validateStageTask(make()), field));
  }

  function withInterpolation(change: Record<string, unknown>): StageTask {
    const t = interpolationTask();
    if (t.params?.$case !== "interpolation") throw new Error("fixture");
    return { ...t, params: { $case: "interpolation", value: { ...t.params.value, ...change } } };
  }

  const interpolationCases: [string, Record<string, unknown>, string][] = [
    ["no input latents", { inputLatents: undefined }, "task.interpolation.input_latents"],
    ["bad latent hash", { inputLatents: ref({ sha256: "XYZ" }) }, "task.interpolation.input_latents.sha256"],
    ["http latent uri", { inputLatents: ref({ uri: "http://evil/x" }) }, "task.interpolation.input_latents.uri"],
    [
      "file uri with ..",
      { inputLatents: ref({ uri: "file:///data/../etc/passwd" }) },
      "task.interpolation.input_latents.uri",
    ],
    ["zero dim", { inputLatents: ref({ shape: [1, 0, 5] }) }, "task.interpolation.input_latents.shape[1]"],
    ["no shape", { inputLatents: ref({ shape: [] }) }, "task.interpolation.input_latents.shape"],
    [
      "unknown dtype",
      { textEmbeddings: ref({ dtype: DataType.DATA_TYPE_UNSPECIFIED }) },
      "task.interpolation.text_embeddings.dtype",
    ],
    ["zero bytes", { textEmbeddings: ref({ bytes: 0n }) }, "task.interpolation.text_embeddings.bytes"],
    ["level 0", { level: 0 }, "task.interpolation.level"],
    ["empty window", { windowStart: 5, windowEnd: 5 }, "task.interpolation.window_end"],
    ["window past the end", { windowEnd: 18 }, "task.interpolation.window_end"],
    [
      "anchor outside window",
      { windowStart: 4, windowEnd: 9, anchorFrames: [0, 4] },
      "task.interpolation.anchor_frames[0]",
    ],
    ["anchors not increasing", { anchorFrames: [0, 8, 4] }, "task.interpolation.anchor_frames[2]"],
    ["zero stride", { frameStride: 0 }, "task.interpolation.frame_stride"],
    ["unspecified mode", { mode: Mode.MODE_UNSPECIFIED }, "task.interpolation.mode"],
  ];
  for (const [name, change, field] of interpolationCases) {
    it(`refuses an interpolation task with ${name} naming ${field}`, () =>
      rejectsField(() => validateStageTask(withInterpolation(change)), field));
  }

  it("refuses decode tasks with an empty frame range or no output format", () => {
    const t = decodeTask();
    if (t.params?.$case !== "decode") throw new Error("fixture");
    const v = t.params.value;
    rejectsField(
      () => validateStageTask({ ...t, params: { $case: "decode", value: { ...v, frameEnd: 0 } } }),
      "task.decode.frame_end",
    );
    rejectsField(
      () => validateStageTask({ ...t, params: { $case: "decode", value: { ...v, outputFormats: [] } } }),
      "task.decode.output_formats",
    );
    rejectsField(
      () =>
        validateStageTask({
          ...t,
          params: { $case: "decode", value: { ...v, outputFormats: [OutputFormat.OUTPUT_FORMAT_UNSPECIFIED] } },
        }),
      "task.decode.output_formats[0]",
    );
  });

  it("refuses a task for another stage than the service's", () => {
    rejectsField(() => validateStageTask(decodeTask(), "task", Stage.STAGE_KEYFRAME), "task.stage");
  });

  it("refuses a task decoded from garbage bytes without crashing", () => {
    const garbage = StageTask.decode(new TextEncoder().encode("\u0012\u0003abc"));
    rejectsField(() => validateStageTask(garbage), "task.job_id");
  });
});

describe("validateLatentRef", () => {
  it("accepts s3 and file URIs", () => {
    validateLatentRef(ref(), "ref");
    validateLatentRef(ref({ uri: "file:///var/lib/longshot/blobs/ab/cd" }), "ref");
  });
  it("refuses an s3 URI without a key", () =>
    rejectsField(() => validateLatentRef(ref({ uri: "s3://bucket/" }), "ref"), "ref.uri"));
});

describe("parseStageTask", () => {
  it("round-trips an encoded task", () => {
    const task = interpolationTask();
    assert.deepEqual(parseStageTask(StageTask.encode(task).finish(), Stage.STAGE_INTERPOLATION), task);
  });
  it("refuses bytes that are not protobuf, naming the payload", () => {
    rejectsField(() => parseStageTask(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), "payload");
  });
  it("refuses a valid encoding of an invalid task", () => {
    rejectsField(
      () => parseStageTask(StageTask.encode({ ...keyframeTask(), outputKey: "" }).finish()),
      "task.output_key",
    );
  });
});
