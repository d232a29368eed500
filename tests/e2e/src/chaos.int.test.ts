/**
 * Failure survival, on a cluster of its own (nats-server, an S3 server, gateway, keyframe, two
 * interpolation replicas, decoder; each its own process, AckWait 4 s so a crashed worker's task comes
 * back quickly):
 *
 * - kill -9 an interpolation replica in the middle of a window, the keyframe service and the decoder
 *   in the middle of their tasks, and the gateway while jobs run; restart each → every job completes
 *   exactly once (one terminal event, one set of artifacts, nothing else left in the bucket, no job
 *   lost or added);
 * - kill -9 nats-server mid-run and start it again → the jobs resume and complete;
 * - a latent object corrupted in the bucket (bit rot: its recorded hash no longer matches) is caught
 *   by the reader's hash check, its producer runs again, and the job completes with the video an
 *   uncorrupted run makes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { listDeadLetters } from "@longshot/bus";
import { GenerateRequest, type Job, JobEvent, JobState, ListJobsRequest, OutputFormat, Stage } from "@longshot/proto";
import { waitFor } from "@longshot/testing";
import type { Subscription } from "@nats-io/transport-node";
import { BUCKET, Cluster, ms } from "./cluster.js";

const PROMPT = "a green square moving left on a black background";

function request(seed: bigint, fields: Partial<GenerateRequest> = {}): GenerateRequest {
  return GenerateRequest.fromPartial({
    prompt: PROMPT,
    seed,
    frames: 65,
    keyframeSteps: 6,
    interpolationSteps: 2,
    outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4],
    ...fields,
  });
}

/** Every job event published while the test runs, as it is published (core NATS view of the event stream). */
class EventTap {
  readonly events: JobEvent[] = [];
  #sub: Subscription;
  #waiters: Array<{ pred: (e: JobEvent) => boolean; resolve: (e: JobEvent) => void }> = [];

  constructor(cluster: Cluster) {
    this.#sub = cluster.bus.nc.subscribe("longshot.events.*", {
      callback: (_err, m) => {
        if (m === undefined) return;
        let ev: JobEvent;
        try {
          ev = JobEvent.decode(m.data);
        } catch {
          return;
        }
        this.events.push(ev);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.pred(ev)) return true;
          w.resolve(ev);
          return false;
        });
      },
    });
  }

  /** The next event (from now on) matching `pred`. */
  next(pred: (e: JobEvent) => boolean, timeoutMs: number, what: string): Promise<JobEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

const isStep = (e: JobEvent, stage: Stage, level?: number) =>
  e.event?.$case === "stepProgress" &&
  e.event.value.stage === stage &&
  (level === undefined || e.event.value.level === level);

/** Checks that each job ended SUCCEEDED exactly once and left exactly its artifacts in the bucket. */
async function assertExactlyOnce(cluster: Cluster, jobs: Job[]): Promise<void> {
  for (const job of jobs) {
    assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, `${job.id}: ${job.error?.code} ${job.error?.reason}`);
    assert.equal(job.artifacts.filter((a) => a.format === OutputFormat.OUTPUT_FORMAT_MP4).length, 1);
    const events = await cluster.events(job.id, 30_000);
    const terminal = events.filter((e) => ["completed", "failed", "cancelled"].includes(e.event?.$case ?? ""));
    assert.deepEqual(
      terminal.map((e) => e.event?.$case),
      ["completed"],
      `job ${job.id} has exactly one terminal event`,
    );
    // Clean-up follows the state change (or the reconciler's next pass, when a gateway died in between).
    // The video files, and the keyframe latents (the HTTP API's spritesheet).
    const artifacts = [
      ...job.artifacts.map((a) => a.uri.slice(`s3://${BUCKET}/`.length)),
      `jobs/${job.id}/keyframes.safetensors`,
    ].sort();
    let keys: string[] = [];
    let run = await cluster.runRecord(job.id);
    await waitFor(
      `job ${job.id} to be cleaned up`,
      async () => {
        keys = await cluster.keys(`jobs/${job.id}/`);
        run = await cluster.runRecord(job.id);
        return run.cleanedUp && JSON.stringify(keys) === JSON.stringify(artifacts);
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    ).catch(() => {}); // the assertions below show what is left
    assert.deepEqual(keys, artifacts, `job ${job.id}: exactly its artifacts and keyframes remain`);
    assert.equal(run.slot, null, "admission slot released");
    assert.equal(run.cleanedUp, true);
    for (const t of Object.values(run.tasks)) assert.ok(t.result, `task ${t.taskId} has its result`);
  }
}

