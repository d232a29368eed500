import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadPack, type PackManifest } from "@longshot/pack";
import {
  GenerateRequest,
  Job,
  type JobEvent,
  JobState,
  Mode,
  OutputFormat,
  Sampler,
  Stage,
  type StageTask,
} from "@longshot/proto";
import { handleCorruptionReport } from "./corruption.js";
import { CorruptObjectError, type DriveEffects, drive, type StitchInput } from "./drive.js";
import {
  decodeTaskId,
  keyframesKey,
  keyframeTaskId,
  levelKey,
  planJob,
  textKey,
  windowKey,
  windowTaskId,
} from "./plan.js";
import { RUN_RECORD_VERSION, type RunRecord, type StoredRef, withLostTaskRepublish } from "./run-record.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));
const JOB = "jtest1";

function ref(key: string, frames = 5, sha = "b"): StoredRef {
  return {
    uri: `s3://longshot/${key}`,
    shape: [1, 4, frames, 4, 4],
    dtype: "float32",
    sha256: sha.repeat(64),
    bytes: 10,
  };
}

/** Effects that remember what was published and stitched; objects in `corrupt` fail their checks. */
class FakeEffects implements DriveEffects {
  published: StageTask[] = [];
  stitched: number[] = [];
  events: Array<{ event: NonNullable<JobEvent["event"]>; msgId: string }> = [];
  /** Tasks and events in the order they went out: task ids and "started L/N", "completed L". */
  log: string[] = [];
  corrupt = new Set<string>();
  #seq = 0;
  async publish(task: StageTask): Promise<number> {
    this.published.push(task);
    this.log.push(task.taskId.slice(JOB.length + 1));
    return ++this.#seq;
  }
  async event(jobId: string, event: NonNullable<JobEvent["event"]>, msgId: string): Promise<void> {
    assert.equal(jobId, JOB);
    this.events.push({ event, msgId });
    if (event.$case === "stageStarted") this.log.push(`started ${event.value.level}/${event.value.totalTasks}`);
    if (event.$case === "stageCompleted") this.log.push(`completed ${event.value.level}`);
  }
  async stitch(input: StitchInput): Promise<StoredRef> {
    for (const w of input.windows) if (this.corrupt.has(w.key)) throw new CorruptObjectError(w.key, `${w.key} corrupt`);
    if (this.corrupt.has(input.inputKey)) throw new CorruptObjectError(input.inputKey, `${input.inputKey} corrupt`);
    this.stitched.push(input.level.level);
    return ref(levelKey(input.jobId, input.level.level), input.level.outputFrames, "c");
  }
  async verify(r: StoredRef): Promise<boolean> {
    return !this.corrupt.has(r.uri.slice("s3://longshot/".length));
  }
  now(): Date {
    return new Date("2026-01-01T00:00:00Z");
  }
  ids(): string[] {
    return this.published.map((t) => t.taskId);
  }
}

function give(run: RunRecord, taskId: string, latents?: StoredRef, text?: StoredRef): RunRecord {
  const next = structuredClone(run);
  const t = next.tasks[taskId];
  assert.ok(t, `task ${taskId} was published`);
  next.tasks[taskId] = {
    ...t,
    pending: false,
    result: {
      workerId: "w",
      startTime: "",
      endTime: "",
      receivedAt: "2026-01-01T00:00:00Z",
      ...(latents ? { latents } : {}),
      ...(text ? { text } : {}),
    },
  };
  return next;
}

