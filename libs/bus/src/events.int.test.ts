/**
 * Job events: gapless numbering under concurrent publishers, replay from a sequence, then live.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { JobEvent, Stage } from "@longshot/proto";
import type { Bus } from "./connect.js";
import { isTerminalEvent, publishEvent, replayEvents } from "./events.js";
import { EVENTS_STREAM, eventSubject } from "./names.js";
import { delay, type NatsServers, startNats } from "./test-support.js";
import { ensureTopology } from "./topology.js";

function step(n: number): JobEvent {
  return JobEvent.fromPartial({
    event: { $case: "stepProgress", value: { stage: Stage.STAGE_KEYFRAME, step: n, total: 30 } },
  });
}

async function collect(it: AsyncIterable<JobEvent>, n: number): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of it) {
    out.push(e);
    if (out.length === n) break;
  }
  return out;
}

describe("job events (real nats-server)", { timeout: 60_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;

  before(async () => {
    ({ servers, bus } = await startNats());
    await ensureTopology(bus.js);
  });
  after(async () => {
    await bus?.close();
    await servers?.stop();
  });

  it("numbers a job's events 1, 2, 3 … without gaps while several publishers race", async () => {
    const published = await Promise.all(
      Array.from({ length: 20 }, (_, i) => publishEvent(bus.js, "race1", step(i + 1))),
    );
    const seqs = published.map((p) => p.sequence).sort((a, b) => Number(a - b));
    assert.deepEqual(
      seqs,
      Array.from({ length: 20 }, (_, i) => BigInt(i + 1)),
    );
    assert.ok(published.every((p) => p.event.jobId === "race1" && p.event.time instanceof Date));
    // Another job's numbering is independent.
    assert.equal((await publishEvent(bus.js, "race2", step(1))).sequence, 1n);
  });

  it("drops a republished event with the same msgId and returns the first one", async () => {
    const a = await publishEvent(bus.js, "dup1", step(1), { msgId: "dup1/keyframe/step1" });
    const b = await publishEvent(bus.js, "dup1", step(1), { msgId: "dup1/keyframe/step1" });
    assert.equal(b.duplicate, true);
    assert.equal(b.sequence, a.sequence);
    assert.equal(b.streamSequence, a.streamSequence);
    const c = await publishEvent(bus.js, "dup1", step(2));
    assert.equal(c.sequence, 2n);
  });

  it("replays from a given sequence, then follows live events, and stops after the terminal event", async () => {
    for (let i = 1; i <= 5; i++) await publishEvent(bus.js, "replay1", step(i));
    const it = replayEvents(bus.js, "replay1", 3n);
    const next = async () => {
      const r = await it.next();
      return r.done ? "done" : r.value.sequence;
    };
    assert.deepEqual([await next(), await next(), await next()], [3n, 4n, 5n]);
    // Live: events published after the watcher caught up.
    const pending = next();
    await delay(100);
    await publishEvent(bus.js, "replay1", step(6));
    assert.equal(await pending, 6n);
    await publishEvent(
      bus.js,
      "replay1",
      JobEvent.fromPartial({ event: { $case: "completed", value: { artifacts: [] } } }),
    );
    await publishEvent(bus.js, "replay1", step(8)); // after the terminal event: not delivered
    assert.equal(await next(), 7n);
    assert.equal(await next(), "done"); // returned by itself after `completed`
  });

  it("resumes after the newest event (from = last + 1) with only new events, and 0 means from the start", async () => {
    for (let i = 1; i <= 3; i++) await publishEvent(bus.js, "resume1", step(i));
    const ac = new AbortController();
    const got: bigint[] = [];
    const watching = (async () => {
      for await (const e of replayEvents(bus.js, "resume1", 4n, { signal: ac.signal })) {
        got.push(e.sequence);
        if (got.length === 1) ac.abort();
      }
    })();
    await delay(200);
    await publishEvent(bus.js, "resume1", step(4));
    await watching;
    assert.deepEqual(got, [4n]);
    const all = await collect({ [Symbol.asyncIterator]: () => replayEvents(bus.js, "resume1", 0) }, 4);
    assert.deepEqual(
      all.map((e) => e.sequence),
      [1n, 2n, 3n, 4n],
    );
  });

  it("skips an undecodable event on the subject and keeps going", async () => {
    await publishEvent(bus.js, "junk1", step(1));
    await bus.js.publish(eventSubject("junk1"), new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    await publishEvent(bus.js, "junk1", step(2));
    const got = await collect({ [Symbol.asyncIterator]: () => replayEvents(bus.js, "junk1", 1) }, 2);
    assert.deepEqual(
      got.map((e) => e.sequence),
      [1n, 2n],
    );
    assert.equal((await bus.jsm.streams.info(EVENTS_STREAM)).config.max_msgs_per_subject, 100_000);
  });

  it("rejects bad input naming the field", async () => {
    await assert.rejects(publishEvent(bus.js, "bad.id", step(1)), /jobId: "bad.id" is not a valid job id/);
    await assert.rejects(publishEvent(bus.js, "ok1", JobEvent.fromPartial({})), /event.event: is empty/);
    await assert.rejects(
      publishEvent(bus.js, "ok1", { ...step(1), jobId: "other" }),
      /event.job_id: is "other" but the event is published for job ok1/,
    );
    assert.equal(isTerminalEvent(step(1)), false);
  });
});