describe("chaos: crashes and restarts", { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let tap: EventTap;
  const mp4BySeed = new Map<bigint, string>();

  before(async () => {
    const t0 = performance.now();
    cluster = await Cluster.start({ interpolationReplicas: 2, maxActiveJobs: 16, ackWait: "4s" });
    tap = new EventTap(cluster);
    console.log(`# chaos cluster up in ${ms(t0)}`);
  });

  after(async () => {
    tap?.stop();
    await cluster?.stop();
  });

  test("kill -9 interpolation mid-window, keyframe and decoder mid-task, the gateway mid-run → every job once", async () => {
    const t0 = performance.now();
    const seeds = [1n, 2n, 3n, 4n];
    const firstKeyframeStep = tap.next((e) => isStep(e, Stage.STAGE_KEYFRAME), 120_000, "keyframe step");
    const ids: string[] = [];
    for (const seed of seeds) ids.push((await cluster.client.generate(request(seed))).job?.id as string);

    // The keyframe service, mid-task.
    await firstKeyframeStep;
    await cluster.kill("keyframe");
    console.log(`# killed keyframe mid-task at ${ms(t0)}`);
    await cluster.restart("keyframe");

    // An interpolation replica mid-window: once two level-2 windows are running, both replicas are busy.
    const running = new Set<string>();
    await tap.next(
      (e) => {
        if (isStep(e, Stage.STAGE_INTERPOLATION, 2) && e.event?.$case === "stepProgress")
          running.add(e.event.value.taskId);
        return running.size >= 2;
      },
      180_000,
      "two level-2 windows running",
    );
    await cluster.kill("interpolation-1");
    console.log(`# killed interpolation-1 mid-window at ${ms(t0)}`);
    await cluster.restart("interpolation-1");

    // The gateway, while jobs run.
    await cluster.kill("gateway");
    console.log(`# killed the gateway at ${ms(t0)}`);
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.restart("gateway");

    // The decoder, mid-task.
    await tap.next(
      (e) =>
        isStep(e, Stage.STAGE_DECODE) ||
        (e.event?.$case === "stageStarted" && e.event.value.stage === Stage.STAGE_DECODE),
      240_000,
      "a decode task",
    );
    await cluster.kill("decoder");
    console.log(`# killed the decoder mid-task at ${ms(t0)}`);
    await cluster.restart("decoder");

    const jobs = await Promise.all(ids.map((id) => cluster.waitForEnd(id, 400_000)));
    console.log(`# ${jobs.length} jobs ended ${ms(t0)} after submission`);
    await assertExactlyOnce(cluster, jobs);
    const listed = await cluster.client.listJobs(ListJobsRequest.create({ pageSize: 100 }));
    assert.deepEqual(listed.jobs.map((j) => j.id).sort(), [...ids].sort(), "no job lost or added");
    const dead = await listDeadLetters(cluster.bus.js);
    assert.deepEqual(
      dead.map((d) => `${d.taskId}: ${d.reason}`),
      [],
      "no task was dead-lettered",
    );
    for (const [i, job] of jobs.entries()) {
      mp4BySeed.set(
        seeds[i] as bigint,
        job.artifacts.find((a) => a.format === OutputFormat.OUTPUT_FORMAT_MP4)?.sha256 ?? "",
      );
    }
  });

  test("kill -9 nats-server mid-run and start it again → jobs resume", async () => {
    const t0 = performance.now();
    const interp = tap.next((e) => isStep(e, Stage.STAGE_INTERPOLATION), 120_000, "an interpolation step");
    const ids = [
      (await cluster.client.generate(request(11n))).job?.id as string,
      (await cluster.client.generate(request(12n))).job?.id as string,
    ];
    await interp;
    await cluster.servers.restartNats({ signal: "SIGKILL", downMs: 2000 });
    console.log(`# nats-server killed and restarted at ${ms(t0)}`);
    const jobs = await Promise.all(ids.map((id) => cluster.waitForEnd(id, 300_000)));
    console.log(`# jobs ended ${ms(t0)} after submission`);
    await assertExactlyOnce(cluster, jobs);
  });

  test("a corrupted latent object is detected by its hash; its producer runs again; same video", async () => {
    const t0 = performance.now();
    // No interpolation replica: the job waits after its keyframes, which are then corrupted in place.
    await Promise.all([
      cluster.service("interpolation-1").proc.stop("SIGTERM"),
      cluster.service("interpolation-2").proc.stop("SIGTERM"),
    ]);
    const { job } = await cluster.client.generate(request(1n));
    assert.ok(job);
    const key = `jobs/${job.id}/keyframes.safetensors`;
    await waitFor(
      "the keyframe result to be recorded",
      async () => Object.values((await cluster.runRecord(job.id)).tasks).some((t) => t.stage === "interpolation"),
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const stat = await cluster.store.stat(key);
    const chunks: Buffer[] = [];
    for await (const chunk of await cluster.store.client.getObject(BUCKET, key)) chunks.push(chunk as Buffer);
    const corrupted = Buffer.concat(chunks);
    for (let i = corrupted.length - 64; i < corrupted.length; i++) corrupted[i] = (corrupted[i] as number) ^ 0x5a;
    // Bit rot: the bytes change, the recorded hash (object metadata) does not.
    await cluster.store.client.putObject(BUCKET, key, corrupted, corrupted.length, {
      "Content-Type": "application/vnd.safetensors",
      sha256: stat.sha256 ?? "",
    });
    console.log(`# corrupted ${key} at ${ms(t0)}`);
    await Promise.all([cluster.restart("interpolation-1"), cluster.restart("interpolation-2")]);

    const done = await cluster.waitForEnd(job.id, 300_000);
    console.log(`# job ${JobState[done.state]} ${ms(t0)} after submission`);
    await assertExactlyOnce(cluster, [done]);
    const run = await cluster.runRecord(job.id);
    assert.equal(run.reruns[key], 1, `the keyframes were produced again once: ${JSON.stringify(run.reruns)}`);
    assert.equal(run.tasks[`${job.id}:keyframe`]?.attempt, 2);
    const dead = await listDeadLetters(cluster.bus.js, { stage: "interpolation" });
    const report = dead.find((d) => d.jobId === job.id);
    assert.ok(report, "the reader dead-lettered its task with the hash mismatch");
    assert.equal(report.code, "DATA_LOSS");
    assert.match(report.reason, /sha256|SHA-256/i);
    const mp4 = done.artifacts.find((a) => a.format === OutputFormat.OUTPUT_FORMAT_MP4)?.sha256;
    assert.equal(mp4, mp4BySeed.get(1n), "the same video as the uncorrupted run of seed 1");
  });
});
