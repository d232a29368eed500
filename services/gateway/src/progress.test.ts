import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { differingFields } from "@longshot/http-api";
import { loadPack, type PackManifest } from "@longshot/pack";
import { GenerateRequest, Job, Stage, StageState } from "@longshot/proto";
import { planJob, windowTaskId } from "./plan.js";
import { initialStages, progressStages } from "./progress.js";
import { RUN_RECORD_VERSION, type RunRecord } from "./run-record.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

describe("job progress", () => {
  let manifest: PackManifest;
  before(async () => {
    manifest = (await loadPack(TINY_PACK)).manifest;
  });

  it("plans every stage with its steps and tasks, and counts what the run record says is done", () => {
    const plan = planJob(manifest, 65, { frames: 17, overlap: 4 });
    const request = GenerateRequest.fromPartial({ prompt: "x", frames: 65, keyframeSteps: 4, interpolationSteps: 3 });
    const stages = initialStages(plan, request);
    assert.deepEqual(
      stages.map((s) => [Stage[s.stage], s.level, s.totalSteps, s.totalTasks, StageState[s.state]]),
      [
        ["STAGE_KEYFRAME", 0, 4, 1, "STAGE_STATE_PENDING"],
        ["STAGE_INTERPOLATION", 1, 3, 1, "STAGE_STATE_PENDING"],
        ["STAGE_INTERPOLATION", 2, 15, 5, "STAGE_STATE_PENDING"],
        ["STAGE_DECODE", 0, 65, 1, "STAGE_STATE_PENDING"],
      ],
    );
    // Strength 0.7 runs floor(10 · 0.7) = 7 of 10 steps per window.
    const partial = initialStages(plan, { ...request, interpolationSteps: 10, interpolationStrength: 0.7 });
    assert.deepEqual(
      partial.filter((s) => s.stage === Stage.STAGE_INTERPOLATION).map((s) => s.totalSteps),
      [7, 35],
    );
    const result = {
      workerId: "w",
      startTime: "2026-01-01T00:00:01Z",
      endTime: "",
      receivedAt: "2026-01-01T00:00:02Z",
    };
    const run: RunRecord = {
      v: RUN_RECORD_VERSION,
      jobId: "j",
      createdAt: "2026-01-01T00:00:00Z",
      pack: { name: manifest.name, version: manifest.version },
      traceContext: {},
      requestSha256: "",
      originalRequest: "",
      plan,
      slot: 0,
      tasks: {
        "j:keyframe": {
          taskId: "j:keyframe",
          stage: "keyframe",
          level: 0,
          attempt: 1,
          pending: false,
          streamSeq: 1,
          publishedAt: "2026-01-01T00:00:00Z",
          result,
        },
        "j:interp1:0-17": {
          taskId: "j:interp1:0-17",
          stage: "interpolation",
          level: 1,
          window: { start: 0, end: 17 },
          attempt: 1,
          pending: false,
          streamSeq: 2,
          publishedAt: "2026-01-01T00:00:02Z",
          result,
        },
      },
      levels: { "1": { uri: "s3://b/k", shape: [1, 4, 17, 4, 4], dtype: "float32", sha256: "a".repeat(64), bytes: 1 } },
      reruns: {},
      cleanedUp: false,
      terminalEventPublished: false,
    };
    for (const [i, w] of (plan.interpolation[1]?.windows ?? []).entries()) {
      const id = windowTaskId("j", 2, w);
      run.tasks[id] = {
        taskId: id,
        stage: "interpolation",
        level: 2,
        window: w,
        attempt: 1,
        pending: i >= 2,
        streamSeq: 3 + i,
        publishedAt: "2026-01-01T00:00:03Z",
        ...(i < 2 ? { result } : {}),
      };
    }
    const job = Job.fromPartial({ id: "j", request, stages });
    const now = progressStages(run, job);
    assert.deepEqual(
      now.map((s) => [StageState[s.state], s.completedTasks, s.completedSteps]),
      [
        ["STAGE_STATE_COMPLETED", 1, 4],
        ["STAGE_STATE_COMPLETED", 1, 3],
        ["STAGE_STATE_RUNNING", 2, 6],
        ["STAGE_STATE_PENDING", 0, 0],
      ],
    );
    assert.equal(now[0]?.startTime?.toISOString(), "2026-01-01T00:00:01.000Z");
    assert.equal(now[2]?.endTime, undefined);
  });

  it("names the fields two requests differ in, as the proto spells them", () => {
    const a = GenerateRequest.fromPartial({ prompt: "a", seed: 1n, keyframeSteps: 2, idempotencyKey: "k" });
    const b = GenerateRequest.fromPartial({ prompt: "b", seed: 1n, keyframeSteps: 3, idempotencyKey: "k" });
    assert.deepEqual(differingFields(a, b), ["keyframe_steps", "prompt"]);
    assert.deepEqual(differingFields(a, a), []);
  });
});
