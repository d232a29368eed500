import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FsBlobStore } from "@longshot/blob";
import { createLogger, loadConfig } from "@longshot/core";
import { decodePng, decodeVideo } from "@longshot/media";
import {
  checkHealth,
  createClient,
  DataType,
  DecoderServiceGetModelInfoRequest,
  DecoderServiceService,
  GrpcCallError,
  listServices,
  OutputFormat,
  RunDecodeRequest,
  Stage,
  StageTask,
  watchHealth,
} from "@longshot/proto";
import { protoLatentRef, putLatent } from "@longshot/stage";
import { Tensor } from "@longshot/tensor";
import { decoderConfigSchema } from "./config.js";
import { type DecoderService, startDecoderService } from "./server.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

const SHA = "c".repeat(64);

function validTask(): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/decode",
    outputKey: "jobs/j1/decode",
    stage: Stage.STAGE_DECODE,
    packName: "tiny-pack",
    packVersion: "1.0.0",
    seed: 7n,
    params: {
      $case: "decode",
      value: {
        latents: {
          uri: "s3://longshot/jobs/j1/interpolation/1",
          shape: [1, 4, 17, 4, 4],
          dtype: DataType.DATA_TYPE_FLOAT32,
          sha256: SHA,
          bytes: 4_500n,
        },
        frameStart: 0,
        frameEnd: 17,
        outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4],
      },
    },
  });
}

