import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { findExecutable, freePort, spawnProcess, waitForPort } from "./processes.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("spawnProcess", () => {
  it("captures output and waits for a line", async () => {
    const p = spawnProcess("echoer", process.execPath, [
      "-e",
      "console.log('hello'); setTimeout(() => console.error('READY 42'), 50); setTimeout(() => {}, 60000)",
    ]);
    const m = await p.waitForLine(/^READY (\d+)$/, 5000);
    assert.equal(m[1], "42");
    assert.match(p.output(), /hello/);
    const info = await p.stop();
    assert.equal(info.signal, "SIGTERM");
    assert.ok(p.hasExited);
    assert.equal(alive(p.pid), false);
  });

  it("escalates to SIGKILL when SIGTERM is ignored", async () => {
    const p = spawnProcess("stubborn", process.execPath, [
      "-e",
      "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)",
    ]);
    await p.waitForLine(/^up$/);
    const started = Date.now();
    const info = await p.stop("SIGTERM", 300);
    assert.equal(info.signal, "SIGKILL");
    assert.ok(Date.now() - started < 5000);
  });

  it("reports the output when the process exits before the line appears", async () => {
    const p = spawnProcess("crasher", process.execPath, ["-e", "console.error('fatal: no config'); process.exit(3)"]);
    await assert.rejects(p.waitForLine(/READY/, 5000), /crasher .* exited \(code 3.*fatal: no config/s);
  });

  it("reports a missing binary", async () => {
    const p = spawnProcess("ghost", "/nonexistent/ghost-binary", []);
    await assert.rejects(p.waitForLine(/READY/, 5000), /ghost/);
    await p.exited;
  });

  it("times out naming the pattern", async () => {
    const p = spawnProcess("silent", process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    await assert.rejects(p.waitForLine(/NEVER/, 200), /timed out after 200 ms waiting for \/NEVER\//);
    await p.stop("SIGKILL");
  });
});

describe("ports and executables", () => {
  it("finds a free port and waits for a listener", async () => {
    const port = await freePort();
    assert.ok(port > 0);
    await assert.rejects(
      waitForPort(port, "127.0.0.1", 200),
      /timed out after 200 ms waiting for something to listen on 127\.0\.0\.1:\d+; the last probe threw .*ECONNREFUSED/,
    );
    const server = net.createServer().listen(port, "127.0.0.1");
    await waitForPort(port, "127.0.0.1", 2000);
    server.close();
  });

  it("finds executables on PATH only when they exist", () => {
    assert.ok(findExecutable("node", [process.execPath.replace(/\/node$/, "")]));
    assert.equal(findExecutable("definitely-not-a-binary-xyz"), null);
  });
});
