/** Unit tests of the stage → service mapping and stageServiceConfig. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STAGES } from "@longshot/bus";
import { loadConfig } from "@longshot/core";
import { stageServiceConfig } from "./config.js";
import { STAGE_SERVICES, stageGrpcMethods, stageOfService } from "./stage-services.js";

describe("STAGE_SERVICES", () => {
  it("names each stage's service, its default port and its Run… call", () => {
    assert.deepEqual(
      STAGES.map((stage) => [stage, STAGE_SERVICES[stage].name, STAGE_SERVICES[stage].grpcPort]),
      [
        ["keyframe", "keyframe", 50052],
        ["interpolation", "interpolation", 50053],
        ["decode", "decoder", 50054],
      ],
    );
    assert.deepEqual(
      STAGES.map((stage) => stageGrpcMethods(stage).run.path),
      [
        "/longshot.v1.KeyframeService/RunKeyframe",
        "/longshot.v1.InterpolationService/RunInterpolation",
        "/longshot.v1.DecoderService/RunDecode",
      ],
    );
    for (const stage of STAGES) assert.equal(stageOfService(STAGE_SERVICES[stage].name), stage);
  });
});

describe("stageServiceConfig", () => {
  it("puts the shared fields first, the service's own next and workerId last, with the stage's port", () => {
    const schema = stageServiceConfig("decode", {
      decodeBatch: { type: "int", flag: "decode-batch", default: 16 },
    });
    const keys = Object.keys(schema);
    assert.deepEqual(keys.slice(0, 2), ["logLevel", "logFormat"]);
    assert.deepEqual(keys.slice(-3), ["drainTimeout", "decodeBatch", "workerId"]);
    const c = loadConfig(schema, { env: {}, argv: [] });
    assert.equal(c.grpcPort, 50054);
    assert.equal(c.decodeBatch, 16);
    assert.equal(c.workerId, undefined);
    assert.equal(loadConfig(stageServiceConfig("keyframe"), { env: {}, argv: [] }).grpcPort, 50052);
  });
});
