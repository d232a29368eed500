/**
 * Tests of the images' entry points, run as the images run them (`node deploy/docker/<script>`):
 *
 * - healthcheck.mjs against a real grpc-js server with grpc.health.v1 (grpc-health-check), in plain
 *   text and with mutual TLS (certificates from deploy/tls/gen-dev-certs.sh);
 * - start.mjs: SERVICE picks services/<SERVICE>/dist/main.js (needs `npm run build`), bad values fail.
 *
 * Run: node --test deploy/docker/entrypoints.test.mjs   (part of deploy/check.sh)
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const healthcheck = path.join(here, "healthcheck.mjs");
const start = path.join(here, "start.mjs");

/** Runs `node script args` and resolves { code, stdout, stderr } (never rejects on a non-zero exit). */
function run(script, args, env = {}) {
  return new Promise((resolve) => {
    const clean = { ...process.env };
    for (const k of Object.keys(clean)) if (k.startsWith("LONGSHOT_") || k === "SERVICE") delete clean[k];
    execFile(
      process.execPath,
      [script, ...args],
      { env: { ...clean, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

function listen(server, credentials) {
  return new Promise((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

describe("deploy/docker/healthcheck.mjs", { timeout: 60_000 }, () => {
  const health = new HealthImplementation({ "": "SERVING", "longshot.v1.KeyframeService": "NOT_SERVING" });
  const server = new Server();
  health.addToServer(server);
  let port;

  before(async () => {
    port = await listen(server, ServerCredentials.createInsecure());
  });
  after(() => server.forceShutdown());

  test("SERVING: exit 0", async () => {
    const r = await run(healthcheck, [`--addr=127.0.0.1:${port}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SERVING/);
  });

  test("the address defaults to 127.0.0.1:$LONGSHOT_GRPC_PORT", async () => {
    const r = await run(healthcheck, [], { LONGSHOT_GRPC_PORT: String(port) });
    assert.equal(r.code, 0, r.stderr);
  });

  test("NOT_SERVING (starting or draining): exit 1 naming the status", async () => {
    const r = await run(healthcheck, [`--addr=127.0.0.1:${port}`, "--service=longshot.v1.KeyframeService"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NOT_SERVING/);
    health.setStatus("", "NOT_SERVING");
    try {
      const whole = await run(healthcheck, [`--addr=127.0.0.1:${port}`]);
      assert.equal(whole.code, 1);
    } finally {
      health.setStatus("", "SERVING");
    }
  });

  test("a service the server does not know: exit 1 with NOT_FOUND", async () => {
    const r = await run(healthcheck, [`--addr=127.0.0.1:${port}`, "--service=no.such.Service"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /status 5/);
  });

  test("nothing listening: exit 1 within the timeout", async () => {
    const closed = new Server();
    const freePort = await listen(closed, ServerCredentials.createInsecure());
    closed.forceShutdown();
    const t0 = Date.now();
    const r = await run(healthcheck, [`--addr=127.0.0.1:${freePort}`, "--timeout=1500"]);
    assert.equal(r.code, 1);
    assert.ok(Date.now() - t0 < 10_000, "took too long");
  });

  test("bad arguments: exit 2 with a clear message", async () => {
    assert.match((await run(healthcheck, [])).stderr, /LONGSHOT_GRPC_PORT/);
    assert.equal((await run(healthcheck, ["--addr=nohost"])).code, 2);
    assert.equal((await run(healthcheck, [`--addr=127.0.0.1:${port}`, "--timeout=abc"])).code, 2);
    assert.equal((await run(healthcheck, [`--addr=127.0.0.1:${port}`, "--bogus"])).code, 2);
    const r = await run(healthcheck, [`--addr=127.0.0.1:${port}`, "--tls-cert=/x.pem"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /go together/);
  });
});

describe("deploy/docker/healthcheck.mjs with mutual TLS", { timeout: 60_000 }, () => {
  const certs = mkdtempSync(path.join(tmpdir(), "longshot-healthcheck-"));
  const server = new Server();
  new HealthImplementation({ "": "SERVING" }).addToServer(server);
  let port;

  before(async () => {
    execFileSync(path.join(root, "deploy", "tls", "gen-dev-certs.sh"), [certs], { stdio: "pipe" });
    const file = (f) => readFileSync(path.join(certs, f));
    port = await listen(
      server,
      ServerCredentials.createSsl(
        file("ca.pem"),
        [{ cert_chain: file("keyframe.pem"), private_key: file("keyframe-key.pem") }],
        true,
      ),
    );
  });
  after(() => {
    server.forceShutdown();
    rmSync(certs, { recursive: true, force: true });
  });

  test("with the CA and a client certificate: exit 0", async () => {
    const r = await run(healthcheck, [
      `--addr=127.0.0.1:${port}`,
      `--tls-ca=${certs}/ca.pem`,
      `--tls-cert=${certs}/client.pem`,
      `--tls-key=${certs}/client-key.pem`,
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("TLS files from LONGSHOT_GRPC_TLS_* (as the services get them): exit 0", async () => {
    const r = await run(healthcheck, [], {
      LONGSHOT_GRPC_PORT: String(port),
      LONGSHOT_GRPC_TLS_CA: `${certs}/ca.pem`,
      LONGSHOT_GRPC_TLS_CERT: `${certs}/keyframe.pem`,
      LONGSHOT_GRPC_TLS_KEY: `${certs}/keyframe-key.pem`,
    });
    assert.equal(r.code, 0, r.stderr);
  });

  test("without a client certificate, or without TLS: exit 1", async () => {
    assert.equal((await run(healthcheck, [`--addr=127.0.0.1:${port}`, `--tls-ca=${certs}/ca.pem`])).code, 1);
    assert.equal((await run(healthcheck, [`--addr=127.0.0.1:${port}`, "--timeout=1500"])).code, 1);
  });

  test("a server name the certificate does not carry: exit 1", async () => {
    const r = await run(healthcheck, [
      `--addr=127.0.0.1:${port}`,
      `--tls-ca=${certs}/ca.pem`,
      `--tls-cert=${certs}/client.pem`,
      `--tls-key=${certs}/client-key.pem`,
      "--server-name=decoder",
    ]);
    assert.equal(r.code, 1);
  });
});

describe("deploy/docker/start.mjs", { timeout: 60_000 }, () => {
  test("SERVICE unset or unknown: exit 2 naming the choices", async () => {
    const unset = await run(start, []);
    assert.equal(unset.code, 2);
    assert.match(unset.stderr, /gateway, keyframe, interpolation, decoder; it is not set/);
    const bogus = await run(start, [], { SERVICE: "../gateway" });
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /got "\.\.\/gateway"/);
  });

  for (const service of ["gateway", "keyframe", "interpolation", "decoder"]) {
    test(`SERVICE=${service} runs services/${service}/dist/main.js (--help)`, async (t) => {
      if (!existsSync(path.join(root, "services", service, "dist", "main.js"))) {
        t.skip(`services/${service}/dist/main.js is not built (npm run build)`);
        return;
      }
      const r = await run(start, ["--help"], { SERVICE: service });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: /);
      assert.match(r.stdout, /LONGSHOT_GRPC_PORT/);
    });
  }
});
