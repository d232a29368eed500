/**
 * The gateway in-process against a real nats-server and S3 server (no stage services): the gRPC
 * surface, job creation and queueing, cancel, listing, and how the coordinator treats what comes
 * back from the stages — a hostile result, a dead letter, a late result of an ended job. The
 * stage messages here are published through @longshot/bus exactly as a stage service publishes them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Bus,
  connectBus,
  makeDeadLetterRecord,
  publishDeadLetter,
  publishResult,
  replayEvents,
  TASKS_STREAM,
} from "@longshot/bus";
import { createLogger, loadConfig } from "@longshot/core";
import {
  CancelJobRequest,
  checkHealth,
  createClient,
  encodedRequest,
  GenerateRequest,
  GetJobRequest,
  GrpcCallError,
  type JobEvent,
  JobState,
  ListJobsRequest,
  listServices,
  Stage,
  StageResult,
  StageTask,
  serverStream,
  unary,
  VideoServiceService,
  WatchJobRequest,
  watchHealth,
} from "@longshot/proto";
import { initTelemetry, type Telemetry } from "@longshot/telemetry";
import { startServers } from "@longshot/testing";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { gatewayConfigSchema } from "./config.js";
import { type GatewayService, startGatewayService } from "./server.js";
import { gatewayArgs, type Servers, TINY_PACK } from "./test-args.js";

function startArgs(servers: Servers, extra: string[] = []): string[] {
  return gatewayArgs(servers, "gateway-test", ["--max-active-jobs=3", ...extra]);
}

async function events(
  bus: Bus,
  jobId: string,
  until: (e: JobEvent) => boolean,
  timeoutMs = 10_000,
): Promise<JobEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const out: JobEvent[] = [];
  try {
    for await (const e of replayEvents(bus.js, jobId, 1n, { signal: ac.signal, untilTerminal: false })) {
      out.push(e);
      if (until(e)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** The tasks waiting in a stage's queue (read without consuming them). */
async function queuedTasks(bus: Bus, stage: string): Promise<StageTask[]> {
  const out: StageTask[] = [];
  const info = await bus.jsm.streams.info(TASKS_STREAM);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(TASKS_STREAM, { seq }).catch(() => null);
    if (m !== null && m.subject === `longshot.tasks.${stage}`) out.push(StageTask.decode(m.data));
  }
  return out;
}

