/**
 * The keyframe service as a process, against a real nats-server and S3 server: tasks from the queue,
 * outputs in S3, results and events on JetStream, redelivery, malformed payloads, SIGTERM.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { getTensor } from "@longshot/blob";
import { encodeTask, listDeadLetters, publishTask, TASKS_STREAM, taskSubject } from "@longshot/bus";
import { denoiseKeyframes, encodePrompt, KEYFRAME_STREAM, PromptTokenizer, seededStageNoise } from "@longshot/engine";
import {
  checkHealth,
  DataType,
  durationToMs,
  Sampler,
  Stage,
  type StageResult,
  StageTask,
  watchHealth,
} from "@longshot/proto";
import { createModelRuntime } from "@longshot/runtime";
import { blobLatentRef } from "@longshot/stage";
import {
  QUEUE_FLAGS,
  type ServiceProcess,
  type StageTestEnv,
  spawnService,
  startStageTestEnv,
} from "@longshot/stage/testing";
import { waitFor } from "@longshot/testing";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const STEPS = 3;

describe("keyframe service process (NATS JetStream + S3)", { timeout: 180_000 }, () => {
  let env: StageTestEnv;
  let svc: ServiceProcess;

  const args = () => [`--pack=${env.packDir}`, "--ort-threads=1", "--stop-timeout=1s", ...QUEUE_FLAGS];

  function task(jobId: string, change: Partial<StageTask> = {}, steps = STEPS): StageTask {
    return StageTask.create({
      jobId,
      taskId: `${jobId}/keyframe`,
      outputKey: `jobs/${jobId}/keyframes.safetensors`,
      stage: Stage.STAGE_KEYFRAME,
      packName: env.pack.name,
      packVersion: env.pack.version,
      seed: 1234n,
      sampler: { sampler: Sampler.SAMPLER_DDIM, steps, guidance: 5 },
      params: { $case: "keyframe", value: { prompt: "a red circle moving right", numFrames: 5 } },
      ...change,
    });
  }

  before(async () => {
    env = await startStageTestEnv();
    svc = await spawnService("keyframe-service", MAIN, args(), env.serviceEnv());
  });
  after(async () => {
    if (svc && !svc.proc.hasExited) await svc.proc.stop("SIGKILL");
    await env?.stop();
  });

  it("runs a queued task: embeddings and keyframes in S3 as reported, equal to the engine in-process", async () => {
    const t = task("kf1");
    await publishTask(env.bus.js, t);
    const result = await env.result(t.taskId);
    const { latent, text, video } = env.pack.manifest;
    assert.equal(result.jobId, "kf1");
    assert.equal(result.stage, Stage.STAGE_KEYFRAME);
    assert.match(result.workerId, /:\d+$/);
    assert.equal(result.latents?.uri, `s3://longshot-test/jobs/kf1/keyframes.safetensors`);
    assert.equal(result.textEmbeddings?.uri, `s3://longshot-test/jobs/kf1/text.safetensors`);
    assert.deepEqual(result.latents?.shape, [1, latent.channels, video.keyframes, latent.height, latent.width]);
    assert.deepEqual(result.textEmbeddings?.shape, [2, text.maxTokens, text.hiddenSize]);
    assert.equal(result.latents?.dtype, DataType.DATA_TYPE_FLOAT32);
    assert.ok(durationToMs(result.timings?.compute ?? { seconds: 0n, nanos: 0 }) > 0);

    // The objects are there with the reported hashes (getTensor verifies size, sha256, dtype and shape).
    const stat = await env.store.stat("jobs/kf1/keyframes.safetensors");
    assert.equal(stat.sha256, result.latents?.sha256);
    assert.ok(result.latents && result.textEmbeddings);
    const keyframes = await getTensor(env.store, blobLatentRef(result.latents, "latents"));
    const embeddings = await getTensor(env.store, blobLatentRef(result.textEmbeddings, "text"));

    // The same computation in this process: same seed stream, same sessions, same numbers.
    const runtime = createModelRuntime({ threads: 1 });
    try {
      const textEncoder = await runtime.load(env.pack, "textEncoder");
      const unet = await runtime.load(env.pack, "keyframeUnet");
      const tokenizer = await PromptTokenizer.fromPack(env.pack);
      const te = await encodePrompt({ textEncoder, tokenizer, prompt: "a red circle moving right" });
      const kf = await denoiseKeyframes({
        unet,
        sampler: "ddim",
        schedulerConfig: env.pack.manifest.scheduler,
        steps: STEPS,
        textEmbeddings: te,
        noise: seededStageNoise(1234n, KEYFRAME_STREAM, [1, latent.channels, 5, latent.height, latent.width]),
        guidance: 5,
      });
      assert.deepEqual(embeddings.data, te.data);
      assert.deepEqual(keyframes.data, kf.data);
    } finally {
      await runtime.close();
    }

    const kinds = (await env.events("kf1")).map((e) => e.event?.$case);
    assert.equal(kinds[0], "stageStarted");
    assert.equal(kinds[kinds.length - 1], "stageCompleted");
    assert.ok(kinds.includes("stepProgress"), kinds.join(","));
  });

  it("reuses the outputs of an earlier run when the same task is delivered again (another Msg-Id)", async () => {
    const t = task("kf1");
    const first = (await env.result(t.taskId)) as StageResult;
    const before = await env.store.stat("jobs/kf1/keyframes.safetensors");
    const published = await publishTask(env.bus.js, t, { msgId: "kf1-again" });
    assert.equal(published.duplicate, false);
    // Msg-Id result:<task id> de-duplicates the second report within the window: wait for the task's ack instead.
    await waitFor(
      "the redelivered task settled",
      async () => {
        const ci = await env.bus.jsm.consumers.info(TASKS_STREAM, "keyframe");
        return ci.num_ack_pending === 0 && ci.num_pending === 0;
      },
      30_000,
    );
    const after = await env.store.stat("jobs/kf1/keyframes.safetensors");
    assert.equal(after.sha256, first.latents?.sha256);
    assert.equal(after.lastModified.getTime(), before.lastModified.getTime(), "the object was not written again");
    assert.match(svc.proc.output(), /outputs of an earlier run of this task are intact; reusing them/);
    assert.equal((await listDeadLetters(env.bus.js, { stage: "keyframe" })).length, 0);
  });

  it("terminates malformed payloads and invalid tasks with a reason naming the field, and keeps running", async () => {
    const subject = taskSubject("keyframe");
    await env.bus.js.publish(subject, randomBytes(400));
    await env.bus.js.publish(
      subject,
      encodeTask({ ...task("bad1"), sampler: { sampler: Sampler.SAMPLER_DDIM, steps: 3, guidance: 0.5 } }),
    );
    await env.bus.js.publish(subject, encodeTask(task("bad2", { packVersion: "" })));
    const good = task("kf2");
    await publishTask(env.bus.js, good);
    await env.result(good.taskId);
    await waitFor(
      "three dead letters",
      async () => (await listDeadLetters(env.bus.js, { stage: "keyframe" })).length === 3,
    );
    const dead = await listDeadLetters(env.bus.js, { stage: "keyframe" });
    assert.equal(dead[0]?.kind, "malformed");
    assert.match(
      dead[0]?.reason ?? "",
      /^malformed payload: payload: not a (protobuf longshot.v1.StageTask|valid StageTask)/,
    );
    assert.equal(dead[1]?.kind, "permanent");
    assert.equal(dead[1]?.code, "INVALID_ARGUMENT");
    assert.match(dead[1]?.reason ?? "", /^task\.sampler\.guidance: must be at least 1/);
    assert.match(dead[2]?.reason ?? "", /^task\.pack_version: is required/);
    assert.equal(svc.proc.hasExited, false);
  });

  it("on SIGTERM reports NOT_SERVING, hands the running task back and exits 0; the next process finishes it", async () => {
    const address = `127.0.0.1:${svc.port}`;
    assert.equal(await checkHealth(address), "SERVING");
    const t = task("kf3", {}, 80);
    await publishTask(env.bus.js, t);
    await waitFor(
      "the first step event",
      async () => (await env.events("kf3")).some((e) => e.event?.$case === "stepProgress"),
      30_000,
    );
    const statuses: string[] = [];
    for await (const s of watchHealth(address, "longshot.v1.KeyframeService")) {
      statuses.push(s);
      if (s === "SERVING") svc.proc.child.kill("SIGTERM");
      if (s === "NOT_SERVING") break;
    }
    assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    const exit = await svc.proc.exited;
    assert.equal(exit.code, 0, svc.proc.output());
    assert.match(svc.proc.output(), /"msg":"worker stopping; task handed back"/);
    assert.match(svc.proc.output(), /"msg":"stopped"/);
    const ci = await env.bus.jsm.consumers.info(TASKS_STREAM, "keyframe");
    assert.equal(ci.num_ack_pending + ci.num_pending, 1, "the task is back in the queue");
    assert.ok(!env.results.some((r) => r.taskId === t.taskId));

    svc = await spawnService("keyframe-service-2", MAIN, args(), env.serviceEnv());
    const result = await env.result(t.taskId, 120_000);
    assert.equal(result.latents?.uri, "s3://longshot-test/jobs/kf3/keyframes.safetensors");
    assert.equal((await listDeadLetters(env.bus.js, { stage: "keyframe" })).length, 3); // only the earlier test's
  });
});
