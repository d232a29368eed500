/**
 * Runs the npm `s3rver` (a local S3 API server backed by a directory) as its own process, so S3 traffic
 * in tests crosses a real socket to another process like it would to MinIO.
 *
 * Usage: node s3rver-launcher.js --dir DIR [--port N] [--host 127.0.0.1]
 * Prints `S3RVER_READY {"port":N}` once listening. Credentials are s3rver's fixed S3RVER / S3RVER
 * (SigV4, region us-east-1, path-style). Exits on SIGTERM/SIGINT and when stdin closes (the parent died).
 */

import { pathToFileURL } from "node:url";
import S3rver from "s3rver";

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const directory = argValue("--dir");
  if (!directory) throw new Error("--dir DIR is required");
  const port = Number(argValue("--port") ?? "0");
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port ${argValue("--port")} is not a port`);
  const server = new S3rver({
    address: argValue("--host") ?? "127.0.0.1",
    port,
    directory,
    silent: true,
    // Path-style only: bucket names never come from the Host header.
    vhostBuckets: false,
  });
  const addr = await server.run();
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(0), 2000).unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.stdin.on("end", shutdown);
  process.stdin.on("error", shutdown);
  process.stdin.resume();
  process.stdout.write(`S3RVER_READY ${JSON.stringify({ port: addr.port })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`s3rver-launcher: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
