/**
 * The decoder service as a process, against a real nats-server and S3 server: decode tasks from the
 * queue, MP4 and GIF in S3 (presigned URLs work), redelivery, corrupt inputs, SIGTERM.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { listDeadLetters, publishTask, TASKS_STREAM } from "@longshot/bus";
import { decodeFrames, randn } from "@longshot/engine";
import { decodeVideo } from "@longshot/media";
import { type LatentRef, OutputFormat, Stage, StageTask } from "@longshot/proto";
import { createModelRuntime } from "@longshot/runtime";
import { protoLatentRef, putLatent } from "@longshot/stage";
import {
  corruptObject,
  QUEUE_FLAGS,
  type ServiceProcess,
  type StageTestEnv,
  spawnService,
  startStageTestEnv,
} from "@longshot/stage/testing";
import type { Tensor } from "@longshot/tensor";
import { waitFor } from "@longshot/testing";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));

describe("decoder service process (NATS JetStream + S3)", { timeout: 180_000 }, () => {
  let env: StageTestEnv;
  let svc: ServiceProcess;
  let latents: Tensor;
  let latentsRef: LatentRef;
  let frames: number;

  function decodeTask(jobId: string, ref = latentsRef): StageTask {
    return StageTask.create({
      jobId,
      taskId: `${jobId}/decode`,
      outputKey: `jobs/${jobId}/video.mp4`,
      stage: Stage.STAGE_DECODE,
      packName: env.pack.name,
      packVersion: env.pack.version,
      seed: 5n,
      params: {
        $case: "decode",
        value: {
          latents: ref,
          frameStart: 0,
          frameEnd: frames,
          outputFormats: [OutputFormat.OUTPUT_FORMAT_MP4, OutputFormat.OUTPUT_FORMAT_GIF],
        },
      },
    });
  }

  before(async () => {
    env = await startStageTestEnv();
    const { latent, video } = env.pack.manifest;
    frames = Math.min(...video.frames);
    latents = randn(3, [1, latent.channels, frames, latent.height, latent.width], { stream: "test-final" });
    latentsRef = protoLatentRef(await putLatent(env.store, "jobs/in/final.safetensors", latents, "test"));
    svc = await spawnService(
      "decoder-service",
      MAIN,
      [`--pack=${env.packDir}`, "--ort-threads=1", "--decode-batch=8", ...QUEUE_FLAGS],
      env.serviceEnv(),
    );
  });
  after(async () => {
    if (svc && !svc.proc.hasExited) await svc.proc.stop("SIGKILL");
    await env?.stop();
  });

  it("decodes queued latents into an MP4 and a GIF in S3, fetchable by presigned URL, showing the decoded frames", async () => {
    const t = decodeTask("dv1");
    await publishTask(env.bus.js, t);
    const result = await env.result(t.taskId);
    assert.equal(result.stage, Stage.STAGE_DECODE);
    assert.deepEqual(
      result.artifacts.map((a) => [a.format, a.uri, a.contentType]),
      [
        [OutputFormat.OUTPUT_FORMAT_MP4, "s3://longshot-test/jobs/dv1/video.mp4", "video/mp4"],
        [OutputFormat.OUTPUT_FORMAT_GIF, "s3://longshot-test/jobs/dv1/video.gif", "image/gif"],
      ],
    );
    const dir = await mkdtemp(path.join(tmpdir(), "longshot-dv-"));
    try {
      for (const a of result.artifacts) {
        const res = await fetch(a.presignedUrl);
        assert.equal(res.status, 200, a.presignedUrl);
        const bytes = new Uint8Array(await res.arrayBuffer());
        assert.equal(createHash("sha256").update(bytes).digest("hex"), a.sha256);
        assert.equal(BigInt(bytes.length), a.bytes);
        assert.ok((a.presignedUrlExpireTime?.getTime() ?? 0) > Date.now() + 3_600_000);
        await writeFile(path.join(dir, path.basename(a.uri)), bytes);
      }
      const { width, height } = env.pack.manifest.video;
      const mp4 = await decodeVideo(path.join(dir, "video.mp4"), { width, height });
      assert.equal(mp4.info.codec, "h264");
      assert.equal(mp4.frames.length, frames);

      // The video shows what the VAE decodes from these latents (H.264 is lossy: compare on average).
      const runtime = createModelRuntime({ threads: 1 });
      try {
        const vae = await runtime.load(env.pack, "vaeDecoder");
        const ref = await decodeFrames({ vae, latents, scalingFactor: env.pack.manifest.latent.scalingFactor });
        let sum = 0;
        let n = 0;
        for (let f = 0; f < frames; f++) {
          const a = mp4.frames[f] as Uint8Array;
          const b = ref.frames[f] as Uint8Array;
          for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
          n += a.length;
        }
        assert.ok(sum / n < 12, `mean absolute difference ${(sum / n).toFixed(2)} levels`);
      } finally {
        await runtime.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const kinds = (await env.events("dv1")).map((e) => e.event?.$case);
    assert.deepEqual([kinds[0], kinds[kinds.length - 1]], ["stageStarted", "stageCompleted"]);
  });

  it("reuses the files of an earlier run when the same task is delivered again", async () => {
    const t = decodeTask("dv1");
    const before = await env.store.stat("jobs/dv1/video.mp4");
    await publishTask(env.bus.js, t, { msgId: "dv1-again" });
    await waitFor(
      "the redelivered task settled",
      async () => {
        const ci = await env.bus.jsm.consumers.info(TASKS_STREAM, "decode");
        return ci.num_ack_pending === 0 && ci.num_pending === 0;
      },
      30_000,
    );
    const after = await env.store.stat("jobs/dv1/video.mp4");
    assert.equal(after.sha256, before.sha256);
    assert.equal(after.lastModified.getTime(), before.lastModified.getTime(), "the video was not written again");
    assert.match(svc.proc.output(), /outputs of an earlier run of this task are intact; reusing them/);
  });

  it("dead-letters a task whose latents are corrupt, naming the key, never decoding them; keeps running", async () => {
    const copy = protoLatentRef(await putLatent(env.store, "jobs/dc/final.safetensors", latents, "test"));
    await corruptObject(env.store, "jobs/dc/final.safetensors");
    const bad = decodeTask("dc", copy);
    await publishTask(env.bus.js, bad);
    const good = decodeTask("dv2");
    await publishTask(env.bus.js, good);
    await env.result(good.taskId);
    const dead = await listDeadLetters(env.bus.js, { stage: "decode" });
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.code, "DATA_LOSS");
    assert.match(
      dead[0]?.reason ?? "",
      /^task\.decode\.latents: blob s3 bucket "longshot-test" key "jobs\/dc\/final\.safetensors": content does not match its ref/,
    );
    assert.equal(await env.store.exists("jobs/dc/video.mp4"), false);
    assert.equal(svc.proc.hasExited, false);
  });

  it("drains on SIGTERM and exits 0", async () => {
    svc.proc.child.kill("SIGTERM");
    const exit = await svc.proc.exited;
    assert.equal(exit.code, 0, svc.proc.output());
    assert.match(svc.proc.output(), /"msg":"stopped"/);
  });
});
