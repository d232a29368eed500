/**
 * The interpolation service as a process, against a real nats-server and S3 server: window tasks
 * from the queue whose blended results equal the embedded windowed pass, redelivery, corrupt inputs,
 * malformed payloads, cancel during a step loop, SIGTERM.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { getTensor } from "@longshot/blob";
import { listDeadLetters, publishCancel, publishTask, TASKS_STREAM, taskSubject } from "@longshot/bus";
import {
  blendWindows,
  interpolateWindowed,
  interpolationStream,
  planWindows,
  randn,
  seededStageNoise,
} from "@longshot/engine";
import { type LatentRef, Mode, Sampler, Stage, type StageResult, StageTask } from "@longshot/proto";
import { createModelRuntime } from "@longshot/runtime";
import { blobLatentRef, protoLatentRef, putLatent } from "@longshot/stage";
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
const SEED = 99n;
const STEPS = 3;
const WINDOW = 9;
const OVERLAP = 4;

describe("interpolation service process (NATS JetStream + S3)", { timeout: 180_000 }, () => {
  let env: StageTestEnv;
  let svc: ServiceProcess;
  let keyframes: Tensor;
  let text: Tensor;
  let keyframesRef: LatentRef;
  let textRef: LatentRef;
  let fout: number;
  let stride: number;

  function windowTask(
    jobId: string,
    start: number,
    end: number,
    opts: { steps?: number; inputs?: LatentRef } = {},
  ): StageTask {
    const factor = env.pack.manifest.video.interpolationFactor;
    const anchors: number[] = [];
    for (let f = start; f < end; f += factor) anchors.push(f);
    // Where the window sits in the level's plan, as the gateway says (for the step_progress events).
    const plan = planWindows(fout, WINDOW, OVERLAP, factor);
    const index = plan.findIndex((w) => w.start === start && w.end === end);
    return StageTask.create({
      jobId,
      taskId: `${jobId}/interp1/${start}-${end}`,
      outputKey: `jobs/${jobId}/interp1/${start}-${end}.safetensors`,
      stage: Stage.STAGE_INTERPOLATION,
      packName: env.pack.name,
      packVersion: env.pack.version,
      seed: SEED,
      sampler: { sampler: Sampler.SAMPLER_DDIM, steps: opts.steps ?? STEPS, guidance: 2 },
      params: {
        $case: "interpolation",
        value: {
          inputLatents: opts.inputs ?? keyframesRef,
          textEmbeddings: textRef,
          level: 1,
          outputFrames: fout,
          windowStart: start,
          windowEnd: end,
          anchorFrames: anchors,
          frameStride: stride,
          mode: Mode.MODE_PINNED,
          windowIndex: Math.max(0, index),
          windowCount: index < 0 ? 0 : plan.length,
        },
      },
    });
  }

  before(async () => {
    env = await startStageTestEnv();
    const { latent, text: textSpec, video } = env.pack.manifest;
    fout = (video.keyframes - 1) * video.interpolationFactor + 1;
    stride = env.pack.manifest.interpolation.strides[String(fout)] as number;
    keyframes = randn(1, [1, latent.channels, video.keyframes, latent.height, latent.width], {
      stream: "test-keyframes",
    });
    text = randn(2, [2, textSpec.maxTokens, textSpec.hiddenSize], { stream: "test-text" });
    keyframesRef = protoLatentRef(await putLatent(env.store, "jobs/in/keyframes.safetensors", keyframes, "test"));
    textRef = protoLatentRef(await putLatent(env.store, "jobs/in/text.safetensors", text, "test"));
    svc = await spawnService(
      "interpolation-service",
      MAIN,
      [`--pack=${env.packDir}`, "--ort-threads=1", "--stop-timeout=2s", ...QUEUE_FLAGS],
      env.serviceEnv(),
    );
  });
  after(async () => {
    if (svc && !svc.proc.hasExited) await svc.proc.stop("SIGKILL");
    await env?.stop();
  });

  it("runs the windows of a level as tasks; blended, they equal the embedded windowed pass with that plan and seed", async () => {
    const plan = planWindows(fout, WINDOW, OVERLAP, env.pack.manifest.video.interpolationFactor);
    assert.ok(plan.length >= 2, `plan ${JSON.stringify(plan)}`);
    const tasks = plan.map((w) => windowTask("iw1", w.start, w.end));
    for (const t of tasks) await publishTask(env.bus.js, t);
    const results: StageResult[] = [];
    for (const t of tasks) results.push(await env.result(t.taskId));
    const { latent } = env.pack.manifest;
    const windows = [];
    for (const [k, r] of results.entries()) {
      const w = plan[k] as { start: number; end: number };
      assert.deepEqual([r.windowStart, r.windowEnd], [w.start, w.end]);
      assert.equal(r.latents?.uri, `s3://longshot-test/jobs/iw1/interp1/${w.start}-${w.end}.safetensors`);
      assert.deepEqual(r.latents?.shape, [1, latent.channels, w.end - w.start, latent.height, latent.width]);
      assert.ok(r.latents);
      windows.push({ window: w, latents: await getTensor(env.store, blobLatentRef(r.latents, "latents")) });
    }
    const distributed = blendWindows(windows, { frames: fout, mode: "pinned", keyframes });

    const runtime = createModelRuntime({ threads: 1 });
    try {
      const unet = await runtime.load(env.pack, "interpolationUnet");
      const embedded = await interpolateWindowed({
        unet,
        sampler: "ddim",
        schedulerConfig: env.pack.manifest.scheduler,
        steps: STEPS,
        textEmbeddings: text,
        latents: keyframes,
        noise: seededStageNoise(SEED, interpolationStream(1), [1, latent.channels, fout, latent.height, latent.width]),
        frameStride: stride,
        guidance: 2,
        mode: "pinned",
        factor: env.pack.manifest.video.interpolationFactor,
        hint: env.pack.manifest.interpolation.hint,
        windowFrames: WINDOW,
        overlap: OVERLAP,
      });
      assert.deepEqual(distributed.dims, embedded.dims);
      assert.deepEqual(distributed.data, embedded.data);
    } finally {
      await runtime.close();
    }

    const steps = (await env.events("iw1")).flatMap((e) => (e.event?.$case === "stepProgress" ? [e.event.value] : []));
    const lastOfFirst = steps.filter((s) => s.window?.start === plan[0]?.start).pop();
    assert.deepEqual(
      { step: lastOfFirst?.step, total: lastOfFirst?.total, level: lastOfFirst?.level, window: lastOfFirst?.window },
      { step: STEPS, total: STEPS, level: 1, window: { ...plan[0], index: 0, count: plan.length } },
    );
  });

  it("reuses a window's earlier output when the same task is delivered again", async () => {
    const t = windowTask("iw1", 0, WINDOW);
    const before = await env.store.stat(t.outputKey);
    await publishTask(env.bus.js, t, { msgId: "iw1-again" });
    await waitFor(
      "the redelivered task settled",
      async () => {
        const ci = await env.bus.jsm.consumers.info(TASKS_STREAM, "interpolation");
        return ci.num_ack_pending === 0 && ci.num_pending === 0;
      },
      30_000,
    );
    const after = await env.store.stat(t.outputKey);
    assert.equal(after.sha256, before.sha256);
    assert.equal(after.lastModified.getTime(), before.lastModified.getTime(), "the object was not written again");
    assert.match(svc.proc.output(), /outputs of an earlier run of this task are intact; reusing them/);
  });

  it("terminates a task whose input is corrupt (dead letter naming the key) or malformed, and keeps running", async () => {
    const copy = protoLatentRef(await putLatent(env.store, "jobs/ic/keyframes.safetensors", keyframes, "test"));
    await corruptObject(env.store, "jobs/ic/keyframes.safetensors");
    const bad = windowTask("ic", 0, WINDOW, { inputs: copy });
    await publishTask(env.bus.js, bad);
    await env.bus.js.publish(taskSubject("interpolation"), randomBytes(1000));
    const good = windowTask("ok2", 0, WINDOW);
    await publishTask(env.bus.js, good);
    await env.result(good.taskId);
    await waitFor(
      "two dead letters",
      async () => (await listDeadLetters(env.bus.js, { stage: "interpolation" })).length === 2,
    );
    const [corrupt, malformed] = await listDeadLetters(env.bus.js, { stage: "interpolation" });
    assert.equal(corrupt?.kind, "permanent");
    assert.equal(corrupt?.code, "DATA_LOSS");
    assert.equal(corrupt?.taskId, bad.taskId);
    assert.match(
      corrupt?.reason ?? "",
      /^task\.interpolation\.input_latents: blob s3 bucket "longshot-test" key "jobs\/ic\/keyframes\.safetensors": content does not match its ref/,
    );
    assert.equal(corrupt?.deliveryCount, 1, "a corrupt input is not retried");
    assert.equal(malformed?.kind, "malformed");
    assert.ok(!env.results.some((r) => r.taskId === bad.taskId));
    assert.equal(await env.store.exists(bad.outputKey), false);
    assert.equal(svc.proc.hasExited, false);
  });

  it("stops a running step loop within one step of a cancel notice; no result, no dead letter", async () => {
    const t = windowTask("cx1", 0, WINDOW, { steps: 200 });
    await publishTask(env.bus.js, t);
    const stepEvents = async () =>
      (await env.events("cx1")).flatMap((e) =>
        e.event?.$case === "stepProgress" ? [{ step: e.event.value.step, at: e.time?.getTime() ?? 0 }] : [],
      );
    await waitFor("two step events", async () => (await stepEvents()).length >= 2, 30_000);
    const seen = await stepEvents();
    const first = seen[0] as { step: number; at: number };
    const lastSeen = seen[seen.length - 1] as { step: number; at: number };
    const stepMs = (lastSeen.at - first.at) / Math.max(1, lastSeen.step - first.step);
    const cancelAt = Date.now();
    publishCancel(env.bus.nc, "cx1", "user pressed cancel");
    await waitFor(
      "the task terminated",
      async () => {
        const ci = await env.bus.jsm.consumers.info(TASKS_STREAM, "interpolation");
        return ci.num_ack_pending === 0 && ci.num_pending === 0;
      },
      10_000,
    );
    const settledMs = Date.now() - cancelAt;
    await waitFor("the log line", () => /"msg":"task cancelled"/.test(svc.proc.output()), 5000);
    const after = await stepEvents();
    const final = after[after.length - 1] as { step: number; at: number };
    // Steps completed after the cancel: at most the one running when it arrived.
    const stepAtCancel = lastSeen.step + Math.floor((cancelAt - lastSeen.at) / stepMs);
    assert.ok(final.step < 200, `the loop ran to the end (${final.step} steps)`);
    assert.ok(
      final.step <= stepAtCancel + 1,
      `${final.step} steps done, ${stepAtCancel} when cancelled (step ≈ ${stepMs.toFixed(0)} ms)`,
    );
    assert.ok(settledMs < Math.max(1500, 3 * stepMs), `terminated ${settledMs} ms after the cancel`);
    assert.ok(!(await env.events("cx1")).some((e) => e.event?.$case === "stageCompleted"));
    assert.ok(!env.results.some((r) => r.taskId === t.taskId));
    assert.ok(!(await listDeadLetters(env.bus.js, { stage: "interpolation" })).some((r) => r.jobId === "cx1"));
  });

  it("drains on SIGTERM and exits 0", async () => {
    svc.proc.child.kill("SIGTERM");
    const exit = await svc.proc.exited;
    assert.equal(exit.code, 0, svc.proc.output());
    assert.match(svc.proc.output(), /"msg":"stopped"/);
  });
});
