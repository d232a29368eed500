/**
 * Path A of the harness: containers through testcontainers when a Docker engine is reachable.
 *   NATS:  @testcontainers/nats with JetStream, published on a fixed host port so restarts keep the URL.
 *   S3:    @testcontainers/minio.
 *   OTLP:  Jaeger v2 (jaegertracing/jaeger): OTLP/HTTP on 4318, spans read back from its query API (16686).
 * testcontainers' Ryuk container removes everything if the test process dies.
 * Image tags can be overridden with LONGSHOT_TEST_NATS_IMAGE, LONGSHOT_TEST_MINIO_IMAGE, LONGSHOT_TEST_JAEGER_IMAGE.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { type JaegerTracesResponse, spansFromJaeger, type TestSpan } from "./otlp.js";
import { freePort, waitForPort } from "./processes.js";
import type { NatsHandle, OtlpHandle, RestartOptions, S3Handle, Stoppable, WaitForSpansOptions } from "./types.js";
import { waitForSpans } from "./wait.js";

const NATS_IMAGE = process.env.LONGSHOT_TEST_NATS_IMAGE ?? "nats:2.12.1";
const MINIO_IMAGE = process.env.LONGSHOT_TEST_MINIO_IMAGE ?? "minio/minio:RELEASE.2025-04-22T22-12-26Z";
const JAEGER_IMAGE = process.env.LONGSHOT_TEST_JAEGER_IMAGE ?? "jaegertracing/jaeger:2.10.0";

/** Socket paths or DOCKER_HOST values that could lead to an engine, without contacting it. */
function dockerCandidates(): string[] {
  const out: string[] = [];
  if (process.env.DOCKER_HOST) out.push(process.env.DOCKER_HOST);
  const sockets = [
    "/var/run/docker.sock",
    path.join(homedir(), ".docker/run/docker.sock"),
    path.join(homedir(), ".docker/desktop/docker.sock"),
    process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, "docker.sock") : "",
    process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, "podman/podman.sock") : "",
  ];
  for (const s of sockets) if (s && existsSync(s)) out.push(s);
  if (existsSync(path.join(homedir(), ".testcontainers.properties"))) out.push("~/.testcontainers.properties");
  return out;
}

/**
 * Whether a container engine answers, decided within `timeoutMs`. Returns the reason when it does not.
 * Cheap when there is obviously none: testcontainers is only loaded if a socket or DOCKER_HOST exists.
 */
export async function probeDocker(timeoutMs = 5_000): Promise<{ ok: true } | { ok: false; reason: string }> {
  const candidates = dockerCandidates();
  if (candidates.length === 0) {
    return { ok: false, reason: "no DOCKER_HOST and no Docker socket (/var/run/docker.sock)" };
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `container runtime at ${candidates.join(", ")} not usable: ${(err as Error).message}` };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

type StartedContainer = import("testcontainers").StartedTestContainer;

class DockerNats implements NatsHandle {
  readonly user: string | undefined;
  readonly pass: string | undefined;
  private up = true;

  constructor(
    private readonly container: StartedContainer,
    readonly host: string,
    readonly port: number,
    creds: { user?: string; pass?: string },
  ) {
    this.user = creds.user;
    this.pass = creds.pass;
  }

  get url(): string {
    return `nats://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.up;
  }

  connectOptions(): { servers: string; user?: string; pass?: string } {
    const o: { servers: string; user?: string; pass?: string } = { servers: this.url };
    if (this.user !== undefined) o.user = this.user;
    if (this.pass !== undefined) o.pass = this.pass;
    return o;
  }

  private async dockerContainer() {
    const { getContainerRuntimeClient } = await import("testcontainers");
    const client = await getContainerRuntimeClient();
    return { client, container: client.container.getById(this.container.getId()) };
  }

  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    if (!this.up) return;
    const { client, container } = await this.dockerContainer();
    if (signal === "SIGKILL") await container.kill({ signal: "SIGKILL" });
    else await client.container.stop(container, { timeout: 10 });
    this.up = false;
  }

  async start(): Promise<void> {
    if (this.up) return;
    const { client, container } = await this.dockerContainer();
    await client.container.start(container);
    await waitForPort(this.port, this.host, 30_000);
    this.up = true;
  }

  async restart(opts: RestartOptions = {}): Promise<void> {
    await this.stop(opts.signal ?? "SIGTERM");
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.container.stop();
  }
}

export async function startDockerNats(): Promise<DockerNats> {
  const { NatsContainer } = await import("@testcontainers/nats");
  const hostPort = await freePort();
  const started = await new NatsContainer(NATS_IMAGE)
    .withJetStream()
    .withArg("--store_dir", "/data/jetstream")
    // A fixed host port: a restarted container keeps the URL that clients reconnect to.
    .withExposedPorts({ container: 4222, host: hostPort })
    .start();
  const opts = started.getConnectionOptions();
  const creds: { user?: string; pass?: string } = {};
  if (opts.user !== undefined) creds.user = opts.user;
  if (opts.pass !== undefined) creds.pass = opts.pass;
  return new DockerNats(started, started.getHost(), hostPort, creds);
}

export async function startDockerMinio(): Promise<S3Handle & Stoppable> {
  const { MinioContainer } = await import("@testcontainers/minio");
  const started = await new MinioContainer(MINIO_IMAGE).start();
  const host = started.getHost();
  const port = started.getPort();
  return {
    endPoint: host,
    port,
    useSSL: false,
    accessKey: started.getUsername(),
    secretKey: started.getPassword(),
    region: "us-east-1",
    url: `http://${host}:${port}`,
    stop: async () => {
      await started.stop();
    },
  };
}

class JaegerOtlp implements OtlpHandle, Stoppable {
  readonly backend = "jaeger" as const;

  constructor(
    private readonly container: StartedContainer,
    readonly endpoint: string,
    private readonly queryUrl: string,
  ) {}

  get tracesUrl(): string {
    return `${this.endpoint}/v1/traces`;
  }

  async spans(traceId: string): Promise<TestSpan[]> {
    const res = await fetch(`${this.queryUrl}/api/traces/${encodeURIComponent(traceId.toLowerCase())}`);
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`Jaeger GET /api/traces/${traceId}: HTTP ${res.status} ${await res.text()}`);
    return spansFromJaeger((await res.json()) as JaegerTracesResponse);
  }

  waitForSpans(traceId: string, opts?: WaitForSpansOptions): Promise<TestSpan[]> {
    return waitForSpans(this, traceId, opts);
  }

  async stop(): Promise<void> {
    await this.container.stop();
  }
}

export async function startDockerJaeger(): Promise<OtlpHandle & Stoppable> {
  const { GenericContainer, Wait } = await import("testcontainers");
  const started = await new GenericContainer(JAEGER_IMAGE)
    .withExposedPorts(4318, 16686)
    // Jaeger v2's OTLP receiver binds localhost inside the container unless told otherwise.
    .withCommand(["--set", "receivers.otlp.protocols.http.endpoint=0.0.0.0:4318"])
    .withWaitStrategy(Wait.forHttp("/", 16686).forStatusCode(200))
    .withStartupTimeout(120_000)
    .start();
  const host = started.getHost();
  return new JaegerOtlp(
    started,
    `http://${host}:${started.getMappedPort(4318)}`,
    `http://${host}:${started.getMappedPort(16686)}`,
  );
}
