/**
 * Self-test of the harness against the real servers it starts: JetStream works and survives restarts,
 * the S3 endpoint serves the minio client, the OTLP endpoint accepts real OpenTelemetry exporters in
 * JSON and protobuf, and no server process outlives its owner.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { AckPolicy, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { SimpleSpanProcessor, type SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace";
import { Client } from "minio";
import { sweepStaleTempDirs, waitForPort } from "./processes.js";
import { startServers } from "./servers.js";
import type { TestServers } from "./types.js";
import { waitFor } from "./wait.js";

type All = { nats: true; s3: true; otlp: true };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("@longshot/testing harness", { timeout: 120_000 }, () => {
  let servers: TestServers<All>;
  const lines: string[] = [];

  before(async () => {
    servers = await startServers({ nats: true, s3: true, otlp: true, log: (l) => lines.push(l) });
  });
  after(async () => {
    await servers?.stop();
  });

  it("prints one line naming the path it took and the endpoints", () => {
    assert.equal(lines.length, 1);
    assert.match(
      lines[0] ?? "",
      /^\[@longshot\/testing\] test servers: (local processes|Docker containers via testcontainers) \(.+\); nats=nats:\/\/\S+ s3=http:\/\/\S+ otlp=http:\/\/\S+/,
    );
  });

  describe("JetStream", () => {
    let nc: NatsConnection;
    before(async () => {
      nc = await connect({ ...servers.nats.connectOptions(), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    });
    after(async () => {
      await nc?.close();
    });

    it("creates a stream, publishes and consumes with acks", async () => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "SELFTEST", subjects: ["selftest.>"], storage: StorageType.File });
      const js = jetstream(nc);
      for (let i = 0; i < 3; i++) {
        const ack = await js.publish("selftest.job", JSON.stringify({ i }), { msgID: `job-${i}` });
        assert.equal(ack.seq, i + 1);
      }
      const dup = await js.publish("selftest.job", JSON.stringify({ i: 0 }), { msgID: "job-0" });
      assert.equal(dup.duplicate, true);

      await jsm.consumers.add("SELFTEST", { durable_name: "worker", ack_policy: AckPolicy.Explicit });
      const consumer = await js.consumers.get("SELFTEST", "worker");
      const seen: number[] = [];
      for (let i = 0; i < 2; i++) {
        const m = await consumer.next({ expires: 5000 });
        assert.ok(m, "expected a message");
        seen.push((m.json() as { i: number }).i);
        await m.ackAck();
      }
      assert.deepEqual(seen, [0, 1]);
    });

    it("restartNats keeps the stream, its messages and the consumer position (same URL)", async () => {
      const url = servers.nats.url;
      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === "reconnect") return true;
        return false;
      })();
      await servers.restartNats();
      assert.equal(servers.nats.url, url);
      assert.equal(await reconnected, true);

      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info("SELFTEST");
      assert.equal(info.state.messages, 3);
      const js = jetstream(nc);
      const m = await (await js.consumers.get("SELFTEST", "worker")).next({ expires: 5000 });
      assert.ok(m, "the unacked third message is still there");
      assert.equal((m.json() as { i: number }).i, 2);
      await m.ackAck();
    });

    it("survives a crash (SIGKILL) with downtime", async () => {
      const js = jetstream(nc);
      await js.publish("selftest.job", JSON.stringify({ i: 3 }), { msgID: "job-3" });
      const events: string[] = [];
      const watcher = (async () => {
        for await (const s of nc.status()) {
          events.push(s.type);
          if (s.type === "reconnect") return;
        }
      })();
      await servers.restartNats({ signal: "SIGKILL", downMs: 300 });
      await watcher;
      assert.ok(events.includes("disconnect"), `status events: ${events.join(",")}`);
      const info = await (await jetstreamManager(nc)).streams.info("SELFTEST");
      assert.equal(info.state.messages, 4);
    });
  });

  it("serves S3 to the minio client", async () => {
    const s3 = servers.s3;
    const client = new Client({ ...s3 });
    await client.makeBucket("selftest", s3.region);
    const body = Buffer.from("hello longshot");
    await client.putObject("selftest", "a/b.txt", body, body.length, { "Content-Type": "text/plain" });
    const stat = await client.statObject("selftest", "a/b.txt");
    assert.equal(stat.size, body.length);
    const chunks: Buffer[] = [];
    for await (const c of await client.getObject("selftest", "a/b.txt")) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), "hello longshot");
  });

  for (const [format, Exporter] of [
    ["json", JsonExporter],
    ["protobuf", ProtoExporter],
  ] as const) {
    it(`stores spans exported as OTLP/HTTP ${format} and returns them by trace id`, async () => {
      const exporter: SpanExporter = new Exporter({ url: servers.otlp.tracesUrl });
      const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
      const tracer = provider.getTracer("selftest", "1.0.0");
      const root = tracer.startSpan("Generate", { kind: SpanKind.SERVER, attributes: { "job.frames": 65, format } });
      const traceId = root.spanContext().traceId;
      const parent = trace.setSpan(context.active(), root);
      const child = tracer.startSpan(
        "keyframe.denoise",
        { attributes: { step: 3, ok: true, dims: [1, 4, 64, 64] } },
        parent,
      );
      child.addEvent("retry", { attempt: 2 });
      child.setStatus({ code: SpanStatusCode.ERROR, message: "boom" });
      child.end();
      root.end();
      await provider.forceFlush();
      const spans = await servers.otlp.waitForSpans(traceId, { count: 2 });
      await provider.shutdown();
      assert.equal(spans.length, 2);
      const gotRoot = spans.find((s) => s.name === "Generate");
      const gotChild = spans.find((s) => s.name === "keyframe.denoise");
      assert.ok(gotRoot && gotChild, `got ${spans.map((s) => s.name).join(", ")}`);
      assert.equal(gotRoot.parentSpanId, undefined);
      assert.equal(gotRoot.spanId, root.spanContext().spanId);
      assert.equal(gotRoot.kind, 2);
      assert.equal(gotRoot.attributes["job.frames"], 65);
      assert.equal(gotRoot.attributes.format, format);
      assert.equal(gotChild.parentSpanId, gotRoot.spanId);
      assert.equal(gotChild.traceId, traceId);
      assert.deepEqual(gotChild.attributes, { step: 3, ok: true, dims: [1, 4, 64, 64] });
      assert.deepEqual(gotChild.status, { code: 2, message: "boom" });
      assert.deepEqual(
        gotChild.events.map((e) => [e.name, e.attributes]),
        [["retry", { attempt: 2 }]],
      );
      assert.equal(gotChild.scopeName, "selftest");
      assert.match(gotChild.serviceName ?? "", /^unknown_service/);
      assert.ok(BigInt(gotChild.endTimeUnixNano) >= BigInt(gotChild.startTimeUnixNano));
      assert.deepEqual(await servers.otlp.spans("ffffffffffffffffffffffffffffffff"), []);
    });
  }

  it("rejects OTLP payloads it cannot read", async (t) => {
    if (servers.otlp.backend !== "receiver") {
      t.skip("only the local receiver's error answers are specified here");
      return;
    }
    const bad = await fetch(servers.otlp.tracesUrl, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x",
    });
    assert.equal(bad.status, 415);
    const broken = await fetch(servers.otlp.tracesUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(broken.status, 400);
    assert.match(await broken.text(), /malformed ExportTraceServiceRequest/);
  });
});

describe("server lifetime", { timeout: 120_000 }, () => {
  it("stop() ends every server and frees its port; `await using` stops too", async () => {
    let natsPort = 0;
    let s3Port = 0;
    {
      await using servers = await startServers({ nats: true, s3: true, log: () => {} });
      natsPort = servers.nats.port;
      s3Port = servers.s3.port;
      await waitForPort(natsPort);
    }
    await assert.rejects(waitForPort(natsPort, "127.0.0.1", 300));
    await assert.rejects(waitForPort(s3Port, "127.0.0.1", 300));
  });

  for (const how of ["SIGINT", "SIGKILL"] as const) {
    it(`no server process outlives a test process that dies by ${how}`, async (t) => {
      const servers = await startServers({ nats: true, log: () => {} });
      const mode = servers.mode;
      await servers.stop();
      if (mode !== "local") {
        t.skip("containers are reaped by testcontainers' Ryuk, not by this process");
        return;
      }
      const index = pathToFileURL(fileURLToPath(new URL("./index.js", import.meta.url))).href;
      const code = `
        import { startServers, LocalNats } from ${JSON.stringify(index)};
        const s = await startServers({ nats: true, s3: true, otlp: true, mode: "local", log: () => {} });
        console.log("PIDS " + JSON.stringify({ nats: s.nats.pid, port: s.nats.port, s3: s.s3.port, otlp: s.otlp.port }));
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      // Whatever happens below, the helper must not keep this test process alive.
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      });
      const helperDirs = async (): Promise<string[]> =>
        (await readdir(tmpdir())).filter((n) => n.startsWith(`longshot-test-${child.pid}-`));
      const info = await new Promise<{ nats: number; port: number; s3: number; otlp: number }>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          const m = /PIDS (\{.*\})/.exec(out);
          if (m) resolve(JSON.parse(m[1] as string));
        });
        child.once("exit", (c) => reject(new Error(`helper exited early (${c}): ${out}`)));
      });
      assert.ok(alive(info.nats));
      assert.equal((await helperDirs()).length, 2, "the helper's NATS store and s3rver directory");
      await waitForPort(info.s3);
      await waitForPort(info.otlp);
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(how);
      await exited;
      await waitFor(`nats-server pid ${info.nats} to exit after ${how}`, () => !alive(info.nats), { intervalMs: 50 });
      for (const port of [info.port, info.s3, info.otlp]) {
        await waitFor(
          `port ${port} to close after ${how}`,
          () =>
            waitForPort(port, "127.0.0.1", 100).then(
              () => false,
              () => true,
            ),
          { intervalMs: 50 },
        );
      }
      if (how === "SIGINT") {
        assert.deepEqual(await helperDirs(), [], "the SIGINT handler removes temporary directories");
      } else {
        assert.equal((await helperDirs()).length, 2, "a SIGKILLed process cannot clean up");
        sweepStaleTempDirs(true);
        assert.deepEqual(await helperDirs(), [], "a later sweep removes what a dead process left");
      }
    });
  }
});
