/**
 * `longshot generate --remote … --num-videos N` against a stand-in gateway (a real gRPC server with a VideoService
 * whose jobs are done at once, without artifacts): one Generate per video at seeds s, s + 1, …, one folder each.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createGrpcServer,
  defineService,
  type GenerateRequest,
  type GrpcServer,
  Job,
  JobState,
  Mode,
  Sampler,
  silentLogger,
  VideoServiceService,
} from "@longshot/proto";
import { makeTempDir, removeTempDir } from "@longshot/testing";
import { run } from "./cli.js";
import type { CliIo } from "./io.js";

describe("longshot generate --remote --num-videos", () => {
  let server: GrpcServer;
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
      async *watchJob() {},
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
  });
  after(async () => {
    await server?.drain(0);
    removeTempDir(dir);
  });

  test("one job per seed, one folder each under --out", async () => {
    let stdout = "";
    let stderr = "";
    const io: CliIo = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: {},
    };
    const argv = ["generate", "--prompt", "a cat", "--remote", address, "--seed", "41", "--num-videos", "3"];
    const code = await run([...argv, "--out", dir], io);
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
});
