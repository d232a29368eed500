/**
 * A minimal OTLP/HTTP trace receiver, run as a child process by the test harness when no Docker engine
 * is available. It stands in for Jaeger's OTLP endpoint (port 4318) plus just enough of a query API for
 * tests:
 *
 *   POST   /v1/traces          ExportTraceServiceRequest as application/json or application/x-protobuf
 *                              (optionally Content-Encoding: gzip); answers an empty ExportTraceServiceResponse
 *   GET    /spans?traceId=HEX  the stored spans (all spans without traceId) as {"spans": TestSpan[]}
 *   DELETE /spans              forgets every stored span
 *   GET    /healthz            "ok"
 *
 * Usage: node otlp-receiver.js [--port N] [--host 127.0.0.1]. Prints `OTLP_RECEIVER_READY {"port":N}` once
 * listening, exits on SIGTERM/SIGINT and when its stdin closes (the parent died).
 */
import http from "node:http";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { type OtlpTracesRequest, spansFromOtlp, type TestSpan } from "./otlp.js";
import { decodeTracesProtobuf } from "./otlp-protobuf.js";

const MAX_BODY = 64 * 1024 * 1024;

export interface OtlpReceiverOptions {
  port?: number;
  host?: string;
}

/** Starts the receiver in this process; resolves with the bound port and a close function. */
export async function startOtlpReceiver(
  opts: OtlpReceiverOptions = {},
): Promise<{ port: number; close: () => Promise<void>; spans: TestSpan[] }> {
  const spans: TestSpan[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    const reply = (status: number, body: string | Uint8Array, type = "application/json"): void => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    const error = (status: number, message: string): void => reply(status, JSON.stringify({ code: status, message }));

    if (url.pathname === "/healthz" && req.method === "GET") return reply(200, "ok", "text/plain");
    if (url.pathname === "/spans" && req.method === "GET") {
      const traceId = url.searchParams.get("traceId")?.toLowerCase();
      const selected = traceId ? spans.filter((s) => s.traceId === traceId) : spans;
      return reply(200, JSON.stringify({ spans: selected }));
    }
    if (url.pathname === "/spans" && req.method === "DELETE") {
      spans.length = 0;
      return reply(200, "{}");
    }
    if (url.pathname !== "/v1/traces") return error(404, `no route for ${req.method} ${url.pathname}`);
    if (req.method !== "POST") return error(405, `${req.method} not allowed on /v1/traces`);

    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        error(413, `body over ${MAX_BODY} bytes`);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (res.headersSent) return;
      const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      try {
        let body = Buffer.concat(chunks);
        const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
        if (encoding === "gzip") body = gunzipSync(body);
        else if (encoding !== "identity") return error(415, `unsupported content-encoding ${encoding}`);
        let request: OtlpTracesRequest;
        if (type === "application/x-protobuf" || type === "application/protobuf") {
          request = decodeTracesProtobuf(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
          spans.push(...spansFromOtlp(request));
          return reply(200, new Uint8Array(0), "application/x-protobuf");
        }
        if (type === "application/json") {
          request = JSON.parse(body.toString("utf8")) as OtlpTracesRequest;
          spans.push(...spansFromOtlp(request));
          return reply(200, "{}");
        }
        return error(415, `unsupported content-type "${type}" (want application/json or application/x-protobuf)`);
      } catch (err) {
        return error(400, `malformed ExportTraceServiceRequest: ${(err as Error).message}`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    port,
    spans,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const port = Number(argValue("--port") ?? "0");
  const host = argValue("--host") ?? "127.0.0.1";
  const receiver = await startOtlpReceiver({ port, host });
  const shutdown = (): void => {
    void receiver.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.stdin.on("end", shutdown);
  process.stdin.on("error", shutdown);
  process.stdin.resume();
  process.stdout.write(`OTLP_RECEIVER_READY ${JSON.stringify({ port: receiver.port })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`otlp-receiver: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
