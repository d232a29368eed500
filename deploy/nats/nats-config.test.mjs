/**
 * Checks deploy/nats against a real nats-server (the Debian package, or NATS_SERVER_BIN):
 *
 * - nats.conf and nats-tls.conf parse (`nats-server -t`; the 2.10+ `sync_interval` line is dropped for
 *   older servers, which do not know it);
 * - the users of accounts.conf can do what their service needs, through @longshot/bus: the gateway sets
 *   the topology up and publishes tasks, a stage pulls and acks its own tasks, publishes its results,
 *   events and dead letters, reads job records and hears cancel notices;
 * - and cannot do what they must not: a stage pulling another stage's tasks, enqueueing tasks, publishing
 *   another stage's results; anyone deleting or purging streams; a wrong password;
 * - TLS: with certificates from deploy/tls/gen-dev-certs.sh, nats-tls.conf accepts a client with a
 *   certificate and refuses one without.
 *
 * Run: node --test deploy/nats/nats-config.test.mjs   (after `npm run build`; part of deploy/check.sh)
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { connectBus, ensureTopology } from "@longshot/bus";
import { findNatsServer, freePort, makeTempDir, removeTempDir, spawnProcess, waitForPort } from "@longshot/testing";
import { Kvm } from "@nats-io/kv";

const here = path.dirname(fileURLToPath(import.meta.url));
const deployDir = path.dirname(here);
const USERS = ["sys", "admin", "gateway", "keyframe", "interpolation", "decoder"];
const passwords = Object.fromEntries(USERS.map((u) => [u, `pw${u}${Math.random().toString(36).slice(2, 10)}`]));
const passwordEnv = Object.fromEntries(USERS.map((u) => [`LONGSHOT_NATS_${u.toUpperCase()}_PASSWORD`, passwords[u]]));
const enc = new TextEncoder();
const dec = new TextDecoder();

const natsBin = findNatsServer();
const natsVersion = /v?(\d+)\.(\d+)\.(\d+)/.exec(execFileSync(natsBin, ["--version"], { encoding: "utf8" }));
const hasSyncInterval = natsVersion !== null && (Number(natsVersion[1]) > 2 || Number(natsVersion[2]) >= 10);

/** Copies deploy/nats/*.conf to `dir`, pointing the JetStream store and /certs at `dir`. */
function stageConfig(dir, certsDir) {
  for (const f of ["nats.conf", "nats-tls.conf", "jetstream.conf", "accounts.conf"]) {
    let text = readFileSync(path.join(here, f), "utf8");
    text = text.replaceAll("/data/jetstream", path.join(dir, "jetstream"));
    if (certsDir !== undefined) text = text.replaceAll("/certs/", `${certsDir}/`);
    if (!hasSyncInterval) text = text.replace(/^\s*sync_interval:.*$/m, "");
    writeFileSync(path.join(dir, f), text);
  }
}

/** Starts nats-server with `conf` (in `dir`) on free ports; returns the client URL and the process. */
async function startServer(dir, conf, scheme = "nats") {
  const [port, httpPort] = [await freePort(), await freePort()];
  const proc = spawnProcess(
    "nats-server",
    natsBin,
    ["-c", path.join(dir, conf), "-a", "127.0.0.1", "-p", String(port), "-m", String(httpPort)],
    { env: { ...process.env, ...passwordEnv }, stdinPipe: false },
  );
  await waitForPort(port).catch((err) => {
    throw new Error(`nats-server did not start with ${conf}:\n${proc.output()}`, { cause: err });
  });
  return { url: `${scheme}://127.0.0.1:${port}`, proc };
}

async function connectAs(url, user, extra = {}) {
  const bus = await connectBus({ servers: url, name: `deploy-test-${user}`, user, pass: passwords[user], ...extra });
  return watchViolations(bus);
}

/** Collects the permission violations the server reports on `bus`'s connection. */
function watchViolations(bus) {
  const seen = [];
  void (async () => {
    for await (const st of bus.nc.status()) {
      if (st.type === "error" && /permission/i.test(String(st.error?.message))) seen.push(String(st.error.message));
    }
  })().catch(() => {});
  bus.violations = seen;
  return bus;
}

/**
 * Asserts that `promise` fails and that the server reported a permissions violation for `subject` on
 * `bus` (a denied request may surface as a timeout or missed heartbeats, so the error alone proves little).
 */
