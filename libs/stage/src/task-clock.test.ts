import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TaskClock } from "./task-clock.js";

function ms(d: { seconds: bigint; nanos: number } | undefined): number {
  assert.ok(d !== undefined);
  return Number(d.seconds) * 1000 + d.nanos / 1e6;
}

describe("TaskClock", () => {
  it("splits a task's time into load, compute and store", async () => {
    const clock = new TaskClock();
    await clock.time("compute", () => new Promise((r) => setTimeout(r, 30)));
    await clock.time("store", async () => {});
    const t = clock.timings();
    assert.ok(t.startTime instanceof Date && t.endTime instanceof Date && t.endTime >= t.startTime);
    assert.ok((t.compute?.nanos ?? 0) >= 25e6 || (t.compute?.seconds ?? 0n) > 0n);
    assert.equal(t.load?.seconds, 0n);
    assert.equal(t.load?.nanos, 0);
  });

  it("adds up repeated phases, counts a phase that throws, and passes values and errors through", async () => {
    const clock = new TaskClock();
    assert.equal(await clock.time("load", () => new Promise<number>((r) => setTimeout(() => r(7), 20))), 7);
    await clock.time("load", () => new Promise((r) => setTimeout(r, 20)));
    await assert.rejects(
      clock.time("store", () => new Promise((_, reject) => setTimeout(() => reject(new Error("disk full")), 20))),
      /disk full/,
    );
    const t = clock.timings();
    assert.ok(ms(t.load) >= 35, `load ${ms(t.load)} ms`);
    assert.ok(ms(t.store) >= 15, `store ${ms(t.store)} ms`);
    assert.equal(ms(t.compute), 0);
  });
});
