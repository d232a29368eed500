/**
 * `longshot generate --remote …` against a stand-in gateway (a real gRPC server with a VideoService whose jobs are
 * done at once, without artifacts, after a keyframe stage_completed event, and a real HTTP server answering the
 * spritesheet): `--num-videos N` makes one Generate per video at seeds s, s + 1, …, one folder each;
 * `--remote-http URL` fetches keyframes.png from the HTTP API once the keyframe stage completes.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createGrpcServer,
  defineService,
  type GenerateRequest,
  type GrpcServer,
  Job,
  type JobEvent,
  JobState,
  Mode,
  Sampler,
  Stage,
  silentLogger,
  VideoServiceService,
} from "@longshot/proto";
import { makeTempDir, removeTempDir } from "@longshot/testing";
import { run } from "./cli.js";
import type { CliIo } from "./io.js";

/** Runs the CLI in this process. */
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

/** What the stand-in HTTP API answers for a job's spritesheet (job j1: 404 twice, then the PNG). */
const SHEET = Buffer.from("\x89PNG stand-in bytes");

describe("longshot generate --remote --num-videos / --remote-http", () => {
  let server: GrpcServer;
  let http: Server;
  let httpUrl: string;
  const httpRequests: string[] = [];
  let address: string;
  let dir: string;
  const requests: GenerateRequest[] = [];
  const jobs = new Map<string, Job>();

  before(async () => {
    dir = makeTempDir("cli-remote-batch");
    const video = defineService(VideoServiceService, {
      async generate(request) {
        requests.push(request);
        const job = Job.fromPartial({
          id: `j${requests.length}`,
          state: JobState.JOB_STATE_SUCCEEDED,
          // The request as a gateway records it: its defaults filled in.
          request: { ...request, seed: request.seed ?? 0n, sampler: Sampler.SAMPLER_DDIM, mode: Mode.MODE_PINNED },
        });
        jobs.set(job.id, job);
        return { job, deduplicated: false };
      },
      async *watchJob(request) {
        const event: JobEvent = {
          sequence: 1n,
          jobId: request.jobId,
          time: new Date(),
          event: { $case: "stageCompleted", value: { stage: Stage.STAGE_KEYFRAME, level: 0, duration: undefined } },
        };
        yield { event };
      },
      async getJob(request) {
        return { job: jobs.get(request.jobId) };
      },
      async cancelJob(request) {
        return { job: jobs.get(request.jobId) };
      },
      async listJobs() {
        return { jobs: [], nextPageToken: "" };
      },
    });
    server = createGrpcServer({ services: [video], logger: silentLogger });
    await server.listen("127.0.0.1:0");
    server.setServing(true);
    address = `127.0.0.1:${server.port}`;
    http = createServer((req, res) => {
      httpRequests.push(req.url ?? "");
      const m = /^\/api\/v1\/videos\/([^/]+)\/content\?variant=spritesheet$/.exec(req.url ?? "");
      const ready = m?.[1] === "j4" && httpRequests.length > 2;
      if (!ready) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "not_found", message: `no keyframes for ${m?.[1]} yet` } }));
        return;
      }
      res.writeHead(200, { "content-type": "image/png" });
      res.end(SHEET);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/api`;
  });
  after(async () => {
    await new Promise((resolve) => http?.close(resolve));
    await server?.drain(0);
    removeTempDir(dir);
  });

  test("one job per seed, one folder each under --out", async () => {
    const argv = ["generate", "--prompt", "a cat", "--remote", address, "--seed", "41", "--num-videos", "3"];
    const { code, stdout, stderr } = await longshotIn([...argv, "--out", dir]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      requests.map((r) => r.seed),
      [41n, 42n, 43n],
    );
    assert.equal(new Set(requests.map((r) => r.idempotencyKey)).size, 3, "a key of its own for each job");
    // Progress says which video.
    assert.match(stderr, /^video 2\/3 \(seed 42\) submitting to /m);
    for (const [i, seed] of [41, 42, 43].entries()) {
      const result = JSON.parse(await readFile(path.join(dir, `a-cat-${seed}`, "result.json"), "utf8"));
      assert.equal(result.seed, String(seed));
      assert.equal(result.remote.jobId, `j${i + 1}`);
    }
    assert.equal(stdout.match(/^wrote /gm)?.length, 3, stdout);
  });

  test("--remote-http: keyframes.png from the HTTP API's spritesheet when the keyframe stage completes", async () => {
    const out = path.join(dir, "with-preview");
    const r = await longshotIn([
      "generate",
      "--prompt",
      "a cat",
      "--remote",
      address,
      "--remote-http",
      httpUrl,
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(httpRequests.slice(0, 3), Array(3).fill("/api/v1/videos/j4/content?variant=spritesheet"));
    assert.deepEqual(await readFile(path.join(out, "keyframes.png")), SHEET);
    assert.match(r.stderr, /^keyframes: .*with-preview\/keyframes\.png$/m);
    const result = JSON.parse(await readFile(path.join(out, "result.json"), "utf8"));
    assert.deepEqual(
      result.files.map((f: { path: string; uri: string }) => [f.path, f.uri]),
      [["keyframes.png", `${httpUrl}/v1/videos/j4/content?variant=spritesheet`]],
    );
  });

  test("--remote-http that never has the keyframes: the run still succeeds, saying why there is no keyframes.png", async () => {
    const out = path.join(dir, "no-preview");
    const r = await longshotIn([
      "generate",
      "--prompt",
      "a cat",
      "--remote",
      address,
      "--remote-http",
      httpUrl,
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^no keyframes\.png: GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/videos\/j5\/content\?variant=spritesheet: HTTP 404 \(no keyframes for j5 yet\)$/m,
    );
    assert.equal(existsSync(path.join(out, "keyframes.png")), false);
  });
});