describe("gateway (in-process, real NATS and S3, no stage services)", { timeout: 120_000 }, () => {
  let servers: Servers;
  let gateway: GatewayService;
  let address: string;
  let bus: Bus;
  let client: ReturnType<typeof createClient<typeof VideoServiceService>>;
  let telemetry: Telemetry;
  const spans = new InMemorySpanExporter();

  before(async () => {
    telemetry = await initTelemetry({ serviceName: "gateway", spanExporters: [spans] });
    servers = (await startServers({ nats: true, s3: true })) as Servers;
    gateway = await startGatewayService(
      loadConfig(gatewayConfigSchema, { env: {}, argv: startArgs(servers) }),
      createLogger("gateway", "silent"),
    );
    address = `127.0.0.1:${gateway.port}`;
    bus = await connectBus({
      servers: servers.nats.url,
      name: "gateway-test",
      ...(servers.nats.user === undefined ? {} : { user: servers.nats.user, pass: servers.nats.pass }),
    });
    client = createClient(VideoServiceService, address);
  });

  after(async () => {
    client?.close();
    await gateway?.drain(1000);
    await bus?.close();
    await servers?.stop();
    await telemetry?.shutdown();
  });

  it("serves VideoService, health and reflection", async () => {
    assert.deepEqual(gateway.catalog.names, ["tiny-pack"]);
    assert.equal(await checkHealth(address), "SERVING");
    assert.equal(await checkHealth(address, "longshot.v1.VideoService"), "SERVING");
    assert.deepEqual(await listServices(address), ["grpc.health.v1.Health", "longshot.v1.VideoService"]);
  });

  it("answers malformed requests with INVALID_ARGUMENT naming the field", async () => {
    const cases: [Partial<GenerateRequest>, string][] = [
      [{ prompt: "" }, "prompt"],
      [{ prompt: "x", frames: 257 }, "frames"], // tiny-pack allows 17 and 65 only
      [{ prompt: "x", pack: "shapes-maxi" }, "pack"],
      [{ prompt: "x", keyframeSteps: 0 }, "keyframe_steps"],
      [{ prompt: "x", interpolationGuidance: 1e9 }, "interpolation_guidance"],
    ];
    for (const [fields, field] of cases) {
      await assert.rejects(client.generate(GenerateRequest.create(fields)), (err: unknown) => {
        assert.ok(err instanceof GrpcCallError, String(err));
        assert.equal(err.code, "INVALID_ARGUMENT");
        assert.equal(err.field, field, err.details);
        return true;
      });
    }
    await assert.rejects(client.getJob(GetJobRequest.create({ jobId: "" })), { field: "job_id" });
    await assert.rejects(client.getJob(GetJobRequest.create({ jobId: "jnope" })), { code: "NOT_FOUND" });
    await assert.rejects(client.listJobs(ListJobsRequest.create({ pageSize: 5000 })), { field: "page_size" });
    await assert.rejects(client.listJobs(ListJobsRequest.create({ states: [0] })), { field: "states[0]" });
  });

  it("refuses a body that does not decode, and a string field that is not UTF-8, with INVALID_ARGUMENT; no job runs", async () => {
    const before = (await client.listJobs(ListJobsRequest.create({ pageSize: 1000 }))).jobs.length;
    const generate = encodedRequest(VideoServiceService.generate);
    for (const body of [
      Buffer.from("not a protobuf message"),
      Buffer.from([0x08, 0xff]),
      Buffer.from([0x0a, 0x40, 0x61]),
    ]) {
      await assert.rejects(unary(client.grpcClient, generate, body), (err: unknown) => {
        assert.ok(err instanceof GrpcCallError, String(err));
        assert.equal(err.grpcStatus, "INVALID_ARGUMENT", err.details);
        assert.match(err.details, /^the request body could not be decoded as longshot\.v1\.GenerateRequest: /);
        return true;
      });
    }
    for (const method of [VideoServiceService.getJob, VideoServiceService.cancelJob, VideoServiceService.listJobs]) {
      await assert.rejects(unary(client.grpcClient, encodedRequest(method), Buffer.from([0x0a, 0x05])), {
        grpcStatus: "INVALID_ARGUMENT",
        remoteName: "UndecodableRequestError",
      });
    }
    await assert.rejects(
      (async () => {
        for await (const _ of serverStream(
          client.grpcClient,
          encodedRequest(VideoServiceService.watchJob),
          Buffer.from([0x10, 0x80]),
        )) {
          assert.fail("no event for a body that does not decode");
        }
      })(),
      { grpcStatus: "INVALID_ARGUMENT", remoteName: "UndecodableRequestError" },
    );

    // "@@" in the encoded request becomes 0xC3 0x28: a two-byte sequence cut short.
    const notUtf8 = (request: GenerateRequest) => {
      const buf = Buffer.from(GenerateRequest.encode(request).finish());
      Buffer.from([0xc3, 0x28]).copy(buf, buf.indexOf("@@"));
      return buf;
    };
    const cases: [GenerateRequest, string][] = [
      [GenerateRequest.create({ prompt: "a red @@ circle", frames: 17 }), "prompt"],
      [GenerateRequest.create({ prompt: "a red circle", negativePrompt: "blur@@", frames: 17 }), "negative_prompt"],
      [GenerateRequest.create({ prompt: "a red circle", pack: "tiny-pack@@" }), "pack"],
      [GenerateRequest.create({ prompt: "a red circle", idempotencyKey: "key-@@" }), "idempotency_key"],
    ];
    for (const [request, field] of cases) {
      await assert.rejects(unary(client.grpcClient, generate, notUtf8(request)), (err: unknown) => {
        assert.ok(err instanceof GrpcCallError, String(err));
        assert.equal(err.grpcStatus, "INVALID_ARGUMENT", err.details);
        assert.equal(err.field, field);
        assert.equal(err.details, `${field}: not valid UTF-8`);
        return true;
      });
    }
    const getJob = Buffer.from(GetJobRequest.encode(GetJobRequest.create({ jobId: "j@@" })).finish());
    Buffer.from([0xc3, 0x28]).copy(getJob, getJob.indexOf("@@"));
    await assert.rejects(unary(client.grpcClient, encodedRequest(VideoServiceService.getJob), getJob), {
      grpcStatus: "INVALID_ARGUMENT",
      field: "job_id",
    });
    const after = (await client.listJobs(ListJobsRequest.create({ pageSize: 1000 }))).jobs.length;
    assert.equal(after, before, "no job was created");
  });

  it("Generate creates a QUEUED job, a queued event and the keyframe task with the job's trace context", async () => {
    const t0 = Date.now();
    const { job, deduplicated } = await client.generate(
      GenerateRequest.create({ prompt: "a red circle", frames: 65, seed: 9n, keyframeSteps: 2 }),
    );
    assert.ok(job);
    assert.ok(Date.now() - t0 < 5000, "Generate returns at once");
    assert.equal(deduplicated, false);
    assert.equal(job.state, JobState.JOB_STATE_QUEUED);
    assert.equal(job.request?.seed, 9n);
    assert.equal(job.request?.pack, "tiny-pack");
    const evs = await events(bus, job.id, () => true);
    assert.equal(evs[0]?.event?.$case, "queued");
    const tasks = (await queuedTasks(bus, "keyframe")).filter((t) => t.jobId === job.id);
    assert.equal(tasks.length, 1);
    const task = tasks[0] as StageTask;
    assert.equal(task.taskId, `${job.id}:keyframe`);
    assert.equal(task.outputKey, `jobs/${job.id}/keyframes.safetensors`);
    assert.equal(task.seed, 9n);
    const traceId = /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(task.traceContext.traceparent ?? "")?.[1];
    assert.ok(traceId, `task trace context: ${JSON.stringify(task.traceContext)}`);
    await telemetry.forceFlush();
    const root = spans
      .getFinishedSpans()
      .find((s) => s.name === "longshot.v1.VideoService/Generate" && s.spanContext().traceId === traceId);
    assert.ok(root, "the task carries the trace of Generate's server span");
    assert.equal(root.parentSpanContext, undefined, "Generate's span is the job's root");
    const run = await gateway.runs.get(job.id);
    assert.deepEqual(run.run.plan.levels, [5, 17, 65]);
    assert.equal(run.run.tasks[task.taskId]?.pending, true);
  });

  it("fails a job whose stage reports a result that does not answer its task, with the reason", async () => {
    const { job } = await client.generate(GenerateRequest.create({ prompt: "x", frames: 17 }));
    assert.ok(job);
    await publishResult(
      bus.js,
      StageResult.fromPartial({
        jobId: job.id,
        taskId: `${job.id}:keyframe`,
        stage: Stage.STAGE_KEYFRAME,
        latents: {
          uri: `s3://gateway-test/jobs/${job.id}/keyframes.safetensors`,
          shape: [1, 4, 5, 99, 99],
          dtype: 1,
          sha256: "a".repeat(64),
          bytes: 10n,
        },
        workerId: "hostile/1",
      }),
    );
    const evs = await events(bus, job.id, (e) => e.event?.$case === "failed");
    const failed = evs.at(-1)?.event;
    assert.ok(failed?.$case === "failed", `last event ${failed?.$case}`);
    assert.equal(failed.value.code, "INTERNAL");
    assert.match(failed.value.reason, /latents\.shape must be \[1, 4, 5, 4, 4\], got \[1, 4, 5, 99, 99\]/);
    const { job: after } = await client.getJob(GetJobRequest.create({ jobId: job.id }));
    assert.equal(after?.state, JobState.JOB_STATE_FAILED);
    assert.equal(after?.error?.stage, Stage.STAGE_KEYFRAME);
  });

  it("a dead-lettered task fails its job with the record's code and reason", async () => {
    const { job } = await client.generate(GenerateRequest.create({ prompt: "y", frames: 17 }));
    assert.ok(job);
    const run = await gateway.runs.get(job.id);
    const task = run.run.tasks[`${job.id}:keyframe`];
    assert.ok(task);
    await publishDeadLetter(
      bus.js,
      makeDeadLetterRecord({
        kind: "permanent",
        reason: "task.keyframe.prompt: the tokenizer refused it",
        code: "INVALID_ARGUMENT",
        stage: "keyframe",
        stream: TASKS_STREAM,
        consumer: "keyframe",
        subject: "longshot.tasks.keyframe",
        streamSequence: task.streamSeq,
        deliveryCount: 1,
        jobId: job.id,
        taskId: task.taskId,
        workerId: "keyframe/1",
        payload: new Uint8Array(),
      }),
    );
    const evs = await events(bus, job.id, (e) => e.event?.$case === "failed");
    const failed = evs.at(-1)?.event;
    assert.ok(failed?.$case === "failed");
    assert.equal(failed.value.code, "INVALID_ARGUMENT");
    assert.match(
      failed.value.reason,
      /keyframe task .* failed \(permanent\): task\.keyframe\.prompt: the tokenizer refused it/,
    );
    assert.equal(failed.value.stage, Stage.STAGE_KEYFRAME);
  });

  it("queue limit, cancel, list and watch of a cancelled job", async () => {
    // Earlier tests' jobs: one QUEUED (never run: no stage services here), two FAILED.
    const { job: a } = await client.generate(GenerateRequest.create({ prompt: "a", frames: 17 }));
    const { job: b } = await client.generate(GenerateRequest.create({ prompt: "b", frames: 17 }));
    assert.ok(a && b);
    await assert.rejects(client.generate(GenerateRequest.create({ prompt: "c", frames: 17 })), {
      code: "RESOURCE_EXHAUSTED",
    });
    const { job: cancelled } = await client.cancelJob(
      CancelJobRequest.create({ jobId: a.id, reason: "no longer needed" }),
    );
    assert.equal(cancelled?.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(cancelled?.error?.reason, "no longer needed");
    // Cancelling again returns it unchanged.
    const { job: again } = await client.cancelJob(CancelJobRequest.create({ jobId: a.id }));
    assert.equal(again?.state, JobState.JOB_STATE_CANCELLED);
    assert.equal(again?.error?.reason, "no longer needed");
    // The slot is free again.
    const { job: c } = await client.generate(GenerateRequest.create({ prompt: "c", frames: 17 }));
    assert.ok(c);

    const watched: JobEvent[] = [];
    for await (const r of client.watchJob(WatchJobRequest.create({ jobId: a.id }))) if (r.event) watched.push(r.event);
    assert.deepEqual(
      watched.map((e) => e.event?.$case),
      ["queued", "cancelled"],
    );

    const all = await client.listJobs(ListJobsRequest.create({ pageSize: 2 }));
    assert.equal(all.jobs.length, 2);
    assert.notEqual(all.nextPageToken, "");
    const rest = await client.listJobs(ListJobsRequest.create({ pageSize: 100, pageToken: all.nextPageToken }));
    const ids = [...all.jobs, ...rest.jobs].map((j) => j.id);
    assert.equal(new Set(ids).size, ids.length, "pages do not repeat jobs");
    assert.ok(ids.includes(a.id) && ids.includes(b.id) && ids.includes(c.id));
    const failed = await client.listJobs(ListJobsRequest.create({ states: [JobState.JOB_STATE_FAILED] }));
    assert.equal(failed.jobs.length, 2);
    const endedPage = await client.listJobs(
      ListJobsRequest.create({ states: [JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED], pageSize: 2 }),
    );
    assert.equal(endedPage.jobs.length, 2);
    const endedRest = await client.listJobs(
      ListJobsRequest.create({
        states: [JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED],
        pageSize: 2,
        pageToken: endedPage.nextPageToken,
      }),
    );
    assert.deepEqual([...endedPage.jobs, ...endedRest.jobs].map((j) => JobState[j.state]).sort(), [
      "JOB_STATE_CANCELLED",
      "JOB_STATE_FAILED",
      "JOB_STATE_FAILED",
    ]);
    for (const j of [b, c]) await client.cancelJob(CancelJobRequest.create({ jobId: j.id }));
  });

  it("drain flips health to NOT_SERVING and stops the server", async () => {
    const other = await startGatewayService(
      loadConfig(gatewayConfigSchema, { env: {}, argv: startArgs(servers) }),
      createLogger("gateway", "silent"),
    );
    const statuses: string[] = [];
    let drained: Promise<{ forced: boolean }> | undefined;
    try {
      for await (const s of watchHealth(`127.0.0.1:${other.port}`, "longshot.v1.VideoService")) {
        statuses.push(s);
        if (s === "SERVING") drained = other.drain(200);
      }
    } catch {
      // the server closed the watch at the drain timeout
    }
    assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    assert.deepEqual(await drained, { forced: true });
    await assert.rejects(checkHealth(`127.0.0.1:${other.port}`, "", { deadlineMs: 500 }), GrpcCallError);
  });
});

describe("gateway start-up failures", { timeout: 30_000 }, () => {
  const base = ["--grpc-port=0", "--nats-url=nats://127.0.0.1:1", "--s3-access-key=k", "--s3-secret-key=s"];
  it("refuses to start when a pack directory is missing, naming it", async () => {
    const config = loadConfig(gatewayConfigSchema, {
      env: {},
      argv: [...base, `--pack=${TINY_PACK},/nonexistent/pack`],
    });
    await assert.rejects(startGatewayService(config, createLogger("gateway", "silent")), /\/nonexistent\/pack/);
  });

  it("refuses the same pack twice", async () => {
    const config = loadConfig(gatewayConfigSchema, { env: {}, argv: [...base, `--pack=${TINY_PACK},${TINY_PACK}`] });
    await assert.rejects(startGatewayService(config, createLogger("gateway", "silent")), /configured twice/);
  });

  it("refuses a window plan that does not fit the pack, naming the flags", async () => {
    const config = loadConfig(gatewayConfigSchema, {
      env: {},
      argv: [...base, `--pack=${TINY_PACK}`, "--window-frames=16"],
    });
    await assert.rejects(startGatewayService(config, createLogger("gateway", "silent")), /--window-frames 16/);
  });

  it("says which NATS server did not answer", async () => {
    const config = loadConfig(gatewayConfigSchema, { env: {}, argv: [...base, `--pack=${TINY_PACK}`] });
    await assert.rejects(startGatewayService(config, createLogger("gateway", "silent")), (err: unknown) => {
      assert.match((err as Error).message, /nats:\/\/127\.0\.0\.1:1/);
      assert.equal((err as { code?: string }).code, "UNAVAILABLE");
      return true;
    });
  });

  it("needs the S3 credentials", () => {
    assert.throws(() => loadConfig(gatewayConfigSchema, { env: {}, argv: ["--grpc-port=0"] }), /s3AccessKey/);
  });
});
