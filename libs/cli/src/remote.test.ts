import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Job, type JobEvent, Mode, OutputFormat, Sampler, Stage, StageState } from "@longshot/proto";
import { UsageError } from "./args.js";
import { parseGenerateArgs } from "./generate.js";
import { describeEvent } from "./progress.js";
import { checkRemoteArgs, RemoteProgress, remoteRequest } from "./remote.js";

function step(stage: Stage, level: number, step: number, total: number, taskId: string): JobEvent {
  return {
    sequence: 1n,
    jobId: "j1",
    time: new Date(),
    event: { $case: "stepProgress", value: { stage, level, step, total, taskId, window: undefined } },
  };
}

describe("longshot generate --remote", () => {
  test("maps the command line to a GenerateRequest", () => {
    const args = parseGenerateArgs([
      "--prompt",
      "a red circle",
      "--seed",
      "18446744073709551615",
      "--frames",
      "17",
      "--steps",
      "3",
      "--interpolation-steps",
      "2",
      "--guidance",
      "4",
      "--sampler",
      "euler",
      "--mode",
      "seed",
      "--pack",
      "shapes-mini",
      "--remote",
      "gateway.example:50051",
    ]);
    assert.ok(args !== "help");
    assert.equal(args.remote, "gateway.example:50051");
    const req = remoteRequest(args, "cli-key");
    assert.equal(req.prompt, "a red circle");
    assert.equal(req.seed, 18446744073709551615n);
    assert.equal(req.frames, 17);
    assert.equal(req.keyframeSteps, 3);
    assert.equal(req.interpolationSteps, 2);
    assert.equal(req.keyframeGuidance, 4);
    assert.equal(req.sampler, Sampler.SAMPLER_EULER);
    assert.equal(req.mode, Mode.MODE_SEED);
    assert.equal(req.pack, "shapes-mini");
    assert.equal(req.idempotencyKey, "cli-key");
    assert.deepEqual(req.outputFormats, [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_GIF]);
    const bare = parseGenerateArgs(["--prompt", "x", "--remote", "h:1"]);
    assert.ok(bare !== "help");
    const r = remoteRequest(bare, "k");
    assert.equal(r.seed, undefined, "no --seed: the gateway picks one");
    assert.equal(r.sampler, Sampler.SAMPLER_UNSPECIFIED);
    assert.equal(r.pack, "");
  });

  test("refuses in-process-only flags, naming them", () => {
    for (const flag of ["--noise", "--window", "--overlap", "--threads", "--ep"]) {
      assert.throws(
        () => checkRemoteArgs(["--prompt", "x", flag, "1"]),
        (err: unknown) =>
          err instanceof UsageError && err.arg === flag && /does not apply with --remote/.test(err.message),
      );
    }
    checkRemoteArgs(["--prompt", "x", "--steps", "2", "--out", "o"]);
  });

  test("sums the steps of one level's windows into one bar, counting each window once", () => {
    const job = Job.fromPartial({
      id: "j1",
      stages: [
        { stage: Stage.STAGE_KEYFRAME, level: 0, state: StageState.STAGE_STATE_PENDING, totalSteps: 4, totalTasks: 1 },
        { stage: Stage.STAGE_INTERPOLATION, level: 1, totalSteps: 3, totalTasks: 1 },
        { stage: Stage.STAGE_INTERPOLATION, level: 2, totalSteps: 15, totalTasks: 5 },
        { stage: Stage.STAGE_DECODE, level: 0, totalSteps: 65, totalTasks: 1 },
      ],
    });
    const p = new RemoteProgress(job);
    const kf = p.toProgress(step(Stage.STAGE_KEYFRAME, 0, 2, 4, "j1:keyframe"));
    assert.deepEqual(kf, { stage: "keyframes", step: 2, total: 4 });
    const seen: Array<{ done: number; total: number; label: string }> = [];
    const feed = (taskId: string, s: number) => {
      const e = p.toProgress(step(Stage.STAGE_INTERPOLATION, 2, s, 3, taskId));
      assert.ok(e);
      seen.push(describeEvent(e));
    };
    feed("j1:interp2:0-17", 1);
    feed("j1:interp2:12-29", 2);
    feed("j1:interp2:0-17", 1); // repeated
    feed("j1:interp2:0-17", 3);
    feed("j1:interp2:12-29.r2", 3); // a re-run of the same window counts once
    assert.deepEqual(
      seen.map((s) => s.done),
      [1, 3, 3, 5, 6],
    );
    assert.ok(seen.every((s) => s.total === 15));
    for (const w of ["24-41", "36-53", "48-65"]) feed(`j1:interp2:${w}`, 3);
    assert.equal(seen.at(-1)?.done, 15);
    assert.match(seen.at(-1)?.label ?? "", /interpolate L2 \(window 5\/5\)/);
    const dec = p.toProgress(step(Stage.STAGE_DECODE, 0, 16, 65, "j1:decode"));
    assert.deepEqual(dec, { stage: "decode", step: 16, total: 65 });
  });
});
