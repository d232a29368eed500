import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CancelledError, ConfigError, InvalidArgumentError, LongshotError, NotFoundError } from "@longshot/core";
import { createClient, encodedRequest, serverStream, unary } from "./client.js";
import { JobState } from "./gen/longshot/v1/job.js";
import { JobEvent } from "./gen/longshot/v1/job_event.js";
import {
  KeyframeServiceGetModelInfoRequest,
  KeyframeServiceGetModelInfoResponse,
  KeyframeServiceService,
  RunKeyframeRequest,
} from "./gen/longshot/v1/keyframe_service.js";
import { ModelInfo } from "./gen/longshot/v1/stage.js";
import {
  type GetJobRequest,
  GetJobResponse,
  ListJobsResponse,
  VideoServiceService,
  WatchJobRequest,
} from "./gen/longshot/v1/video_service.js";
import { GENERIC_INTERNAL_MESSAGE, GrpcCallError } from "./grpc-errors.js";
import { type CallContext, defineService } from "./handlers.js";
import { checkHealth, watchHealth } from "./health.js";
import { silentLogger } from "./logger.js";
import { fileContainingSymbol, listServices, schemaServiceNames } from "./reflection.js";
import { createGrpcServer, type GrpcServer } from "./server.js";

/** A length-delimited field on the wire: tag (field << 3 | 2), length, bytes. */
function lengthDelimited(field: number, bytes: Buffer): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(bytes.length)]), bytes]);
}

