import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FsBlobStore, getTensor } from "@longshot/blob";
import { createLogger, loadConfig } from "@longshot/core";
import {
  checkHealth,
  createClient,
  GrpcCallError,
  KeyframeServiceGetModelInfoRequest,
  KeyframeServiceService,
  listServices,
  RunKeyframeRequest,
  Sampler,
  Stage,
  StageTask,
  watchHealth,
} from "@longshot/proto";
import { blobLatentRef } from "@longshot/stage";
import { keyframeConfigSchema } from "./config.js";
import { type KeyframeService, startKeyframeService } from "./server.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

function validTask(): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/keyframe",
    outputKey: "jobs/j1/keyframe",
    stage: Stage.STAGE_KEYFRAME,
    packName: "tiny-pack",
    packVersion: "1.0.0",
    seed: 7n,
    sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 4, guidance: 5 },
    params: { $case: "keyframe", value: { prompt: "a red circle moving left", numFrames: 5 } },
  });
}

describe("keyframe service start-up (gRPC only: --no-worker, blobs in a directory)", { timeout: 60_000 }, () => {
  let service: KeyframeService;
  let address: string;
  let blobDir: string;

  before(async () => {
    blobDir = await mkdtemp(path.join(tmpdir(), "longshot-kf-"));
    const config = loadConfig(keyframeConfigSchema, {
      env: {},
      argv: [
        "--grpc-host=127.0.0.1",
        "--grpc-port=0",
        `--pack=${TINY_PACK}`,
        "--worker-id=kf-test",
        "--no-worker",
        `--blob-dir=${blobDir}`,
      ],
    });
    service = await startKeyframeService(config, createLogger("keyframe", "silent"));
    address = `127.0.0.1:${service.port}`;
  });

  after(async () => {
    await service.drain(1000);
    await rm(blobDir, { recursive: true, force: true });
  });

  it("listens on a free port and reports SERVING for the server and its service", async () => {
    assert.ok(service.port > 0);
    assert.equal(await checkHealth(address), "SERVING");
    assert.equal(await checkHealth(address, "longshot.v1.KeyframeService"), "SERVING");
  });

  it("lists its services through reflection", async () => {
    assert.deepEqual(await listServices(address), ["grpc.health.v1.Health", "longshot.v1.KeyframeService"]);
  });

  it("answers GetModelInfo with the pack, its own graphs with open sessions, the runtime and memory", async () => {
    const client = createClient(KeyframeServiceService, address);
    try {
      const { info } = await client.getModelInfo(KeyframeServiceGetModelInfoRequest.create());
      assert.ok(info);
      assert.equal(info.packName, "tiny-pack");
      assert.equal(info.packVersion, "1.0.0");
      assert.equal(info.stage, Stage.STAGE_KEYFRAME);
      assert.deepEqual(
        info.graphs.map((g) => [g.name, g.file, g.sessionOpen]),
        [
          ["textEncoder", "text_encoder.onnx", true],
          ["keyframeUnet", "keyframe_unet.onnx", true],
        ],
      );
      assert.match(info.graphs[0]?.sha256 ?? "", /^[0-9a-f]{64}$/);
      assert.equal(info.executionProvider, "cpu");
      assert.equal(info.onnxruntimeVersion, "1.30.0");
      assert.ok(info.memoryRssBytes > 0n && info.memoryHeapUsedBytes > 0n);
      assert.equal(info.workerId, "kf-test");
    } finally {
      client.close();
    }
  });

  it("checks RunKeyframe tasks: INVALID_ARGUMENT naming the field, FAILED_PRECONDITION for another pack", async () => {
    const client = createClient(KeyframeServiceService, address);
    try {
      const bad = { ...validTask(), params: { $case: "keyframe" as const, value: { prompt: "", numFrames: 5 } } };
      await assert.rejects(client.runKeyframe(RunKeyframeRequest.create({ task: bad })), (err: unknown) => {
        return err instanceof GrpcCallError && err.code === "INVALID_ARGUMENT" && err.field === "task.keyframe.prompt";
      });
      const wrongCount = {
        ...validTask(),
        params: { $case: "keyframe" as const, value: { prompt: "x", numFrames: 4 } },
      };
      await assert.rejects(client.runKeyframe(RunKeyframeRequest.create({ task: wrongCount })), {
        field: "task.keyframe.num_frames",
      });
      await assert.rejects(client.runKeyframe(RunKeyframeRequest.create({})), {
        code: "INVALID_ARGUMENT",
        field: "task",
      });
      await assert.rejects(
        client.runKeyframe(RunKeyframeRequest.create({ task: { ...validTask(), packName: "other" } })),
        {
          code: "FAILED_PRECONDITION",
        },
      );
    } finally {
      client.close();
    }
  });

  it("runs a valid RunKeyframe: embeddings and keyframes written under the output key, refs returned", async () => {
    const client = createClient(KeyframeServiceService, address);
    try {
      const { result } = await client.runKeyframe(RunKeyframeRequest.create({ task: validTask() }));
      assert.ok(result?.latents && result.textEmbeddings);
      assert.equal(result.jobId, "j1");
      assert.equal(result.workerId, "kf-test");
      assert.equal(result.latents.uri, `file://${path.join(blobDir, "jobs/j1/keyframe")}`);
      assert.equal(result.textEmbeddings.uri, `file://${path.join(blobDir, "jobs/j1/text.safetensors")}`);
      assert.deepEqual(result.latents.shape, [1, 4, 5, 4, 4]);
      assert.deepEqual(result.textEmbeddings.shape, [2, 8, 8]);
      const store = new FsBlobStore(blobDir);
      const latents = await getTensor(store, blobLatentRef(result.latents, "latents"));
      assert.ok((latents.data as Float32Array).every(Number.isFinite));
      // Run again: the same bytes under the same key (a directory store cannot vouch for old objects, so it recomputes).
      const again = await client.runKeyframe(RunKeyframeRequest.create({ task: validTask() }));
      assert.equal(again.result?.latents?.sha256, result.latents.sha256);
    } finally {
      client.close();
    }
  });

  it("drain flips health to NOT_SERVING, stops the server and frees the sessions", async () => {
    const config = loadConfig(keyframeConfigSchema, {
      env: {},
      argv: ["--grpc-host=127.0.0.1", "--grpc-port=0", `--pack=${TINY_PACK}`, "--no-worker", `--blob-dir=${blobDir}`],
    });
    const other = await startKeyframeService(config, createLogger("keyframe", "silent"));
    const statuses: string[] = [];
    let drained: Promise<{ forced: boolean }> | undefined;
    try {
      for await (const s of watchHealth(`127.0.0.1:${other.port}`, "longshot.v1.KeyframeService")) {
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

describe("keyframe service start-up failures", { timeout: 30_000 }, () => {
  it("refuses to start without S3 credentials when no blob directory is set, naming the setting", async () => {
    const config = loadConfig(keyframeConfigSchema, { env: {}, argv: ["--grpc-port=0", `--pack=${TINY_PACK}`] });
    await assert.rejects(
      startKeyframeService(config, createLogger("keyframe", "silent")),
      /s3AccessKey: is required for the S3 blob store .*LONGSHOT_S3_ACCESS_KEY.*LONGSHOT_S3_SECRET_KEY/,
    );
  });

  it("refuses to start when NATS does not answer, naming the URL", async () => {
    const blobDir = await mkdtemp(path.join(tmpdir(), "longshot-kf-"));
    try {
      const config = loadConfig(keyframeConfigSchema, {
        env: {},
        argv: ["--grpc-port=0", `--pack=${TINY_PACK}`, `--blob-dir=${blobDir}`, "--nats-url=nats://127.0.0.1:1"],
      });
      await assert.rejects(
        startKeyframeService(config, createLogger("keyframe", "silent")),
        /connect to NATS at nats:\/\/127.0.0.1:1/,
      );
    } finally {
      await rm(blobDir, { recursive: true, force: true });
    }
  });

  it("refuses to start without a pack, naming the directory", async () => {
    const config = loadConfig(keyframeConfigSchema, { env: {}, argv: ["--grpc-port=0", "--pack=/nonexistent/pack"] });
    await assert.rejects(startKeyframeService(config, createLogger("keyframe", "silent")), /\/nonexistent\/pack/);
  });

  it("reports bad configuration naming the flag", () => {
    assert.throws(() => loadConfig(keyframeConfigSchema, { env: {}, argv: ["--grpc-port=70000"] }), /grpcPort/);
    assert.throws(
      () => loadConfig(keyframeConfigSchema, { env: { LONGSHOT_EXECUTION_PROVIDER: "tpu" }, argv: [] }),
      /LONGSHOT_EXECUTION_PROVIDER/,
    );
  });
});
