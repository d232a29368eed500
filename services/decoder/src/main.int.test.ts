import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkHealth, watchHealth } from "@longshot/proto";
import { makeTempDir, removeTempDir, spawnProcess } from "@longshot/testing";

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
    for (const flag of ["--grpc-port", "--pack", "--execution-provider", "--drain-timeout"])
      assert.ok(proc.output().includes(flag));
  });
});