describe("drive", () => {
  let manifest: PackManifest;
  let job: Job;
  let fresh: RunRecord;
  before(async () => {
    manifest = (await loadPack(TINY_PACK)).manifest;
    const request = GenerateRequest.fromPartial({
      prompt: "x",
      seed: 1n,
      frames: 65,
      keyframeSteps: 2,
      interpolationSteps: 2,
      keyframeGuidance: 5,
      interpolationGuidance: 2,
      sampler: Sampler.SAMPLER_DDIM,
      mode: Mode.MODE_PINNED,
      pack: manifest.name,
      outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4],
    });
    job = Job.fromPartial({ id: JOB, state: JobState.JOB_STATE_QUEUED, request });
    fresh = {
      v: RUN_RECORD_VERSION,
      jobId: JOB,
      createdAt: "2026-01-01T00:00:00Z",
      pack: { name: manifest.name, version: manifest.version },
      traceContext: {},
      requestSha256: "0".repeat(64),
      originalRequest: "",
      plan: planJob(manifest, 65, { frames: 17, overlap: 4 }),
      slot: 0,
      tasks: {},
      levels: {},
      reruns: {},
      cleanedUp: false,
      terminalEventPublished: false,
    };
  });

  /** Runs a job to the decode task; returns the record waiting for the decode result. */
  async function toDecode(fx: FakeEffects): Promise<RunRecord> {
    let run = (await drive(fresh, job, fx)).run;
    run = give(run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    run = (await drive(run, job, fx)).run;
    run = give(run, windowTaskId(JOB, 1, { start: 0, end: 17 }), ref(windowKey(JOB, 1, { start: 0, end: 17 }), 17));
    run = (await drive(run, job, fx)).run;
    for (const w of run.plan.interpolation[1]?.windows ?? [])
      run = give(run, windowTaskId(JOB, 2, w), ref(windowKey(JOB, 2, w), 17));
    const out = await drive(run, job, fx);
    assert.equal(out.kind, "waiting");
    return out.run;
  }

  it("runs keyframe, each level's windows, stitches and decode, publishing each task once", async () => {
    const fx = new FakeEffects();
    let out = await drive(fresh, job, fx);
    assert.deepEqual(fx.ids(), [keyframeTaskId(JOB)]);
    out = await drive(out.run, job, fx);
    assert.equal(fx.published.length, 1, "an in-flight task is not published again");

    let run = give(out.run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    out = await drive(run, job, fx);
    assert.deepEqual(fx.ids().slice(1), [`${JOB}:interp1:0-17`]);
    const t1 = fx.published[1];
    assert.ok(t1?.params?.$case === "interpolation");
    assert.equal(t1.params.value.inputLatents?.uri, `s3://longshot/${keyframesKey(JOB)}`);

    run = give(out.run, `${JOB}:interp1:0-17`, ref(windowKey(JOB, 1, { start: 0, end: 17 }), 17));
    out = await drive(run, job, fx);
    assert.deepEqual(fx.stitched, [1]);
    const level2 = fx.ids().slice(2);
    assert.deepEqual(
      level2,
      ["0-17", "12-29", "24-41", "36-53", "48-65"].map((w) => `${JOB}:interp2:${w}`),
    );
    const t2 = fx.published[2];
    assert.ok(t2?.params?.$case === "interpolation");
    assert.equal(t2.params.value.inputLatents?.uri, `s3://longshot/${levelKey(JOB, 1)}`);

    run = out.run;
    const windows = run.plan.interpolation[1]?.windows ?? [];
    for (const [i, w] of windows.entries()) {
      run = give(run, windowTaskId(JOB, 2, w), ref(windowKey(JOB, 2, w), 17));
      out = await drive(run, job, fx);
      run = out.run;
      if (i < windows.length - 1) assert.equal(fx.stitched.length, 1, "no stitch before the last window");
    }
    assert.deepEqual(fx.stitched, [1, 2]);
    assert.equal(fx.ids().at(-1), decodeTaskId(JOB));
    assert.equal(out.kind, "waiting");
    run = give(run, decodeTaskId(JOB));
    const done = await drive(run, job, fx);
    assert.equal(done.kind, "done");
    assert.equal(fx.published.length, 1 + 1 + 5 + 1);
  });

  it("reports each level once: stage_started with the window count before its windows, stage_completed after its stitch", async () => {
    const fx = new FakeEffects();
    let run = await toDecode(fx);
    assert.deepEqual(fx.log, [
      "keyframe",
      "started 1/1",
      "interp1:0-17",
      "completed 1",
      "started 2/5",
      ...["0-17", "12-29", "24-41", "36-53", "48-65"].map((w) => `interp2:${w}`),
      "completed 2",
      "decode",
    ]);
    assert.deepEqual(
      fx.events.map((e) => e.msgId),
      [1, 2].flatMap((l) => ["started", "completed"].map((k) => `event:${JOB}:interp${l}:${k}`)),
      "deterministic message ids (a repeat is dropped by JetStream)",
    );
    const started = fx.events.find((e) => e.event.$case === "stageStarted" && e.event.value.level === 2);
    assert.deepEqual(started?.event, {
      $case: "stageStarted",
      value: { stage: Stage.STAGE_INTERPOLATION, level: 2, totalTasks: 5 },
    });
    const completed = fx.events.find((e) => e.event.$case === "stageCompleted" && e.event.value.level === 2);
    assert.ok(completed?.event.$case === "stageCompleted");
    assert.equal(completed.event.value.stage, Stage.STAGE_INTERPOLATION);
    assert.ok(completed.event.value.duration !== undefined);
    assert.deepEqual(Object.keys(run.stageEvents ?? {}).sort(), [
      "interp1:completed",
      "interp1:started",
      "interp2:completed",
      "interp2:started",
    ]);
    // Every window task says which window of how many it is (for its step_progress events).
    const windows = fx.published.flatMap((t) => (t.params?.$case === "interpolation" ? [t.params.value] : []));
    assert.deepEqual(
      windows.map((w) => [w.level, w.windowIndex, w.windowCount]),
      [[1, 0, 1], ...[0, 1, 2, 3, 4].map((i) => [2, i, 5])],
    );

    // Level 2 stitched again (its output was corrupted): its windows' results stand, no second pair.
    const decode = run.tasks[decodeTaskId(JOB)];
    assert.ok(decode);
    fx.corrupt.add(levelKey(JOB, 2));
    const report = await handleCorruptionReport(run, decodeTaskId(JOB), decode.streamSeq, "hash mismatch", fx);
    assert.ok(report.kind === "rerun");
    fx.corrupt.clear();
    run = (await drive(report.run, job, fx)).run;
    assert.deepEqual(fx.stitched, [1, 2, 2]);
    assert.equal(fx.events.length, 4, "no second stage_started / stage_completed for a level");
    // A drive with nothing new to do reports nothing.
    await drive(run, job, fx);
    assert.equal(fx.events.length, 4);
  });

  it("a window run again reports no second stage_started for its level", async () => {
    const fx = new FakeEffects();
    let run = (await drive(fresh, job, fx)).run;
    run = give(run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    run = (await drive(run, job, fx)).run;
    const w = { start: 0, end: 17 };
    run = give(run, windowTaskId(JOB, 1, w), ref(windowKey(JOB, 1, w), 17));
    fx.corrupt.add(windowKey(JOB, 1, w));
    run = (await drive(run, job, fx)).run;
    fx.corrupt.clear();
    run = give(run, windowTaskId(JOB, 1, w), ref(windowKey(JOB, 1, w), 17));
    await drive(run, job, fx);
    assert.deepEqual(fx.log, [
      "keyframe",
      "started 1/1",
      "interp1:0-17",
      "interp1:0-17.r2",
      "completed 1",
      "started 2/5",
      ...["0-17", "12-29", "24-41", "36-53", "48-65"].map((w) => `interp2:${w}`),
    ]);
  });

  it("publishes a lost task again as the next attempt: the same task (output key, fingerprint) under a new id", async () => {
    const fx = new FakeEffects();
    let run = (await drive(fresh, job, fx)).run;
    run = give(run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    run = (await drive(run, job, fx)).run;
    const id = windowTaskId(JOB, 1, { start: 0, end: 17 });
    const marked = withLostTaskRepublish(run, id, 1);
    assert.ok(marked);
    const out = await drive(marked, job, fx);
    assert.equal(out.kind, "waiting");
    assert.deepEqual(fx.ids(), [keyframeTaskId(JOB), id, `${id}.r2`], "only the lost task is published again");
    const [first, again] = fx.published.slice(1) as [StageTask, StageTask];
    assert.deepEqual({ ...again, taskId: "" }, { ...first, taskId: "" }, "everything but the task id is the same");
    assert.equal(again.outputKey, windowKey(JOB, 1, { start: 0, end: 17 }));
    const t = out.run.tasks[id];
    assert.equal(t?.attempt, 2);
    assert.equal(t?.pending, true);
    assert.equal(t?.republished, 1);
    assert.equal(t?.streamSeq, 3);
    // In flight again: the next drive publishes nothing.
    await drive(out.run, job, fx);
    assert.equal(fx.published.length, 3);
  });

  it("re-runs a window whose output is corrupted once, then fails with DATA_LOSS", async () => {
    const fx = new FakeEffects();
    let run = (await drive(fresh, job, fx)).run;
    run = give(run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    run = (await drive(run, job, fx)).run;
    const w = { start: 0, end: 17 };
    run = give(run, windowTaskId(JOB, 1, w), ref(windowKey(JOB, 1, w), 17));
    fx.corrupt.add(windowKey(JOB, 1, w));
    let out = await drive(run, job, fx);
    assert.equal(out.kind, "waiting");
    assert.equal(fx.ids().at(-1), `${JOB}:interp1:0-17.r2`, "re-published with a new attempt id");
    assert.equal(out.run.tasks[windowTaskId(JOB, 1, w)]?.attempt, 2);
    run = give(out.run, windowTaskId(JOB, 1, w), ref(windowKey(JOB, 1, w), 17));
    out = await drive(run, job, fx);
    assert.equal(out.kind, "failed");
    assert.ok(out.kind === "failed");
    assert.equal(out.code, "DATA_LOSS");
    assert.match(out.reason, /interp1\/0-17\.safetensors failed its SHA-256 check again/);
    assert.equal(out.stage, Stage.STAGE_INTERPOLATION);
  });

  it("a corrupted keyframe input met while stitching sends the keyframe task around again", async () => {
    const fx = new FakeEffects();
    let run = (await drive(fresh, job, fx)).run;
    run = give(run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    run = (await drive(run, job, fx)).run;
    run = give(run, `${JOB}:interp1:0-17`, ref(windowKey(JOB, 1, { start: 0, end: 17 }), 17));
    fx.corrupt.add(keyframesKey(JOB));
    const out = await drive(run, job, fx);
    assert.equal(out.kind, "waiting");
    assert.equal(fx.ids().at(-1), `${JOB}:keyframe.r2`);
    assert.equal(out.run.tasks[`${JOB}:interp1:0-17`]?.result, undefined, "downstream results are forgotten");
  });

  it("a decoder's corruption report restitches the last level and re-runs the decode", async () => {
    const fx = new FakeEffects();
    const run = await toDecode(fx);
    const decode = run.tasks[decodeTaskId(JOB)];
    assert.ok(decode);
    fx.corrupt.add(levelKey(JOB, 2));
    const report = await handleCorruptionReport(run, decodeTaskId(JOB), decode.streamSeq, "hash mismatch", fx);
    assert.equal(report.kind, "rerun");
    assert.ok(report.kind === "rerun");
    assert.deepEqual(report.keys, [levelKey(JOB, 2)]);
    fx.corrupt.delete(levelKey(JOB, 2)); // the stitch rewrites it
    const out = await drive(report.run, job, fx);
    assert.equal(out.kind, "waiting");
    assert.deepEqual(fx.stitched, [1, 2, 2]);
    assert.equal(fx.ids().at(-1), `${JOB}:decode.r2`);

    // The same object corrupted again: the job fails.
    fx.corrupt.add(levelKey(JOB, 2));
    const again = await handleCorruptionReport(
      out.run,
      decodeTaskId(JOB),
      out.run.tasks[decodeTaskId(JOB)]?.streamSeq ?? 0,
      "hash mismatch",
      fx,
    );
    assert.equal(again.kind, "failed");
    assert.ok(again.kind === "failed");
    assert.match(again.reason, /interp2\.safetensors failed its SHA-256 check again/);
  });

  it("ignores a report about an older copy of a task, and re-runs a task whose inputs verify", async () => {
    const fx = new FakeEffects();
    const run = await toDecode(fx);
    const seq = run.tasks[decodeTaskId(JOB)]?.streamSeq ?? 0;
    const stale = await handleCorruptionReport(run, decodeTaskId(JOB), seq - 1, "x", fx);
    assert.equal(stale.kind, "stale");
    const self = await handleCorruptionReport(run, decodeTaskId(JOB), seq, "x", fx);
    assert.equal(self.kind, "rerun");
    assert.ok(self.kind === "rerun");
    const out = await drive(self.run, job, fx);
    assert.equal(fx.ids().at(-1), `${JOB}:decode.r2`);
    const twice = await handleCorruptionReport(
      out.run,
      decodeTaskId(JOB),
      out.run.tasks[decodeTaskId(JOB)]?.streamSeq ?? 0,
      "x",
      fx,
    );
    assert.equal(twice.kind, "failed");
  });

  it("a corrupted keyframe reported by a window task re-runs the keyframe task and every window after it", async () => {
    const fx = new FakeEffects();
    let run = (await drive(fresh, job, fx)).run;
    run = give(run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    run = (await drive(run, job, fx)).run;
    fx.corrupt.add(textKey(JOB));
    const id = `${JOB}:interp1:0-17`;
    const report = await handleCorruptionReport(run, id, run.tasks[id]?.streamSeq ?? 0, "text hash", fx);
    assert.ok(report.kind === "rerun");
    let out = await drive(report.run, job, fx);
    assert.equal(fx.ids().at(-1), `${JOB}:keyframe.r2`);
    fx.corrupt.clear();
    run = give(out.run, keyframeTaskId(JOB), ref(keyframesKey(JOB)), ref(textKey(JOB)));
    out = await drive(run, job, fx);
    assert.equal(fx.ids().at(-1), `${JOB}:interp1:0-17.r2`);
  });
});
