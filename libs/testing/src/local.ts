/**
 * Path B of the harness: real servers as local child processes on free ports (no Docker engine needed).
 *   NATS: the `nats-server` binary with JetStream (Debian package `nats-server`).
 *   S3:   the npm `s3rver` in its own process (s3rver-launcher.js).
 *   OTLP: otlp-receiver.js, standing in for Jaeger's OTLP/HTTP endpoint with a small query API.
 */
import { fileURLToPath } from "node:url";
import { ConfigError } from "@longshot/core";
import type { TestSpan } from "./otlp.js";
import {
  findExecutable,
  type ManagedProcess,
  makeTempDir,
  removeTempDir,
  spawnProcess,
  sweepStaleTempDirs,
  waitForPort,
} from "./processes.js";
import type { NatsHandle, OtlpHandle, RestartOptions, S3Handle, Stoppable, WaitForSpansOptions } from "./types.js";
import { waitForSpans } from "./wait.js";

const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 20_000;

function script(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

/** The nats-server binary: $NATS_SERVER_BIN, PATH, then the Debian location. */
export function findNatsServer(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  const found = findExecutable("nats-server", ["/usr/sbin", "/usr/local/bin", "/usr/bin"]);
  if (!found) {
    throw new ConfigError(
      "nats-server not found on PATH nor at /usr/sbin/nats-server: install the Debian package `nats-server` " +
        "(apt-get install nats-server), or set NATS_SERVER_BIN to a nats-server binary (>= 2.9, JetStream)",
    );
  }
  return found;
}

export class LocalNats implements NatsHandle {
  readonly host = HOST;
  readonly user = undefined;
  readonly pass = undefined;
  private proc: ManagedProcess | undefined;
  private portValue = -1;

  private constructor(
    private readonly binary: string,
    readonly storeDir: string,
  ) {}

  static async start(): Promise<LocalNats> {
    const binary = findNatsServer();
    sweepStaleTempDirs();
    const storeDir = makeTempDir("nats");
    const nats = new LocalNats(binary, storeDir);
    try {
      await nats.start();
    } catch (err) {
      await nats.stop("SIGKILL");
      removeTempDir(storeDir);
      throw err;
    }
    return nats;
  }

  get port(): number {
    return this.portValue;
  }

  get url(): string {
    return `nats://${HOST}:${this.portValue}`;
  }

  get running(): boolean {
    return this.proc !== undefined && !this.proc.hasExited;
  }

  /** PID of the nats-server process (for chaos tests that signal it themselves). */
  get pid(): number {
    return this.proc?.pid ?? -1;
  }

  connectOptions(): { servers: string } {
    return { servers: this.url };
  }

  async start(): Promise<void> {
    if (this.running) return;
    // The first start lets the server pick a port (-1); restarts reuse it.
    const args = ["-js", "-a", HOST, "-p", String(this.portValue), "-sd", this.storeDir, "-n", "longshot-test"];
    const proc = spawnProcess("nats-server", this.binary, args, { stdinPipe: false });
    this.proc = proc;
    const listening = await proc.waitForLine(/Listening for client connections on .*:(\d+)/, START_TIMEOUT_MS);
    await proc.waitForLine(/Server is ready/, START_TIMEOUT_MS);
    this.portValue = Number(listening[1]);
    await waitForPort(this.portValue, HOST, START_TIMEOUT_MS);
  }

  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    await proc.stop(signal);
  }

  async restart(opts: RestartOptions = {}): Promise<void> {
    await this.stop(opts.signal ?? "SIGTERM");
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    await this.start();
  }

  /** Stops the server and deletes its JetStream store. */
  async dispose(): Promise<void> {
    await this.stop("SIGTERM");
    removeTempDir(this.storeDir);
  }
}

class LocalS3 implements S3Handle, Stoppable {
  readonly endPoint = HOST;
  readonly useSSL = false as const;
  readonly accessKey = "S3RVER";
  readonly secretKey = "S3RVER";
  readonly region = "us-east-1";

  constructor(
    private readonly proc: ManagedProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  async stop(): Promise<void> {
    await this.proc.stop("SIGTERM");
    removeTempDir(this.dir);
  }
}

export async function startLocalS3(): Promise<S3Handle & Stoppable> {
  sweepStaleTempDirs();
  const dir = makeTempDir("s3rver");
  const proc = spawnProcess("s3rver", process.execPath, [
    script("s3rver-launcher.js"),
    "--dir",
    dir,
    "--port",
    "0",
    "--host",
    HOST,
  ]);
  try {
    const ready = await proc.waitForLine(/^S3RVER_READY (\{.*\})$/, START_TIMEOUT_MS);
    const { port } = JSON.parse(ready[1] as string) as { port: number };
    return new LocalS3(proc, port, dir);
  } catch (err) {
    await proc.stop("SIGKILL");
    removeTempDir(dir);
    throw err;
  }
}

class LocalOtlp implements OtlpHandle, Stoppable {
  readonly backend = "receiver" as const;

  constructor(
    private readonly proc: ManagedProcess,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `http://${HOST}:${this.port}`;
  }

  get tracesUrl(): string {
    return `${this.endpoint}/v1/traces`;
  }

  async spans(traceId: string): Promise<TestSpan[]> {
    const res = await fetch(`${this.endpoint}/spans?traceId=${encodeURIComponent(traceId.toLowerCase())}`);
    if (!res.ok) throw new Error(`OTLP receiver GET /spans: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { spans: TestSpan[] }).spans;
  }

  waitForSpans(traceId: string, opts?: WaitForSpansOptions): Promise<TestSpan[]> {
    return waitForSpans(this, traceId, opts);
  }

  async stop(): Promise<void> {
    await this.proc.stop("SIGTERM");
  }
}

export async function startLocalOtlp(): Promise<OtlpHandle & Stoppable> {
  const proc = spawnProcess("otlp-receiver", process.execPath, [
    script("otlp-receiver.js"),
    "--port",
    "0",
    "--host",
    HOST,
  ]);
  try {
    const ready = await proc.waitForLine(/^OTLP_RECEIVER_READY (\{.*\})$/, START_TIMEOUT_MS);
    const { port } = JSON.parse(ready[1] as string) as { port: number };
    return new LocalOtlp(proc, port);
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
}
