import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createLogger, loadConfig } from "@longshot/core";
import {
  checkHealth,
  createClient,
  GenerateRequest,
  GetJobRequest,
  GrpcCallError,
  ListJobsRequest,
  listServices,
  VideoServiceService,
  WatchJobRequest,
  watchHealth,
} from "@longshot/proto";
import { gatewayConfigSchema } from "./config.js";
import { type GatewayService, startGatewayService } from "./server.js";

const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

function startArgs(): string[] {
  return ["--grpc-host=127.0.0.1", "--grpc-port=0", `--pack=${TINY_PACK}`];
}

describe("gateway start-up", { timeout: 60_000 }, () => {
  let gateway: GatewayService;
  let address: string;

  before(async () => {
    gateway = await startGatewayService(
      loadConfig(gatewayConfigSchema, { env: {}, argv: startArgs() }),
      createLogger("gateway", "silent"),
    );
    address = `127.0.0.1:${gateway.port}`;
  });

  after(async () => {
    await gateway.drain(1000);
  });

  it("serves the configured pack and reports SERVING", async () => {
    assert.deepEqual(gateway.catalog.names, ["tiny-pack"]);
    assert.equal(await checkHealth(address), "SERVING");
    assert.equal(await checkHealth(address, "longshot.v1.VideoService"), "SERVING");
  });

  it("lists VideoService and health through reflection", async () => {
    assert.deepEqual(await listServices(address), ["grpc.health.v1.Health", "longshot.v1.VideoService"]);
  });

  it("answers malformed Generate requests with INVALID_ARGUMENT naming the field", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      const cases: [Partial<GenerateRequest>, string][] = [
        [{ prompt: "" }, "prompt"],
        [{ prompt: "x", frames: 257 }, "frames"], // tiny-pack allows 17 and 65 only
        [{ prompt: "x", pack: "shapes-maxi" }, "pack"],
        [{ prompt: "x", keyframeSteps: 0 }, "keyframe_steps"],
        [{ prompt: "x", interpolationGuidance: 1e9 }, "interpolation_guidance"],
      ];
      for (const [fields, field] of cases) {
        await assert.rejects(client.generate(GenerateRequest.create(fields)), (err: unknown) => {
          assert.ok(err instanceof GrpcCallError, String(err));
          assert.equal(err.code, "INVALID_ARGUMENT");
          assert.equal(err.field, field, err.details);
          return true;
        });
      }
    } finally {
      client.close();
    }
  });

  it("answers a valid Generate with UNIMPLEMENTED naming the pipeline issue", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      await assert.rejects(
        client.generate(GenerateRequest.create({ prompt: "a red circle moving left", frames: 17 })),
        (err: unknown) => {
          return err instanceof GrpcCallError && err.code === "UNIMPLEMENTED" && /#5/.test(err.details);
        },
      );
    } finally {
      client.close();
    }
  });

  it("checks job ids and list arguments before answering UNIMPLEMENTED", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      await assert.rejects(client.getJob(GetJobRequest.create({ jobId: "" })), {
        code: "INVALID_ARGUMENT",
        field: "job_id",
      });
      await assert.rejects(client.getJob(GetJobRequest.create({ jobId: "j1" })), { code: "UNIMPLEMENTED" });
      await assert.rejects(client.listJobs(ListJobsRequest.create({ pageSize: 5000 })), { field: "page_size" });
      await assert.rejects(client.listJobs(ListJobsRequest.create({ states: [0] })), { field: "states[0]" });
      await assert.rejects(
        (async () => {
          for await (const _ of client.watchJob(WatchJobRequest.create({ jobId: "" })))
            assert.fail("no events expected");
        })(),
        { code: "INVALID_ARGUMENT", field: "job_id" },
      );
      await assert.rejects(
        (async () => {
          for await (const _ of client.watchJob(WatchJobRequest.create({ jobId: "j1" })))
            assert.fail("no events expected");
        })(),
        { code: "UNIMPLEMENTED" },
      );
    } finally {
      client.close();
    }
  });

  it("drain flips health to NOT_SERVING and stops the server", async () => {
    const other = await startGatewayService(
      loadConfig(gatewayConfigSchema, { env: {}, argv: startArgs() }),
      createLogger("gateway", "silent"),
    );
    const statuses: string[] = [];
    let drained: Promise<{ forced: boolean }> | undefined;
    try {
      for await (const s of watchHealth(`127.0.0.1:${other.port}`, "longshot.v1.VideoService")) {
        statuses.push(s);
        if (s === "SERVING") drained = other.drain(200);
      }
    } catch {
      // the server closed the watch at the drain timeout
    }
    assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    assert.deepEqual(await drained, { forced: true });
    await assert.rejects(checkHealth(`127.0.0.1:${other.port}`, "", { deadlineMs: 500 }), GrpcCallError);
  });
});

describe("gateway start-up failures", { timeout: 30_000 }, () => {
  it("refuses to start when a pack directory is missing, naming it", async () => {
    const config = loadConfig(gatewayConfigSchema, {
      env: {},
      argv: ["--grpc-port=0", `--pack=${TINY_PACK},/nonexistent/pack`],
    });
    await assert.rejects(startGatewayService(config, createLogger("gateway", "silent")), /\/nonexistent\/pack/);
  });

  it("refuses the same pack twice", async () => {
    const config = loadConfig(gatewayConfigSchema, {
      env: {},
      argv: ["--grpc-port=0", `--pack=${TINY_PACK},${TINY_PACK}`],
    });
    await assert.rejects(startGatewayService(config, createLogger("gateway", "silent")), /configured twice/);
  });
});
