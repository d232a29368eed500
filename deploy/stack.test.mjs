/**
 * The deployment's configuration with the real services: nats-server with deploy/nats (accounts, one
 * user per service with its permissions), an S3 server (s3rver: no IAM, so the MinIO policies are not
 * exercised here), and the four services started the way the images start them
 * (`node deploy/docker/start.mjs` with SERVICE and the environment docker-compose.yml gives them),
 * health-checked with deploy/docker/healthcheck.mjs. One job must go from Generate to an MP4 in the
 * bucket with no permission violation on any connection, the gateway's HTTP API must show it, the
 * metrics endpoints must answer, and every service must drain and exit 0 on SIGTERM. Every port is a
 * free one (the gateway's HTTP API too, never its default 8080), so runs never collide.
 *
 * Needs the compiled packages (`npm run build`) and a model pack: LONGSHOT_TEST_PACK, models/packs/shapes-mini
 * or /tmp/smoke/pack; skipped (saying why) without one.
 *
 * Run: node --test deploy/stack.test.mjs   (part of deploy/check.sh)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { S3BlobStore } from "@longshot/blob";
import {
  createClient,
  GenerateRequest,
  GetJobRequest,
  JobState,
  VideoServiceService,
  WatchJobRequest,
} from "@longshot/proto";
import {
  findNatsServer,
  freePort,
  makeTempDir,
  removeTempDir,
  spawnProcess,
  startServers,
  waitForPort,
} from "@longshot/testing";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SERVICES = ["gateway", "keyframe", "interpolation", "decoder"];
// The pack: LONGSHOT_TEST_PACK, else the bundled one, else the smoke pack the model toolkit writes (as tests/e2e).
const PACK =
  process.env.LONGSHOT_TEST_PACK ??
  [path.join(root, "models", "packs", "shapes-mini"), "/tmp/smoke/pack"].find((p) =>
    existsSync(path.join(p, "pack.json")),
  ) ??
  path.join(root, "models", "packs", "shapes-mini");
const hasPack = existsSync(path.join(PACK, "pack.json"));
const USERS = ["sys", "admin", ...SERVICES];
const passwords = Object.fromEntries(
  USERS.map((u) => [`LONGSHOT_NATS_${u.toUpperCase()}_PASSWORD`, `pw${u}${Math.random().toString(36).slice(2, 12)}`]),
);
// The compose file's settings, less the host names (docker-compose.yml, x-common-env and each service).
const BUCKET = "longshot";

describe("the deployment configuration with the real services", {
  timeout: 300_000,
  skip: hasPack ? false : `no model pack at ${PACK} (set LONGSHOT_TEST_PACK)`,
}, () => {
  const dir = makeTempDir("deploy-stack");
  const procs = {};
  let jobId;
  let nats;
  let servers;
  let store;

  before(async () => {
    for (const f of ["nats.conf", "jetstream.conf", "accounts.conf"]) {
      let text = readFileSync(path.join(root, "deploy", "nats", f), "utf8");
      text = text.replaceAll("/data/jetstream", path.join(dir, "jetstream"));
      text = text.replace(/^\s*sync_interval:.*$/m, ""); // Debian's 2.9 server does not know it
      writeFileSync(path.join(dir, f), text);
    }
    const natsPort = await freePort();
    nats = spawnProcess(
      "nats-server",
      findNatsServer(),
      ["-c", path.join(dir, "nats.conf"), "-a", "127.0.0.1", "-p", String(natsPort), "-m", String(await freePort())],
      { env: { ...process.env, ...passwords }, stdinPipe: false },
    );
    await waitForPort(natsPort);
    servers = await startServers({ s3: true });
    store = new S3BlobStore({ ...servers.s3, bucket: BUCKET });
    await store.ensureBucket(); // what minio-init does

    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LONGSHOT_")));
    for (const svc of SERVICES) {
      const env = {
        ...base,
        NODE_ENV: "production",
        SERVICE: svc,
        LONGSHOT_LOG_FORMAT: "json",
        LONGSHOT_PACK_DIR: PACK,
        LONGSHOT_NATS_URL: `nats://127.0.0.1:${natsPort}`,
        LONGSHOT_S3_ENDPOINT: servers.s3.url,
        LONGSHOT_S3_BUCKET: BUCKET,
        LONGSHOT_S3_REGION: "us-east-1",
        LONGSHOT_TRACE_SAMPLE_RATIO: "1",
        LONGSHOT_METRICS_PORT: String(await freePort()),
        LONGSHOT_ACK_WAIT: "30s",
        LONGSHOT_MAX_DELIVER: "5",
        LONGSHOT_GRPC_PORT: String(await freePort()),
        LONGSHOT_NATS_USER: svc,
        LONGSHOT_NATS_PASSWORD: passwords[`LONGSHOT_NATS_${svc.toUpperCase()}_PASSWORD`],
        // s3rver accepts only its own key; with MinIO each service has longshot-<service>.
        LONGSHOT_S3_ACCESS_KEY: servers.s3.accessKey,
        LONGSHOT_S3_SECRET_KEY: servers.s3.secretKey,
        LONGSHOT_ORT_THREADS: "1",
        ...(svc === "gateway"
          ? {
              LONGSHOT_JOB_OBJECTS_EXPIRY_DAYS: "7",
              LONGSHOT_S3_PUBLIC_ENDPOINT: servers.s3.url,
              // The compose file publishes it on the loopback interface; here, the loopback's free port.
              LONGSHOT_HTTP_HOST: "127.0.0.1",
              LONGSHOT_HTTP_PORT: String(await freePort()),
            }
          : { LONGSHOT_EXECUTION_PROVIDER: "cpu" }),
      };
      const proc = spawnProcess(svc, process.execPath, [path.join(root, "deploy", "docker", "start.mjs")], {
        env,
        cwd: root,
      });
      procs[svc] = { proc, env };
    }
  });

  const violations = (svc) =>
    procs[svc].proc
      .output()
      .split("\n")
      .filter((l) => /permissions? violation/i.test(l))
      .map((l) => l.slice(0, 400));

  after(async () => {
    for (const { proc } of Object.values(procs)) if (!proc.hasExited) await proc.stop("SIGKILL", 0);
    await nats?.stop();
    await servers?.stop();
    removeTempDir(dir);
  });

  test("healthcheck.mjs reports every service SERVING", async () => {
    for (const svc of SERVICES) {
      const { proc, env } = procs[svc];
      const deadline = Date.now() + 120_000;
      for (;;) {
        const r = spawnSync(process.execPath, [path.join(root, "deploy", "docker", "healthcheck.mjs")], {
          env,
          encoding: "utf8",
        });
        if (r.status === 0) break;
        assert.ok(!proc.hasExited, `${svc} exited while starting:\n${proc.output().slice(-3000)}`);
        assert.ok(
          Date.now() < deadline,
          `${svc} never became SERVING (${r.stderr.trim()}):\n${proc.output().slice(-3000)}`,
        );
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  });

  test("a job goes through every stage to an MP4, with no permission violation", async () => {
    const client = createClient(VideoServiceService, `127.0.0.1:${procs.gateway.env.LONGSHOT_GRPC_PORT}`, {
      defaultDeadlineMs: 20_000,
    });
    try {
      const { job } = await client.generate(
        GenerateRequest.fromPartial({
          prompt: "a red circle moving right on a dark blue background",
          frames: 65,
          keyframeSteps: 2,
          interpolationSteps: 2,
        }),
      );
      assert.ok(job, "Generate returned no job");
      jobId = job.id;
      // Poll the job, and the services' logs for permission violations (a denied subject makes a job
      // hang in redeliveries rather than fail, so it is reported as soon as it shows).
      const ended = new Set(["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"]);
      const deadline = Date.now() + 180_000;
      let state = "JOB_STATE_QUEUED";
      let done;
      while (!ended.has(state)) {
        for (const svc of SERVICES) assert.deepEqual(violations(svc), [], `${svc} hit NATS permission violations`);
        assert.ok(Date.now() < deadline, `job ${job.id} still ${state} after 180 s`);
        await new Promise((r) => setTimeout(r, 500));
        done = (await client.getJob(GetJobRequest.create({ jobId: job.id }))).job;
        state = JobState[done?.state ?? 0];
      }
      assert.equal(state, "JOB_STATE_SUCCEEDED", JSON.stringify(done?.error));
      assert.equal(await store.exists(`jobs/${job.id}/video.mp4`), true, "no video.mp4 in the bucket");
      const events = [];
      for await (const r of client.watchJob(WatchJobRequest.create({ jobId: job.id }), { deadlineMs: 20_000 })) {
        events.push(r.event?.event?.$case);
      }
      assert.equal(events.at(-1), "completed", `WatchJob replay ended with ${events.at(-1)}`);
    } finally {
      client.close();
    }
    for (const svc of SERVICES) assert.deepEqual(violations(svc), [], `${svc} hit NATS permission violations`);
  });

  test("the gateway's HTTP API on LONGSHOT_HTTP_PORT shows the job", async () => {
    assert.ok(jobId, "no job ran");
    const res = await fetch(`http://127.0.0.1:${procs.gateway.env.LONGSHOT_HTTP_PORT}/v1/videos/${jobId}`);
    assert.equal(res.status, 200);
    const video = await res.json();
    assert.equal(video.id, jobId);
    assert.equal(video.status, "completed");
  });

  test("every service serves Prometheus metrics on LONGSHOT_METRICS_PORT", async () => {
    for (const svc of SERVICES) {
      const res = await fetch(`http://127.0.0.1:${procs[svc].env.LONGSHOT_METRICS_PORT}/metrics`);
      assert.equal(res.status, 200, `${svc} /metrics`);
      await res.text();
    }
  });

  test("SIGTERM drains every service to exit 0", async () => {
    for (const svc of SERVICES) {
      const exit = await procs[svc].proc.stop("SIGTERM", 60_000);
      assert.deepEqual(exit, { code: 0, signal: null }, `${svc}:\n${procs[svc].proc.output().slice(-2000)}`);
    }
  });
});
