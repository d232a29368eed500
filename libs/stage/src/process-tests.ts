/**
 * The process-level tests every stage service runs on its own `main.js` (one copy here instead of one per
 * service): start from flags, serve, drain on SIGTERM; request bodies an outside client may send (one that does
 * not decode, a string that is not UTF-8) answered INVALID_ARGUMENT; mutual TLS from the LONGSHOT_GRPC_TLS_*
 * variables; a half TLS configuration refused before the pack loads; a bad flag; --help. Call it at a test
 * file's top level.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkHealth,
  createClient,
  encodedRequest,
  GrpcCallError,
  grpcClientCredentials,
  unary,
  watchHealth,
} from "@longshot/proto";
import { createTestPki, makeTempDir, removeTempDir, spawnProcess } from "@longshot/testing";
import { type StageServiceName, stageGrpcMethods, stageOfService } from "./stage-services.js";

export interface StageProcessTestOptions {
  /** "keyframe", "interpolation" or "decoder": the `<stage>-service` process and its log lines. */
  stage: StageServiceName;
  /** The service's gRPC service name, e.g. "longshot.v1.KeyframeService". */
  grpcService: string;
  /** Path of the service's compiled main.js. */
  main: string;
  /** A model pack directory the service can load. */
  pack: string;
}

/**
 * What an outside client (e.g. Python grpcio through reflection) may send: bodies that do not decode,
 * and a task whose job_id is not UTF-8. Each is answered INVALID_ARGUMENT, never INTERNAL.
 */
async function checkMalformedRequests(stage: StageServiceName, address: string): Promise<void> {
  const { info, run } = stageGrpcMethods(stageOfService(stage));
  const client = createClient({ info, run }, address);
  try {
    for (const method of [info, run]) {
      for (const body of [
        Buffer.from("not a protobuf message"),
        Buffer.from([0x0a, 0xff]),
        Buffer.from([0x0a, 0x09, 0x61]),
      ]) {
        await assert.rejects(unary(client.grpcClient, encodedRequest(method), body), (err: unknown) => {
          assert.ok(err instanceof GrpcCallError, String(err));
          assert.equal(err.grpcStatus, "INVALID_ARGUMENT", `${method.path}: ${err.details}`);
          assert.equal(err.remoteName, "UndecodableRequestError");
          return true;
        });
      }
    }
    // RunXRequest { task (1): StageTask { job_id (1): 0xC3 0x28 } }
    const task = Buffer.from([0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28]);
    await assert.rejects(unary(client.grpcClient, encodedRequest(run), task), {
      grpcStatus: "INVALID_ARGUMENT",
      field: "task.job_id",
      details: "task.job_id: not valid UTF-8",
    });
  } finally {
    client.close();
  }
}

