import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkHealth, GrpcCallError, grpcClientCredentials, watchHealth } from "@longshot/proto";
import { createTestPki, makeTempDir, removeTempDir, spawnProcess } from "@longshot/testing";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

describe("decoder-service process", { timeout: 60_000 }, () => {
  it("starts from flags, prints its configuration, serves, and drains on SIGTERM with exit code 0", async () => {
    const blobDir = makeTempDir("decoder-main");
    const proc = spawnProcess("decoder-service", process.execPath, [
      MAIN,
      "--grpc-host=127.0.0.1",
      "--grpc-port=0",
      `--pack=${TINY_PACK}`,
      "--log-format=json",
      "--drain-timeout=2s",
      "--no-worker",
      `--blob-dir=${blobDir}`,
    ]);
    try {
      await proc.waitForLine(/configuration:/, 20_000);
      const [, port] = await proc.waitForLine(/"port":(\d+).*"msg":"decoder service serving"/, 20_000);
      const address = `127.0.0.1:${port}`;
      assert.equal(await checkHealth(address), "SERVING");

      const statuses: string[] = [];
      for await (const s of watchHealth(address, "longshot.v1.DecoderService")) {
        statuses.push(s);
        if (s === "SERVING") proc.child.kill("SIGTERM");
        if (s === "NOT_SERVING") break;
      }
      assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
      const exit = await proc.exited;
      assert.equal(exit.code, 0, proc.output());
      assert.match(proc.output(), /"msg":"draining"/);
      assert.match(proc.output(), /"msg":"stopped"/);
    } finally {
      if (!proc.hasExited) await proc.stop("SIGKILL");
      removeTempDir(blobDir);
    }
  });

  it("serves mutual TLS from LONGSHOT_GRPC_TLS_CERT / _KEY / _CA, as the images get them", async () => {
    const dir = makeTempDir("decoder-tls");
    const pki = createTestPki(dir, ["decoder", "client"]);
    const proc = spawnProcess(
      "decoder-service",
      process.execPath,
      [
        MAIN,
        "--grpc-host=127.0.0.1",
        "--grpc-port=0",
        `--pack=${TINY_PACK}`,
        "--log-format=json",
        "--no-worker",
        `--blob-dir=${dir}`,
      ],
      {
        env: {
          ...process.env,
          LONGSHOT_GRPC_TLS_CERT: pki.certs.decoder.cert,
          LONGSHOT_GRPC_TLS_KEY: pki.certs.decoder.key,
          LONGSHOT_GRPC_TLS_CA: pki.ca,
        },
      },
    );
    try {
      const [, port] = await proc.waitForLine(
        /"port":(\d+),"tls":"mutual-tls".*"msg":"decoder service serving"/,
        20_000,
      );
      const address = `127.0.0.1:${port}`;
      const client = pki.certs.client;
      const mutual = grpcClientCredentials({ caFile: pki.ca, certFile: client.cert, keyFile: client.key });
      assert.equal(await checkHealth(address, "longshot.v1.DecoderService", { credentials: mutual }), "SERVING");
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
    const proc = spawnProcess("decoder-service", process.execPath, [
      MAIN,
      "--grpc-tls-cert=/certs/decoder.pem",
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
    const proc = spawnProcess("decoder-service", process.execPath, [MAIN, "--grpc-port=abc"]);
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.match(proc.output(), /grpcPort: flag --grpc-port="abc" is not an integer/);
  });

  it("prints --help with every flag", async () => {
    const proc = spawnProcess("decoder-service", process.execPath, [MAIN, "--help"]);
    const exit = await proc.exited;
    assert.equal(exit.code, 0);
    for (const flag of ["--grpc-port", "--pack", "--execution-provider", "--drain-timeout", "--grpc-tls-cert"])
      assert.ok(proc.output().includes(flag));
  });
});
