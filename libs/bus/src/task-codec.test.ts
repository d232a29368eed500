import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { JobEvent, Stage, StageTask } from "@longshot/proto";
import { MalformedPayloadError } from "./errors.js";
import { decodeTask, encodeTask } from "./task-codec.js";
import { makeTask } from "./test-support.js";

describe("task codec", () => {
  it("round-trips a task", () => {
    const t = makeTask("job-1", "interpolation", "job-1/interpolation/1/w0");
    const back = decodeTask(encodeTask(t), { stage: "interpolation" });
    assert.deepEqual(back, t);
  });

  it("refuses to encode a task with a bad envelope, naming the field", () => {
    const cases: Array<[StageTask, RegExp]> = [
      [{ ...makeTask("j"), jobId: "a.b" }, /task.job_id: "a.b" is not a valid job id/],
      [{ ...makeTask("j"), taskId: "" }, /task.task_id/],
      [{ ...makeTask("j"), taskId: "has space" }, /task.task_id/],
      [{ ...makeTask("j"), stage: Stage.STAGE_UNSPECIFIED }, /task.stage: 0 is not a stage/],
      [{ ...makeTask("j"), params: undefined }, /task.params: is missing \(expected keyframe params\)/],
      [
        { ...makeTask("j"), stage: Stage.STAGE_DECODE },
        /task.params: are keyframe params but the task is for stage decode/,
      ],
      [{ ...makeTask("j"), outputKey: "" }, /task.output_key/],
      [{ ...makeTask("j"), outputKey: "a\nb" }, /task.output_key/],
    ];
    for (const [task, re] of cases) {
      assert.throws(
        () => encodeTask(task),
        (err: Error) => err instanceof InvalidArgumentError && re.test(err.message),
      );
    }
  });

  it("refuses malformed payloads with MalformedPayloadError saying why", () => {
    const bad: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array(0), /empty payload/],
      [new Uint8Array(300_000), /300000 bytes exceeds the limit of 262144 bytes/],
      [new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), /not a protobuf longshot.v1.StageTask/],
      [new Uint8Array([0x0f]), /not a protobuf longshot.v1.StageTask/],
      [
        JobEvent.encode(
          JobEvent.fromPartial({ sequence: 3n, jobId: "x", event: { $case: "queued", value: { jobsAhead: 1 } } }),
        ).finish(),
        /not a valid StageTask: job_id "" is not a valid job id/,
      ],
      [StageTask.encode({ ...makeTask("j"), taskId: "" }).finish(), /task_id/],
    ];
    for (const [data, re] of bad) {
      assert.throws(
        () => decodeTask(data),
        (err: Error) => err instanceof MalformedPayloadError && re.test(err.message),
        String(re),
      );
    }
    assert.throws(
      () => decodeTask(encodeTask(makeTask("j", "decode")), { stage: "keyframe" }),
      /arrived on the keyframe queue/,
    );
    assert.throws(() => decodeTask(new Uint8Array(10), { maxBytes: 5 }), /10 bytes exceeds the limit of 5 bytes/);
  });
});
