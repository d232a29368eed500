import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createLogger, loadConfig } from "@longshot/core";
import {
  checkHealth,
  createClient,
  DataType,
  GrpcCallError,
  InterpolationServiceGetModelInfoRequest,
  InterpolationServiceService,
  listServices,
  Mode,
  RunInterpolationRequest,
  Sampler,
  Stage,
  StageTask,
  watchHealth,
} from "@longshot/proto";
import { interpolationConfigSchema } from "./config.js";
import { type InterpolationService, startInterpolationService } from "./server.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

const SHA = "b".repeat(64);

function validTask(): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/interpolation/1/w0",
    outputKey: "jobs/j1/interpolation/1/w0",
    stage: Stage.STAGE_INTERPOLATION,
    packName: "tiny-pack",
    packVersion: "1.0.0",
    seed: 7n,
    sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 3, guidance: 2 },
    params: {
      $case: "interpolation",
      value: {
        inputLatents: {
          uri: "s3://longshot/jobs/j1/keyframe",
          shape: [1, 4, 5, 4, 4],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: SHA,
          bytes: 1_400n,
        },
        textEmbeddings: {
          uri: "s3://longshot/jobs/j1/text",
          shape: [2, 8, 8],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: SHA,
          bytes: 600n,
        },
        level: 1,
        outputFrames: 17,
        windowStart: 0,
        windowEnd: 17,
        anchorFrames: [0, 4, 8, 12, 16],
        frameStride: 1,
        mode: Mode.MODE_PINNED,
      },
    },
  });
}

describe("interpolation service start-up", { timeout: 60_000 }, () => {
  let service: InterpolationService;
  let address: string;

  before(async () => {
    const config = loadConfig(interpolationConfigSchema, {
      env: {},
      argv: ["--grpc-host=127.0.0.1", "--grpc-port=0", `--pack=${TINY_PACK}`, "--worker-id=interpolation-test"],
    });
    service = await startInterpolationService(config, createLogger("interpolation", "silent"));
    address = `127.0.0.1:${service.port}`;
  });

  after(async () => {
    await service.drain(1000);
  });

  it("listens on a free port and reports SERVING for the server and its service", async () => {
    assert.ok(service.port > 0);
    assert.equal(await checkHealth(address), "SERVING");
    assert.equal(await checkHealth(address, "longshot.v1.InterpolationService"), "SERVING");
  });

  it("lists its services through reflection", async () => {
    assert.deepEqual(await listServices(address), ["grpc.health.v1.Health", "longshot.v1.InterpolationService"]);
  });

  it("answers GetModelInfo with the pack, its own graphs with open sessions, the runtime and memory", async () => {
    const client = createClient(InterpolationServiceService, address);
    try {
      const { info } = await client.getModelInfo(InterpolationServiceGetModelInfoRequest.create());
      assert.ok(info);
      assert.equal(info.packName, "tiny-pack");
      assert.equal(info.packVersion, "1.0.0");
      assert.equal(info.stage, Stage.STAGE_INTERPOLATION);
      assert.deepEqual(
        info.graphs.map((g) => [g.name, g.file, g.sessionOpen]),
        [["interpolationUnet", "interpolation_unet.onnx", true]],
      );
      assert.match(info.graphs[0]?.sha256 ?? "", /^[0-9a-f]{64}$/);
      assert.equal(info.executionProvider, "cpu");
      assert.equal(info.onnxruntimeVersion, "1.30.0");
      assert.ok(info.memoryRssBytes > 0n && info.memoryHeapUsedBytes > 0n);
      assert.equal(info.workerId, "interpolation-test");
    } finally {
      client.close();
    }
  });

  it("checks RunInterpolation tasks: INVALID_ARGUMENT naming the field, FAILED_PRECONDITION for another pack", async () => {
    const client = createClient(InterpolationServiceService, address);
    try {
      const task = validTask();
      if (task.params?.$case !== "interpolation") throw new Error("fixture");
      const value = task.params.value;
      const bad = {
        ...task,
        params: { $case: "interpolation" as const, value: { ...value, outputFrames: 30, windowEnd: 30 } },
      };
      await assert.rejects(client.runInterpolation(RunInterpolationRequest.create({ task: bad })), (err: unknown) => {
        return (
          err instanceof GrpcCallError &&
          err.code === "INVALID_ARGUMENT" &&
          err.field === "task.interpolation.output_frames"
        );
      });
      const badHash = {
        ...task,
        params: {
          $case: "interpolation" as const,
          value: { ...value, inputLatents: { ...(value.inputLatents ?? {}), sha256: "nope" } },
        },
      };
      await assert.rejects(client.runInterpolation(RunInterpolationRequest.create({ task: badHash })), {
        field: "task.interpolation.input_latents.sha256",
      });
      await assert.rejects(client.runInterpolation(RunInterpolationRequest.create({})), {
        code: "INVALID_ARGUMENT",
        field: "task",
      });
      await assert.rejects(
        client.runInterpolation(RunInterpolationRequest.create({ task: { ...task, packVersion: "9.9.9" } })),
        {
          code: "FAILED_PRECONDITION",
        },
      );
    } finally {
      client.close();
    }
  });

  it("answers a valid RunInterpolation with UNIMPLEMENTED naming the issues that wire it", async () => {
    const client = createClient(InterpolationServiceService, address);
    try {
      await assert.rejects(
        client.runInterpolation(RunInterpolationRequest.create({ task: validTask() })),
        (err: unknown) => {
          return (
            err instanceof GrpcCallError &&
            err.code === "UNIMPLEMENTED" &&
            /#4/.test(err.details) &&
            /#5/.test(err.details)
          );
        },
      );
    } finally {
      client.close();
    }
  });

  it("drain flips health to NOT_SERVING, stops the server and frees the sessions", async () => {
    const config = loadConfig(interpolationConfigSchema, {
      env: {},
      argv: ["--grpc-host=127.0.0.1", "--grpc-port=0", `--pack=${TINY_PACK}`],
    });
    const other = await startInterpolationService(config, createLogger("interpolation", "silent"));
    const statuses: string[] = [];
    let drained: Promise<{ forced: boolean }> | undefined;
    try {
      for await (const s of watchHealth(`127.0.0.1:${other.port}`, "longshot.v1.InterpolationService")) {
        statuses.push(s);
        if (s === "SERVING") drained = other.drain(200);
      }
    } catch {
      // the server closed the watch when the drain timed out
    }
    assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    assert.ok(drained);
    await drained;
    assert.equal(other.runtime.describe().sessions.length, 0);
    await assert.rejects(checkHealth(`127.0.0.1:${other.port}`, "", { deadlineMs: 500 }), GrpcCallError);
  });
});

describe("interpolation service start-up failures", { timeout: 30_000 }, () => {
  it("refuses to start without a pack, naming the directory", async () => {
    const config = loadConfig(interpolationConfigSchema, {
      env: {},
      argv: ["--grpc-port=0", "--pack=/nonexistent/pack"],
    });
    await assert.rejects(
      startInterpolationService(config, createLogger("interpolation", "silent")),
      /\/nonexistent\/pack/,
    );
  });

  it("reports bad configuration naming the flag", () => {
    assert.throws(() => loadConfig(interpolationConfigSchema, { env: {}, argv: ["--grpc-port=70000"] }), /grpcPort/);
    assert.throws(
      () => loadConfig(interpolationConfigSchema, { env: { LONGSHOT_EXECUTION_PROVIDER: "tpu" }, argv: [] }),
      /LONGSHOT_EXECUTION_PROVIDER/,
    );
  });
});
