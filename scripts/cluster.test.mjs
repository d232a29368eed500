/**
 * scripts/cluster, run for real in a temporary state folder (LONGSHOT_CLUSTER_DIR):
 *
 * - every command answers --help (and -h, and `help COMMAND`) with its usage and exit code 0;
 * - `up` refuses a bad --http-port before it starts anything;
 * - `up` with the runtime's tiny test pack and one interpolation replica: the nats-server it starts
 *   refuses clients without the run's credentials; the credentials are new random passwords in
 *   secrets/ (folder 0700, files 0600) and in no runner script; each service connects as its own user
 *   of deploy/nats/accounts.conf, and one job runs to SUCCEEDED with no permission violation; nats and
 *   a service restart with the same credentials (`restart`); `down --purge` removes them. The gateway's
 *   HTTP API listens on --http-port: `up` and `status` give its URL, and it shows the job as GetJob does.
 *
 * Needs nats-server (the Debian package, or NATS_SERVER_BIN) and the compiled packages (`npm run build`).
 * Run: node --test scripts/cluster.test.mjs
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { connectBus } from "@longshot/bus";
import { createClient, GenerateRequest, GetJobRequest, JobState, VideoServiceService } from "@longshot/proto";
import { findNatsServer, freePort, makeTempDir, removeTempDir } from "@longshot/testing";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const script = path.join(root, "scripts", "cluster");
const TINY_PACK = path.join(root, "libs", "runtime", "fixtures", "tiny-pack");
const USERS = ["sys", "admin", "gateway", "keyframe", "interpolation", "decoder"];

/** Runs scripts/cluster with `args` in the state folder `dir`; resolves with its exit code and output. */
function cluster(dir, args, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(script, args, {
      cwd: root,
      env: { ...process.env, LONGSHOT_CLUSTER_DIR: dir, NATS_SERVER_BIN: findNatsServer() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

/** A base port P with P … P+10 free (the gateway, keyframe, decoder and one interpolation replica). */
async function freeBase() {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = [base, base + 1, base + 2, base + 10];
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error("no free range of ports");
}

describe("scripts/cluster --help", () => {
  let dir;
  before(() => {
    dir = makeTempDir("cluster-help");
  });
  after(() => removeTempDir(dir));

  for (const command of ["up", "status", "restart", "down"]) {
    test(`${command} --help, -h and help ${command} print the usage of ${command}`, async () => {
      const runs = [
        [command, "--help"],
        [command, "-h"],
        ["help", command],
      ];
      if (command === "restart") runs.push(["restart", "gateway", "--help"]);
      for (const args of runs) {
        const { code, stdout, stderr } = await cluster(dir, args);
        assert.equal(code, 0, `${args.join(" ")}: ${stderr}`);
        assert.match(stdout, new RegExp(`^Usage: scripts/cluster ${command}\\b`), args.join(" "));
        assert.equal(stderr, "", args.join(" "));
      }
    });
  }

  test("the overall usage lists every command; an unknown one is refused", async () => {
    const { code, stdout } = await cluster(dir, ["--help"]);
    assert.equal(code, 0);
    for (const command of ["up", "status", "restart", "down", "help"])
      assert.match(stdout, new RegExp(`scripts/cluster ${command}`));
    assert.equal((await cluster(dir, ["help", "nope"])).code, 2);
    assert.equal((await cluster(dir, ["status", "extra"])).code, 1);
  });
});

describe("scripts/cluster up --http-port", () => {
  let dir;
  before(() => {
    dir = makeTempDir("cluster-http-port");
  });
  after(() => removeTempDir(dir));

  test("refuses a port out of range, or one the gRPC servers take, before it starts anything", async () => {
    for (const value of ["70000", "-1", "http"]) {
      const r = await cluster(dir, ["up", "--http-port", value]);
      assert.equal(r.code, 1, value);
      assert.match(r.stderr, /--http-port must be a number in 0\.\.65535 \(0: no HTTP API\)/, value);
    }
    const r = await cluster(dir, ["up", "--pack", TINY_PACK, "--port", "40000", "--http-port", "40002"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--http-port 40002 is one of the gRPC ports 40000\.\.40011/);
    assert.deepEqual(readdirSync(path.join(dir, "pids")), [], "nothing was started");
  });
});

describe("random secrets (scripts/lib/random-secret.sh)", () => {
  const run = (cmd) => {
    const r = spawnSync("bash", ["-c", cmd], { cwd: root, encoding: "utf8" });
    return { code: r.status, out: r.stdout + r.stderr };
  };

  test("nats-server refuses a substituted password that starts like a number (why secrets start with a letter)", async () => {
    const dir = await makeTempDir("longshot-secret-");
    try {
      const conf = path.join(dir, "nats.conf");
      const check = (pw) =>
        run(
          `printf 'authorization { user: u, password: $PW }\n' >'${conf}' && PW='${pw}' '${findNatsServer()}' -c '${conf}' -t`,
        );
      assert.notEqual(check("3k3abc").code, 0, "a value like 3k3… is parsed as a number");
      const secrets = run(". scripts/lib/random-secret.sh && for i in $(seq 300); do random_secret; echo; done");
      assert.equal(secrets.code, 0, secrets.out);
      const values = secrets.out.trim().split("\n");
      assert.equal(values.length, 300);
      // Without the leading letter, 300 draws would all start with a letter with probability (52/62)^300 < 1e-22.
      for (const v of values) assert.match(v, /^[A-Za-z][A-Za-z0-9]{31}$/);
      assert.equal(new Set(values).size, 300);
      const accepted = check(values[0]);
      assert.equal(accepted.code, 0, accepted.out);
    } finally {
      await removeTempDir(dir);
    }
  });
});

describe("scripts/cluster up: NATS with per-run credentials", { timeout: 600_000 }, () => {
  let dir;
  let natsUrl;
  let gateway;
  let httpUrl;
  let up;

  before(async () => {
    dir = makeTempDir("cluster");
    const [natsPort, s3Port, httpPort] = [await freePort(), await freePort(), await freePort()];
    const port = await freeBase();
    natsUrl = `nats://127.0.0.1:${natsPort}`;
    gateway = `127.0.0.1:${port}`;
    httpUrl = `http://127.0.0.1:${httpPort}`;
    up = await cluster(
      dir,
      [
        "up",
        "--interpolation",
        "1",
        "--pack",
        TINY_PACK,
        "--port",
        String(port),
        "--http-port",
        String(httpPort),
        "--nats-port",
        String(natsPort),
        "--s3-port",
        String(s3Port),
        "--ack-wait",
        "10s",
      ],
      300_000,
    );
  });

  after(async () => {
    if (dir === undefined) return;
    const down = await cluster(dir, ["down", "--purge"], 60_000);
    assert.equal(down.code, 0, down.stderr);
    assert.throws(
      () => statSync(path.join(dir, "secrets")),
      { code: "ENOENT" },
      "down --purge removes the credentials",
    );
    removeTempDir(dir);
  });

  const password = (user) => readFileSync(path.join(dir, "secrets", `nats-${user}.password`), "utf8");
  const logs = () =>
    readdirSync(path.join(dir, "logs"))
      .map((f) => readFileSync(path.join(dir, "logs", f), "utf8"))
      .join("\n");

  test("starts, writing a new password per NATS user, readable by the user alone and in no runner script", () => {
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    assert.match(up.stdout, new RegExp(`^cluster up: gateway at ${gateway}, HTTP API at ${httpUrl} `, "m"));
    assert.equal(statSync(path.join(dir, "secrets")).mode & 0o777, 0o700);
    const runners = readdirSync(path.join(dir, "run")).map((f) => readFileSync(path.join(dir, "run", f), "utf8"));
    assert.ok(runners.length >= 6, "nats, s3 and four services");
    const seen = new Set();
    for (const user of USERS) {
      const file = path.join(dir, "secrets", `nats-${user}.password`);
      assert.equal(statSync(file).mode & 0o777, 0o600, file);
      assert.match(password(user), /^[A-Za-z][A-Za-z0-9]{31}$/);
      seen.add(password(user));
      for (const runner of runners)
        assert.ok(!runner.includes(password(user)), `the ${user} password is in a runner script`);
    }
    assert.equal(seen.size, USERS.length, "one password per user");
    for (const f of ["nats.conf", "accounts.conf"]) {
      assert.equal(statSync(path.join(dir, "secrets", f)).mode & 0o777, 0o600, f);
    }
  });

  test("the nats-server refuses a client without credentials or with a wrong password", async () => {
    // A connection that is (wrongly) accepted is closed again, so that it does not keep the test running.
    const refused = (options) => assert.rejects(connectBus(options).then((bus) => bus.close()));
    await refused({ servers: natsUrl, name: "cluster-test-anonymous" });
    await refused({ servers: natsUrl, name: "cluster-test-wrong", user: "gateway", pass: "not-it" });
    const admin = await connectBus({
      servers: natsUrl,
      name: "cluster-test-admin",
      user: "admin",
      pass: password("admin"),
    });
    try {
      const streams = [];
      for await (const s of admin.jsm.streams.list()) streams.push(s.config.name);
      assert.ok(
        streams.includes("LONGSHOT_TASKS"),
        `the gateway set the topology up in the LONGSHOT account: ${streams}`,
      );
    } finally {
      await admin.close();
    }
  });

  test("each service connects as its own user and a job runs to SUCCEEDED with no permission violation", async () => {
    const client = createClient(VideoServiceService, gateway, { defaultDeadlineMs: 20_000 });
    try {
      const { job } = await client.generate(
        GenerateRequest.fromPartial({ prompt: "a red circle", frames: 17, keyframeSteps: 1, interpolationSteps: 1 }),
      );
      assert.ok(job);
      const deadline = Date.now() + 240_000;
      let current = job;
      while (
        ![JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED].includes(current.state)
      ) {
        assert.ok(Date.now() < deadline, `job ${job.id} still ${JobState[current.state]} after 240 s`);
        assert.doesNotMatch(logs(), /permissions? violation/i);
        await new Promise((r) => setTimeout(r, 500));
        current = (await client.getJob(GetJobRequest.create({ jobId: job.id }))).job;
      }
      assert.equal(JobState[current.state], "JOB_STATE_SUCCEEDED", JSON.stringify(current.error));
      // The gateway's HTTP API on --http-port shows the same job.
      const res = await fetch(`${httpUrl}/v1/videos/${job.id}`);
      assert.equal(res.status, 200);
      const video = await res.json();
      assert.equal(video.id, job.id);
      assert.equal(video.status, "completed");
      assert.deepEqual(
        video.artifacts.map((a) => a.sha256),
        current.artifacts.map((a) => a.sha256),
      );
    } finally {
      client.close();
    }
    const env = readFileSync(path.join(dir, "run", "interpolation-1.sh"), "utf8");
    assert.match(env, /^export LONGSHOT_NATS_USER=interpolation$/m);
    assert.match(env, /^LONGSHOT_NATS_PASSWORD="\$\(cat .*nats-interpolation\.password\)"$/m);
    assert.doesNotMatch(logs(), /permissions? violation/i);
  });

  test("restart brings nats and a service back with the same credentials", async () => {
    const before = password("admin");
    for (const name of ["nats", "keyframe"]) {
      const r = await cluster(dir, ["restart", name], 180_000);
      assert.equal(r.code, 0, `restart ${name}: ${r.stdout}\n${r.stderr}`);
    }
    assert.equal(password("admin"), before);
    const admin = await connectBus({ servers: natsUrl, name: "cluster-test-admin-2", user: "admin", pass: before });
    await admin.close();
    let status;
    for (let i = 0; i < 40; i++) {
      status = await cluster(dir, ["status"]);
      if (status.code === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(status.code, 0, status.stdout);
    assert.match(status.stdout, new RegExp(`^http API +- +${httpUrl} +OK$`, "m"));
  });
});
