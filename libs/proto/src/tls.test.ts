/**
 * Unit tests of the gRPC TLS settings: grpcTlsConfig loading, which combinations are refused (naming
 * the variable), unreadable and non-PEM files. Real certificates and handshakes are in
 * libs/stage/src/stage-server-tls.int.test.ts.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, configHelp, describeConfig, loadConfig } from "@longshot/core";
import { GrpcTlsError, grpcClientCredentials, grpcServerCredentials, grpcServerTlsMode, grpcTlsConfig } from "./tls.js";

/** Asserts a GrpcTlsError about `setting` saying `problem` (and that it is a ConfigError). */
function tlsError(setting: RegExp, problem: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof GrpcTlsError, `expected a GrpcTlsError, got ${String(err)}`);
    assert.ok(err instanceof ConfigError, "a GrpcTlsError is a ConfigError (the process cannot start)");
    assert.match(err.setting, setting);
    assert.match(err.problem, problem);
    assert.equal(err.message, `${err.setting}: ${err.problem}`);
    return true;
  };
}

describe("grpcTlsConfig", () => {
  it("reads LONGSHOT_GRPC_TLS_CERT / _KEY / _CA, flags win, unset by default", () => {
    assert.deepEqual(
      { ...loadConfig(grpcTlsConfig, { env: {}, argv: [] }) },
      { grpcTlsCert: undefined, grpcTlsKey: undefined, grpcTlsCa: undefined },
    );
    const c = loadConfig(grpcTlsConfig, {
      env: { LONGSHOT_GRPC_TLS_CERT: "/env/cert.pem", LONGSHOT_GRPC_TLS_KEY: "/env/key.pem", LONGSHOT_GRPC_TLS_CA: "" },
      argv: ["--grpc-tls-key=/flag/key.pem", "--grpc-tls-ca", "/flag/ca.pem"],
    });
    assert.equal(c.grpcTlsCert, "/env/cert.pem");
    assert.equal(c.grpcTlsKey, "/flag/key.pem");
    assert.equal(c.grpcTlsCa, "/flag/ca.pem");
    // Paths are not secrets: the start-up log shows them (never the files' contents).
    assert.match(describeConfig(grpcTlsConfig, c), /grpcTlsKey\s+= \/flag\/key\.pem/);
    const help = configHelp(grpcTlsConfig);
    for (const name of ["LONGSHOT_GRPC_TLS_CERT", "LONGSHOT_GRPC_TLS_KEY", "LONGSHOT_GRPC_TLS_CA", "--grpc-tls-ca"]) {
      assert.ok(help.includes(name), `--help lists ${name}`);
    }
  });
});

