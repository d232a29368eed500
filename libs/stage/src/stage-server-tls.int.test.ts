/**
 * The stage services' gRPC server over TLS, for real: a throwaway CA with server and client
 * certificates made by openssl, stageKitConfig loaded from LONGSHOT_GRPC_TLS_* as a service loads it,
 * startStageServer (no queue worker, so no NATS), and grpc.health.v1 checks from clients with and
 * without the CA and a client certificate. Also the settings that must stop the start.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createLogger, loadConfig } from "@longshot/core";
import {
  type ChannelCredentials,
  checkHealth,
  defineService,
  GrpcCallError,
  GrpcTlsError,
  grpcClientCredentials,
  KeyframeServiceGetModelInfoResponse,
  KeyframeServiceService,
} from "@longshot/proto";
import { createTestPki, freePort, makeTempDir, removeTempDir, type TestPki } from "@longshot/testing";
import { stageKitConfig } from "./config.js";
import { type StageServer, startStageServer } from "./stage-server.js";

const silent = createLogger("test", "silent");

/** stageKitConfig from these LONGSHOT_* variables, without the queue worker, on 127.0.0.1:port. */
function configFrom(env: Record<string, string>, port = 0) {
  return { ...loadConfig(stageKitConfig, { env, argv: ["--no-worker"] }), grpcHost: "127.0.0.1", grpcPort: port };
}

let released = 0;

function start(env: Record<string, string>, port = 0): Promise<StageServer> {
  const service = defineService(KeyframeServiceService, {
    async getModelInfo() {
      return KeyframeServiceGetModelInfoResponse.create({});
    },
    async runKeyframe() {
      throw new Error("not used");
    },
  });
  return startStageServer({
    config: configFrom(env, port),
    logger: silent,
    service,
    stage: "keyframe",
    name: "keyframe",
    workerId: "tls-test",
    handle: async () => {
      throw new Error("no queue in this test");
    },
    release: async () => {
      released++;
    },
  });
}

/** Asserts that the start fails with an error `check` accepts (a server that starts anyway is drained, not leaked). */
async function startFails(env: Record<string, string>, check: (err: unknown) => boolean, port = 0): Promise<void> {
  let server: StageServer;
  try {
    server = await start(env, port);
  } catch (err) {
    assert.ok(check(err), `unexpected error: ${String(err)}`);
    return;
  }
  await server.drain(0);
  assert.fail("the server started; it should have refused these settings");
}

/** The health status the server reports to a client with these credentials (undefined: plaintext). */
function health(port: number, credentials?: ChannelCredentials) {
  return checkHealth(`127.0.0.1:${port}`, "", { deadlineMs: 5000, ...(credentials ? { credentials } : {}) });
}

/** The call failed at the transport (no TLS session the two sides agree on): UNAVAILABLE. */
function refused(err: unknown): boolean {
  assert.ok(err instanceof GrpcCallError, `expected a GrpcCallError, got ${String(err)}`);
  assert.equal(err.grpcStatus, "UNAVAILABLE", err.message);
  return true;
}

