/**
 * `longshot serve` as a real process on a free port, with the bundled pack (few steps, fixed seeds): a job created
 * over HTTP, its server-sent events followed to `completed`, the MP4 downloaded and checked, the spritesheet
 * (404 before the keyframes exist), a second job cancelled while it runs, the malformed-request table of the HTTP
 * API answered 400 naming the field, SIGTERM drains with exit 0, and a restarted serve on the same output root
 * lists both jobs and serves the first one's files.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { malformedRequests } from "@longshot/http-api/cases";
import { decodePng, decodeVideo } from "@longshot/media";
import { makeTempDir, removeTempDir } from "@longshot/testing";
import { longshot, MAIN } from "./test-support.js";

interface Server {
  child: ChildProcess;
  base: string;
  stderr: () => string;
}

/** Starts `longshot serve --port 0 --out root` and waits for the URL it prints. */
async function startServe(root: string): Promise<Server> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.LONGSHOT_PACK;
  const child = spawn(process.execPath, [MAIN, "serve", "--port", "0", "--out", root, "--threads", "1"], { env });
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 60 s; stderr:\n${stderr}`)), 60_000);
    child.stdout?.on("data", (b: Buffer) => {
      stdout += b.toString();
      const m = /^longshot serve: (http:\/\/127\.0\.0\.1:\d+)\/$/m.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
  return { child, base, stderr: () => stderr };
}

/** Sends `signal` and waits for the exit code. */
async function stop(server: Server, signal: NodeJS.Signals): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const exited = once(server.child, "exit");
  server.child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field.
  json: any;
}

async function api(
  base: string,
  method: string,
  route: string,
  o: { body?: unknown; raw?: string; headers?: Readonly<Record<string, string>> } = {},
): Promise<Answer> {
  const hasBody = o.body !== undefined || o.raw !== undefined;
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { ...(hasBody ? { "content-type": "application/json" } : {}), ...o.headers },
    ...(hasBody ? { body: o.raw ?? JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  const isJson = res.headers.get("content-type")?.startsWith("application/json") === true;
  return { status: res.status, headers: res.headers, json: isJson ? JSON.parse(text) : text };
}

// biome-ignore lint/suspicious/noExplicitAny: JSON data, checked field by field.
type Sse = { id: string | undefined; event: string; data: any };

/** A job's server-sent events until the server ends the stream (or `until` says stop). */
async function events(base: string, id: string, until?: (e: Sse) => boolean): Promise<Sse[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 180_000);
  const res = await fetch(`${base}/v1/videos/${id}/events`, { signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const out: Sse[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const fields = new Map<string, string>();
        for (const line of buffer.slice(0, end).split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(": ");
          fields.set(line.slice(0, colon), line.slice(colon + 2));
        }
        buffer = buffer.slice(end + 2);
        if (!fields.has("data")) continue;
        const e = {
          id: fields.get("id"),
          event: fields.get("event") ?? "message",
          data: JSON.parse(fields.get("data") ?? ""),
        };
        out.push(e);
        if (until?.(e) === true) {
          ac.abort();
          return out;
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return out;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

describe("longshot serve (a real process, the bundled pack)", { timeout: 600_000 }, () => {
  let root: string;
  let server: Server | undefined;
  let doneId = "";
  let mp4Sha = "";
  let cancelledId = "";

  before(async () => {
    root = makeTempDir("serve");
    server = await startServe(root);
  });

  after(async () => {
    if (server !== undefined) await stop(server, "SIGKILL");
    removeTempDir(root);
  });

  it("creates a job, follows its events to completed, downloads the MP4 and the spritesheet", async () => {
    const { base } = server as Server;
    const created = await api(base, "POST", "/v1/videos", {
      body: {
        prompt: "a red circle moving right on a dark blue background",
        seed: 7,
        frames: 17,
        keyframe_steps: 2,
        interpolation_steps: 2,
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.model, "shapes-mini");
    assert.equal(created.json.size, "64x64");
    doneId = created.json.id;
    assert.equal(created.headers.get("location"), `/v1/videos/${doneId}`);

    const stream = await events(base, doneId);
    assert.deepEqual(
      stream.map((e) => e.id),
      stream.map((_, i) => String(i + 1)),
    );
    assert.equal(stream[0]?.event, "queued");
    assert.equal(stream.at(-1)?.event, "completed");
    assert.deepEqual(
      stream.filter((e) => e.event.startsWith("stage_")).map((e) => `${e.event} ${e.data.stage}${e.data.level}`),
      [
        "stage_started keyframe0",
        "stage_completed keyframe0",
        "stage_started interpolation1",
        "stage_completed interpolation1",
        "stage_started decode0",
        "stage_completed decode0",
      ],
    );
    assert.ok(stream.some((e) => e.event === "step_progress"));

    const got = await api(base, "GET", `/v1/videos/${doneId}`);
    assert.equal(got.json.status, "completed");
    assert.equal(got.json.progress, 100);
    const mp4 = got.json.artifacts.find((a: { format: string }) => a.format === "mp4");
    assert.equal(mp4.url, null, "no presigned URL: the content route serves it");
    mp4Sha = mp4.sha256;

    const res = await fetch(`${base}/v1/videos/${doneId}/content`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "video/mp4");
    assert.equal(res.headers.get("etag"), `"${mp4.sha256}"`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(createHash("sha256").update(bytes).digest("hex"), mp4.sha256);
    const file = path.join(root, "downloaded.mp4");
    writeFileSync(file, bytes);
    const video = await decodeVideo(file);
    assert.equal(video.frames.length, 17);

    const sheet = await fetch(`${base}/v1/videos/${doneId}/content?variant=spritesheet`);
    assert.equal(sheet.status, 200);
    assert.equal(sheet.headers.get("content-type"), "image/png");
    const png = new Uint8Array(await sheet.arrayBuffer());
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
    const image = decodePng(png);
    assert.deepEqual([image.width, image.height], [5 * 64, 64], "5 keyframes side by side at the video's size");
  });

  it("answers the spritesheet 404 before the keyframes exist, and cancels a running job", async () => {
    const { base } = server as Server;
    const created = await api(base, "POST", "/v1/videos", {
      body: { prompt: "a blue square moving up", seed: 8, frames: 65, keyframe_steps: 150, interpolation_steps: 2 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    cancelledId = created.json.id;
    const early = await api(base, "GET", `/v1/videos/${cancelledId}/content?variant=spritesheet`);
    assert.equal(early.status, 404, JSON.stringify(early.json));
    assert.equal(early.json.error.code, "NOT_FOUND");
    await events(base, cancelledId, (e) => e.event === "step_progress");
    const cancelled = await api(base, "POST", `/v1/videos/${cancelledId}/cancel`, {
      body: { reason: "changed my mind" },
    });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
    assert.equal(cancelled.json.status, "cancelled");
    const stream = await events(base, cancelledId);
    assert.equal(stream.at(-1)?.event, "cancelled");
    assert.equal(stream.at(-1)?.data.message, "changed my mind");
    const content = await api(base, "GET", `/v1/videos/${cancelledId}/content`);
    assert.equal(content.status, 400);
    assert.equal(content.json.error.code, "FAILED_PRECONDITION");
  });

  it("answers the HTTP API's malformed requests 400 (413, 415) naming the field, and creates no job", async () => {
    const { base } = server as Server;
    const before = (await api(base, "GET", "/v1/videos?limit=1000")).json.data.length;
    for (const c of malformedRequests({ maxBodyBytes: 65_536, maxSteps: 150, framesNotInPack: 33 })) {
      const r = await api(base, c.method, c.route.replace("{done}", doneId), c);
      assert.equal(r.status, c.status, `${c.what}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, "INVALID_ARGUMENT", c.what);
      assert.equal(r.json.error.field, c.field, `${c.what}: ${r.json.error.message}`);
    }
    assert.equal((await api(base, "GET", "/v1/videos?limit=1000")).json.data.length, before);
  });

  it("exits 2 naming --port when the port is taken, and --pack when the pack is not one", async () => {
    const { base } = server as Server;
    const port = new URL(base).port;
    const other = path.join(root, "other");
    const taken = await longshot(["serve", "--port", port, "--out", other, "--threads", "1"], { timeoutMs: 60_000 });
    assert.equal(taken.code, 2, taken.stderr);
    assert.match(taken.stderr, /longshot serve: --port: cannot listen/);
    const noPack = await longshot(["serve", "--port", "0", "--pack", path.join(root, "no-pack")], {
      timeoutMs: 30_000,
    });
    assert.equal(noPack.code, 2, noPack.stderr);
    assert.match(noPack.stderr, /longshot serve: --pack: /);
  });

  it("drains on SIGTERM (exit 0); a restart on the same --out lists both jobs and serves the first one's files", async () => {
    const code = await stop(server as Server, "SIGTERM");
    assert.equal(code, 0, (server as Server).stderr());
    server = await startServe(root);
    const { base } = server;
    const list = await api(base, "GET", "/v1/videos");
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.data.map((v: { id: string; status: string }) => `${v.id} ${v.status}`),
      [`${cancelledId} cancelled`, `${doneId} completed`],
    );
    const res = await fetch(`${base}/v1/videos/${doneId}/content`);
    assert.equal(res.status, 200);
    assert.equal(
      createHash("sha256")
        .update(new Uint8Array(await res.arrayBuffer()))
        .digest("hex"),
      mp4Sha,
    );
    const sheet = await fetch(`${base}/v1/videos/${doneId}/content?variant=spritesheet`);
    assert.equal(sheet.status, 200);
    const replay = await events(base, doneId);
    assert.equal(replay.at(-1)?.event, "completed");
    assert.equal(await stop(server, "SIGINT"), 0, server.stderr());
    server = undefined;
  });
});
