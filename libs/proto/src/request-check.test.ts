import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFileRegistry, type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "@longshot/core";
import { fileDescriptorSetBase64 } from "./gen/descriptor-set.js";
import { OutputFormat } from "./gen/longshot/v1/common.js";
import { GenerateRequest, Job, JobState } from "./gen/longshot/v1/job.js";
import { StageTask } from "./gen/longshot/v1/stage.js";
import { ListJobsRequest, ListJobsResponse } from "./gen/longshot/v1/video_service.js";
import { checkMessageBytes, requestTypeOf, UndecodableRequestError } from "./request-check.js";

const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, Buffer.from(fileDescriptorSetBase64, "base64")),
);

function type(name: string): DescMessage {
  const desc = registry.getMessage(name);
  assert.ok(desc, name);
  return desc;
}

/** `encoded` with its only occurrence of the ASCII `marker` replaced by `bytes` of the same length. */
function tamper(encoded: Uint8Array, marker: string, bytes: number[]): Buffer {
  assert.equal(marker.length, bytes.length);
  const buf = Buffer.from(encoded);
  const at = buf.indexOf(marker);
  assert.ok(at >= 0 && buf.indexOf(marker, at + 1) < 0, `one ${marker} in the message`);
  Buffer.from(bytes).copy(buf, at);
  return buf;
}

function refusesField(field: string, message = `${field}: not valid UTF-8`) {
  return (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.equal(err.field, field);
    assert.equal(err.message, message);
    return true;
  };
}

describe("requestTypeOf", () => {
  it("finds the request type of each RPC path of the schema", () => {
    assert.equal(requestTypeOf("/longshot.v1.VideoService/Generate")?.typeName, "longshot.v1.GenerateRequest");
    assert.equal(requestTypeOf("/longshot.v1.DecoderService/RunDecode")?.typeName, "longshot.v1.RunDecodeRequest");
    assert.equal(requestTypeOf("/longshot.v1.VideoService/Nope"), undefined);
    assert.equal(requestTypeOf("/longshot.v1.Nope/Generate"), undefined);
    assert.equal(requestTypeOf("Generate"), undefined);
  });
});

describe("checkMessageBytes", () => {
  const generate = type("longshot.v1.GenerateRequest");

  it("accepts every message the generated code writes, with valid UTF-8 beyond ASCII", () => {
    const request = GenerateRequest.encode(
      GenerateRequest.create({
        prompt: "un cercle rouge — 🎬",
        negativePrompt: "ぼやけ",
        seed: 9n,
        frames: 65,
        idempotencyKey: "k-é",
        outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_GIF],
      }),
    ).finish();
    checkMessageBytes(generate, request);
    checkMessageBytes(generate, new Uint8Array());
    const list = ListJobsRequest.encode(
      ListJobsRequest.create({ pageToken: "t", states: [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING] }),
    ).finish();
    checkMessageBytes(type("longshot.v1.ListJobsRequest"), list);
    const task = StageTask.encode(
      StageTask.create({ jobId: "j", traceContext: { traceparent: "00-ab", clé: "välue" } }),
    ).finish();
    checkMessageBytes(type("longshot.v1.StageTask"), task);
  });

  it("names a string field that is not UTF-8: top level, optional, nested, repeated, map keys and values", () => {
    const bad = [0xc3, 0x28];
    assert.throws(
      () =>
        checkMessageBytes(
          generate,
          tamper(GenerateRequest.encode({ ...GenerateRequest.create(), prompt: "a@@" }).finish(), "@@", bad),
        ),
      refusesField("prompt"),
    );
    assert.throws(
      () =>
        checkMessageBytes(
          generate,
          tamper(
            GenerateRequest.encode(GenerateRequest.create({ prompt: "x", negativePrompt: "@@" })).finish(),
            "@@",
            bad,
          ),
        ),
      refusesField("negative_prompt"),
    );
    assert.throws(
      () =>
        checkMessageBytes(
          generate,
          tamper(
            GenerateRequest.encode(GenerateRequest.create({ prompt: "x", idempotencyKey: "k@@" })).finish(),
            "@@",
            bad,
          ),
        ),
      refusesField("idempotency_key"),
    );
    const jobs = ListJobsResponse.encode(
      ListJobsResponse.create({
        jobs: [
          Job.create({ id: "j1", request: GenerateRequest.create({ prompt: "fine" }) }),
          Job.create({ id: "j2", request: GenerateRequest.create({ prompt: "@@" }) }),
        ],
      }),
    ).finish();
    assert.throws(
      () => checkMessageBytes(type("longshot.v1.ListJobsResponse"), tamper(jobs, "@@", bad)),
      refusesField("jobs[1].request.prompt"),
    );
    const task = (traceContext: Record<string, string>) =>
      StageTask.encode(StageTask.create({ jobId: "j", traceContext })).finish();
    assert.throws(
      () => checkMessageBytes(type("longshot.v1.StageTask"), tamper(task({ tp: "0@@" }), "@@", bad)),
      refusesField('trace_context["tp"]'),
    );
    assert.throws(
      () => checkMessageBytes(type("longshot.v1.StageTask"), tamper(task({ "@@": "v" }), "@@", bad)),
      refusesField("trace_context", "trace_context: a key is not valid UTF-8"),
    );
  });

  it("refuses bytes that are not a message, and skips (well-formed) fields the schema does not know", () => {
    const cases: [string, number[]][] = [
      ["truncated varint", [0x18, 0xff]],
      ["length past the end", [0x0a, 0x05, 0x61]],
      ["illegal wire type", [0x0e]],
      ["end group without a start", [0x0c]],
      ["field number 0", [0x00]],
      ["fixed64 cut short", [0x19, 0x01, 0x02]],
      ["nested message that does not parse", [0x0a, 0x02, 0x0a, 0x05]],
    ];
    for (const [what, bytes] of cases) {
      const desc = what.startsWith("nested") ? type("longshot.v1.RunKeyframeRequest") : generate;
      assert.throws(
        () => checkMessageBytes(desc, Buffer.from(bytes)),
        (err: unknown) => err instanceof UndecodableRequestError && err.code === "INVALID_ARGUMENT",
        what,
      );
    }
    // Field 99 (unknown) as a length-delimited run of arbitrary bytes, a varint and a fixed32.
    checkMessageBytes(generate, Buffer.from([0x9a, 0x06, 0x02, 0xff, 0xfe, 0x98, 0x06, 0x01, 0x9d, 0x06, 1, 2, 3, 4]));
    // A type the schema does not know: only the wire format is checked.
    checkMessageBytes(undefined, Buffer.from([0x0a, 0x01, 0xff]));
    assert.throws(() => checkMessageBytes(undefined, Buffer.from([0x0a, 0x05]), "x.Y"), /decoded as x\.Y: /);
  });
});
