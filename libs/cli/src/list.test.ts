/**
 * `longshot list`: an output root with the folders each kind of run leaves (generate, generate --remote, serve's
 * job folders, a --num-videos batch one level down, a run still going, folders that are not runs), and a gateway
 * (a real gRPC server with a VideoService whose ListJobs pages through five jobs, two per page).
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createGrpcServer,
  defineService,
  type GrpcServer,
  Job,
  JobState,
  type ListJobsRequest,
  OutputFormat,
  silentLogger,
  VideoServiceService,
} from "@longshot/proto";
import { run } from "./cli.js";
import type { CliIo } from "./io.js";
import type { RunEntry } from "./list.js";

async function longshotIn(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
  };
  const code = await run(argv, io);
  return { code, stdout, stderr };
}

const T = (minute: number) => new Date(Date.UTC(2026, 0, 2, 3, minute, 0));

describe("longshot list (an output root)", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), "longshot-list-"));
    const folder = async (rel: string, files: Record<string, string>) => {
      await mkdir(path.join(root, rel), { recursive: true });
      for (const [name, text] of Object.entries(files)) await writeFile(path.join(root, rel, name), text);
    };
    const record = (prompt: string, seed: number | string, minute: number, extra: object = {}) =>
      JSON.stringify({
        longshot: { version: "0.1.0", command: "generate" },
        createdAt: T(minute).toISOString(),
        prompt,
        seed,
        frames: 65,
        ...extra,
      });
    await folder("a-red-ball-1", { "result.json": record("a red ball", 1, 10), "video.mp4": "mp4" });
    await folder("remote-run", {
      "result.json": record("a blue box", "18446744073709551615", 30, { remote: { jobId: "j1" } }),
      "video.mp4": "mp4",
    });
    const job = Job.fromPartial({
      id: "jserve",
      state: JobState.JOB_STATE_FAILED,
      request: { prompt: "a green disc", seed: 5n, frames: 17 },
      error: { code: "UNAVAILABLE", reason: "the process stopped while it ran" },
      createTime: T(20),
    });
    await folder("jserve", {
      "job.json": JSON.stringify({ format: "longshot-serve-job/1", job: Job.toJSON(job), events: [] }),
    });
    await folder("batch/a-cyan-ball-7", { "result.json": record("a cyan ball", 7, 40), "video.mp4": "mp4" });
    await folder("batch/a-cyan-ball-8", { "result.json": record("a cyan ball", 8, 41) });
    await folder("going", { "keyframes.png": "png" });
    await folder("notes", { "todo.txt": "not a run" });
    await folder("broken", { "result.json": "{ not json" });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("--json: every run, newest first, with its state, seed, frames and video", async () => {
    const r = await longshotIn(["list", "--out", root, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const runs = JSON.parse(r.stdout) as RunEntry[];
    // "going" has no result.json: unfinished, dated by its folder (made just now, so the newest).
    assert.deepEqual(
      runs.map((x) => [x.id, x.source, x.state, x.seed, x.prompt]),
      [
        ["going", "generate", "unfinished", null, null],
        [path.join("batch", "a-cyan-ball-8"), "generate", "succeeded", "8", "a cyan ball"],
        [path.join("batch", "a-cyan-ball-7"), "generate", "succeeded", "7", "a cyan ball"],
        ["remote-run", "generate --remote", "succeeded", "18446744073709551615", "a blue box"],
        ["jserve", "serve", "failed", "5", "a green disc"],
        ["a-red-ball-1", "generate", "succeeded", "1", "a red ball"],
      ],
    );
    const byId = new Map(runs.map((x) => [x.id, x]));
    assert.equal(byId.get("a-red-ball-1")?.video, path.join(root, "a-red-ball-1", "video.mp4"));
    assert.equal(byId.get(path.join("batch", "a-cyan-ball-8"))?.video, null, "no video.mp4 in that folder");
    assert.equal(byId.get("jserve")?.frames, 17);
    assert.equal(byId.get("jserve")?.error, "the process stopped while it ran");
    assert.equal(byId.get("jserve")?.createdAt, T(20).toISOString());
    assert.equal(byId.get("a-red-ball-1")?.dir, path.join(root, "a-red-ball-1"));
  });

  test("a table, and --limit keeps the newest", async () => {
    const r = await longshotIn(["list", "--out", root, "--limit", "3"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^CREATED \(UTC\) +STATE +SEED +FRAMES +PROMPT +VIDEO/);
    assert.equal(lines.length, 1 + 3 + 1);
    assert.match(lines[1] ?? "", /unfinished +- +- +\(not known yet\) +.*going\/$/);
    assert.match(lines[2] ?? "", /^2026-01-02 03:41:00Z +succeeded +8 +65 +a cyan ball +.*a-cyan-ball-8\/$/);
    assert.match(lines[3] ?? "", /^2026-01-02 03:40:00Z +succeeded +7 +65 +a cyan ball +.*a-cyan-ball-7\/video\.mp4$/);
    assert.match(lines[4] ?? "", /^6 runs in .*, the newest 3 shown \(--limit\)$/);
  });

  test("bad arguments: exit 2 naming them", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--out", path.join(root, "missing")], /^longshot list: --out: cannot read .*missing: no such folder/],
      [["--out", path.join(root, "notes", "todo.txt")], /^longshot list: --out: .*todo\.txt is not a folder/],
      [["--limit", "0"], /^longshot list: --limit: must be an integer in \[1, 1000000\], got "0"/],
      [[root], /^longshot list: ".*": unexpected argument; the output root goes in --out DIR/],
      [["--tls-ca", "ca.pem"], /^longshot list: --tls-ca: applies only with --remote HOST:PORT/],
      [["--remote", "nohost"], /^longshot list: --remote: must be HOST:PORT, got "nohost"/],
      [["--remote", "127.0.0.1:1", "--out", root], /^longshot list: --out: does not apply with --remote/],
      [["--sort", "x"], /^longshot list: --sort: unknown option/],
    ];
    for (const [args, says] of cases) {
      const r = await longshotIn(["list", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, says, args.join(" "));
      assert.equal(r.stdout, "");
    }
  });

  test("an empty root says so", async () => {
    const empty = path.join(root, "notes");
    const r = await longshotIn(["list", "--out", empty]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^no runs in .*notes\/\n$/);
    assert.equal((await longshotIn(["list", "--out", empty, "--json"])).stdout, "[]\n");
  });
});

describe("longshot list --remote (a gateway's jobs)", () => {
  let server: GrpcServer;
  let address: string;
  const requests: ListJobsRequest[] = [];
  // Five jobs in the order a store might keep them (not by time): ListJobs pages them two at a time.
  const jobs = [3, 1, 4, 0, 2].map((minute) =>
    Job.fromPartial({
      id: `j${minute}`,
      state: minute === 4 ? JobState.JOB_STATE_RUNNING : JobState.JOB_STATE_SUCCEEDED,
      request: { prompt: `prompt ${minute}`, seed: BigInt(100 + minute), frames: 65 },
      createTime: T(minute),
      artifacts:
        minute === 4
          ? []
          : [
              { format: OutputFormat.OUTPUT_FORMAT_GIF, uri: `s3://videos/j${minute}/video.gif` },
              { format: OutputFormat.OUTPUT_FORMAT_MP4, uri: `s3://videos/j${minute}/video.mp4` },
            ],
    }),
  );

  before(async () => {
    const video = defineService(VideoServiceService, {
      async generate() {
        throw new Error("not used");
      },
      async *watchJob() {},
      async getJob() {
        throw new Error("not used");
      },
      async cancelJob() {
        throw new Error("not used");
      },
      async listJobs(request) {
        requests.push(request);
        const start = request.pageToken === "" ? 0 : Number(request.pageToken.replace("page-", ""));
        const end = start + 2;
        return { jobs: jobs.slice(start, end), nextPageToken: end < jobs.length ? `page-${end}` : "" };
      },
    });
    server = createGrpcServer({ services: [video], logger: silentLogger });
    await server.listen("127.0.0.1:0");
    server.setServing(true);
    address = `127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server?.drain(0);
  });

  test("every page, newest first, with the MP4's URI", async () => {
    const r = await longshotIn(["list", "--remote", address, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      requests.map((q) => q.pageToken),
      ["", "page-2", "page-4"],
    );
    const runs = JSON.parse(r.stdout) as RunEntry[];
    assert.deepEqual(
      runs.map((x) => [x.id, x.state, x.seed, x.video]),
      [
        ["j4", "running", "104", null],
        ["j3", "succeeded", "103", "s3://videos/j3/video.mp4"],
        ["j2", "succeeded", "102", "s3://videos/j2/video.mp4"],
        ["j1", "succeeded", "101", "s3://videos/j1/video.mp4"],
        ["j0", "succeeded", "100", "s3://videos/j0/video.mp4"],
      ],
    );
    assert.ok(runs.every((x) => x.source === "gateway" && x.dir === null && x.frames === 65));
    const table = await longshotIn(["list", "--remote", address, "--limit", "2"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /\n2026-01-02 03:04:00Z +running +104 +65 +prompt 4 +j4\n/);
    assert.match(table.stdout, /\n5 runs on 127\.0\.0\.1:\d+, the newest 2 shown \(--limit\)\n$/);
  });

  test("a gateway that is not there: exit 1 saying so", async () => {
    const r = await longshotIn(["list", "--remote", "127.0.0.1:1"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^longshot list: error: cannot reach the gateway at 127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});