describe("decoder service start-up (gRPC only: --no-worker, blobs in a directory)", { timeout: 60_000 }, () => {
  let service: DecoderService;
  let address: string;
  let blobDir: string;

  before(async () => {
    blobDir = await mkdtemp(path.join(tmpdir(), "longshot-decoder-"));
    const config = loadConfig(decoderConfigSchema, {
      env: {},
      argv: [
        "--grpc-host=127.0.0.1",
        "--grpc-port=0",
        `--pack=${TINY_PACK}`,
        "--worker-id=decoder-test",
        "--no-worker",
        `--blob-dir=${blobDir}`,
      ],
    });
    service = await startDecoderService(config, createLogger("decoder", "silent"));
    address = `127.0.0.1:${service.port}`;
  });

  after(async () => {
    await service.drain(1000);
    await rm(blobDir, { recursive: true, force: true });
  });

  it("listens on a free port and reports SERVING for the server and its service", async () => {
    assert.ok(service.port > 0);
    assert.equal(await checkHealth(address), "SERVING");
    assert.equal(await checkHealth(address, "longshot.v1.DecoderService"), "SERVING");
  });

  it("lists its services through reflection", async () => {
    assert.deepEqual(await listServices(address), ["grpc.health.v1.Health", "longshot.v1.DecoderService"]);
  });

  it("answers GetModelInfo with the pack, its own graphs with open sessions, the runtime and memory", async () => {
    const client = createClient(DecoderServiceService, address);
    try {
      const { info } = await client.getModelInfo(DecoderServiceGetModelInfoRequest.create());
      assert.ok(info);
      assert.equal(info.packName, "tiny-pack");
      assert.equal(info.packVersion, "1.0.0");
      assert.equal(info.stage, Stage.STAGE_DECODE);
      assert.deepEqual(
        info.graphs.map((g) => [g.name, g.file, g.sessionOpen]),
        [["vaeDecoder", "vae_decoder.onnx", true]],
      );
      assert.match(info.graphs[0]?.sha256 ?? "", /^[0-9a-f]{64}$/);
      assert.equal(info.executionProvider, "cpu");
      assert.equal(info.onnxruntimeVersion, "1.30.0");
      assert.ok(info.memoryRssBytes > 0n && info.memoryHeapUsedBytes > 0n);
      assert.equal(info.workerId, "decoder-test");
    } finally {
      client.close();
    }
  });

  it("checks RunDecode tasks: INVALID_ARGUMENT naming the field, FAILED_PRECONDITION for another pack", async () => {
    const client = createClient(DecoderServiceService, address);
    try {
      const task = validTask();
      if (task.params?.$case !== "decode") throw new Error("fixture");
      const value = task.params.value;
      const wrongChannels = {
        ...task,
        params: {
          $case: "decode" as const,
          value: { ...value, latents: { ...(value.latents ?? {}), shape: [1, 3, 17, 4, 4] } },
        },
      };
      await assert.rejects(client.runDecode(RunDecodeRequest.create({ task: wrongChannels })), (err: unknown) => {
        return (
          err instanceof GrpcCallError && err.code === "INVALID_ARGUMENT" && err.field === "task.decode.latents.shape"
        );
      });
      const pastEnd = { ...task, params: { $case: "decode" as const, value: { ...value, frameEnd: 20 } } };
      await assert.rejects(client.runDecode(RunDecodeRequest.create({ task: pastEnd })), {
        field: "task.decode.frame_end",
      });
      const noFormats = { ...task, params: { $case: "decode" as const, value: { ...value, outputFormats: [] } } };
      await assert.rejects(client.runDecode(RunDecodeRequest.create({ task: noFormats })), {
        field: "task.decode.output_formats",
      });
      await assert.rejects(client.runDecode(RunDecodeRequest.create({ task: { ...task, packName: "other" } })), {
        code: "FAILED_PRECONDITION",
      });
    } finally {
      client.close();
    }
  });

  it("runs a valid RunDecode: MP4, GIF and PNG frames of the requested range in the store", async () => {
    const store = new FsBlobStore(blobDir);
    const latents = new Tensor(
      "float32",
      Float32Array.from({ length: 4 * 17 * 16 }, (_, i) => Math.sin(i / 7)),
      [1, 4, 17, 4, 4],
    );
    const ref = protoLatentRef(await putLatent(store, "jobs/j1/interp2.safetensors", latents, "test"));
    const base = validTask();
    if (base.params?.$case !== "decode") throw new Error("fixture");
    const formats = [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_GIF, OutputFormat.OUTPUT_FORMAT_PNG];
    const task = {
      ...base,
      outputKey: "jobs/j1/video.mp4",
      params: {
        $case: "decode" as const,
        value: { ...base.params.value, latents: ref, frameStart: 4, frameEnd: 13, outputFormats: formats },
      },
    };
    const client = createClient(DecoderServiceService, address);
    try {
      const { result } = await client.runDecode(RunDecodeRequest.create({ task }));
      assert.ok(result);
      assert.equal(result.workerId, "decoder-test");
      const uris = result.artifacts.map((a) => a.uri.slice(`file://${blobDir}/`.length));
      assert.deepEqual(uris.slice(0, 2), ["jobs/j1/video.mp4", "jobs/j1/video.gif"]);
      assert.deepEqual(
        uris.slice(2),
        [4, 5, 6, 7, 8, 9, 10, 11, 12].map((f) => `jobs/j1/video-frames/00${String(f).padStart(2, "0")}.png`),
      );
      assert.deepEqual(result.artifacts.map((a) => a.contentType).slice(0, 3), ["video/mp4", "image/gif", "image/png"]);
      assert.equal(result.artifacts[2]?.frame, 4);
      assert.ok(result.artifacts.every((a) => a.presignedUrl === "")); // a directory store cannot presign
      const mp4 = await decodeVideo(path.join(blobDir, "jobs/j1/video.mp4"), { width: 16, height: 16 });
      assert.equal(mp4.frames.length, 9);
      assert.equal(mp4.info.codec, "h264");
      const png = decodePng(await readFile(path.join(blobDir, "jobs/j1/video-frames/0004.png")));
      assert.deepEqual([png.width, png.height], [16, 16]);
      const manifest = JSON.parse(await readFile(path.join(blobDir, "jobs/j1/video.json"), "utf8"));
      assert.equal(manifest.artifacts.length, 11);
    } finally {
      client.close();
    }
  });

  it("drain flips health to NOT_SERVING, stops the server and frees the sessions", async () => {
    const config = loadConfig(decoderConfigSchema, {
      env: {},
      argv: ["--grpc-host=127.0.0.1", "--grpc-port=0", `--pack=${TINY_PACK}`, "--no-worker", `--blob-dir=${blobDir}`],
    });
    const other = await startDecoderService(config, createLogger("decoder", "silent"));
    const statuses: string[] = [];
    let drained: Promise<{ forced: boolean }> | undefined;
    try {
      for await (const s of watchHealth(`127.0.0.1:${other.port}`, "longshot.v1.DecoderService")) {
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

describe("decoder service start-up failures", { timeout: 30_000 }, () => {
  it("refuses to start without a pack, naming the directory", async () => {
    const config = loadConfig(decoderConfigSchema, { env: {}, argv: ["--grpc-port=0", "--pack=/nonexistent/pack"] });
    await assert.rejects(startDecoderService(config, createLogger("decoder", "silent")), /\/nonexistent\/pack/);
  });

  it("reports bad configuration naming the flag", () => {
    assert.throws(() => loadConfig(decoderConfigSchema, { env: {}, argv: ["--grpc-port=70000"] }), /grpcPort/);
    assert.throws(
      () => loadConfig(decoderConfigSchema, { env: { LONGSHOT_EXECUTION_PROVIDER: "tpu" }, argv: [] }),
      /LONGSHOT_EXECUTION_PROVIDER/,
    );
  });
});
