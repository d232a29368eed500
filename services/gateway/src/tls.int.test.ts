/**
 * The gateway's gRPC over TLS (LONGSHOT_GRPC_TLS_CERT / _KEY, as docker-compose.tls.yml and the Helm
 * chart set them), in-process against a real nats-server and S3 server, with a throwaway CA from
 * openssl; and bad TLS settings stopping the start before the gateway connects to anything.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createLogger, loadConfig } from "@longshot/core";
import {
  checkHealth,
  createClient,
  GrpcCallError,
  GrpcTlsError,
  grpcClientCredentials,
  ListJobsRequest,
  VideoServiceService,
} from "@longshot/proto";
import { createTestPki, makeTempDir, removeTempDir, startServers, type TestPki } from "@longshot/testing";
import { gatewayConfigSchema } from "./config.js";
import { type GatewayService, startGatewayService } from "./server.js";
import { gatewayArgs, type Servers, TINY_PACK } from "./test-args.js";

const silent = createLogger("gateway", "silent");

function startArgs(servers: Servers): string[] {
  return gatewayArgs(servers, "gateway-tls-test");
}

describe("gateway with LONGSHOT_GRPC_TLS_CERT / _KEY (real NATS and S3)", { timeout: 120_000 }, () => {
  let dir: string;
  let pki: TestPki<"gateway">;
  let servers: Servers;
  let gateway: GatewayService;
  let address: string;

  before(async () => {
    dir = makeTempDir("gateway-tls");
    pki = createTestPki(dir, ["gateway"]);
    servers = (await startServers({ nats: true, s3: true })) as Servers;
    const env = { LONGSHOT_GRPC_TLS_CERT: pki.certs.gateway.cert, LONGSHOT_GRPC_TLS_KEY: pki.certs.gateway.key };
    gateway = await startGatewayService(loadConfig(gatewayConfigSchema, { env, argv: startArgs(servers) }), silent);
    address = `127.0.0.1:${gateway.port}`;
  });

  after(async () => {
    await gateway?.drain(1000);
    await servers?.stop();
    removeTempDir(dir);
  });

  it("answers health and VideoService calls over TLS", async () => {
    const credentials = grpcClientCredentials({ caFile: pki.ca });
    assert.equal(await checkHealth(address, "longshot.v1.VideoService", { credentials }), "SERVING");
    const client = createClient(VideoServiceService, address, { credentials });
    try {
      const { jobs } = await client.listJobs(ListJobsRequest.create({ pageSize: 10 }));
      assert.deepEqual(jobs, []);
    } finally {
      client.close();
    }
  });

  it("refuses plaintext clients", async () => {
    await assert.rejects(checkHealth(address, "", { deadlineMs: 5000 }), (err: unknown) => {
      assert.ok(err instanceof GrpcCallError, String(err));
      assert.equal(err.grpcStatus, "UNAVAILABLE");
      return true;
    });
  });
});

describe("gateway with bad TLS settings", () => {
  it("a certificate without its key stops the start, naming LONGSHOT_GRPC_TLS_KEY, before NATS is tried", async () => {
    const config = loadConfig(gatewayConfigSchema, {
      // Nothing listens on port 1: reaching for NATS would fail with UNAVAILABLE instead.
      env: { LONGSHOT_GRPC_TLS_CERT: "/certs/gateway.pem", LONGSHOT_NATS_URL: "nats://127.0.0.1:1" },
      argv: ["--s3-access-key=k", "--s3-secret-key=s", `--pack=${TINY_PACK}`],
    });
    await assert.rejects(startGatewayService(config, silent), (err: unknown) => {
      assert.ok(err instanceof GrpcTlsError, String(err));
      assert.equal(err.setting, "LONGSHOT_GRPC_TLS_KEY (--grpc-tls-key)");
      assert.match(err.message, /is not set, but LONGSHOT_GRPC_TLS_CERT/);
      return true;
    });
  });
});
