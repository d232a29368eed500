import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import { MemoryMonitor, parseProcStatus } from "./memory.js";

describe("parseProcStatus", () => {
  test("reads VmHWM and VmRSS in bytes", () => {
    const text = "Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n";
    assert.deepEqual(parseProcStatus(text), { hwm: 204800 * 1024, rss: 102400 * 1024 });
  });

  test("null when a line is missing", () => {
    assert.equal(parseProcStatus("VmRSS:\t 1 kB\n"), null);
  });
});

describe("MemoryMonitor", () => {
  test("a stage's peak covers memory it touched and freed", async () => {
    const mon = new MemoryMonitor(10);
    if (existsSync("/proc/self/status")) assert.equal(mon.method, "vmhwm");
    mon.enter("small");
    await new Promise((r) => setTimeout(r, 30));
    mon.enter("big");
    let buf: Buffer | undefined = Buffer.alloc(96 * 2 ** 20, 1);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(buf[buf.length - 1], 1);
    buf = undefined;
    mon.enter("after");
    const report = mon.stop();
    assert.deepEqual(Object.keys(report.stages), ["small", "big", "after"]);
    const big = report.stages.big as { startMB: number; peakMB: number };
    const small = report.stages.small as { startMB: number; peakMB: number };
    assert.ok(big.peakMB - big.startMB >= 90, `big stage grew by ${big.peakMB - big.startMB} MB`);
    assert.ok(small.peakMB - small.startMB < 40, `small stage grew by ${small.peakMB - small.startMB} MB`);
    assert.ok(report.peakMB >= big.peakMB);
    assert.equal(report.workerHeapPeakMB, null);
  });

  test("a stage cannot be entered twice", () => {
    const mon = new MemoryMonitor(10);
    mon.enter("a");
    mon.enter("a");
    mon.enter("b");
    assert.throws(() => mon.enter("a"), /stage a entered twice/);
    mon.stop();
  });
});
