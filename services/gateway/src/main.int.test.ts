import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkHealth, watchHealth } from "@longshot/proto";
import { spawnProcess, startServers, type TestServers } from "@longshot/testing";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const TINY_PACK = fileURLToPath(new URL("../../../libs/runtime/fixtures/tiny-pack", import.meta.url));

describe("gateway process", { timeout: 90_000 }, () => {
  let servers: TestServers<{ nats: true; s3: true }>;
  before(async () => {
    servers = (await startServers({ nats: true, s3: true })) as TestServers<{ nats: true; s3: true }>;
  });
  after(async () => {
    await servers?.stop();
  });

  it("starts from flags and environment, prints its configuration without secrets, serves, and drains on SIGTERM", async () => {
    const proc = spawnProcess(
      "gateway",
      process.execPath,
      [
        MAIN,
        "--grpc-host=127.0.0.1",
        "--grpc-port=0",
        "--http-port=0",
        `--pack=${TINY_PACK}`,
        "--log-format=json",
        "--drain-timeout=2s",
      ],
      {
        env: {
          ...process.env,
          LONGSHOT_NATS_URL: servers.nats.url,
          ...(servers.nats.user === undefined
            ? {}
            : { LONGSHOT_NATS_USER: servers.nats.user, LONGSHOT_NATS_PASSWORD: servers.nats.pass }),
          LONGSHOT_S3_ENDPOINT: servers.s3.url,
          LONGSHOT_S3_ACCESS_KEY: servers.s3.accessKey,
          LONGSHOT_S3_SECRET_KEY: "very-secret-value",
        },
      },
    );
    try {
      await proc.waitForLine(/configuration:/, 20_000);
      const [, port] = await proc.waitForLine(/"port":(\d+).*"msg":"gateway serving"/, 30_000);
      assert.ok(!proc.output().includes("very-secret-value"), "the S3 secret is not printed");
      const address = `127.0.0.1:${port}`;
      assert.equal(await checkHealth(address), "SERVING");

      const statuses: string[] = [];
      for await (const s of watchHealth(address, "longshot.v1.VideoService")) {
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
    }
  });

  it("exits 1 with a message naming the bad flag", async () => {
    const proc = spawnProcess("gateway", process.execPath, [MAIN, "--grpc-port=abc"]);
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.match(proc.output(), /grpcPort: flag --grpc-port="abc" is not an integer/);
  });

  it("prints --help with every flag", async () => {
    const proc = spawnProcess("gateway", process.execPath, [MAIN, "--help"]);
    const exit = await proc.exited;
    assert.equal(exit.code, 0);
    for (const flag of [
      "--grpc-port",
      "--pack",
      "--max-prompt-chars",
      "--max-steps",
      "--drain-timeout",
      "--nats-url",
      "--s3-endpoint",
      "--max-active-jobs",
      "--window-frames",
      "--window-overlap",
      "--presign-expiry",
      "--http-port",
      "--http-max-body-bytes",
    ])
      assert.ok(proc.output().includes(flag), flag);
  });
});
