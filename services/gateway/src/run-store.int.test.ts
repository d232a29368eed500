/** RunStore against a real nats-server: run records by compare-and-set, and admission slots. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Bus, connectBus, RevisionConflictError } from "@longshot/bus";
import { startServers, type TestServers } from "@longshot/testing";
import { RUN_RECORD_VERSION, type RunRecord } from "./run-record.js";
import { RunStore } from "./run-store.js";

function record(jobId: string): RunRecord {
  return {
    v: RUN_RECORD_VERSION,
    jobId,
    createdAt: new Date().toISOString(),
    pack: { name: "p", version: "1" },
    traceContext: {},
    requestSha256: "0".repeat(64),
    originalRequest: "",
    plan: { levels: [5, 17], interpolation: [], window: { frames: 17, overlap: 4 }, factor: 4 },
    slot: null,
    tasks: {},
    levels: {},
    reruns: {},
    cleanedUp: false,
    terminalEventPublished: false,
  };
}

describe("RunStore", { timeout: 60_000 }, () => {
  let servers: TestServers<{ nats: true }>;
  let bus: Bus;
  let runs: RunStore;

  before(async () => {
    servers = (await startServers({ nats: true })) as TestServers<{ nats: true }>;
    bus = await connectBus({
      servers: servers.nats.url,
      name: "run-store-test",
      ...(servers.nats.user === undefined ? {} : { user: servers.nats.user, pass: servers.nats.pass }),
    });
    runs = await RunStore.open(bus.js, { bucket: "runs-test" });
  });

  after(async () => {
    await bus?.close();
    await servers?.stop();
  });

  it("opens the same bucket from several replicas at once", async () => {
    const stores = await Promise.all([1, 2, 3].map(() => RunStore.open(bus.js, { bucket: "runs-test" })));
    assert.equal(stores.length, 3);
  });

  it("creates a record once and changes it only by compare-and-set", async () => {
    const { revision } = await runs.create(record("j1"));
    await assert.rejects(runs.create(record("j1")), RevisionConflictError);
    const next = { ...record("j1"), cleanedUp: true };
    await runs.compareAndSet(next, revision);
    await assert.rejects(runs.compareAndSet(next, revision), RevisionConflictError);
    assert.equal((await runs.get("j1")).run.cleanedUp, true);
    assert.equal(await runs.find("nope"), undefined);
  });

  it("update re-applies its function when another writer won, so no change is lost", async () => {
    await runs.create(record("j2"));
    const updates = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        runs.update("j2", (r) => ({ next: { ...r, reruns: { ...r.reruns, [`k${i}`]: 1 } }, value: `v${i}` })),
      ),
    );
    // Each caller gets the value its own function returned on the run that was written.
    assert.deepEqual(
      updates.map((u) => u.value),
      ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"],
    );
    const unchanged = await runs.update("j2", (r) => ({ next: null, value: Object.keys(r.reruns).length }));
    assert.equal(unchanged.value, 8);
    assert.equal(unchanged.revision, updates.map((u) => u.revision).sort((a, b) => b - a)[0]);
    assert.deepEqual(Object.keys((await runs.get("j2")).run.reruns).sort(), [
      "k0",
      "k1",
      "k2",
      "k3",
      "k4",
      "k5",
      "k6",
      "k7",
    ]);
  });

  it("admits at most `max` jobs however many claim at once, and frees a slot on release", async () => {
    const max = 3;
    const never = async () => false;
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) => runs.claimSlot(`c${i}`, max, never).then((slot) => ({ id: `c${i}`, slot }))),
    );
    const admitted = claims.filter((c) => c.slot !== undefined);
    assert.equal(admitted.length, max);
    assert.deepEqual(admitted.map((c) => c.slot).sort(), [0, 1, 2]);
    assert.equal((await runs.slotHolders()).length, max);
    const first = admitted[0] as { id: string; slot: number };
    await runs.releaseSlot(first.slot, "someone-else"); // not the holder: no effect
    assert.equal(await runs.claimSlot("late", max, never), undefined);
    await runs.releaseSlot(first.slot, first.id);
    assert.equal(await runs.claimSlot("late", max, never), first.slot);
  });

  it("takes over the slot of a holder that is stale", async () => {
    const max = 3; // all three held after the previous test
    const stale = (await runs.slotHolders())[1] as { slot: number; jobId: string };
    const slot = await runs.claimSlot("newcomer", max, async (holder) => holder === stale.jobId);
    assert.equal(slot, stale.slot);
    assert.ok((await runs.slotHolders()).some((h) => h.jobId === "newcomer" && h.slot === stale.slot));
  });
});
