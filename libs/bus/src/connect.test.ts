import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, InvalidArgumentError, loadConfig, UnavailableError } from "@longshot/core";
import { freePort } from "@longshot/testing";
import { busConfig, busOptionsFromConfig, connectBus, natsConnectOptions, supportsTermReason } from "./connect.js";

describe("connectBus options", () => {
  it("reconnects forever and splits server lists", () => {
    const o = natsConnectOptions({ servers: "nats://a:4222, nats://b:4222", name: "gw" });
    assert.deepEqual(o.servers, ["nats://a:4222", "nats://b:4222"]);
    assert.equal(o.maxReconnectAttempts, -1);
    assert.equal(o.name, "gw");
  });

  it("takes exactly one way to authenticate and names what is wrong", () => {
    const base = { servers: "nats://a:4222", name: "x" };
    const bad: Array<[Parameters<typeof natsConnectOptions>[0], RegExp]> = [
      [{ ...base, user: "u", pass: "p", token: "t" }, /auth: give one way to authenticate, got user\/pass and token/],
      [{ ...base, user: "u" }, /pass: user and pass go together/],
      [{ ...base, nkeySeed: "not-a-seed" }, /nkeySeed: is not an NKey seed/],
      [{ ...base, tls: { certFile: "c.pem" } }, /tls: certFile and keyFile go together/],
      [{ servers: " , ", name: "x" }, /servers: lists no NATS server/],
      [{ servers: "nats://a:1", name: "" }, /name: must be a non-empty/],
    ];
    for (const [opts, re] of bad) {
      assert.throws(
        () => natsConnectOptions(opts),
        (err: Error) => err instanceof InvalidArgumentError && re.test(err.message),
      );
    }
    assert.throws(
      () => natsConnectOptions({ ...base, credsFile: "/nonexistent/x.creds" }),
      (err: Error) => err instanceof ConfigError && /credsFile: cannot read \/nonexistent\/x.creds/.test(err.message),
    );
    const dir = mkdtempSync(path.join(tmpdir(), "bus-"));
    const seedFile = path.join(dir, "seed");
    writeFileSync(seedFile, "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU\n");
    assert.ok(natsConnectOptions({ ...base, nkeySeedFile: seedFile }).authenticator);
    assert.deepEqual(natsConnectOptions({ ...base, tls: true }).tls, {});
  });

  it("loads from the environment with busConfig", () => {
    const values = loadConfig(busConfig, {
      env: {
        LONGSHOT_NATS_URL: "nats://n1:4222,nats://n2:4222",
        LONGSHOT_NATS_USER: "svc",
        LONGSHOT_NATS_PASSWORD: "pw",
      },
      argv: [],
    });
    const o = busOptionsFromConfig(values, "keyframe-1");
    assert.equal(o.servers, "nats://n1:4222,nats://n2:4222");
    assert.equal(o.user, "svc");
    assert.throws(() => loadConfig(busConfig, { env: { LONGSHOT_NATS_URL: "http://x" }, argv: [] }), /natsUrl/);
  });

  it("fails with UnavailableError naming the address when no server answers", async () => {
    const port = await freePort();
    await assert.rejects(
      connectBus({ servers: `nats://127.0.0.1:${port}`, name: "t", timeoutMs: 500 }),
      (err: Error) => err instanceof UnavailableError && err.message.includes(`127.0.0.1:${port}`),
    );
  });

  it("knows which servers take a TERM reason", () => {
    assert.equal(supportsTermReason("2.9.10"), false);
    assert.equal(supportsTermReason("2.10.0"), true);
    assert.equal(supportsTermReason("2.12.1"), true);
    assert.equal(supportsTermReason(undefined), false);
  });
});
