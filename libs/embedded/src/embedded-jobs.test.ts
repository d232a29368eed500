/**
 * The embedded job service with the real engine on the bundled pack (few steps, fixed seeds): events in the
 * gateway's shapes, the keyframes equal to Engine.generate's, files and spritesheet, cancel (queued and running),
 * idempotency keys, request checks naming the field, listing, and a restart that finds every job (a job left
 * running by a dead process: FAILED).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createLogger, InvalidArgumentError, LongshotError, NotFoundError } from "@longshot/core";
import { Engine } from "@longshot/engine";
import {
  GenerateRequest,
  type Job,
  type JobEvent,
  JobState,
  ListJobsRequest,
  OutputFormat,
  Stage,
} from "@longshot/proto";
import { decodeSafetensors } from "@longshot/tensor";
import { makeTempDir, removeTempDir } from "@longshot/testing";
import { EmbeddedJobs } from "./embedded-jobs.js";

const PACK = fileURLToPath(new URL("../../../models/packs/shapes-mini", import.meta.url));
const LIMITS = { maxPromptChars: 1000, maxSteps: 150, maxGuidance: 30, maxRequestBytes: 16_384 };
const silent = createLogger("test", "silent");

function request(fields: Partial<GenerateRequest>): GenerateRequest {
  return GenerateRequest.create({ keyframeSteps: 2, interpolationSteps: 2, ...fields });
}

async function allEvents(jobs: EmbeddedJobs, id: string, from = 1n): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of jobs.watchJob(id, from, AbortSignal.timeout(120_000))) out.push(e);
  return out;
}

/** "started keyframe0", "completed interpolation2", … of the stage events. */
function stageEvents(events: JobEvent[]): string[] {
  return events.flatMap((e) => {
    const ev = e.event;
    if (ev?.$case === "stageStarted")
      return [`started ${Stage[ev.value.stage]}${ev.value.level}/${ev.value.totalTasks}`];
    if (ev?.$case === "stageCompleted") return [`completed ${Stage[ev.value.stage]}${ev.value.level}`];
    return [];
  });
}

