import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { planWindows } from "@longshot/engine/light";
import { loadPack, type PackManifest } from "@longshot/pack";
import { GenerateRequest, Mode, OutputFormat, Sampler, Stage, validateStageTask } from "@longshot/proto";
import {
  anchorFrames,
  attemptTaskId,
  decodeStageTask,
  intermediateKeys,
  keyframeTask,
  newJobId,
  parseTaskId,
  planJob,
  windowTask,
  windowTaskId,
} from "./plan.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

describe("job plan", () => {
  let manifest: PackManifest;
  before(async () => {
    manifest = (await loadPack(TINY_PACK)).manifest;
  });

  it("splits only levels longer than a window, with the engine's windows", () => {
    const plan = planJob(manifest, 65, { frames: 17, overlap: 4 });
    assert.deepEqual(plan.levels, [5, 17, 65]);
    assert.equal(plan.interpolation.length, 2);
    assert.deepEqual(plan.interpolation[0]?.windows, [{ start: 0, end: 17 }]);
    assert.deepEqual(plan.interpolation[1]?.windows, planWindows(65, 17, 4, 4));
    assert.equal(plan.interpolation[1]?.windows.length, 5);
    assert.equal(plan.interpolation[1]?.frameStride, 0.25);
    assert.equal(plan.interpolation[0]?.frameStride, 1);
  });

  it("refuses a window that does not fit the factor, naming the field", () => {
    assert.throws(() => planJob(manifest, 65, { frames: 16, overlap: 4 }), { field: "window.frames" });
    assert.throws(() => planJob(manifest, 65, { frames: 17, overlap: 3 }), { field: "window.overlap" });
  });

  it("task ids round-trip, with attempt suffixes", () => {
    const id = newJobId();
    assert.match(id, /^[A-Za-z0-9_-]{1,128}$/);
    assert.deepEqual(parseTaskId(id, `${id}:keyframe`), { stage: "keyframe", baseId: `${id}:keyframe`, attempt: 1 });
    assert.deepEqual(parseTaskId(id, attemptTaskId(`${id}:interp2:12-29`, 3)), {
      stage: "interpolation",
      level: 2,
      window: { start: 12, end: 29 },
      baseId: `${id}:interp2:12-29`,
      attempt: 3,
    });
    assert.deepEqual(parseTaskId(id, `${id}:decode.r2`), { stage: "decode", baseId: `${id}:decode`, attempt: 2 });
    assert.equal(parseTaskId(id, `other:keyframe`), undefined);
    assert.equal(parseTaskId(id, `${id}:bogus`), undefined);
    assert.equal(parseTaskId(id, `${id}:decode.r1`), undefined);
  });

  it("builds tasks that pass the stage-task contract", () => {
    const jobId = newJobId();
    const plan = planJob(manifest, 65, { frames: 17, overlap: 4 });
    const request = GenerateRequest.fromPartial({
      prompt: "a red circle moving right",
      seed: 7n,
      frames: 65,
      keyframeSteps: 4,
      interpolationSteps: 3,
      keyframeGuidance: 5,
      interpolationGuidance: 2,
      sampler: Sampler.SAMPLER_DDIM,
      mode: Mode.MODE_PINNED,
      pack: "tiny-pack",
      outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4],
    });
    const ctx = {
      jobId,
      request,
      packName: manifest.name,
      packVersion: manifest.version,
      traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      keyframes: 5,
    };
    const ref = {
      uri: `s3://longshot/jobs/${jobId}/keyframes.safetensors`,
      shape: [1, 4, 5, 4, 4],
      dtype: 1,
      sha256: "a".repeat(64),
      bytes: 100n,
    };
    const kf = validateStageTask(keyframeTask(ctx), "task", Stage.STAGE_KEYFRAME);
    assert.equal(kf.taskId, `${jobId}:keyframe`);
    assert.equal(kf.outputKey, `jobs/${jobId}/keyframes.safetensors`);
    const lvl = plan.interpolation[1];
    assert.ok(lvl);
    const w = lvl.windows[1];
    assert.ok(w);
    const wt = validateStageTask(windowTask(ctx, plan, lvl, w, ref, ref), "task", Stage.STAGE_INTERPOLATION);
    assert.equal(wt.taskId, windowTaskId(jobId, 2, w));
    assert.equal(wt.outputKey, `jobs/${jobId}/interp2/${w.start}-${w.end}.safetensors`);
    assert.ok(wt.params?.$case === "interpolation");
    assert.deepEqual(wt.params.value.anchorFrames, anchorFrames(w, 4));
    assert.ok(wt.params.value.anchorFrames.every((f) => f % 4 === 0 && f >= w.start && f < w.end));
    const dt = validateStageTask(decodeStageTask(ctx, ref, 65, request.outputFormats), "task", Stage.STAGE_DECODE);
    assert.equal(dt.outputKey, `jobs/${jobId}/video.mp4`);
    const keys = intermediateKeys(jobId, plan);
    assert.equal(keys.length, 2 + 1 + 1 + 5 + 1);
    assert.ok(!keys.some((k) => k.endsWith(".mp4") || k.endsWith(".gif")));
  });
});
