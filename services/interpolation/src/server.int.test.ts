import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FsBlobStore, getTensor } from "@longshot/blob";
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
import { blobLatentRef, protoLatentRef, putLatent } from "@longshot/stage";
import { Tensor } from "@longshot/tensor";
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

describe("interpolation service start-up (gRPC only: --no-worker, blobs in a directory)", { timeout: 60_000 }, () => {
  let service: InterpolationService;
  let address: string;
  let blobDir: string;

  before(async () => {
    blobDir = await mkdtemp(path.join(tmpdir(), "longshot-interp-"));
    const config = loadConfig(interpolationConfigSchema, {
      env: {},
      argv: [
        "--grpc-host=127.0.0.1",
        "--grpc-port=0",
        `--pack=${TINY_PACK}`,
        "--worker-id=interpolation-test",
        "--no-worker",
        `--blob-dir=${blobDir}`,
      ],
    });
    service = await startInterpolationService(config, createLogger("interpolation", "silent"));
    address = `127.0.0.1:${service.port}`;
  });

  after(async () => {
    await service.drain(1000);
    await rm(blobDir, { recursive: true, force: true });
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

  it("runs a valid RunInterpolation window from inputs in the store; a corrupt input is DATA_LOSS naming it", async () => {
    const store = new FsBlobStore(blobDir);
    const keyframes = new Tensor(
      "float32",
      Float32Array.from({ length: 4 * 5 * 16 }, (_, i) => Math.sin(i)),
      [1, 4, 5, 4, 4],
    );
    const text = new Tensor(
      "float32",
      Float32Array.from({ length: 2 * 8 * 8 }, (_, i) => Math.cos(i)),
      [2, 8, 8],
    );
    const inputLatents = protoLatentRef(await putLatent(store, "jobs/j1/keyframes.safetensors", keyframes, "test"));
    const textEmbeddings = protoLatentRef(await putLatent(store, "jobs/j1/text.safetensors", text, "test"));
    const base = validTask();
    if (base.params?.$case !== "interpolation") throw new Error("fixture");
    const task = {
      ...base,
      outputKey: "jobs/j1/interp1/4-13.safetensors",
      params: {
        $case: "interpolation" as const,
        value: {
          ...base.params.value,
          inputLatents,
          textEmbeddings,
          windowStart: 4,
          windowEnd: 13,
          anchorFrames: [4, 8, 12],
        },
      },
    };
    const client = createClient(InterpolationServiceService, address);
    try {
      const { result } = await client.runInterpolation(RunInterpolationRequest.create({ task }));
      assert.ok(result?.latents);
      assert.equal(result.workerId, "interpolation-test");
      assert.deepEqual([result.windowStart, result.windowEnd], [4, 13]);
      assert.deepEqual(result.latents.shape, [1, 4, 9, 4, 4]);
      const out = await getTensor(store, blobLatentRef(result.latents, "latents"));
      // Pinned mode: the known frames 4, 8, 12 are the input keyframes 1, 2, 3, bit for bit.
      const d = out.data as Float32Array;
      for (const [j, k] of [
        [0, 1],
        [4, 2],
        [8, 3],
      ] as const) {
        for (let c = 0; c < 4; c++) {
          assert.deepEqual(
            d.subarray((c * 9 + j) * 16, (c * 9 + j + 1) * 16),
            keyframes.data.subarray((c * 5 + k) * 16, (c * 5 + k + 1) * 16),
          );
        }
      }

      await writeFile(path.join(blobDir, "jobs/j1/keyframes.safetensors"), "garbage");
      await assert.rejects(
        client.runInterpolation(RunInterpolationRequest.create({ task: { ...task, outputKey: "jobs/j1/x" } })),
        (err: unknown) => {
          return (
            err instanceof GrpcCallError &&
            err.code === "DATA_LOSS" &&
            /task\.interpolation\.input_latents: blob .* key "jobs\/j1\/keyframes\.safetensors": content does not match/.test(
              err.details,
            )
          );
        },
      );
    } finally {
      client.close();
    }
  });

  it("refuses windows that do not start and end on known frames, and guidance below 1", async () => {
    const client = createClient(InterpolationServiceService, address);
    try {
      const task = validTask();
      if (task.params?.$case !== "interpolation") throw new Error("fixture");
      const value = task.params.value;
      const withValue = (v: Partial<typeof value>) => ({
        ...task,
        params: { $case: "interpolation" as const, value: { ...value, ...v } },
      });
      await assert.rejects(
        client.runInterpolation(
          RunInterpolationRequest.create({ task: withValue({ windowStart: 2, anchorFrames: [4, 8] }) }),
        ),
        {
          field: "task.interpolation.window_start",
        },
      );
      await assert.rejects(
        client.runInterpolation(
          RunInterpolationRequest.create({ task: withValue({ windowEnd: 15, anchorFrames: [0, 4, 8, 12] }) }),
        ),
        {
          field: "task.interpolation.window_end",
        },
      );
      await assert.rejects(
        client.runInterpolation(
          RunInterpolationRequest.create({
            task: { ...task, sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 3, guidance: 0.5 } },
          }),
        ),
        { field: "task.sampler.guidance" },
      );
    } finally {
      client.close();
    }
  });

  it("drain flips health to NOT_SERVING, stops the server and frees the sessions", async () => {
    const config = loadConfig(interpolationConfigSchema, {
      env: {},
      argv: ["--grpc-host=127.0.0.1", "--grpc-port=0", `--pack=${TINY_PACK}`, "--no-worker", `--blob-dir=${blobDir}`],
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
