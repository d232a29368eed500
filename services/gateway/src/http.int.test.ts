/**
 * The HTTP JSON API against a real gateway (in process) with a real nats-server and S3 server, and stage
 * workers in process that speak the stage protocol of @longshot/bus around fake model outputs
 * (./fake-stages.ts) — but a real H.264 MP4 (and GIF) from ffmpeg for the decode, so the download is a video.
 *
 * A 17-frame job of the tiny pack with one or two steps: POST /v1/videos → the events stream (and its resume
 * from Last-Event-ID) → completed → the MP4 downloaded and checked against its SHA-256 and by ffmpeg; the
 * idempotency key; listing with pagination and a status filter; cancel; 404s; the queue limit (429); a table
 * of malformed requests answered 400 (413, 415) naming the field, with no job created; the OpenAPI document
 * served equal to the committed docs/openapi.json; TLS and mutual TLS from the gRPC TLS settings.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Bus, connectBus, type Worker } from "@longshot/bus";
import { createLogger, loadConfig } from "@longshot/core";
import { malformedRequests } from "@longshot/http-api/cases";
import { encodeGif, encodeMp4, inspectVideo } from "@longshot/media";
import { Artifact, OutputFormat, StageResult, type StageTask } from "@longshot/proto";
import { initTelemetry, type Telemetry } from "@longshot/telemetry";
import { createTestPki, makeTempDir, removeTempDir, startServers, type TestPki } from "@longshot/testing";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { Ajv2020 } from "ajv/dist/2020.js";
import { gatewayConfigSchema } from "./config.js";
import { fakeStage, startFakeWorker } from "./fake-stages.js";
import { type GatewayService, startGatewayService } from "./server.js";
import { gatewayArgs, type Servers } from "./test-args.js";

const OPENAPI_FILE = fileURLToPath(new URL("../../../docs/openapi.json", import.meta.url));
const MAX_BODY = 2048;
const silent = createLogger("test", "silent");

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field.
  json: any;
}

interface ServerSentEvent {
  id: string | undefined;
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON data, checked field by field.
  data: any;
}

describe("HTTP API (gateway in process, real NATS and S3, in-process stage workers)", { timeout: 240_000 }, () => {
  let servers: Servers;
  let gateway: GatewayService;
  let bus: Bus;
  let base: string;
  let dir: string;
  const workers: Worker[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: the served OpenAPI document.
  let openapi: any;
  let validateEvent: (data: unknown) => boolean;
  let validateVideo: (data: unknown) => boolean;
  let telemetry: Telemetry;
  const spans = new InMemorySpanExporter();

  async function api(
    method: string,
    route: string,
    options: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const hasBody = options.body !== undefined || options.raw !== undefined;
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { ...(hasBody ? { "content-type": "application/json" } : {}), ...options.headers },
      ...(hasBody ? { body: options.raw ?? JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    const isJson = res.headers.get("content-type")?.startsWith("application/json") === true;
    return { status: res.status, headers: res.headers, json: isJson ? JSON.parse(text) : text };
  }

  /** The events of a job's stream until the server ends it. */
  async function events(jobId: string, headers: Record<string, string> = {}): Promise<ServerSentEvent[]> {
    const res = await fetch(`${base}/v1/videos/${jobId}/events`, { headers, signal: AbortSignal.timeout(60_000) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const out: ServerSentEvent[] = [];
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue; // a comment (keep-alive)
          const colon = line.indexOf(": ");
          fields.set(line.slice(0, colon), line.slice(colon + 2));
        }
        if (!fields.has("data")) continue;
        out.push({
          id: fields.get("id"),
          event: fields.get("event") ?? "message",
          data: JSON.parse(fields.get("data") as string),
        });
      }
    }
    return out;
  }

  /** The decode stage for real: an H.264 MP4 (and a GIF) of grey frames, through ffmpeg. */
  async function decode(task: StageTask): Promise<StageResult> {
    const p = task.params;
    assert.ok(p?.$case === "decode");
    const count = p.value.frameEnd - p.value.frameStart;
    const frames = Array.from({ length: count }, (_, i) => new Uint8Array(16 * 16 * 3).fill(40 + i * 8));
    const video = { frames, width: 16, height: 16, fps: 8 };
    const artifacts: Artifact[] = [];
    for (const format of p.value.outputFormats) {
      const gif = format === OutputFormat.OUTPUT_FORMAT_GIF;
      const file = path.join(dir, `${task.jobId}.${gif ? "gif" : "mp4"}`);
      if (gif) await encodeGif(file, video);
      else await encodeMp4(file, video);
      const contentType = gif ? "image/gif" : "video/mp4";
      const key = task.outputKey.replace(/\.mp4$/, gif ? ".gif" : ".mp4");
      const ref = await gateway.store.putAt(key, readFileSync(file), { contentType });
      artifacts.push(
        Artifact.fromPartial({ format, uri: ref.uri, sha256: ref.sha256, bytes: BigInt(ref.bytes), contentType }),
      );
    }
    return StageResult.fromPartial({ jobId: task.jobId, taskId: task.taskId, stage: task.stage, artifacts });
  }

  before(async () => {
    dir = makeTempDir("gateway-http");
    telemetry = await initTelemetry({ serviceName: "gateway", spanExporters: [spans] });
    servers = (await startServers({ nats: true, s3: true })) as Servers;
    const config = loadConfig(gatewayConfigSchema, {
      env: {},
      argv: gatewayArgs(servers, "http-api-test", ["--max-active-jobs=3", `--http-max-body-bytes=${MAX_BODY}`]),
    });
    gateway = await startGatewayService(config, silent);
    assert.ok(gateway.http);
    base = `http://127.0.0.1:${gateway.http.port}`;
    bus = await connectBus({
      servers: servers.nats.url,
      name: "http-api-test",
      ...(servers.nats.user === undefined ? {} : { user: servers.nats.user, pass: servers.nats.pass }),
    });
    for (const consumer of ["keyframe", "interpolation", "decode"] as const) {
      const concurrency = consumer === "keyframe" ? 4 : 1;
      workers.push(
        await startFakeWorker(
          bus,
          consumer,
          async (task, ctx) => {
            // A prompt with "hold" keeps its keyframe task running until the job is cancelled.
            if (task.params?.$case === "keyframe" && task.params.value.prompt.includes("hold")) {
              await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
            }
            const total = Math.max(1, task.sampler?.steps ?? 1);
            for (let step = 1; step <= total; step++) ctx.progress(step, total);
            return task.params?.$case === "decode" ? decode(task) : fakeStage(gateway.store, task);
          },
          concurrency,
        ),
      );
    }
    openapi = (await api("GET", "/openapi.json")).json;
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allowUnionTypes: true });
    ajv.addSchema(openapi, "openapi");
    validateEvent = ajv.compile({ $ref: "openapi#/components/schemas/JobEvent" });
    validateVideo = ajv.compile({ $ref: "openapi#/components/schemas/Video" });
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await gateway?.drain(1000);
    await bus?.close();
    await servers?.stop();
    await telemetry?.shutdown();
    removeTempDir(dir);
  });

  it("serves the OpenAPI 3.1 document that is committed as docs/openapi.json", () => {
    assert.equal(openapi.openapi, "3.1.0");
    assert.deepEqual(
      openapi,
      JSON.parse(readFileSync(OPENAPI_FILE, "utf8")),
      "docs/openapi.json is not what the gateway serves: node services/gateway/dist/write-openapi.js",
    );
  });

  let completedId = "";

  it("create → events → completed → the MP4 download; the stream resumes after Last-Event-ID", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const created = await api("POST", "/v1/videos", {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: {
        prompt: "a red circle moving right",
        frames: 17,
        seed: 7,
        keyframe_steps: 2,
        interpolation_steps: 1,
        output_formats: ["mp4", "gif"],
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const video = created.json;
    assert.equal(created.headers.get("location"), `/v1/videos/${video.id}`);
    assert.ok(validateVideo(video), JSON.stringify(validateVideo));
    assert.equal(video.object, "video");
    // Create answers with the job as it stands (gRPC Generate's GetJob): the in-process keyframe worker may already
    // have started it.
    assert.ok(["queued", "in_progress"].includes(video.status), video.status);
    assert.equal(video.model, "tiny-pack");
    assert.equal(video.size, "16x16");
    assert.equal(video.seconds, "2.125");
    assert.equal(video.request.seed, "7");
    assert.equal(video.request.keyframe_steps, 2);
    assert.equal(video.request.sampler, "ddim");
    assert.deepEqual(video.request.output_formats, ["mp4", "gif"]);
    assert.deepEqual(
      video.stages.map((s: { stage: string; level: number }) => `${s.stage}${s.level}`),
      ["keyframe0", "interpolation1", "decode0"],
    );
    // The job joins the caller's trace: the create's server span is a child of the traceparent header.
    const run = await gateway.runs.get(video.id);
    assert.match(run.run.traceContext.traceparent ?? "", new RegExp(`^00-${traceId}-`));
    await telemetry.forceFlush();
    const span = spans.getFinishedSpans().find((s) => s.name === "POST /v1/videos");
    assert.equal(span?.spanContext().traceId, traceId);

    const stream = await events(video.id);
    assert.deepEqual(
      stream.map((e) => e.id),
      stream.map((_, i) => String(i + 1)),
      "ids are the sequences 1, 2, 3 …",
    );
    for (const e of stream) {
      assert.equal(e.event, e.data.type);
      assert.equal(String(e.data.sequence), e.id);
      assert.equal(e.data.job_id, video.id);
      assert.ok(validateEvent(e.data), `${JSON.stringify(e.data)}: ${JSON.stringify(validateEvent)}`);
    }
    assert.equal(stream[0]?.event, "queued");
    const types = stream.map((e) => e.event);
    assert.ok(types.includes("stage_started") && types.includes("step_progress") && types.includes("stage_completed"));
    const last = stream.at(-1);
    assert.equal(last?.event, "completed");
    assert.deepEqual(last?.data.artifacts.map((a: { format: string }) => a.format).sort(), ["gif", "mp4"]);

    const resumed = await events(video.id, { "Last-Event-ID": "2" });
    assert.deepEqual(
      resumed.map((e) => e.id),
      stream.slice(2).map((e) => e.id),
    );

    const got = await api("GET", `/v1/videos/${video.id}`);
    assert.equal(got.status, 200);
    assert.ok(validateVideo(got.json), JSON.stringify(validateVideo));
    assert.equal(got.json.status, "completed");
    assert.equal(got.json.progress, 100);
    assert.equal(got.json.last_event_sequence, stream.length);
    assert.ok(got.json.completed_at >= got.json.created_at);
    const mp4 = got.json.artifacts.find((a: { format: string }) => a.format === "mp4");
    assert.equal(mp4.content_type, "video/mp4");
    assert.match(mp4.url, /^http/);

    const res = await fetch(`${base}/v1/videos/${video.id}/content`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "video/mp4");
    assert.equal(res.headers.get("etag"), `"${mp4.sha256}"`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(Number(res.headers.get("content-length")), bytes.byteLength);
    assert.equal(bytes.byteLength, mp4.bytes);
    assert.equal(sha256(bytes), mp4.sha256);
    const file = path.join(dir, "downloaded.mp4");
    writeFileSync(file, bytes);
    const info = await inspectVideo(file);
    assert.equal(info.codec, "h264");
    assert.ok(info.width > 0 && info.width === info.height, `${info.width}x${info.height}`);

    const gif = await fetch(`${base}/v1/videos/${video.id}/content?variant=gif`);
    assert.equal(gif.status, 200);
    assert.equal(gif.headers.get("content-type"), "image/gif");
    assert.equal(
      Buffer.from(await gif.arrayBuffer())
        .subarray(0, 4)
        .toString("latin1"),
      "GIF8",
    );
    completedId = video.id;
  });

  it("an idempotency key returns the first job (200); the same key with another request is 409", async () => {
    const body = { prompt: "a blue square", frames: 17, keyframe_steps: 1, interpolation_steps: 1 };
    const headers = { "Idempotency-Key": "http-test-key-1" };
    const first = await api("POST", "/v1/videos", { body, headers });
    assert.equal(first.status, 201, JSON.stringify(first.json));
    const again = await api("POST", "/v1/videos", { body, headers });
    assert.equal(again.status, 200);
    assert.equal(again.json.id, first.json.id);
    const other = await api("POST", "/v1/videos", { body: { ...body, prompt: "a green square" }, headers });
    assert.equal(other.status, 409);
    assert.equal(other.json.error.code, "ALREADY_EXISTS");
    assert.match(other.json.error.message, /prompt/);
    const end = await events(first.json.id);
    assert.equal(end.at(-1)?.event, "completed");
  });

  it("lists jobs newest first, a page at a time, filtered by status", async () => {
    const page1 = await api("GET", "/v1/videos?limit=1");
    assert.equal(page1.status, 200, JSON.stringify(page1.json));
    assert.equal(page1.json.object, "list");
    assert.equal(page1.json.data.length, 1);
    assert.equal(page1.json.has_more, true);
    assert.equal(page1.json.first_id, page1.json.data[0].id);
    assert.equal(page1.json.last_id, page1.json.data[0].id);
    const page2 = await api("GET", `/v1/videos?limit=10&page_token=${encodeURIComponent(page1.json.next_page_token)}`);
    assert.equal(page2.status, 200);
    assert.equal(page2.json.has_more, false);
    assert.equal(page2.json.next_page_token, "");
    const ids = [...page1.json.data, ...page2.json.data].map((v: { id: string }) => v.id);
    assert.equal(ids.length, 2);
    assert.ok(ids.includes(completedId));
    const completed = await api("GET", "/v1/videos?status=completed&status=failed");
    assert.equal(completed.json.data.length, 2);
    assert.ok(completed.json.data.every((v: { status: string }) => v.status === "completed"));
    assert.equal((await api("GET", "/v1/videos?status=queued")).json.data.length, 0);
  });

  it("cancels a running job, answers the queue limit with 429, and refuses the content of a cancelled job", async () => {
    const held = [];
    for (const prompt of ["hold 1", "hold 2", "hold 3"]) {
      const r = await api("POST", "/v1/videos", { body: { prompt, frames: 17 } });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      held.push(r.json.id as string);
    }
    const full = await api("POST", "/v1/videos", { body: { prompt: "one too many", frames: 17 } });
    assert.equal(full.status, 429);
    assert.equal(full.json.error.code, "RESOURCE_EXHAUSTED");
    assert.equal(full.json.error.field, null);

    const [first, ...rest] = held as [string, ...string[]];
    const cancelled = await api("POST", `/v1/videos/${first}/cancel`, { body: { reason: "no longer needed" } });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
    assert.equal(cancelled.json.status, "cancelled");
    assert.equal(cancelled.json.error.message, "no longer needed");
    const again = await api("POST", `/v1/videos/${first}/cancel`);
    assert.equal(again.status, 200);
    assert.equal(again.json.error.message, "no longer needed", "cancelling again changes nothing");
    const stream = await events(first);
    assert.deepEqual(
      stream.map((e) => e.event).filter((t) => t !== "stage_started"),
      ["queued", "cancelled"],
    );
    assert.equal(stream.at(-1)?.data.message, "no longer needed");
    const content = await api("GET", `/v1/videos/${first}/content`);
    assert.equal(content.status, 400);
    assert.equal(content.json.error.code, "FAILED_PRECONDITION");
    assert.match(content.json.error.message, /is cancelled/);
    for (const id of rest) assert.equal((await api("POST", `/v1/videos/${id}/cancel`, { raw: "" })).status, 200);
  });

  it("404 for an unknown job on every route, and for an unknown route", async () => {
    for (const [method, route] of [
      ["GET", "/v1/videos/jnope"],
      ["POST", "/v1/videos/jnope/cancel"],
      ["GET", "/v1/videos/jnope/content"],
      ["GET", "/v1/videos/jnope/events"],
      ["GET", "/v1/nothing"],
    ] as const) {
      const r = await api(method, route);
      assert.equal(r.status, 404, `${method} ${route}`);
      assert.equal(r.json.error.code, "NOT_FOUND");
      assert.equal(r.json.error.field, null);
    }
    const gif = await api("GET", `/v1/videos/${completedId}/content?variant=gif`);
    assert.equal(gif.status, 200, "the first job made a GIF");
  });

  it("answers malformed requests 400 (413, 415) naming the field, and creates no job", async () => {
    const before = (await api("GET", "/v1/videos?limit=1000")).json.data.length;
    // The table every server of the HTTP API answers alike (longshot serve runs it too).
    for (const c of malformedRequests({ maxBodyBytes: MAX_BODY, maxSteps: 150, framesNotInPack: 257 })) {
      const r = await api(c.method, c.route.replace("{done}", completedId), {
        ...(c.body === undefined ? {} : { body: c.body }),
        ...(c.raw === undefined ? {} : { raw: c.raw }),
        ...(c.headers === undefined ? {} : { headers: { ...c.headers } }),
      });
      assert.equal(r.status, c.status, `${c.what}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, "INVALID_ARGUMENT", c.what);
      assert.equal(r.json.error.field, c.field, `${c.what}: ${r.json.error.message}`);
      if (c.method === "POST")
        assert.ok(r.json.error.message.startsWith(`${c.field}: `), `${c.what}: ${r.json.error.message}`);
    }
    const large = await api("POST", "/v1/videos", { body: { prompt: "x".repeat(MAX_BODY) } });
    assert.match(large.json.error.message, new RegExp(`limit of ${MAX_BODY} bytes .*LONGSHOT_HTTP_MAX_BODY_BYTES`));
    const after = (await api("GET", "/v1/videos?limit=1000")).json.data.length;
    assert.equal(after, before, "no job was created");
  });

  it("the spritesheet: 404 until the keyframes exist; kept after the job completes (404: the tiny pack has no preview map)", async () => {
    const { json: held } = await api("POST", "/v1/videos", {
      body: { prompt: "hold for the spritesheet", frames: 17 },
    });
    const early = await api("GET", `/v1/videos/${held.id}/content?variant=spritesheet`);
    assert.equal(early.status, 404, JSON.stringify(early.json));
    assert.equal(early.json.error.code, "NOT_FOUND");
    assert.match(early.json.error.message, /no keyframes/);
    assert.equal((await api("POST", `/v1/videos/${held.id}/cancel`)).status, 200);
    // A completed job keeps its keyframe latents; this pack has no latent.previewRgb, which the 404 names.
    assert.ok(await gateway.store.exists(`jobs/${completedId}/keyframes.safetensors`), "kept for the spritesheet");
    const done = await api("GET", `/v1/videos/${completedId}/content?variant=spritesheet`);
    assert.equal(done.status, 404, JSON.stringify(done.json));
    assert.match(done.json.error.message, /latent\.previewRgb/);
  });

  it("a drain ends the open event streams at its timeout (the last test: the API is closed after it)", async () => {
    const { json: video } = await api("POST", "/v1/videos", { body: { prompt: "hold for the drain", frames: 17 } });
    const res = await fetch(`${base}/v1/videos/${video.id}/events`);
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    const http = gateway.http as NonNullable<GatewayService["http"]>;
    const t0 = Date.now();
    assert.deepEqual(await http.close(300), { forced: true });
    assert.ok(Date.now() - t0 >= 250, "the stream went on until the timeout");
    while (!(await reader.read()).done) {}
    await assert.rejects(fetch(`${base}/v1/videos`), "no longer listening");
  });
});

describe("HTTP API over TLS, from the gRPC TLS settings (real NATS and S3)", { timeout: 120_000 }, () => {
  let servers: Servers;
  let dir: string;
  let pki: TestPki<"gateway" | "client">;

  before(async () => {
    dir = makeTempDir("gateway-http-tls");
    pki = createTestPki(dir, ["gateway", "client"]);
    servers = (await startServers({ nats: true, s3: true })) as Servers;
  });

  after(async () => {
    await servers?.stop();
    removeTempDir(dir);
  });

  function get(port: number, options: { ca?: string; cert?: string; key?: string }): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/v1/videos",
          ca: options.ca === undefined ? undefined : readFileSync(options.ca),
          cert: options.cert === undefined ? undefined : readFileSync(options.cert),
          key: options.key === undefined ? undefined : readFileSync(options.key),
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  it("serves HTTPS with LONGSHOT_GRPC_TLS_CERT / _KEY, and requires client certificates with _CA", async () => {
    const tls = { LONGSHOT_GRPC_TLS_CERT: pki.certs.gateway.cert, LONGSHOT_GRPC_TLS_KEY: pki.certs.gateway.key };
    const gateway = await startGatewayService(
      loadConfig(gatewayConfigSchema, { env: tls, argv: gatewayArgs(servers, "http-tls-test") }),
      silent,
    );
    try {
      const port = gateway.http?.port as number;
      assert.equal(await get(port, { ca: pki.ca }), 200);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/v1/videos`), "no plaintext");
      await assert.rejects(get(port, {}), /self-signed|unable to verify|certificate/i);
    } finally {
      await gateway.drain(1000);
    }

    const mutual = await startGatewayService(
      loadConfig(gatewayConfigSchema, {
        env: { ...tls, LONGSHOT_GRPC_TLS_CA: pki.ca },
        argv: gatewayArgs(servers, "http-tls-test"),
      }),
      silent,
    );
    try {
      const port = mutual.http?.port as number;
      await assert.rejects(get(port, { ca: pki.ca }), "a client without a certificate is refused");
      const { cert, key } = pki.certs.client;
      assert.equal(await get(port, { ca: pki.ca, cert, key }), 200);
    } finally {
      await mutual.drain(1000);
    }
  });

  it("--no-http serves gRPC only", async () => {
    const gateway = await startGatewayService(
      loadConfig(gatewayConfigSchema, { env: {}, argv: gatewayArgs(servers, "http-tls-test", ["--no-http"]) }),
      silent,
    );
    try {
      assert.equal(gateway.http, undefined);
    } finally {
      await gateway.drain(1000);
    }
  });
});
