import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "@longshot/core";
import { DataType, OutputFormat, Stage, StageTask } from "@longshot/proto";
import { loadPack, type Pack } from "@longshot/runtime";
import { checkDecoderTask, decodeKeys } from "./task.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

function task(value: Record<string, unknown> = {}): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/decode",
    outputKey: "jobs/j1/video.mp4",
    stage: Stage.STAGE_DECODE,
    packName: "tiny-pack",
    packVersion: "1.0.0",
    seed: 7n,
    params: {
      $case: "decode",
      value: {
        latents: {
          uri: "s3://longshot/jobs/j1/interp2.safetensors",
          shape: [1, 4, 17, 4, 4],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: "c".repeat(64),
          bytes: 4_500n,
        },
        frameStart: 0,
        frameEnd: 17,
        outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_GIF],
        ...value,
      },
    },
  });
}

describe("decode task checks and keys", () => {
  let pack: Pack;
  before(async () => {
    pack = await loadPack(TINY_PACK);
  });

  it("derives the artifact keys from the output key without its extension", () => {
    const k = decodeKeys("jobs/j1/video.mp4");
    assert.deepEqual(
      [k.stem, k.mp4, k.gif, k.manifest],
      ["jobs/j1/video", "jobs/j1/video.mp4", "jobs/j1/video.gif", "jobs/j1/video.json"],
    );
    assert.equal(k.png(7, 65), "jobs/j1/video-frames/0007.png");
    assert.equal(k.png(12345, 20000), "jobs/j1/video-frames/12345.png");
    assert.equal(decodeKeys("jobs/j1/video").mp4, "jobs/j1/video.mp4");
    assert.equal(decodeKeys("jobs/j1.d/video").gif, "jobs/j1.d/video.gif"); // a dot in a folder is no extension
  });

  it("accepts a valid task and refuses float16 latents and a format listed twice, naming the field", () => {
    checkDecoderTask(task(), pack);
    const field = (t: StageTask) => {
      try {
        checkDecoderTask(t, pack);
      } catch (err) {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        return err.field;
      }
      return "accepted";
    };
    assert.equal(
      field(
        task({
          latents: {
            uri: "s3://longshot/x",
            shape: [1, 4, 17, 4, 4],
            dtype: DataType.DATA_TYPE_FLOAT16,
            sha256: "c".repeat(64),
            bytes: 1n,
          },
        }),
      ),
      "task.decode.latents.dtype",
    );
    assert.equal(
      field(task({ outputFormats: [OutputFormat.OUTPUT_FORMAT_GIF, OutputFormat.OUTPUT_FORMAT_GIF] })),
      "task.decode.output_formats[1]",
    );
  });
});
