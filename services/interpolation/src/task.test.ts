import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "@longshot/core";
import { DataType, Mode, Sampler, Stage, StageTask } from "@longshot/proto";
import { loadPack, type Pack } from "@longshot/runtime";
import { checkInterpolationTask, levelFrames } from "./task.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));
const SHA = "d".repeat(64);

function task(change: Record<string, unknown> = {}): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/interpolation/2/w1",
    outputKey: "jobs/j1/interpolation/2/w1",
    stage: Stage.STAGE_INTERPOLATION,
    packName: "tiny-pack",
    packVersion: "1.0.0",
    sampler: { sampler: Sampler.SAMPLER_EULER, steps: 3, guidance: 2 },
    params: {
      $case: "interpolation",
      value: {
        inputLatents: {
          uri: "s3://b/jobs/j1/l1",
          shape: [1, 4, 17, 4, 4],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: SHA,
          bytes: 5000n,
        },
        textEmbeddings: {
          uri: "s3://b/jobs/j1/text",
          shape: [2, 8, 8],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: SHA,
          bytes: 600n,
        },
        level: 2,
        outputFrames: 65,
        windowStart: 16,
        windowEnd: 33,
        anchorFrames: [16, 20, 24, 28, 32],
        frameStride: 0.25,
        mode: Mode.MODE_SEED,
        ...change,
      },
    },
  });
}

function rejectsField(change: Record<string, unknown>, field: string): void {
  assert.throws(
    () => checkInterpolationTask(task(change), pack),
    (err: unknown) => err instanceof InvalidArgumentError && err.field === field,
  );
}

let pack: Pack;

describe("interpolation task checks against the pack", () => {
  before(async () => {
    pack = await loadPack(TINY_PACK);
  });

  it("derives the pack's levels from keyframes and the interpolation factor", () => {
    assert.deepEqual(levelFrames(pack), [5, 17, 65]);
  });

  it("accepts a window of level 2", () => {
    checkInterpolationTask(task(), pack);
  });

  it("refuses an output frame count that is not a level", () =>
    rejectsField({ outputFrames: 33, windowEnd: 33 }, "task.interpolation.output_frames"));
  it("refuses a level that does not match the frame count", () =>
    rejectsField({ level: 1 }, "task.interpolation.level"));
  it("refuses input latents of the wrong level", () =>
    rejectsField(
      {
        inputLatents: {
          uri: "s3://b/k",
          shape: [1, 4, 5, 4, 4],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: SHA,
          bytes: 1n,
        },
      },
      "task.interpolation.input_latents.shape",
    ));
  it("refuses text embeddings of the wrong size", () =>
    rejectsField(
      {
        textEmbeddings: {
          uri: "s3://b/t",
          shape: [1, 8, 8],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: SHA,
          bytes: 1n,
        },
      },
      "task.interpolation.text_embeddings.shape",
    ));
  it("refuses a stride other than the pack's", () =>
    rejectsField({ frameStride: 1 }, "task.interpolation.frame_stride"));
  it("refuses a strength outside (0, 1] or one that runs no step", () => {
    rejectsField({ strength: 0 }, "task.interpolation.strength");
    rejectsField({ strength: 1.5 }, "task.interpolation.strength");
    rejectsField({ strength: 0.01 }, "task.interpolation.strength");
  });
  it("refuses anchors that are not known frames", () =>
    rejectsField({ anchorFrames: [16, 18] }, "task.interpolation.anchor_frames[1]"));
  it("refuses windows that do not start and end on known frames", () => {
    rejectsField({ windowStart: 18, anchorFrames: [20, 24, 28, 32] }, "task.interpolation.window_start");
    rejectsField({ windowEnd: 31, anchorFrames: [16, 20, 24, 28] }, "task.interpolation.window_end");
    rejectsField({ windowStart: 16, windowEnd: 17, anchorFrames: [16] }, "task.interpolation.window_end");
  });
  it("refuses inputs that are not float32", () =>
    rejectsField(
      {
        textEmbeddings: {
          uri: "s3://b/t",
          shape: [2, 8, 8],
          dtype: DataType.DATA_TYPE_FLOAT16,
          sha256: SHA,
          bytes: 1n,
        },
      },
      "task.interpolation.text_embeddings.dtype",
    ));
  it("refuses guidance below 1", () => {
    assert.throws(
      () =>
        checkInterpolationTask({ ...task(), sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 3, guidance: 0 } }, pack),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "task.sampler.guidance",
    );
  });
  it("refuses a task for another pack version with FAILED_PRECONDITION", () => {
    assert.throws(() => checkInterpolationTask({ ...task(), packVersion: "2.0.0" }, pack), {
      code: "FAILED_PRECONDITION",
    });
  });
});