describe("grpcServerTlsMode / grpcServerCredentials", () => {
  let dir: string;
  let notPem: string;
  let keyOnly: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "longshot-tls-unit-"));
    notPem = path.join(dir, "not-pem.txt");
    writeFileSync(notPem, "this is not a certificate\n");
    keyOnly = path.join(dir, "key.pem");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(keyOnly, privateKey.export({ type: "pkcs8", format: "pem" }));
    mkdirSync(path.join(dir, "a-directory"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("neither certificate nor key: plaintext (insecure credentials)", () => {
    assert.equal(grpcServerTlsMode({}), "plaintext");
    assert.equal(grpcServerTlsMode({ grpcTlsCert: "", grpcTlsKey: "" }), "plaintext");
    assert.equal(grpcServerCredentials({})._isSecure(), false);
  });

  it("says TLS or mutual TLS from what is set (no file read)", () => {
    assert.equal(grpcServerTlsMode({ grpcTlsCert: "/c", grpcTlsKey: "/k" }), "tls");
    assert.equal(grpcServerTlsMode({ grpcTlsCert: "/c", grpcTlsKey: "/k", grpcTlsCa: "/ca" }), "mutual-tls");
  });

  it("a certificate without its key names LONGSHOT_GRPC_TLS_KEY", () => {
    const config = loadConfig(grpcTlsConfig, { env: { LONGSHOT_GRPC_TLS_CERT: "/certs/gateway.pem" }, argv: [] });
    assert.throws(
      () => grpcServerCredentials(config),
      tlsError(/^LONGSHOT_GRPC_TLS_KEY \(--grpc-tls-key\)$/, /is not set, but LONGSHOT_GRPC_TLS_CERT .* is/),
    );
  });

  it("a key without its certificate names LONGSHOT_GRPC_TLS_CERT", () => {
    assert.throws(
      () => grpcServerCredentials({ grpcTlsKey: "/certs/gateway-key.pem" }),
      tlsError(/^LONGSHOT_GRPC_TLS_CERT /, /is not set, but LONGSHOT_GRPC_TLS_KEY .* is/),
    );
  });

  it("a client CA without a server certificate names LONGSHOT_GRPC_TLS_CA", () => {
    assert.throws(
      () => grpcServerCredentials({ grpcTlsCa: "/certs/ca.pem" }),
      tlsError(/^LONGSHOT_GRPC_TLS_CA /, /client certificates can only be required over TLS/),
    );
  });

  it("files that cannot be read or are not PEM name the variable and the path", () => {
    const missing = path.join(dir, "nope.pem");
    assert.throws(
      () => grpcServerCredentials({ grpcTlsCert: missing, grpcTlsKey: keyOnly }),
      tlsError(/^LONGSHOT_GRPC_TLS_CERT /, new RegExp(`cannot read ${missing}: no such file`)),
    );
    assert.throws(
      () => grpcServerCredentials({ grpcTlsCert: path.join(dir, "a-directory"), grpcTlsKey: keyOnly }),
      tlsError(/^LONGSHOT_GRPC_TLS_CERT /, /cannot read .*a-directory: is a directory/),
    );
    assert.throws(
      () => grpcServerCredentials({ grpcTlsCert: notPem, grpcTlsKey: keyOnly }),
      tlsError(
        /^LONGSHOT_GRPC_TLS_CERT /,
        /not-pem\.txt is not a PEM certificate chain \(no "-----BEGIN CERTIFICATE-----"/,
      ),
    );
    // A key file given as the certificate: still "not a certificate", and its contents are not shown.
    assert.throws(
      () => grpcServerCredentials({ grpcTlsCert: keyOnly, grpcTlsKey: keyOnly }),
      (err: unknown) =>
        tlsError(/^LONGSHOT_GRPC_TLS_CERT /, /is not a PEM certificate chain/)(err) &&
        !(err as Error).message.includes("PRIVATE KEY-----"),
    );
  });

  it("a certificate block that does not parse is refused", () => {
    const broken = path.join(dir, "broken.pem");
    writeFileSync(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert.throws(
      () => grpcServerCredentials({ grpcTlsCert: broken, grpcTlsKey: keyOnly }),
      tlsError(/^LONGSHOT_GRPC_TLS_CERT /, /broken\.pem: its certificate does not parse/),
    );
  });
});

describe("grpcClientCredentials", () => {
  it("no files: TLS with the system's root CAs", () => {
    assert.equal(grpcClientCredentials()._isSecure(), true);
  });

  it("a client certificate without its key (or the reverse) names the missing setting", () => {
    const names = { caFile: "--tls-ca", certFile: "--tls-cert", keyFile: "--tls-key" };
    assert.throws(
      () => grpcClientCredentials({ certFile: "/c.pem", names }),
      tlsError(/^--tls-key$/, /is not set, but --tls-cert is/),
    );
    assert.throws(
      () => grpcClientCredentials({ keyFile: "/k.pem", names }),
      tlsError(/^--tls-cert$/, /is not set, but --tls-key is/),
    );
    assert.throws(
      () => grpcClientCredentials({ caFile: "/no/such/ca.pem", names: { caFile: "LONGSHOT_GRPC_TLS_CA" } }),
      tlsError(/^LONGSHOT_GRPC_TLS_CA$/, /cannot read \/no\/such\/ca\.pem: no such file/),
    );
  });
});
