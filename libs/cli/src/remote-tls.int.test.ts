/**
 * `longshot generate --remote` over TLS against a stand-in gateway (a real gRPC server with a
 * VideoService whose job is done at once, without artifacts) serving TLS or mutual TLS with a
 * throwaway CA from openssl: --tls-ca, --tls-cert / --tls-key and their LONGSHOT_GRPC_TLS_* defaults,
 * handshake failures reported without retries, and bad TLS arguments (exit 2).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  createGrpcServer,
  defineService,
  type GrpcServer,
  grpcServerCredentials,
  Job,
  JobState,
  Mode,
  Sampler,
  silentLogger,
  VideoServiceService,
} from "@longshot/proto";
import { createTestPki, makeTempDir, removeTempDir, type TestPki } from "@longshot/testing";
import { run } from "./cli.js";
import type { CliIo } from "./io.js";

/** A gateway stand-in: Generate answers a job that WatchJob ends at once and GetJob reports SUCCEEDED. */
async function fakeGateway(tls: { cert: string; key: string; ca?: string }): Promise<GrpcServer> {
  const job = Job.fromPartial({
    id: "jtls",
    state: JobState.JOB_STATE_QUEUED,
    request: { prompt: "x", seed: 5n, sampler: Sampler.SAMPLER_DDIM, mode: Mode.MODE_PINNED },
  });
  const video = defineService(VideoServiceService, {
    async generate() {
      return { job, deduplicated: false };
    },
    async *watchJob() {},
    async getJob() {
      return { job: { ...job, state: JobState.JOB_STATE_SUCCEEDED } };
    },
    async cancelJob() {
      return { job };
    },
    async listJobs() {
      return { jobs: [], nextPageToken: "" };
    },
  });
  const server = createGrpcServer({
    services: [video],
    logger: silentLogger,
    credentials: grpcServerCredentials({ grpcTlsCert: tls.cert, grpcTlsKey: tls.key, grpcTlsCa: tls.ca }),
  });
  await server.listen("127.0.0.1:0");
  server.setServing(true);
  return server;
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `longshot generate --prompt x --remote ADDRESS --quiet --out DIR extra…` in this process. */
async function generate(address: string, out: string, extra: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: {
      write: (s: string) => {
        stdout += s;
      },
    },
    stderr: {
      write: (s: string) => {
        stderr += s;
      },
    },
    env,
  };
  const argv = ["generate", "--prompt", "x", "--remote", address, "--quiet", "--out", out, ...extra];
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

describe("longshot generate --remote over TLS", { timeout: 60_000 }, () => {
  let dir: string;
  let pki: TestPki<"gateway" | "client">;
  let rogue: TestPki<"client">;
  let tlsGateway: GrpcServer;
  let mutualGateway: GrpcServer;
  let tlsAddress: string;
  let mutualAddress: string;

  before(async () => {
    dir = makeTempDir("cli-tls");
    pki = createTestPki(dir, ["gateway", "client"]);
    rogue = createTestPki(dir, ["client"], { prefix: "rogue-" });
    tlsGateway = await fakeGateway(pki.certs.gateway);
    mutualGateway = await fakeGateway({ ...pki.certs.gateway, ca: pki.ca });
    tlsAddress = `127.0.0.1:${tlsGateway.port}`;
    mutualAddress = `127.0.0.1:${mutualGateway.port}`;
  });
  after(async () => {
    await tlsGateway?.drain(0);
    await mutualGateway?.drain(0);
    removeTempDir(dir);
  });

  it("--tls-ca: the job runs over TLS and result.json is written", async () => {
    const out = path.join(dir, "out-tls");
    const r = await generate(tlsAddress, out, ["--tls-ca", pki.ca]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /job jtls on 127\.0\.0\.1:\d+/);
    const record = JSON.parse(readFileSync(path.join(out, "result.json"), "utf8"));
    assert.equal(record.remote.jobId, "jtls");
    assert.equal(record.remote.state, "JOB_STATE_SUCCEEDED");
  });

  it("--tls-cert / --tls-key: mutual TLS with a gateway that requires a client certificate", async () => {
    const { cert, key } = pki.certs.client;
    const r = await generate(mutualAddress, path.join(dir, "out-mtls"), [
      "--tls-ca",
      pki.ca,
      "--tls-cert",
      cert,
      "--tls-key",
      key,
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  it("LONGSHOT_GRPC_TLS_CA / _CERT / _KEY stand in for the flags", async () => {
    const { cert, key } = pki.certs.client;
    const env = { LONGSHOT_GRPC_TLS_CA: pki.ca, LONGSHOT_GRPC_TLS_CERT: cert, LONGSHOT_GRPC_TLS_KEY: key };
    const r = await generate(mutualAddress, path.join(dir, "out-env"), [], env);
    assert.equal(r.code, 0, r.stderr);
  });

  it("a handshake failure fails at once (no retries), saying which setting to look at", async () => {
    const t0 = performance.now();
    const noCert = await generate(mutualAddress, path.join(dir, "out-x"), ["--tls-ca", pki.ca]);
    assert.equal(noCert.code, 1);
    assert.match(noCert.stderr, /TLS handshake failed .*the gateway requires a client certificate: give --tls-cert/);
    const wrongCa = await generate(tlsAddress, path.join(dir, "out-y"), ["--tls-ca", rogue.ca]);
    assert.equal(wrongCa.code, 1);
    assert.match(wrongCa.stderr, /TLS handshake failed .*the gateway's certificate is not signed by the CA given/);
    assert.ok(performance.now() - t0 < 5000, "no UNAVAILABLE retries with back-off");
  });

  it("bad TLS arguments: exit 2 naming the flag or variable", async () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [["--tls-cert", pki.certs.client.cert], {}, /--tls-cert: a client certificate needs TLS: give --tls-ca FILE/],
      [["--tls-ca", pki.ca, "--tls-cert", pki.certs.client.cert], {}, /--tls-key: is not set, but --tls-cert is/],
      [["--tls-ca", path.join(dir, "nope.pem")], {}, /--tls-ca: cannot read .*nope\.pem: no such file/],
      [
        [],
        { LONGSHOT_GRPC_TLS_CA: pki.certs.client.key },
        /LONGSHOT_GRPC_TLS_CA: .*client-key\.pem is not a PEM CA bundle/,
      ],
      [[], { LONGSHOT_GRPC_TLS_KEY: pki.certs.client.key }, /LONGSHOT_GRPC_TLS_KEY: a client certificate needs TLS/],
    ];
    for (const [extra, env, says] of cases) {
      const r = await generate(tlsAddress, path.join(dir, "out-z"), extra, env);
      assert.equal(r.code, 2, `${extra.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, says);
    }
    const local = await run(["generate", "--prompt", "x", "--tls-ca", pki.ca], {
      stdout: { write: () => true },
      stderr: { write: () => true },
      env: {},
    });
    assert.equal(local, 2, "--tls-ca without --remote");
  });
});