describe("startStageServer with LONGSHOT_GRPC_TLS_*", { timeout: 60_000 }, () => {
  let dir: string;
  let pki: TestPki<"keyframe" | "client">;
  /** A second CA with its own client certificate: the server must not trust it. */
  let rogue: TestPki<"client">;

  before(() => {
    dir = makeTempDir("grpc-tls");
    pki = createTestPki(dir, ["keyframe", "client"]);
    rogue = createTestPki(dir, ["client"], { prefix: "rogue-" });
  });
  after(() => removeTempDir(dir));

  describe("TLS (certificate and key)", () => {
    let server: StageServer;
    before(async () => {
      server = await start({
        LONGSHOT_GRPC_TLS_CERT: pki.certs.keyframe.cert,
        LONGSHOT_GRPC_TLS_KEY: pki.certs.keyframe.key,
      });
    });
    after(() => server.drain(0));

    it("a TLS client that trusts the CA gets SERVING", async () => {
      assert.equal(await health(server.port, grpcClientCredentials({ caFile: pki.ca })), "SERVING");
    });

    it("a client may present a certificate it is not asked for", async () => {
      const c = pki.certs.client;
      const creds = grpcClientCredentials({ caFile: pki.ca, certFile: c.cert, keyFile: c.key });
      assert.equal(await health(server.port, creds), "SERVING");
    });

    it("a plaintext client fails", async () => {
      await assert.rejects(health(server.port), refused);
    });

    it("a TLS client that does not trust the server's CA fails", async () => {
      await assert.rejects(health(server.port, grpcClientCredentials({ caFile: rogue.ca })), refused);
    });
  });

  describe("mutual TLS (LONGSHOT_GRPC_TLS_CA as well)", () => {
    let server: StageServer;
    before(async () => {
      server = await start({
        LONGSHOT_GRPC_TLS_CERT: pki.certs.keyframe.cert,
        LONGSHOT_GRPC_TLS_KEY: pki.certs.keyframe.key,
        LONGSHOT_GRPC_TLS_CA: pki.ca,
      });
    });
    after(() => server.drain(0));

    it("a client with a certificate from the CA gets SERVING", async () => {
      const c = pki.certs.client;
      const creds = grpcClientCredentials({ caFile: pki.ca, certFile: c.cert, keyFile: c.key });
      assert.equal(await health(server.port, creds), "SERVING");
    });

    it("a TLS client without a certificate fails", async () => {
      await assert.rejects(health(server.port, grpcClientCredentials({ caFile: pki.ca })), refused);
    });

    it("a client with a certificate from another CA fails", async () => {
      const c = rogue.certs.client;
      const creds = grpcClientCredentials({ caFile: pki.ca, certFile: c.cert, keyFile: c.key });
      await assert.rejects(health(server.port, creds), refused);
    });

    it("a plaintext client fails", async () => {
      await assert.rejects(health(server.port), refused);
    });
  });

  describe("settings that stop the start", () => {
    it("a certificate without its key: a GrpcTlsError naming LONGSHOT_GRPC_TLS_KEY, nothing listening", async () => {
      const port = await freePort();
      const releasedBefore = released;
      await startFails(
        { LONGSHOT_GRPC_TLS_CERT: pki.certs.keyframe.cert },
        (err: unknown) => {
          assert.ok(err instanceof GrpcTlsError, String(err));
          assert.match(
            err.message,
            /^LONGSHOT_GRPC_TLS_KEY \(--grpc-tls-key\): is not set, but LONGSHOT_GRPC_TLS_CERT/,
          );
          return true;
        },
        port,
      );
      assert.equal(released, releasedBefore, "release is the caller's: not called on a failed start");
      await assert.rejects(health(port), refused);
    });

    it("a key that does not belong to the certificate names LONGSHOT_GRPC_TLS_KEY", async () => {
      await startFails(
        {
          LONGSHOT_GRPC_TLS_CERT: pki.certs.keyframe.cert,
          LONGSHOT_GRPC_TLS_KEY: pki.certs.client.key,
        },
        (err: unknown) =>
          err instanceof GrpcTlsError &&
          err.setting === "LONGSHOT_GRPC_TLS_KEY (--grpc-tls-key)" &&
          /client-key\.pem is not the private key of the certificate in .*keyframe\.pem/.test(err.problem),
      );
    });

    it("an encrypted key, a CA file that is not PEM: refused, naming the variable", async () => {
      const encrypted = path.join(dir, "encrypted-key.pem");
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      writeFileSync(
        encrypted,
        privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }),
      );
      await startFails(
        { LONGSHOT_GRPC_TLS_CERT: pki.certs.keyframe.cert, LONGSHOT_GRPC_TLS_KEY: encrypted },
        (err: unknown) =>
          err instanceof GrpcTlsError && /^LONGSHOT_GRPC_TLS_KEY .*is an encrypted private key/.test(err.message),
      );
      await startFails(
        {
          LONGSHOT_GRPC_TLS_CERT: pki.certs.keyframe.cert,
          LONGSHOT_GRPC_TLS_KEY: pki.certs.keyframe.key,
          LONGSHOT_GRPC_TLS_CA: pki.certs.keyframe.key,
        },
        (err: unknown) =>
          err instanceof GrpcTlsError &&
          /^LONGSHOT_GRPC_TLS_CA .*keyframe-key\.pem is not a PEM CA bundle/.test(err.message),
      );
    });
  });
});