/** Resolves when the signal aborts; the test services use it to wait for client cancellation. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

describe("createGrpcServer + createClient over a real connection", { timeout: 30_000 }, () => {
  let server: GrpcServer;
  let address: string;
  const cancelledCalls: unknown[] = [];
  let streamFinallyRan = 0;

  before(async () => {
    const keyframe = defineService(KeyframeServiceService, {
      async getModelInfo() {
        return KeyframeServiceGetModelInfoResponse.create({ info: ModelInfo.create({ packName: "test-pack" }) });
      },
      async runKeyframe(request: RunKeyframeRequest, ctx: CallContext) {
        const jobId = request.task?.jobId ?? "";
        if (jobId === "") throw new InvalidArgumentError("task.job_id", "must not be empty");
        if (jobId === "crash") throw new TypeError("secret internals at /srv/x.js:1");
        if (jobId === "slow") {
          cancelledCalls.push(await aborted(ctx.signal));
          throw new CancelledError("stopped");
        }
        throw new LongshotError("not yet", { code: "UNIMPLEMENTED" });
      },
    });
    const video = defineService(VideoServiceService, {
      async generate() {
        throw new LongshotError("unused", { code: "UNIMPLEMENTED" });
      },
      async *watchJob(request: WatchJobRequest, ctx: CallContext) {
        try {
          if (request.jobId === "many") {
            // Large events, many of them: exercises back-pressure on both sides.
            for (let seq = 1; seq <= 3000; seq++)
              yield { event: JobEvent.create({ sequence: BigInt(seq), jobId: "x".repeat(2000) }) };
            return;
          }
          const from = Number(request.fromSequence);
          for (let seq = Math.max(from, 1); seq <= 5; seq++) {
            yield { event: JobEvent.create({ sequence: BigInt(seq), jobId: request.jobId }) };
            if (request.jobId === "fail-after-2" && seq === 2) throw new NotFoundError("job vanished");
          }
          if (request.jobId === "endless") await aborted(ctx.signal);
        } finally {
          streamFinallyRan++;
        }
      },
      async getJob(request: GetJobRequest) {
        if (request.jobId === "missing") throw new NotFoundError(`job ${request.jobId} not found`);
        return GetJobResponse.create({ job: { id: request.jobId, state: JobState.JOB_STATE_RUNNING } });
      },
      async cancelJob() {
        throw new LongshotError("unused", { code: "UNIMPLEMENTED" });
      },
      async listJobs() {
        return ListJobsResponse.create({ jobs: [], nextPageToken: "" });
      },
    });
    server = createGrpcServer({ services: [keyframe, video], logger: silentLogger });
    const port = await server.listen("127.0.0.1:0");
    address = `127.0.0.1:${port}`;
  });

  after(async () => {
    await server.drain(1000);
  });

  it("reports NOT_SERVING until setServing(true), for the server and each service", async () => {
    assert.equal(await checkHealth(address), "NOT_SERVING");
    server.setServing(true);
    assert.equal(await checkHealth(address), "SERVING");
    assert.equal(await checkHealth(address, "longshot.v1.KeyframeService"), "SERVING");
    assert.equal(await checkHealth(address, "longshot.v1.VideoService"), "SERVING");
  });

  it("answers NOT_FOUND for a health check of an unknown service", async () => {
    await assert.rejects(checkHealth(address, "longshot.v1.Nope"), (err: unknown) => {
      return err instanceof GrpcCallError && err.code === "NOT_FOUND";
    });
  });

  it("lists its own services and health through reflection, not the rest of the schema", async () => {
    const names = await listServices(address);
    assert.deepEqual(names, ["grpc.health.v1.Health", "longshot.v1.KeyframeService", "longshot.v1.VideoService"]);
    assert.ok(schemaServiceNames().includes("longshot.v1.DecoderService"), "the schema knows all services");
  });

  it("serves each file with its real name and imports, closed over its dependencies (what grpcurl needs)", async () => {
    for (const symbol of ["longshot.v1.VideoService", "longshot.v1.KeyframeService", "longshot.v1.StageTask"]) {
      const files = await fileContainingSymbol(address, symbol);
      const names = new Set(files.map((f) => f.name));
      for (const file of files) {
        for (const dep of file.dependency)
          assert.ok(names.has(dep), `${symbol}: ${file.name} imports ${dep}, which was not sent`);
      }
      assert.ok(names.has("google/protobuf/timestamp.proto"), `${symbol}: timestamp.proto is part of the closure`);
    }
    const [video] = await fileContainingSymbol(address, "longshot.v1.VideoService");
    assert.equal(video?.name, "longshot/v1/video_service.proto");
    assert.deepEqual(video?.dependency, ["longshot/v1/job.proto", "longshot/v1/job_event.proto"]);
    assert.deepEqual(
      video?.service.map((s) => s.name),
      ["VideoService"],
    );
  });

  it("returns unary responses through the promise client", async () => {
    const client = createClient(KeyframeServiceService, address);
    try {
      const res = await client.getModelInfo(KeyframeServiceGetModelInfoRequest.create());
      assert.equal(res.info?.packName, "test-pack");
    } finally {
      client.close();
    }
  });

  it("maps handler errors: InvalidArgumentError keeps its field, unknown errors become a generic INTERNAL", async () => {
    const client = createClient(KeyframeServiceService, address);
    try {
      await assert.rejects(client.runKeyframe(RunKeyframeRequest.create({ task: { jobId: "" } })), (err: unknown) => {
        assert.ok(err instanceof GrpcCallError);
        assert.equal(err.code, "INVALID_ARGUMENT");
        assert.equal(err.field, "task.job_id");
        assert.equal(err.remoteName, "InvalidArgumentError");
        assert.equal(err.details, "task.job_id: must not be empty");
        return true;
      });
      await assert.rejects(
        client.runKeyframe(RunKeyframeRequest.create({ task: { jobId: "crash" } })),
        (err: unknown) => {
          assert.ok(err instanceof GrpcCallError);
          assert.equal(err.code, "INTERNAL");
          assert.equal(err.details, GENERIC_INTERNAL_MESSAGE);
          return true;
        },
      );
      await assert.rejects(client.runKeyframe(RunKeyframeRequest.create({ task: { jobId: "x" } })), {
        code: "UNIMPLEMENTED",
      });
    } finally {
      client.close();
    }
  });

  it("always sets a deadline: a slow call fails with DEADLINE_EXCEEDED and the handler sees its signal abort", async () => {
    const client = createClient(KeyframeServiceService, address, { defaultDeadlineMs: 200 });
    try {
      const before = cancelledCalls.length;
      const started = Date.now();
      await assert.rejects(client.runKeyframe(RunKeyframeRequest.create({ task: { jobId: "slow" } })), {
        code: "DEADLINE_EXCEEDED",
      });
      assert.ok(Date.now() - started < 5000);
      for (let i = 0; i < 50 && cancelledCalls.length === before; i++) await sleep(20);
      assert.equal(cancelledCalls.length, before + 1, "the handler's ctx.signal aborted");
      assert.ok(cancelledCalls.at(-1) instanceof CancelledError);
    } finally {
      client.close();
    }
  });

  it("cancels a unary call when the caller's AbortSignal fires", async () => {
    const client = createClient(KeyframeServiceService, address);
    try {
      const controller = new AbortController();
      const call = client.runKeyframe(RunKeyframeRequest.create({ task: { jobId: "slow" } }), {
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(call, CancelledError);
    } finally {
      client.close();
    }
  });

  it("rejects invalid deadlines before calling", async () => {
    const client = createClient(KeyframeServiceService, address);
    try {
      assert.throws(
        () => client.getModelInfo(KeyframeServiceGetModelInfoRequest.create(), { deadlineMs: 0 }),
        InvalidArgumentError,
      );
      assert.throws(
        () => client.getModelInfo(KeyframeServiceGetModelInfoRequest.create(), { deadlineMs: Number.NaN }),
        InvalidArgumentError,
      );
    } finally {
      client.close();
    }
    assert.throws(() => createClient(KeyframeServiceService, address, { defaultDeadlineMs: -5 }), InvalidArgumentError);
  });

  it("streams server messages as an async iterator, resuming from a sequence", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      const seqs: bigint[] = [];
      for await (const res of client.watchJob(WatchJobRequest.create({ jobId: "j1", fromSequence: 3n }))) {
        seqs.push(res.event?.sequence ?? -1n);
        assert.equal(res.event?.jobId, "j1");
      }
      assert.deepEqual(seqs, [3n, 4n, 5n]);
    } finally {
      client.close();
    }
  });

  it("delivers a long stream in order to a slow consumer", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      let expected = 1n;
      for await (const res of client.watchJob(WatchJobRequest.create({ jobId: "many" }))) {
        assert.equal(res.event?.sequence, expected);
        expected++;
        if (expected % 100n === 0n) await sleep(5);
      }
      assert.equal(expected, 3001n);
    } finally {
      client.close();
    }
  });

  it("delivers the messages before a stream error, then throws the mapped error", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      const seqs: bigint[] = [];
      await assert.rejects(
        (async () => {
          for await (const res of client.watchJob(WatchJobRequest.create({ jobId: "fail-after-2" }))) {
            seqs.push(res.event?.sequence ?? -1n);
          }
        })(),
        (err: unknown) => err instanceof GrpcCallError && err.code === "NOT_FOUND" && err.details === "job vanished",
      );
      assert.deepEqual(seqs, [1n, 2n]);
    } finally {
      client.close();
    }
  });

  it("cancels the call when the consumer stops early, and the server-side generator is closed", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      const before = streamFinallyRan;
      for await (const res of client.watchJob(WatchJobRequest.create({ jobId: "endless" }))) {
        if (res.event?.sequence === 2n) break;
      }
      for (let i = 0; i < 100 && streamFinallyRan === before; i++) await sleep(20);
      assert.equal(streamFinallyRan, before + 1);
    } finally {
      client.close();
    }
  });

  it("stops a stream when the caller's AbortSignal fires", async () => {
    const client = createClient(VideoServiceService, address);
    try {
      const controller = new AbortController();
      const seen: bigint[] = [];
      await assert.rejects(
        (async () => {
          for await (const res of client.watchJob(WatchJobRequest.create({ jobId: "endless" }), {
            signal: controller.signal,
          })) {
            seen.push(res.event?.sequence ?? -1n);
            if (seen.length === 5) controller.abort();
          }
        })(),
        CancelledError,
      );
      assert.equal(seen.length, 5);
    } finally {
      client.close();
    }
  });

  it("answers a body that does not decode with INVALID_ARGUMENT, for unary and streaming methods, without calling the handler", async () => {
    const client = createClient(VideoServiceService, address);
    const generate = encodedRequest(VideoServiceService.generate);
    const bodies: [string, Buffer][] = [
      ["bytes that are not protobuf (illegal wire type)", Buffer.from("not a protobuf message")],
      ["text that ts-proto stops reading at (an end-group tag)", Buffer.from("this is text")],
      ["a truncated varint", Buffer.from([0x08, 0xff])],
      ["a length past the end", Buffer.from([0x0a, 0x05, 0x61])],
      ["field number 0", Buffer.from([0x02, 0x00])],
    ];
    try {
      for (const [what, body] of bodies) {
        await assert.rejects(unary(client.grpcClient, generate, body), (err: unknown) => {
          assert.ok(err instanceof GrpcCallError, `${what}: ${String(err)}`);
          assert.equal(err.grpcStatus, "INVALID_ARGUMENT", `${what}: ${err.details}`);
          assert.equal(err.remoteName, "UndecodableRequestError", what);
          assert.match(err.details, /^the request body could not be decoded as longshot\.v1\.GenerateRequest: /, what);
          return true;
        });
      }
      // A nested message whose length runs past the end of the body.
      const keyframe = createClient(KeyframeServiceService, address);
      try {
        const nested = Buffer.from([0x0a, 0x03, 0x0a, 0x05, 0x61]);
        await assert.rejects(unary(keyframe.grpcClient, encodedRequest(KeyframeServiceService.runKeyframe), nested), {
          grpcStatus: "INVALID_ARGUMENT",
          remoteName: "UndecodableRequestError",
        });
      } finally {
        keyframe.close();
      }
      const watch = serverStream(
        client.grpcClient,
        encodedRequest(VideoServiceService.watchJob),
        Buffer.from([0x0a, 0x05, 0x61]),
      );
      await assert.rejects(
        (async () => {
          for await (const _ of watch) assert.fail("no event for a body that does not decode");
        })(),
        { grpcStatus: "INVALID_ARGUMENT", remoteName: "UndecodableRequestError" },
      );
    } finally {
      client.close();
    }
  });

  it("answers a string field that is not UTF-8 with INVALID_ARGUMENT naming the field, at any depth", async () => {
    const video = createClient(VideoServiceService, address);
    const keyframe = createClient(KeyframeServiceService, address);
    const getJob = encodedRequest(VideoServiceService.getJob);
    const runKeyframe = encodedRequest(KeyframeServiceService.runKeyframe);
    const bad: [string, number[]][] = [
      ["a lone continuation byte", [0x80]],
      ["a truncated sequence", [0xc3, 0x28]],
      ["an overlong encoding of /", [0xc0, 0xaf]],
      ["an encoded surrogate", [0xed, 0xa0, 0x80]],
      ["a byte never in UTF-8", [0xff]],
    ];
    try {
      for (const [what, bytes] of bad) {
        await assert.rejects(
          unary(video.grpcClient, getJob, lengthDelimited(1, Buffer.from(bytes))),
          (err: unknown) => {
            assert.ok(err instanceof GrpcCallError, `${what}: ${String(err)}`);
            assert.equal(err.grpcStatus, "INVALID_ARGUMENT", `${what}: ${err.details}`);
            assert.equal(err.field, "job_id", what);
            assert.equal(err.details, "job_id: not valid UTF-8", what);
            return true;
          },
        );
      }
      // Valid UTF-8 beyond ASCII passes to the handler.
      const ok = await unary(video.grpcClient, getJob, lengthDelimited(1, Buffer.from("jé🎬")));
      assert.equal(ok.job?.id, "jé🎬");

      // Nested: RunKeyframeRequest.task (1) → StageTask.keyframe (10) → KeyframeParams.prompt (1).
      const task = (...fields: Buffer[]) => lengthDelimited(1, Buffer.concat(fields));
      const prompt = lengthDelimited(10, lengthDelimited(1, Buffer.from([0x61, 0xc3, 0x28])));
      await assert.rejects(
        unary(keyframe.grpcClient, runKeyframe, task(lengthDelimited(1, Buffer.from("x")), prompt)),
        {
          grpcStatus: "INVALID_ARGUMENT",
          field: "task.keyframe.prompt",
          details: "task.keyframe.prompt: not valid UTF-8",
        },
      );
      // A map value (StageTask.trace_context, field 5), named by its key.
      const entry = (key: Buffer, value: Buffer) =>
        lengthDelimited(5, Buffer.concat([lengthDelimited(1, key), lengthDelimited(2, value)]));
      await assert.rejects(
        unary(keyframe.grpcClient, runKeyframe, task(entry(Buffer.from("traceparent"), Buffer.from([0xff])))),
        { grpcStatus: "INVALID_ARGUMENT", field: 'task.trace_context["traceparent"]' },
      );
      await assert.rejects(
        unary(keyframe.grpcClient, runKeyframe, task(entry(Buffer.from([0xfe]), Buffer.from("v")))),
        {
          grpcStatus: "INVALID_ARGUMENT",
          field: "task.trace_context",
          details: "task.trace_context: a key is not valid UTF-8",
        },
      );
      // The well-formed request still reaches the handler (which answers UNIMPLEMENTED for job "x").
      await assert.rejects(
        unary(
          keyframe.grpcClient,
          runKeyframe,
          task(lengthDelimited(1, Buffer.from("x")), entry(Buffer.from("k"), Buffer.from("v"))),
        ),
        { grpcStatus: "UNIMPLEMENTED" },
      );
    } finally {
      video.close();
      keyframe.close();
    }
  });

  it("refuses a second listen and a port already in use", async () => {
    await assert.rejects(server.listen("127.0.0.1:0"), { code: "FAILED_PRECONDITION" });
    const other = createGrpcServer({
      services: [
        defineService(KeyframeServiceService, {
          async getModelInfo() {
            return KeyframeServiceGetModelInfoResponse.create();
          },
          async runKeyframe() {
            throw new LongshotError("unused", { code: "UNIMPLEMENTED" });
          },
        }),
      ],
      logger: silentLogger,
    });
    await assert.rejects(
      other.listen(address),
      (err: unknown) => err instanceof ConfigError && err.message.includes(address),
    );
  });
});

describe("drain", { timeout: 30_000 }, () => {
  function makeServer(): GrpcServer {
    return createGrpcServer({
      services: [
        defineService(KeyframeServiceService, {
          async getModelInfo() {
            return KeyframeServiceGetModelInfoResponse.create({ info: { packName: "p" } });
          },
          async runKeyframe() {
            throw new LongshotError("unused", { code: "UNIMPLEMENTED" });
          },
        }),
      ],
      logger: silentLogger,
    });
  }

  it("flips health to NOT_SERVING for watchers, then cancels calls still open at the timeout", async () => {
    const server = makeServer();
    const port = await server.listen("127.0.0.1:0");
    server.setServing(true);
    const statuses: string[] = [];
    let drainResult: Promise<{ forced: boolean }> | undefined;
    const watching = (async () => {
      try {
        for await (const s of watchHealth(`127.0.0.1:${port}`, "longshot.v1.KeyframeService")) {
          statuses.push(s);
          if (s === "SERVING") drainResult = server.drain(300);
        }
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    const watchError = await watching;
    assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
    assert.ok(drainResult);
    assert.deepEqual(await drainResult, { forced: true }, "the open Watch call was cancelled at the timeout");
    assert.ok(watchError instanceof GrpcCallError, "the watch ended with an error status when the server closed");
    assert.equal(server.serving, false);
    assert.throws(() => server.setServing(true), { code: "FAILED_PRECONDITION" });
  });

  it("shuts down gracefully when no calls are open, and refuses new calls afterwards", async () => {
    const server = makeServer();
    const port = await server.listen("127.0.0.1:0");
    server.setServing(true);
    assert.equal(await checkHealth(`127.0.0.1:${port}`), "SERVING");
    const first = server.drain(2000);
    assert.equal(server.drain(5), first, "drain is idempotent");
    assert.deepEqual(await first, { forced: false });
    await assert.rejects(checkHealth(`127.0.0.1:${port}`, "", { deadlineMs: 500 }), (err: unknown) => {
      return err instanceof GrpcCallError && (err.code === "UNAVAILABLE" || err.code === "DEADLINE_EXCEEDED");
    });
  });

  it("rejects a negative timeout", async () => {
    const server = makeServer();
    await assert.rejects(server.drain(-1), InvalidArgumentError);
    await server.drain(0);
  });
});
