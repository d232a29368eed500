import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TestClock } from "./clock.js";

describe("TestClock", () => {
  it("starts at the real time and stands still until advanced", async () => {
    const before = Date.now();
    const clock = new TestClock();
    const start = clock.now();
    assert.ok(start >= before && start <= Date.now());
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(clock.now(), start);
    clock.advance(60_000);
    assert.equal(clock.now(), start + 60_000);
    assert.throws(() => clock.advance(-1), RangeError);
  });

  it("ends a sleep once advanced past its end, not before", async () => {
    const clock = new TestClock();
    let woke = false;
    const sleeping = clock.sleep(60_000).then(() => {
      woke = true;
    });
    clock.advance(59_999);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(woke, false);
    clock.advance(1);
    await sleeping;
    assert.equal(woke, true);
  });

  it("ends a sleep at once when aborted", async () => {
    const clock = new TestClock();
    const ac = new AbortController();
    const sleeping = clock.sleep(60_000, ac.signal);
    ac.abort();
    await sleeping;
    await clock.sleep(60_000, ac.signal);
  });
});