async function assertDenied(what, bus, subject, promise) {
  await assert.rejects(promise, Error, `${what}: should be denied`);
  const deadline = Date.now() + 2000;
  while (!bus.violations.some((v) => v.includes(subject)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(
    bus.violations.some((v) => v.includes(subject)),
    `${what}: no permissions violation for ${subject} (seen: ${JSON.stringify(bus.violations)})`,
  );
}

/** A pull from `consumer` of LONGSHOT_TASKS that fails when nothing arrives. */
async function pullOne(bus, consumer) {
  const c = await bus.js.consumers.get("LONGSHOT_TASKS", consumer);
  const m = await c.next({ expires: 1500 });
  if (m === null) throw new Error(`no message from ${consumer}`);
  return m;
}

describe("deploy/nats configuration", { timeout: 120_000 }, () => {
  const dir = makeTempDir("deploy-nats");
  const certs = path.join(dir, "certs");
  let server;
  const buses = [];

  before(async () => {
    execFileSync(path.join(deployDir, "tls", "gen-dev-certs.sh"), [certs], { stdio: "pipe" });
    stageConfig(dir, certs);
    server = await startServer(dir, "nats.conf");
  });

  after(async () => {
    for (const b of buses) await b.close().catch(() => {});
    await server?.proc.stop();
    removeTempDir(dir);
  });

  test("nats.conf and nats-tls.conf parse", () => {
    for (const conf of ["nats.conf", "nats-tls.conf"]) {
      const r = spawnSync(natsBin, ["-c", path.join(dir, conf), "-t"], {
        env: { ...process.env, ...passwordEnv },
        encoding: "utf8",
      });
      assert.equal(r.status, 0, `nats-server -t ${conf}:\n${r.stdout}${r.stderr}`);
      assert.match(`${r.stdout}${r.stderr}`, /is valid/);
    }
  });

  test("a missing password stops the server from starting", () => {
    const env = { ...process.env, ...passwordEnv };
    delete env.LONGSHOT_NATS_KEYFRAME_PASSWORD;
    assert.throws(
      () => execFileSync(natsBin, ["-c", path.join(dir, "nats.conf"), "-t"], { env, stdio: "pipe" }),
      (err) => /LONGSHOT_NATS_KEYFRAME_PASSWORD/.test(String(err.stderr)),
    );
  });

  test("a wrong password is refused", async () => {
    await assert.rejects(
      connectBus({ servers: server.url, name: "deploy-test-wrong", user: "keyframe", pass: "not-the-password" }),
      /auth|authorization/i,
    );
  });

  test("users do what their service needs, and no more", async () => {
    const gateway = await connectAs(server.url, "gateway");
    buses.push(gateway);
    // The gateway owns the topology (ensureTopology creates streams, consumers and the KV bucket).
    await ensureTopology(gateway.js, { ackWaitMs: 5000, maxDeliver: 3 });
    const admin = await connectAs(server.url, "admin");
    buses.push(admin);
    // Results stream: created here when this build of @longshot/bus does not create it yet.
    const streams = [];
    for await (const s of admin.jsm.streams.list()) streams.push(s.config.name);
    if (!streams.includes("LONGSHOT_RESULTS")) {
      await admin.jsm.streams.add({ name: "LONGSHOT_RESULTS", subjects: ["longshot.results.>"] });
    }

    await gateway.js.publish("longshot.tasks.keyframe", enc.encode("kf-1"), { msgID: "kf-1" });
    await gateway.js.publish("longshot.tasks.interpolation", enc.encode("in-1"), { msgID: "in-1" });
    const kvGateway = await new Kvm(gateway.js).open("longshot-jobs");
    await kvGateway.create("job.j1", enc.encode("queued"));
    // The gateway's own bucket of run records (services/gateway/src/run-store.ts), created on first use.
    const runs = await new Kvm(gateway.js).create("longshot-runs", { history: 1 });
    await runs.create("run.j1", enc.encode("planned"));
    assert.equal(dec.decode((await runs.get("run.j1"))?.value ?? new Uint8Array()), "planned");

    const keyframe = await connectAs(server.url, "keyframe");
    buses.push(keyframe);
    const cancels = keyframe.nc.subscribe("longshot.cancel.>", { max: 1 });
    await keyframe.nc.flush();

    // keyframe may not take interpolation's tasks; the task stays for interpolation.
    await assertDenied(
      "keyframe pulling from consumer interpolation",
      keyframe,
      "$JS.API.CONSUMER.MSG.NEXT.LONGSHOT_TASKS.interpolation",
      pullOne(keyframe, "interpolation"),
    );

    const own = await keyframe.js.consumers.get("LONGSHOT_TASKS", "keyframe");
    const task = await own.next({ expires: 3000 });
    assert.ok(task, "keyframe got no task from its consumer");
    assert.equal(dec.decode(task.data), "kf-1");
    assert.equal(await task.ackAck(), true, "keyframe's ack was not confirmed");

    await keyframe.js.publish("longshot.results.keyframe", enc.encode("done"), { msgID: "r-kf-1" });
    await keyframe.js.publish("longshot.events.j1", enc.encode("stage_completed"));
    await keyframe.js.publish("longshot.dlq.keyframe", enc.encode("dead letter"));
    const kvKeyframe = await new Kvm(keyframe.js).open("longshot-jobs");
    assert.equal(dec.decode((await kvKeyframe.get("job.j1"))?.value ?? new Uint8Array()), "queued");

    gateway.nc.publish("longshot.cancel.j1", enc.encode("cancelled by request"));
    for await (const m of cancels) assert.equal(m.subject, "longshot.cancel.j1");

    await assertDenied(
      "keyframe enqueueing a task",
      keyframe,
      "longshot.tasks.decode",
      keyframe.js.publish("longshot.tasks.decode", enc.encode("x"), { timeout: 1500 }),
    );
    await assertDenied(
      "keyframe publishing decode's result",
      keyframe,
      "longshot.results.decode",
      keyframe.js.publish("longshot.results.decode", enc.encode("x"), { timeout: 1500 }),
    );
    await assertDenied(
      "keyframe writing the gateway's run records",
      keyframe,
      "$KV.longshot-runs.run.j1",
      (async () => {
        const kv = await new Kvm(keyframe.js).open("longshot-runs");
        await kv.put("run.j1", enc.encode("tampered"), { timeout: 1500 });
      })(),
    );
    await assertDenied(
      "keyframe purging the task queue",
      keyframe,
      "$JS.API.STREAM.PURGE.LONGSHOT_TASKS",
      keyframe.jsm.streams.purge("LONGSHOT_TASKS"),
    );
    await assertDenied(
      "the gateway deleting the events stream",
      gateway,
      "$JS.API.STREAM.DELETE.LONGSHOT_EVENTS",
      gateway.jsm.streams.delete("LONGSHOT_EVENTS"),
    );

    const interpolation = await connectAs(server.url, "interpolation");
    buses.push(interpolation);
    const ic = await interpolation.js.consumers.get("LONGSHOT_TASKS", "interpolation");
    const itask = await ic.next({ expires: 3000 });
    assert.ok(itask, "interpolation lost its task (did keyframe take it?)");
    assert.equal(dec.decode(itask.data), "in-1");
    assert.equal(await itask.ackAck(), true);

    const decoder = await connectAs(server.url, "decoder");
    buses.push(decoder);
    await decoder.js.publish("longshot.results.decode", enc.encode("video"), { msgID: "r-dec-1" });
    await assertDenied(
      "decoder pulling from consumer keyframe",
      decoder,
      "$JS.API.CONSUMER.MSG.NEXT.LONGSHOT_TASKS.keyframe",
      pullOne(decoder, "keyframe"),
    );

    // The gateway reads every result as the coordinator; operators (admin) may delete streams.
    const results = await admin.jsm.streams.info("LONGSHOT_RESULTS");
    assert.equal(results.state.messages, 2);
    await admin.jsm.streams.delete("LONGSHOT_DLQ");
  });

  test("TLS: nats-tls.conf requires a client certificate from the CA", async () => {
    const tls = await startServer(dir, "nats-tls.conf", "tls");
    try {
      const bus = await connectAs(tls.url, "keyframe", {
        tls: { caFile: `${certs}/ca.pem`, certFile: `${certs}/keyframe.pem`, keyFile: `${certs}/keyframe-key.pem` },
      });
      await bus.nc.flush();
      await bus.close();
      await assert.rejects(connectAs(tls.url, "keyframe", { tls: { caFile: `${certs}/ca.pem` }, timeoutMs: 2000 }));
    } finally {
      await tls.proc.stop();
    }
  });
});
