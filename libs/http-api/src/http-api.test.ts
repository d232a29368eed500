/**
 * The HTTP API without servers: the OpenAPI document it serves against the committed docs/openapi.json, the
 * error table, and the JSON of jobs and events against the document's own schemas.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createLogger, type ErrorCode, InvalidArgumentError, LongshotError, NotFoundError } from "@longshot/core";
import {
  GenerateRequest,
  type Job,
  type JobEvent,
  JobState,
  Mode,
  OutputFormat,
  Sampler,
  Stage,
  StageState,
} from "@longshot/proto";
import { Ajv2020 } from "ajv/dist/2020.js";
import { buildHttpApi, openApiDocument, type VideoJobs } from "./http-api.js";
import { HTTP_STATUS_OF_CODE, httpErrorOf } from "./http-errors.js";
import { eventOf, videoOf } from "./http-present.js";

const OPENAPI_FILE = fileURLToPath(new URL("../../../docs/openapi.json", import.meta.url));

const unused = () => {
  throw new Error("not called in this test");
};

function api() {
  return buildHttpApi({
    jobs: { generate: unused, getJob: unused, listJobs: unused, cancelJob: unused, watchJob: unused } as VideoJobs,
    files: { keyOf: unused, stat: unused, open: unused, keyframesPng: unused },
    packs: new Map(),
    logger: createLogger("test", "silent"),
    maxBodyBytes: 4096,
  }).app;
}

describe("HTTP API document", () => {
  it("serves at /openapi.json the document committed as docs/openapi.json", async () => {
    const app = api();
    try {
      const res = await app.inject({ method: "GET", url: "/openapi.json" });
      assert.equal(res.statusCode, 200);
      const served = res.json();
      assert.deepEqual(served, openApiDocument());
      assert.deepEqual(
        served,
        JSON.parse(readFileSync(OPENAPI_FILE, "utf8")),
        "docs/openapi.json differs from the served document: run " +
          "`node libs/http-api/dist/write-openapi.js && npx biome format --write docs/openapi.json`",
      );
    } finally {
      await app.close();
    }
  });

  it("is OpenAPI 3.1 whose schemas compile and whose references resolve", () => {
    const doc = openApiDocument() as { openapi: string; paths: Record<string, unknown>; components: unknown };
    assert.equal(doc.openapi, "3.1.0");
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      "/v1/videos",
      "/v1/videos/{job_id}",
      "/v1/videos/{job_id}/cancel",
      "/v1/videos/{job_id}/content",
      "/v1/videos/{job_id}/events",
    ]);
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allowUnionTypes: true });
    ajv.addSchema(doc, "openapi");
    for (const name of Object.keys((doc.components as { schemas: object }).schemas)) {
      ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
    }
    const text = JSON.stringify(doc);
    for (const [, target] of text.matchAll(/"\$ref":"([^"]+)"/g)) {
      assert.match(target as string, /^#\/components\/schemas\/[A-Za-z]+$/);
    }
  });
});

describe("HTTP errors", () => {
  it("maps every error code through the one table, keeping code and message", () => {
    for (const [code, status] of Object.entries(HTTP_STATUS_OF_CODE)) {
      const { status: got, body } = httpErrorOf(new LongshotError("what happened", { code: code as ErrorCode }));
      assert.equal(got, status, code);
      assert.deepEqual(body, { error: { code, message: "what happened", field: null } });
    }
    // The statuses clients act on.
    const statusOf = (code: ErrorCode) => httpErrorOf(new LongshotError("x", { code })).status;
    assert.deepEqual(
      (["INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "RESOURCE_EXHAUSTED", "UNAVAILABLE"] as const).map(statusOf),
      [400, 404, 409, 429, 503],
    );
    assert.deepEqual(httpErrorOf(new NotFoundError("job j1 not found")).body.error.code, "NOT_FOUND");
  });

  it("names the field of INVALID_ARGUMENT, as the HTTP API names it", () => {
    const err = new InvalidArgumentError("keyframe_steps", "must be an integer in [1, 150], got 0");
    assert.deepEqual(httpErrorOf(err), {
      status: 400,
      body: { error: { code: "INVALID_ARGUMENT", message: err.message, field: "keyframe_steps" } },
    });
    const renamed = httpErrorOf(new InvalidArgumentError("page_size", "must be at most 1000, got 5000"), {
      names: { page_size: "limit", states: "status" },
    });
    assert.deepEqual(renamed.body.error, {
      code: "INVALID_ARGUMENT",
      message: "limit: must be at most 1000, got 5000",
      field: "limit",
    });
    const state = httpErrorOf(new InvalidArgumentError("states[2]", "is not a job state: 9"), {
      names: { states: "status" },
    });
    assert.equal(state.body.error.field, "status[2]");
  });

  it("answers anything else INTERNAL with a generic message", () => {
    const { status, body } = httpErrorOf(new Error("password=hunter2 at /secret/path"));
    assert.equal(status, 500);
    assert.equal(body.error.code, "INTERNAL");
    assert.doesNotMatch(body.error.message, /hunter2|secret/);
  });
});

describe("HTTP JSON of jobs and events", () => {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allowUnionTypes: true });
  ajv.addSchema(openApiDocument() as object, "openapi");
  const validVideo = ajv.compile({ $ref: "openapi#/components/schemas/Video" });
  const validEvent = ajv.compile({ $ref: "openapi#/components/schemas/JobEvent" });
  const t = new Date("2026-01-02T03:04:05.678Z");
  const artifact = {
    format: OutputFormat.OUTPUT_FORMAT_MP4,
    uri: "s3://b/jobs/j1/video.mp4",
    presignedUrl: "http://s3/b/jobs/j1/video.mp4?sig",
    presignedUrlExpireTime: t,
    sha256: "a".repeat(64),
    bytes: 1234n,
    contentType: "video/mp4",
    frame: 0,
  };
  const job: Job = {
    id: "j1",
    state: JobState.JOB_STATE_RUNNING,
    request: GenerateRequest.create({
      prompt: "p",
      seed: 18_446_744_073_709_551_615n,
      frames: 17,
      keyframeSteps: 4,
      interpolationSteps: 3,
      keyframeGuidance: 5,
      interpolationGuidance: 2,
      interpolationStrength: 1,
      sampler: Sampler.SAMPLER_EULER_ANCESTRAL,
      mode: Mode.MODE_PINNED,
      pack: "tiny-pack",
      outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4],
    }),
    stages: [
      {
        stage: Stage.STAGE_KEYFRAME,
        level: 0,
        state: StageState.STAGE_STATE_COMPLETED,
        completedSteps: 4,
        totalSteps: 4,
        completedTasks: 1,
        totalTasks: 1,
        startTime: t,
        endTime: t,
      },
      {
        stage: Stage.STAGE_DECODE,
        level: 0,
        state: StageState.STAGE_STATE_PENDING,
        completedSteps: 0,
        totalSteps: 17,
        completedTasks: 0,
        totalTasks: 1,
        startTime: undefined,
        endTime: undefined,
      },
    ],
    artifacts: [],
    error: undefined,
    createTime: t,
    startTime: t,
    updateTime: t,
    endTime: undefined,
    lastSequence: 5n,
  };

  it("a job as a Video object", () => {
    const video = videoOf(job, new Map([["tiny-pack", { width: 16, height: 16, fps: 8 }]]));
    assert.ok(validVideo(video), JSON.stringify(validVideo.errors));
    assert.equal(video.status, "in_progress");
    assert.equal(video.progress, 19); // 4 of 21 steps
    assert.equal(video.created_at, Math.floor(t.getTime() / 1000));
    assert.equal(video.completed_at, null);
    assert.equal(video.request.seed, "18446744073709551615");
    assert.equal(video.request.sampler, "euler_ancestral");
    assert.equal(video.size, "16x16");
    assert.equal(video.seconds, "2.125");
    const done = videoOf({ ...job, state: JobState.JOB_STATE_SUCCEEDED, artifacts: [artifact] }, new Map());
    assert.ok(validVideo(done), JSON.stringify(validVideo.errors));
    assert.equal(done.progress, 100);
    assert.equal(done.size, null, "a pack this gateway does not serve");
    assert.deepEqual(done.artifacts[0], {
      format: "mp4",
      content_type: "video/mp4",
      bytes: 1234,
      sha256: "a".repeat(64),
      url: "http://s3/b/jobs/j1/video.mp4?sig",
      url_expires_at: Math.floor(t.getTime() / 1000),
      frame: null,
    });
    const failed = videoOf(
      {
        ...job,
        state: JobState.JOB_STATE_FAILED,
        error: { code: "DATA_LOSS", reason: "r", stage: Stage.STAGE_DECODE },
      },
      new Map(),
    );
    assert.deepEqual(failed.error, { code: "DATA_LOSS", message: "r", stage: "decode" });
  });

  it("every kind of job event as the data of a server-sent event", () => {
    const events: JobEvent["event"][] = [
      { $case: "queued", value: { jobsAhead: 2 } },
      { $case: "stageStarted", value: { stage: Stage.STAGE_INTERPOLATION, level: 2, totalTasks: 5 } },
      {
        $case: "stepProgress",
        value: {
          stage: Stage.STAGE_INTERPOLATION,
          level: 2,
          step: 1,
          total: 3,
          window: { start: 12, end: 29, index: 1, count: 5 },
          taskId: "j1:interp2:12-29",
        },
      },
      {
        $case: "stageCompleted",
        value: { stage: Stage.STAGE_KEYFRAME, level: 0, duration: { seconds: 1n, nanos: 500_000_000 } },
      },
      { $case: "completed", value: { artifacts: [artifact] } },
      { $case: "failed", value: { code: "INTERNAL", reason: "r", stage: Stage.STAGE_UNSPECIFIED } },
      { $case: "cancelled", value: { reason: "no longer needed" } },
    ];
    const types = events.map((event, i) => {
      const data = eventOf({ sequence: BigInt(i + 1), jobId: "j1", time: t, event });
      assert.ok(data !== undefined);
      assert.ok(validEvent(data), `${JSON.stringify(data)}: ${JSON.stringify(validEvent.errors)}`);
      assert.equal(data.sequence, i + 1);
      return data.type;
    });
    assert.deepEqual(types, [
      "queued",
      "stage_started",
      "step_progress",
      "stage_completed",
      "completed",
      "failed",
      "cancelled",
    ]);
    const completed = eventOf({ sequence: 4n, jobId: "j1", time: t, event: events[3] });
    assert.equal(completed?.duration_ms, 1500);
    assert.equal(eventOf({ sequence: 9n, jobId: "j1", time: t, event: undefined }), undefined);
  });
});
