import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "@longshot/core";
import { Sampler, Stage, StageTask } from "@longshot/proto";
import { loadPack, type Pack } from "@longshot/runtime";
import { PackMismatchError } from "@longshot/stage";
import { checkKeyframeTask, textEmbeddingsKey } from "./task.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

function task(change: Partial<StageTask> = {}): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/keyframe",
    outputKey: "jobs/j1/keyframes.safetensors",
    stage: Stage.STAGE_KEYFRAME,
    packName: "tiny-pack",
    packVersion: "1.0.0",
    seed: 7n,
    sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 4, guidance: 5 },
    params: { $case: "keyframe", value: { prompt: "a red circle", numFrames: 5 } },
    ...change,
  });
}

describe("keyframe task checks and keys", () => {
  let pack: Pack;
  before(async () => {
    pack = await loadPack(TINY_PACK);
  });

  it("puts the text embeddings next to the keyframe latents", () => {
    assert.equal(textEmbeddingsKey("jobs/j1/keyframes.safetensors"), "jobs/j1/text.safetensors");
    assert.equal(textEmbeddingsKey("keyframes"), "text.safetensors");
  });

  it("accepts a valid task", () => {
    assert.equal(checkKeyframeTask(task(), pack).taskId, "j1/keyframe");
  });

  it("refuses guidance below 1, a wrong keyframe count and an output key that is the embeddings key", () => {
    const field = (t: StageTask) => {
      try {
        checkKeyframeTask(t, pack);
      } catch (err) {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        return err.field;
      }
      return "accepted";
    };
    assert.equal(
      field(task({ sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 4, guidance: 0.5 } })),
      "task.sampler.guidance",
    );
    assert.equal(
      field(task({ params: { $case: "keyframe", value: { prompt: "x", numFrames: 4 } } })),
      "task.keyframe.num_frames",
    );
    assert.equal(field(task({ outputKey: "jobs/j1/text.safetensors" })), "task.output_key");
    assert.equal(
      field(task({ params: { $case: "keyframe", value: { prompt: " ", numFrames: 5 } } })),
      "task.keyframe.prompt",
    );
  });

  it("reports a task for another pack as PackMismatchError (FAILED_PRECONDITION)", () => {
    assert.throws(
      () => checkKeyframeTask(task({ packVersion: "2.0.0" }), pack),
      (err: unknown) => {
        return (
          err instanceof PackMismatchError &&
          err.code === "FAILED_PRECONDITION" &&
          /tiny-pack@2\.0\.0/.test(err.message)
        );
      },
    );
  });
});
