import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { waitFor } from "./wait.js";

describe("waitFor", () => {
  it("returns the first truthy value of the probe", async () => {
    let n = 0;
    const v = await waitFor("the third poll", () => (++n >= 3 ? { n } : undefined), { intervalMs: 1 });
    assert.deepEqual(v, { n: 3 });
  });

  it("tries a probe that throws again", async () => {
    let n = 0;
    const v = await waitFor(
      "a probe that recovers",
      async () => {
        if (++n < 3) throw new Error("not yet");
        return true;
      },
      { intervalMs: 1 },
    );
    assert.equal(v, true);
  });

  it("names what it waited for and what the last probe returned", async () => {
    await assert.rejects(
      waitFor("the count to reach 2", () => ({ count: 1 }).count === 2, 50),
      /^Error: timed out after 50 ms waiting for the count to reach 2; the last probe returned false$/,
    );
    await assert.rejects(
      waitFor("a value", () => null, { timeoutMs: 30, intervalMs: 5 }),
      /returned null$/,
    );
  });

  it("names the last error, and keeps it as the cause", async () => {
    const boom = new TypeError("boom");
    await assert.rejects(
      waitFor(
        "a probe that fails",
        () => {
          throw boom;
        },
        30,
      ),
      (err: Error) => {
        assert.match(err.message, /waiting for a probe that fails; the last probe threw TypeError: boom$/);
        assert.equal(err.cause, boom);
        return true;
      },
    );
  });
});
