/**
 * JobStore against a real nats-server's KV bucket.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { IntegrityError, InvalidArgumentError, NotFoundError } from "@longshot/core";
import { Job, JobState } from "@longshot/proto";
import { Kvm } from "@nats-io/kv";
import type { Bus } from "./connect.js";
import { AlreadyExistsError, IllegalTransitionError, RevisionConflictError } from "./errors.js";
import { JobStore } from "./job-store.js";
import { JOBS_BUCKET } from "./names.js";
import { type NatsServers, startNats } from "./test-support.js";
import { ensureTopology } from "./topology.js";

function newJob(id: string, createTime = new Date()): Job {
  return Job.fromPartial({ id, state: JobState.JOB_STATE_QUEUED, createTime, request: { prompt: `prompt of ${id}` } });
}

describe("JobStore (real nats-server KV)", { timeout: 60_000 }, () => {
  let servers: NatsServers;
  let bus: Bus;
  let store: JobStore;

  before(async () => {
    ({ servers, bus } = await startNats());
    await ensureTopology(bus.js, { jobsHistory: 5 });
    store = await JobStore.open(bus.js);
  });
  after(async () => {
    await bus?.close();
    await servers?.stop();
  });

  it("creates a job once; a second create with the same id fails with AlreadyExistsError", async () => {
    const created = await store.create(newJob("c1"));
    assert.ok(created.revision > 0);
    assert.ok(created.job.updateTime instanceof Date);
    await assert.rejects(store.create(newJob("c1")), AlreadyExistsError);
    const got = await store.get("c1");
    assert.equal(got.revision, created.revision);
    assert.equal(got.job.request?.prompt, "prompt of c1");
    assert.equal(await store.find("missing"), undefined);
    await assert.rejects(store.get("missing"), NotFoundError);
    await assert.rejects(
      store.create({ ...newJob("c2"), state: JobState.JOB_STATE_RUNNING }),
      /must be JOB_STATE_QUEUED/,
    );
    await assert.rejects(store.create(newJob("bad id!")), InvalidArgumentError);
  });

  it("applies two concurrent updates both (compare-and-set with retry) and refuses a stale revision", async () => {
    const { revision: r0 } = await store.create(newJob("cas1"));
    // Both updaters read the same revision first, so one of them must retry.
    let reads = 0;
    let open = () => {};
    const gate = { promise: new Promise<void>((r) => (open = r)), resolve: () => open() };
    const update = (steps: number) =>
      store.update("cas1", async (job) => {
        reads++;
        if (reads === 2) gate.resolve();
        await gate.promise;
        return { ...job, lastSequence: job.lastSequence + BigInt(steps) };
      });
    const [a, b] = await Promise.all([update(1), update(10)]);
    assert.equal(reads, 3, "one updater re-read after losing the race");
    const final = await store.get("cas1");
    assert.equal(final.job.lastSequence, 11n);
    assert.equal(final.revision, Math.max(a.revision, b.revision));

    await assert.rejects(
      store.compareAndSet("cas1", { ...final.job, lastSequence: 99n }, r0),
      (err: Error) => err instanceof RevisionConflictError && /revision \d+ is stale/.test(err.message),
    );
    const ok = await store.compareAndSet("cas1", { ...final.job, lastSequence: 12n }, final.revision);
    assert.equal(ok.job.lastSequence, 12n);
    // null from the updater leaves the record alone
    const same = await store.update("cas1", () => null);
    assert.equal(same.revision, ok.revision);
  });

  it("gives up with RevisionConflictError after maxUpdateAttempts conflicts", async () => {
    const small = await JobStore.open(bus.js, { maxUpdateAttempts: 2 });
    await small.create(newJob("hot1"));
    await assert.rejects(
      small.update("hot1", async (job) => {
        await store.update("hot1", (j) => ({ ...j, lastSequence: j.lastSequence + 1n })); // someone else wins every time
        return { ...job, lastSequence: 1000n };
      }),
      (err: Error) => err instanceof RevisionConflictError && /gave up after 2/.test(err.message),
    );
  });

  it("refuses illegal state transitions and allows the lifecycle", async () => {
    await store.create(newJob("life1"));
    await assert.rejects(
      store.update("life1", (j) => ({ ...j, state: JobState.JOB_STATE_SUCCEEDED })),
      (err: Error) =>
        err instanceof IllegalTransitionError && /JOB_STATE_QUEUED -> JOB_STATE_SUCCEEDED/.test(err.message),
    );
    await store.update("life1", (j) => ({ ...j, state: JobState.JOB_STATE_RUNNING }));
    await store.update("life1", (j) => ({ ...j, state: JobState.JOB_STATE_SUCCEEDED }));
    await assert.rejects(
      store.update("life1", (j) => ({ ...j, state: JobState.JOB_STATE_RUNNING })),
      (err: Error) =>
        err instanceof IllegalTransitionError && /JOB_STATE_SUCCEEDED -> JOB_STATE_RUNNING/.test(err.message),
    );
    await assert.rejects(
      store.update("life1", (j) => ({ ...j, state: JobState.JOB_STATE_UNSPECIFIED })),
      IllegalTransitionError,
    );
    await assert.rejects(
      store.update("life1", (j) => ({ ...j, id: "other" })),
      /must keep the id life1/,
    );
    assert.equal((await store.get("life1")).job.state, JobState.JOB_STATE_SUCCEEDED);
    await store.create(newJob("life2"));
    await store.update("life2", (j) => ({ ...j, state: JobState.JOB_STATE_CANCELLED }));
  });

  it("lists jobs newest first, a page at a time, optionally by state", async () => {
    const list = await JobStore.open(bus.js, { bucket: JOBS_BUCKET });
    // A fresh prefix of ids: other tests' jobs are older (create time 2000-01-01 + i s is older still),
    // so give these jobs future create times to put them on the first pages.
    const base = Date.now() + 3_600_000;
    for (let i = 0; i < 7; i++) await list.create(newJob(`page${i}`, new Date(base + i * 1000)));
    await list.update("page2", (j) => ({ ...j, state: JobState.JOB_STATE_RUNNING }));
    await list.update("page5", (j) => ({ ...j, state: JobState.JOB_STATE_RUNNING }));

    const p1 = await list.list({ pageSize: 3 });
    assert.deepEqual(
      p1.jobs.map((j) => j.job.id),
      ["page6", "page5", "page4"],
    );
    assert.notEqual(p1.nextPageToken, "");
    // A job created between pages does not shift the next page.
    await list.create(newJob("page7", new Date(base + 7000)));
    const p2 = await list.list({ pageSize: 3, pageToken: p1.nextPageToken });
    assert.deepEqual(
      p2.jobs.map((j) => j.job.id),
      ["page3", "page2", "page1"],
    );
    let token = p2.nextPageToken;
    const rest: string[] = [];
    while (token !== "") {
      const p = await list.list({ pageSize: 3, pageToken: token });
      rest.push(...p.jobs.map((j) => j.job.id));
      token = p.nextPageToken;
    }
    assert.equal(rest[0], "page0");
    assert.ok(!rest.some((id) => id.startsWith("page") && id !== "page0"), "no page job twice");

    const running = await list.list({ state: JobState.JOB_STATE_RUNNING, pageSize: 1 });
    assert.deepEqual(
      running.jobs.map((j) => j.job.id),
      ["page5"],
    );
    const running2 = await list.list({
      state: JobState.JOB_STATE_RUNNING,
      pageSize: 1,
      pageToken: running.nextPageToken,
    });
    assert.deepEqual(
      running2.jobs.map((j) => j.job.id),
      ["page2"],
    );
    assert.equal(running2.nextPageToken, "");

    await assert.rejects(list.list({ pageToken: "garbage!" }), /page_token: is not a token returned by ListJobs/);
    await assert.rejects(list.list({ pageToken: running.nextPageToken }), /issued for another state filter/);
    await assert.rejects(list.list({ pageSize: 0 }), /page_size/);
  });

  it("watches a job: the current value, then each change, until aborted", async () => {
    await store.create(newJob("watch1"));
    const ac = new AbortController();
    const seen: JobState[] = [];
    const watching = (async () => {
      for await (const { job } of store.watch("watch1", { signal: ac.signal })) {
        seen.push(job.state);
        if (seen.length === 3) ac.abort();
      }
    })();
    await store.update("watch1", (j) => ({ ...j, state: JobState.JOB_STATE_RUNNING }));
    await store.update("watch1", (j) => ({
      ...j,
      state: JobState.JOB_STATE_FAILED,
      error: { code: "INTERNAL", reason: "x", stage: 0 },
    }));
    await watching;
    assert.deepEqual(seen, [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_FAILED]);
  });

  it("binds an idempotency key to one job, even when two callers race", async () => {
    const results = await Promise.all([
      store.claimIdempotencyKey("client-key-1", "idemA"),
      store.claimIdempotencyKey("client-key-1", "idemB"),
    ]);
    const winners = results.filter((r) => r.claimed);
    assert.equal(winners.length, 1);
    assert.equal(results[0]?.jobId, results[1]?.jobId);
    assert.equal(await store.lookupIdempotencyKey("client-key-1"), winners[0]?.jobId);
    assert.equal(await store.lookupIdempotencyKey("never-used"), undefined);
    await assert.rejects(store.claimIdempotencyKey("", "x"), /idempotency_key/);
    await assert.rejects(store.claimIdempotencyKey("k".repeat(129), "x"), /idempotency_key/);
  });

  it("reports a corrupted record as IntegrityError naming the job", async () => {
    const kv = await new Kvm(bus.js).open(JOBS_BUCKET);
    await kv.put("job.corrupt1", new Uint8Array([0xff, 0xff, 0xff]));
    await assert.rejects(
      store.get("corrupt1"),
      (err: Error) => err instanceof IntegrityError && /job corrupt1/.test(err.message),
    );
    await kv.put("job.corrupt2", Job.encode(newJob("someone-else")).finish());
    await assert.rejects(store.get("corrupt2"), /has id "someone-else"/);
    await kv.put("job.not.an.id", new Uint8Array([1]));
    // Listing skips unreadable records and foreign keys instead of failing.
    const ids = (await store.list({ pageSize: 1000 })).jobs.map((j) => j.job.id);
    assert.ok(ids.includes("c1") && !ids.some((id) => id.startsWith("corrupt") || id.includes(".")));
  });

  it("fails to open a bucket that does not exist with NotFoundError", async () => {
    await assert.rejects(JobStore.open(bus.js, { bucket: "nope" }), NotFoundError);
  });
});