describe("EmbeddedJobs (bundled pack, real engine)", { timeout: 600_000 }, () => {
  let engine: Engine;
  let root: string;
  let jobs: EmbeddedJobs;

  before(async () => {
    root = makeTempDir("embedded-jobs");
    engine = await Engine.create({ packDir: PACK, threads: 1 });
    jobs = await EmbeddedJobs.open({ engine, outRoot: root, limits: LIMITS, logger: silent, progressIntervalMs: 0 });
  });

  after(async () => {
    await jobs?.close();
    await engine?.close();
    removeTempDir(root);
  });

  let done: Job;

  it("runs a 65-frame job: one started/completed pair per stage and level, windows, files, the engine's keyframes", async () => {
    const { job, deduplicated } = await jobs.generate(
      request({ prompt: "a red circle moving right on a dark blue background", seed: 7n, frames: 65 }),
    );
    assert.equal(deduplicated, false);
    assert.ok(job);
    assert.equal(job.request?.pack, "shapes-mini");
    assert.equal(job.request?.seed, 7n);
    assert.deepEqual(
      job.stages.map((s) => `${Stage[s.stage]}${s.level}:${s.totalTasks}`),
      ["STAGE_KEYFRAME0:1", "STAGE_INTERPOLATION1:1", "STAGE_INTERPOLATION2:5", "STAGE_DECODE0:1"],
    );
    const events = await allEvents(jobs, job.id);
    assert.deepEqual(
      events.map((e) => e.sequence),
      events.map((_, i) => BigInt(i + 1)),
    );
    assert.equal(events[0]?.event?.$case, "queued");
    assert.equal(events.at(-1)?.event?.$case, "completed");
    assert.deepEqual(stageEvents(events), [
      "started STAGE_KEYFRAME0/1",
      "completed STAGE_KEYFRAME0",
      "started STAGE_INTERPOLATION1/1",
      "completed STAGE_INTERPOLATION1",
      "started STAGE_INTERPOLATION2/5",
      "completed STAGE_INTERPOLATION2",
      "started STAGE_DECODE0/1",
      "completed STAGE_DECODE0",
    ]);
    const windows = new Set(
      events.flatMap((e) =>
        e.event?.$case === "stepProgress" && e.event.value.level === 2 ? [String(e.event.value.window?.index)] : [],
      ),
    );
    assert.deepEqual([...windows].sort(), ["0", "1", "2", "3", "4"], "step progress of each of the 5 windows");
    for (const e of events) {
      if (e.event?.$case === "stepProgress" && e.event.value.level === 2) assert.equal(e.event.value.window?.count, 5);
    }

    done = await jobs.getJob(job.id);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(done.lastSequence, BigInt(events.length));
    assert.ok(done.stages.every((s) => s.completedSteps === s.totalSteps && s.completedTasks === s.totalTasks));
    assert.deepEqual(
      done.artifacts.map((a) => a.format),
      [OutputFormat.OUTPUT_FORMAT_MP4],
    );
    const mp4 = done.artifacts[0];
    assert.ok(mp4);
    const files = jobs.files();
    const bytes = readFileSync(files.keyOf(mp4.uri));
    assert.equal(BigInt(bytes.length), mp4.bytes);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), mp4.sha256);
    assert.equal((await files.stat(files.keyOf(mp4.uri))).bytes, bytes.length);

    // The same stage code as longshot generate: the keyframes are Engine.generate's for the same request.
    const direct = await engine.generate({
      prompt: "a red circle moving right on a dark blue background",
      seed: 7,
      frames: 65,
      keyframeSteps: 2,
      interpolationSteps: 2,
      window: { frames: 17, overlap: 4 },
    });
    const stored = decodeSafetensors(readFileSync(path.join(jobs.dirOf(job.id), "keyframes.safetensors"))).tensors;
    const kf = Object.values(stored)[0];
    const want = direct.latents.keyframes;
    assert.ok(kf !== undefined && want !== undefined);
    assert.deepEqual(kf.dims, want.dims);
    assert.deepEqual([...(kf.data as Float32Array)], [...want.data]);

    const png = await files.keyframesPng(done);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
  });

  it("throttles step progress: within the interval only each loop's last step is sent", async () => {
    const throttled = await EmbeddedJobs.open({
      engine,
      outRoot: path.join(root, "throttled"),
      limits: LIMITS,
      logger: silent,
      progressIntervalMs: 3_600_000,
    });
    try {
      const { job } = await throttled.generate(
        request({ prompt: "a red circle moving up", seed: 4n, frames: 17, keyframeSteps: 6 }),
      );
      const steps = (await allEvents(throttled, job?.id as string)).flatMap((e) =>
        e.event?.$case === "stepProgress"
          ? [`${Stage[e.event.value.stage]}${e.event.value.level} ${e.event.value.step}/${e.event.value.total}`]
          : [],
      );
      // The first step of a stage goes out (nothing was sent yet), then only the last one; decode reports frames.
      assert.deepEqual(steps, [
        "STAGE_KEYFRAME0 1/6",
        "STAGE_KEYFRAME0 6/6",
        "STAGE_INTERPOLATION1 1/1",
        "STAGE_DECODE0 16/17",
        "STAGE_DECODE0 17/17",
      ]);
    } finally {
      await throttled.close();
    }
  });

  it("answers a bad request INVALID_ARGUMENT naming the field, an idempotency key with its first job", async () => {
    await assert.rejects(
      jobs.generate(request({ prompt: "x", keyframeSteps: 0 })),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "keyframe_steps",
    );
    await assert.rejects(
      jobs.generate(request({ prompt: "x", frames: 33 })),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "frames",
    );
    await assert.rejects(jobs.getJob("no such id"), (err: unknown) => err instanceof InvalidArgumentError);
    await assert.rejects(jobs.getJob("jnope"), NotFoundError);

    const r = request({ prompt: "a blue square moving up", seed: 3n, frames: 17, idempotencyKey: "k-1" });
    const first = await jobs.generate(r);
    const again = await jobs.generate(r);
    assert.equal(again.deduplicated, true);
    assert.equal(again.job?.id, first.job?.id);
    await assert.rejects(
      jobs.generate({ ...r, prompt: "a green square moving up" }),
      (err: unknown) => err instanceof LongshotError && err.code === "ALREADY_EXISTS" && /prompt/.test(err.message),
    );
    const events = await allEvents(jobs, first.job?.id as string);
    assert.equal(events.at(-1)?.event?.$case, "completed");
  });

  let cancelledRunning = "";
  let cancelledQueued = "";

  it("cancels a running job and a queued one", async () => {
    const running = await jobs.generate(request({ prompt: "a red circle moving left", seed: 11n, keyframeSteps: 150 }));
    const queued = await jobs.generate(request({ prompt: "a red circle moving down", seed: 12n, frames: 17 }));
    cancelledRunning = running.job?.id as string;
    cancelledQueued = queued.job?.id as string;
    // Wait for the first job's first step.
    for await (const e of jobs.watchJob(cancelledRunning, 1n, AbortSignal.timeout(60_000))) {
      if (e.event?.$case === "stepProgress") break;
    }
    const q = await jobs.cancelJob(cancelledQueued, "");
    assert.equal(q.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(q.error?.reason, "cancelled by request");
    const c = await jobs.cancelJob(cancelledRunning, "no longer needed");
    assert.equal(c.state, JobState.JOB_STATE_CANCELLED);
    const events = await allEvents(jobs, cancelledRunning);
    const last = events.at(-1)?.event;
    assert.equal(last?.$case, "cancelled");
    assert.equal(last?.$case === "cancelled" ? last.value.reason : "", "no longer needed");
    assert.deepEqual(
      (await allEvents(jobs, cancelledQueued)).map((e) => e.event?.$case),
      ["queued", "cancelled"],
    );
    const again = await jobs.cancelJob(cancelledRunning, "again");
    assert.equal(again.error?.reason, "no longer needed", "cancelling an ended job changes nothing");
    await assert.rejects(jobs.files().keyframesPng(q), NotFoundError, "no keyframes for a job that never ran");
    // The next job still runs after a cancelled one.
    const next = await jobs.generate(request({ prompt: "a blue square moving up", seed: 5n, frames: 17 }));
    assert.equal((await allEvents(jobs, next.job?.id as string)).at(-1)?.event?.$case, "completed");
  });

  it("lists newest first, a page at a time, filtered by state", async () => {
    const all = await jobs.listJobs(ListJobsRequest.create({}));
    assert.equal(all.jobs.length, 5);
    assert.deepEqual(
      all.jobs.map((j) => j.id),
      [...all.jobs.map((j) => j.id)].sort().reverse(),
    );
    const p1 = await jobs.listJobs(ListJobsRequest.create({ pageSize: 2 }));
    const p2 = await jobs.listJobs(ListJobsRequest.create({ pageSize: 2, pageToken: p1.nextPageToken }));
    const p3 = await jobs.listJobs(ListJobsRequest.create({ pageSize: 2, pageToken: p2.nextPageToken }));
    assert.deepEqual(
      [...p1.jobs, ...p2.jobs, ...p3.jobs].map((j) => j.id),
      all.jobs.map((j) => j.id),
    );
    assert.equal(p3.nextPageToken, "");
    const cancelled = await jobs.listJobs(ListJobsRequest.create({ states: [JobState.JOB_STATE_CANCELLED] }));
    assert.deepEqual(cancelled.jobs.map((j) => j.id).sort(), [cancelledRunning, cancelledQueued].sort());
    await assert.rejects(
      jobs.listJobs(ListJobsRequest.create({ pageToken: "nonsense" })),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "page_token",
    );
  });

  it("a restart on the (moved) root lists every job, serves its files, and fails the job a dead process left running", async () => {
    await jobs.close();
    // A job.json as a process that died mid-run leaves it: RUNNING, no terminal event.
    const file = path.join(jobs.dirOf(done.id), "job.json");
    const saved = JSON.parse(readFileSync(file, "utf8"));
    const copyId = `${done.id}x`;
    mkdirSync(jobs.dirOf(copyId));
    writeFileSync(
      path.join(jobs.dirOf(copyId), "job.json"),
      JSON.stringify({
        ...saved,
        job: { ...saved.job, id: copyId, state: "JOB_STATE_RUNNING", endTime: undefined, artifacts: [] },
        events: saved.events.slice(0, 3).map((e: { jobId: string }) => ({ ...e, jobId: copyId })),
      }),
    );
    // The output root renamed: the jobs' files are found where their folders are now.
    const moved = `${root}-moved`;
    renameSync(root, moved);
    root = moved;
    const reopened = await EmbeddedJobs.open({ engine, outRoot: moved, limits: LIMITS, logger: silent });
    try {
      const list = await reopened.listJobs(ListJobsRequest.create({}));
      assert.equal(list.jobs.length, 6);
      const same = await reopened.getJob(done.id);
      assert.equal(same.state, JobState.JOB_STATE_SUCCEEDED);
      assert.deepEqual(
        same.artifacts.map((a) => ({ ...a, uri: "" })),
        done.artifacts.map((a) => ({ ...a, uri: "" })),
      );
      const mp4 = same.artifacts[0];
      assert.ok(mp4 !== undefined);
      assert.equal(mp4.uri, pathToFileURL(path.join(moved, done.id, "video.mp4")).href);
      const bytes = readFileSync(reopened.files().keyOf(mp4.uri));
      assert.equal(createHash("sha256").update(bytes).digest("hex"), mp4.sha256);
      assert.deepEqual(await allEvents(reopened, done.id), await allEvents(jobs, done.id), "the same events");
      assert.equal((await reopened.getJob(cancelledRunning)).state, JobState.JOB_STATE_CANCELLED);
      const png = await reopened.files().keyframesPng(same);
      assert.ok(png.byteLength > 0, "the spritesheet from keyframes.safetensors");

      const lost = await reopened.getJob(copyId);
      assert.equal(lost.state, JobState.JOB_STATE_FAILED);
      assert.equal(lost.error?.code, "UNAVAILABLE");
      assert.match(lost.error?.reason ?? "", /stopped while this job was running/);
      const lostEvents = await allEvents(reopened, copyId);
      assert.equal(lostEvents.at(-1)?.event?.$case, "failed");
      assert.equal(lostEvents.at(-1)?.sequence, 4n);
    } finally {
      await reopened.close();
    }
  });
});
