import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { consumerConfig, resolveTopology } from "./topology-config.js";

describe("resolveTopology", () => {
  it("applies defaults: AckWait 30 s, MaxDeliver 5, BackOff starting at AckWait, 2 min dedupe", () => {
    const t = resolveTopology();
    assert.equal(t.ackWaitMs, 30_000);
    assert.equal(t.maxDeliver, 5);
    assert.deepEqual(t.backoffMs, [30_000, 60_000, 120_000, 240_000]);
    assert.equal(t.duplicateWindowMs, 120_000);
    assert.deepEqual(t.maxAckPending, { keyframe: 64, interpolation: 64, decode: 64 });
    const c = consumerConfig(t, "interpolation");
    assert.equal(c.filter_subject, "longshot.tasks.interpolation");
    assert.equal(c.ack_wait, 30e9);
    assert.deepEqual(c.backoff, [30e9, 60e9, 120e9, 240e9]);
    assert.equal(resolveTopology({ maxDeliver: 1 }).backoffMs.length, 0);
    assert.ok(resolveTopology({ ackWaitMs: 300_000, maxDeliver: 8 }).backoffMs.every((b) => b <= 600_000));
  });

  it("names the bad field", () => {
    const bad: Array<[Parameters<typeof resolveTopology>[0], RegExp]> = [
      [{ ackWaitMs: 10 }, /ackWaitMs: must be an integer in \[1000/],
      [{ maxDeliver: 0 }, /maxDeliver/],
      [{ backoffMs: [1000] }, /backoffMs: the first entry \(1000 ms\) must equal ackWaitMs \(30000 ms\)/],
      [{ ackWaitMs: 1000, maxDeliver: 2, backoffMs: [1000, 2000] }, /at most maxDeliver - 1 = 1/],
      [{ maxAckPending: { keyframe: 0 } }, /maxAckPending.keyframe/],
      [{ maxAckPending: { upscale: 3 } as never }, /unknown stage "upscale"/],
      [{ jobsHistory: 65 }, /jobsHistory/],
      [{ storage: "tape" as never }, /storage/],
    ];
    for (const [cfg, re] of bad) {
      assert.throws(
        () => resolveTopology(cfg),
        (err: Error) => err instanceof InvalidArgumentError && re.test(err.message),
      );
    }
  });
});