export function describeStageProcess(o: StageProcessTestOptions): void {
  const name = `${o.stage}-service`;
  describe(`${name} process`, { timeout: 60_000 }, () => {
    it("starts from flags (gRPC only), prints its configuration, serves, and drains on SIGTERM with exit code 0", async () => {
      const blobDir = makeTempDir(`${o.stage}-main`);
      const proc = spawnProcess(name, process.execPath, [
        o.main,
        "--grpc-host=127.0.0.1",
        "--grpc-port=0",
        `--pack=${o.pack}`,
        "--log-format=json",
        "--drain-timeout=2s",
        "--no-worker",
        `--blob-dir=${blobDir}`,
        "--s3-secret-key=hunter22",
      ]);
      try {
        await proc.waitForLine(/configuration:/, 20_000);
        const [, port] = await proc.waitForLine(
          new RegExp(`"port":(\\d+).*"msg":"${o.stage} service serving"`),
          20_000,
        );
        const address = `127.0.0.1:${port}`;
        assert.equal(await checkHealth(address), "SERVING");
        await checkMalformedRequests(o.stage, address);

        const statuses: string[] = [];
        for await (const s of watchHealth(address, o.grpcService)) {
          statuses.push(s);
          if (s === "SERVING") proc.child.kill("SIGTERM");
          if (s === "NOT_SERVING") break;
        }
        assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
        const exit = await proc.exited;
        assert.equal(exit.code, 0, proc.output());
        assert.match(proc.output(), /"msg":"draining"/);
        assert.match(proc.output(), /"msg":"stopped"/);
        assert.doesNotMatch(proc.output(), /hunter22/, "the S3 secret key never reaches the log");
      } finally {
        if (!proc.hasExited) await proc.stop("SIGKILL");
        removeTempDir(blobDir);
      }
    });

    it("serves mutual TLS from LONGSHOT_GRPC_TLS_CERT / _KEY / _CA, as the images get them", async () => {
      const dir = makeTempDir(`${o.stage}-tls`);
      const pki = createTestPki(dir, [o.stage, "client"]);
      const own = pki.certs[o.stage];
      const proc = spawnProcess(
        name,
        process.execPath,
        [
          o.main,
          "--grpc-host=127.0.0.1",
          "--grpc-port=0",
          `--pack=${o.pack}`,
          "--log-format=json",
          "--no-worker",
          `--blob-dir=${dir}`,
        ],
        {
          env: {
            ...process.env,
            LONGSHOT_GRPC_TLS_CERT: own.cert,
            LONGSHOT_GRPC_TLS_KEY: own.key,
            LONGSHOT_GRPC_TLS_CA: pki.ca,
          },
        },
      );
      try {
        const [, port] = await proc.waitForLine(
          new RegExp(`"port":(\\d+),"tls":"mutual-tls".*"msg":"${o.stage} service serving"`),
          20_000,
        );
        const address = `127.0.0.1:${port}`;
        const client = pki.certs.client;
        const mutual = grpcClientCredentials({ caFile: pki.ca, certFile: client.cert, keyFile: client.key });
        assert.equal(await checkHealth(address, o.grpcService, { credentials: mutual }), "SERVING");
        const refused = (err: unknown) => err instanceof GrpcCallError && err.grpcStatus === "UNAVAILABLE";
        await assert.rejects(
          checkHealth(address, "", { credentials: grpcClientCredentials({ caFile: pki.ca }) }),
          refused,
        );
        await assert.rejects(checkHealth(address), refused);
        proc.child.kill("SIGTERM");
        assert.equal((await proc.exited).code, 0, proc.output());
      } finally {
        if (!proc.hasExited) await proc.stop("SIGKILL");
        removeTempDir(dir);
      }
    });

    it("exits 1 naming LONGSHOT_GRPC_TLS_KEY when only the certificate is set, before loading the pack", async () => {
      const proc = spawnProcess(name, process.execPath, [
        o.main,
        `--grpc-tls-cert=/certs/${o.stage}.pem`,
        "--pack=/nonexistent/pack",
      ]);
      const exit = await proc.exited;
      assert.equal(exit.code, 1);
      assert.match(proc.output(), /LONGSHOT_GRPC_TLS_KEY \(--grpc-tls-key\): is not set, but LONGSHOT_GRPC_TLS_CERT/);
      assert.doesNotMatch(
        proc.output(),
        /model pack directory/,
        "the TLS settings are checked before the pack is loaded",
      );
    });

    it("exits 1 with a message naming the bad flag", async () => {
      const proc = spawnProcess(name, process.execPath, [o.main, "--grpc-port=abc"]);
      const exit = await proc.exited;
      assert.equal(exit.code, 1);
      assert.match(proc.output(), /grpcPort: flag --grpc-port="abc" is not an integer/);
    });

    it("prints --help with every flag", async () => {
      const proc = spawnProcess(name, process.execPath, [o.main, "--help"]);
      const exit = await proc.exited;
      assert.equal(exit.code, 0);
      for (const flag of [
        "--grpc-port",
        "--pack",
        "--execution-provider",
        "--drain-timeout",
        "--nats-url",
        "--s3-endpoint",
        "--s3-secret-key",
        "--blob-dir",
        "--otlp-endpoint",
        "--worker-concurrency",
        "--ack-wait",
        "--stop-timeout",
        "--grpc-tls-cert",
        "--grpc-tls-key",
        "--grpc-tls-ca",
      ])
        assert.ok(proc.output().includes(flag));
    });
  });
}
