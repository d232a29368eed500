/**
 * A whole longshot cluster for the end-to-end tests: a real nats-server and S3 server from
 * @longshot/testing, and the gateway, keyframe, interpolation (N replicas) and decoder services,
 * each its own OS process (`node services/<name>/dist/main.js`), started, killed and restarted
 * like in production. Plus the clients the tests inspect it with: the gRPC VideoService, the
 * gateway's HTTP JSON API, the bucket, the job events and the gateway's run records. Every port is
 * picked by the process that binds it (0), so clusters of concurrent runs, or processes a run left
 * behind, never collide.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { S3BlobStore } from "@longshot/blob";
import { type Bus, connectBus, replayEvents } from "@longshot/bus";
import {
  type ClientHandle,
  checkHealth,
  createClient,
  GetJobRequest,
  type Job,
  type JobEvent,
  JobState,
  OutputFormat,
  type PromiseClient,
  VideoServiceService,
  WatchJobRequest,
} from "@longshot/proto";
import { type ManagedProcess, spawnProcess, startServers, type TestServers, waitFor } from "@longshot/testing";
import { Kvm } from "@nats-io/kv";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * The model pack the end-to-end tests run: $LONGSHOT_E2E_PACK when set; else the bundled shapes-mini
 * when the checkout has it; else the smoke pack the model toolkit writes to /tmp/smoke/pack; else the
 * runtime's tiny test pack (random weights: the plumbing is checked, not the pictures).
 */
/** The trained pack in the repository. */
export const BUNDLED_PACK = path.join(ROOT, "models/packs/shapes-mini");

export const E2E_PACK: string =
  [
    process.env.LONGSHOT_E2E_PACK,
    BUNDLED_PACK,
    "/tmp/smoke/pack",
    path.join(ROOT, "libs/runtime/fixtures/tiny-pack"),
  ].find((p): p is string => p !== undefined && p !== "" && existsSync(path.join(p, "pack.json"))) ?? "/tmp/smoke/pack";

export const BUCKET = "longshot-e2e";

export type ServiceKind = "gateway" | "keyframe" | "interpolation" | "decoder";

export interface ClusterOptions {
  interpolationReplicas: number;
  /** Gateway admission limit. */
  maxActiveJobs?: number;
  /** AckWait of every consumer (short, so a killed worker's task comes back quickly). */
  ackWait?: string;
  /** Start an OTLP receiver and point every service at it. */
  otlp?: boolean;
  /** More environment for every service. */
  env?: NodeJS.ProcessEnv;
}

export interface ServiceProcess {
  readonly kind: ServiceKind;
  readonly name: string;
  proc: ManagedProcess;
  /** gRPC address, once serving. */
  address: string;
  /** The gateway's HTTP API (`http://127.0.0.1:PORT`), once serving; undefined for the other services. */
  httpUrl?: string;
}

/** The fields of the HTTP API's video object (docs/http-api.md) that `checkHttpVideo` compares with GetJob. */
export interface HttpVideo {
  id: string;
  status: string;
  completed_at: number | null;
  last_event_sequence: number;
  request: { prompt: string; seed: string; frames: number };
  artifacts: Array<{ format: string; bytes: number; sha256: string }>;
  error: { code: string; message: string } | null;
}

/** The HTTP API's status of each job state. */
const HTTP_STATUS: Readonly<Partial<Record<JobState, string>>> = {
  [JobState.JOB_STATE_QUEUED]: "queued",
  [JobState.JOB_STATE_RUNNING]: "in_progress",
  [JobState.JOB_STATE_SUCCEEDED]: "completed",
  [JobState.JOB_STATE_FAILED]: "failed",
  [JobState.JOB_STATE_CANCELLED]: "cancelled",
};

type VideoClient = PromiseClient<typeof VideoServiceService> & ClientHandle;

function main(kind: ServiceKind): string {
  return path.join(ROOT, "services", kind, "dist", "main.js");
}

export function ms(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

export class Cluster {
  readonly servers: TestServers<{ nats: true; s3: true; otlp?: boolean }>;
  readonly options: ClusterOptions;
  readonly store: S3BlobStore;
  readonly bus: Bus;
  readonly services = new Map<string, ServiceProcess>();
  #client: VideoClient | undefined;
  #logDir: string;

  private constructor(
    servers: Cluster["servers"],
    options: ClusterOptions,
    store: S3BlobStore,
    bus: Bus,
    logDir: string,
  ) {
    this.servers = servers;
    this.options = options;
    this.store = store;
    this.bus = bus;
    this.#logDir = logDir;
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    if (!existsSync(path.join(E2E_PACK, "pack.json"))) {
      throw new Error(
        `the end-to-end tests need a model pack: $LONGSHOT_E2E_PACK, models/packs/shapes-mini, /tmp/smoke/pack or libs/runtime/fixtures/tiny-pack (E2E_PACK=${E2E_PACK})`,
      );
    }
    const servers = (await startServers({ nats: true, s3: true, otlp: options.otlp === true })) as Cluster["servers"];
    const store = new S3BlobStore({ ...servers.s3, bucket: BUCKET });
    await store.ensureBucket();
    const bus = await connectBus({
      servers: servers.nats.url,
      name: "e2e-test",
      ...(servers.nats.user === undefined ? {} : { user: servers.nats.user, pass: servers.nats.pass }),
    });
    const logDir = await mkdtemp(path.join(tmpdir(), "longshot-e2e-logs-"));
    const cluster = new Cluster(servers, options, store, bus, logDir);
    try {
      await cluster.startService("gateway", "gateway");
      await Promise.all([
        cluster.startService("keyframe", "keyframe"),
        ...Array.from({ length: options.interpolationReplicas }, (_, i) =>
          cluster.startService("interpolation", `interpolation-${i + 1}`),
        ),
        cluster.startService("decoder", "decoder"),
      ]);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Environment every service gets. */
  env(kind: ServiceKind, name: string): NodeJS.ProcessEnv {
    const s = this.servers;
    return {
      ...process.env,
      LONGSHOT_NATS_URL: s.nats.url,
      ...(s.nats.user === undefined ? {} : { LONGSHOT_NATS_USER: s.nats.user, LONGSHOT_NATS_PASSWORD: s.nats.pass }),
      LONGSHOT_S3_ENDPOINT: s.s3.url,
      LONGSHOT_S3_BUCKET: BUCKET,
      LONGSHOT_S3_REGION: s.s3.region,
      LONGSHOT_S3_ACCESS_KEY: s.s3.accessKey,
      LONGSHOT_S3_SECRET_KEY: s.s3.secretKey,
      LONGSHOT_PACK_DIR: E2E_PACK,
      LONGSHOT_GRPC_HOST: "127.0.0.1",
      LONGSHOT_GRPC_PORT: "0",
      LONGSHOT_LOG_FORMAT: "json",
      LONGSHOT_LOG_LEVEL: "info",
      LONGSHOT_ACK_WAIT: this.options.ackWait ?? "6s",
      LONGSHOT_MAX_DELIVER: "5",
      LONGSHOT_ORT_THREADS: "1",
      LONGSHOT_WORKER_ID: `${name}/${Date.now().toString(36)}`,
      LONGSHOT_STOP_TIMEOUT: "2s",
      LONGSHOT_DRAIN_TIMEOUT: "2s",
      ...(kind === "gateway"
        ? {
            LONGSHOT_MAX_ACTIVE_JOBS: String(this.options.maxActiveJobs ?? 16),
            // The HTTP API on a free port of the gRPC host (127.0.0.1), never the default 8080.
            LONGSHOT_HTTP: "true",
            LONGSHOT_HTTP_PORT: "0",
            LONGSHOT_WINDOW_FRAMES: "17",
            LONGSHOT_WINDOW_OVERLAP: "4",
          }
        : {}),
      ...(s.otlp === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: s.otlp.endpoint }),
      ...this.options.env,
    };
  }

  /** Starts (or restarts under the same name) a service process and waits until it reports SERVING. */
  async startService(kind: ServiceKind, name: string): Promise<ServiceProcess> {
    const proc = spawnProcess(name, process.execPath, [main(kind)], { env: this.env(kind, name) });
    try {
      // The gateway's line gives its HTTP port too ("httpPort"; null with --no-http).
      const [, port, httpPort] = await proc.waitForLine(
        /"port":(\d+)(?:[^\n]*?"httpPort":(\d+))?[^\n]*"msg":"[^"]*serving"/,
        60_000,
      );
      const address = `127.0.0.1:${port}`;
      await waitFor(
        `${name} at ${address} to report SERVING`,
        async () => (await checkHealth(address, "", { deadlineMs: 2000 })) === "SERVING",
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const sp: ServiceProcess = {
        kind,
        name,
        proc,
        address,
        ...(httpPort === undefined ? {} : { httpUrl: `http://127.0.0.1:${httpPort}` }),
      };
      this.services.set(name, sp);
      if (kind === "gateway") {
        this.#client?.close();
        this.#client = undefined;
      }
      return sp;
    } catch (err) {
      await this.#saveLog(name, proc);
      await proc.stop("SIGKILL");
      throw new Error(`${name} did not start: ${(err as Error).message}\n${proc.output().slice(-4000)}`);
    }
  }

  service(name: string): ServiceProcess {
    const s = this.services.get(name);
    if (s === undefined) throw new Error(`no service ${name}`);
    return s;
  }

  /** kill -9 a service (a crash: no drain, no acks). */
  async kill(name: string): Promise<void> {
    const s = this.service(name);
    await this.#saveLog(name, s.proc);
    await s.proc.stop("SIGKILL", 0);
  }

  /** Starts a killed service again under its name. */
  async restart(name: string): Promise<ServiceProcess> {
    const s = this.service(name);
    if (!s.proc.hasExited) await s.proc.stop("SIGKILL", 0);
    return this.startService(s.kind, name);
  }

  get gatewayAddress(): string {
    return this.service("gateway").address;
  }

  /** The HTTP API of the current gateway process. */
  get gatewayHttpUrl(): string {
    const url = this.service("gateway").httpUrl;
    if (url === undefined) throw new Error("the gateway serves no HTTP API");
    return url;
  }

  /** GET /v1/videos/{id} of the gateway's HTTP API. */
  async httpVideo(jobId: string): Promise<HttpVideo> {
    const url = `${this.gatewayHttpUrl}/v1/videos/${encodeURIComponent(jobId)}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
    if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as HttpVideo;
  }

  /** The HTTP API shows a job as GetJob does: id, status, end time, last event, request, artifacts, error. */
  async checkHttpVideo(job: Job): Promise<void> {
    const v = await this.httpVideo(job.id);
    assert.deepEqual(
      {
        id: v.id,
        status: v.status,
        completed_at: v.completed_at,
        last_event_sequence: v.last_event_sequence,
        request: { prompt: v.request.prompt, seed: v.request.seed, frames: v.request.frames },
        artifacts: v.artifacts.map((a) => ({ format: a.format, bytes: a.bytes, sha256: a.sha256 })),
        error: v.error === null ? null : { code: v.error.code, message: v.error.message },
      },
      {
        id: job.id,
        status: HTTP_STATUS[job.state],
        completed_at: job.endTime === undefined ? null : Math.floor(job.endTime.getTime() / 1000),
        last_event_sequence: Number(job.lastSequence),
        request: {
          prompt: job.request?.prompt ?? "",
          seed: String(job.request?.seed ?? 0n),
          frames: job.request?.frames ?? 0,
        },
        artifacts: job.artifacts.map((a) => ({
          format: OutputFormat[a.format]?.replace("OUTPUT_FORMAT_", "").toLowerCase(),
          bytes: Number(a.bytes),
          sha256: a.sha256,
        })),
        error: job.error === undefined ? null : { code: job.error.code, message: job.error.reason },
      },
      `GET /v1/videos/${job.id} differs from GetJob`,
    );
  }

  /** A VideoService client of the current gateway process. */
  get client(): VideoClient {
    this.#client ??= createClient(VideoServiceService, this.gatewayAddress, { defaultDeadlineMs: 20_000 });
    return this.#client;
  }

  /** Every event of a job until its terminal event (straight from JetStream, not through the gateway). */
  async events(jobId: string, timeoutMs: number): Promise<JobEvent[]> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const out: JobEvent[] = [];
    try {
      for await (const ev of replayEvents(this.bus.js, jobId, 1n, { signal: ac.signal })) out.push(ev);
    } finally {
      clearTimeout(timer);
    }
    if (ac.signal.aborted) {
      const last = out.at(-1)?.event?.$case ?? "none";
      throw new Error(`job ${jobId} did not end within ${timeoutMs} ms (last event: ${last}, ${out.length} events)`);
    }
    return out;
  }

  /**
   * Follows a job through the gateway's WatchJob until its terminal event; returns the events and the final job
   * (from GetJob, which the HTTP API's GET /v1/videos/{id} must match).
   */
  async watch(jobId: string, timeoutMs: number): Promise<{ events: JobEvent[]; job: Job }> {
    const deadline = Date.now() + timeoutMs;
    const events: JobEvent[] = [];
    let from = 1n;
    for (;;) {
      try {
        for await (const r of this.client.watchJob(WatchJobRequest.create({ jobId, fromSequence: from }), {
          deadlineMs: Math.max(1000, deadline - Date.now()),
        })) {
          if (r.event === undefined) continue;
          events.push(r.event);
          from = r.event.sequence + 1n;
        }
        break;
      } catch (err) {
        // The gateway may be restarting (chaos tests): resume from the next sequence.
        if (Date.now() > deadline) throw new Error(`watching job ${jobId}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const { job } = await this.client.getJob(GetJobRequest.create({ jobId }));
    if (job === undefined) throw new Error(`GetJob ${jobId} returned no job`);
    await this.checkHttpVideo(job);
    return { events, job };
  }

  /** Waits until a job reaches an ended state, polling GetJob (survives gateway restarts). */
  async waitForEnd(jobId: string, timeoutMs: number): Promise<Job> {
    return waitFor(
      `job ${jobId} to end`,
      async () => {
        // A GetJob that fails (the gateway restarting) is tried again.
        const { job } = await this.client.getJob(GetJobRequest.create({ jobId }), { deadlineMs: 3000 });
        return (
          job !== undefined &&
          (job.state === JobState.JOB_STATE_SUCCEEDED ||
            job.state === JobState.JOB_STATE_FAILED ||
            job.state === JobState.JOB_STATE_CANCELLED) &&
          job
        );
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  /** The gateway's run record of a job (plan, tasks with their results and worker ids). */
  async runRecord(jobId: string): Promise<RunRecordView> {
    const kv = await new Kvm(this.bus.js).open("longshot-runs");
    const e = await kv.get(`run.${jobId}`);
    if (e === null || e.operation !== "PUT") throw new Error(`no run record for job ${jobId}`);
    return JSON.parse(e.string()) as RunRecordView;
  }

  /** Object keys under a prefix of the bucket. */
  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const item of this.store.client.listObjectsV2(BUCKET, prefix, true)) {
      const name = (item as { name?: string }).name;
      if (name !== undefined) out.push(name);
    }
    return out.sort();
  }

  /** Stops every service (SIGKILL: the tests are over) and the servers; keeps logs of failed runs. */
  async stop(): Promise<void> {
    this.#client?.close();
    await Promise.all([...this.services.values()].map((s) => s.proc.stop("SIGTERM", 3000).catch(() => undefined)));
    await this.bus.close().catch(() => {});
    await this.servers.stop();
    await rm(this.#logDir, { recursive: true, force: true });
  }

  /** Output of every service, for failure messages. */
  logs(tail = 3000): string {
    return [...this.services.values()].map((s) => `----- ${s.name} -----\n${s.proc.output().slice(-tail)}`).join("\n");
  }

  async #saveLog(name: string, proc: ManagedProcess): Promise<void> {
    await writeFile(path.join(this.#logDir, `${name}.${proc.pid}.log`), proc.output()).catch(() => {});
  }
}

/** The fields of the gateway's run record the tests read (services/gateway/src/run-record.ts). */
export interface RunRecordView {
  jobId: string;
  traceContext: Record<string, string>;
  plan: { levels: number[]; interpolation: Array<{ level: number; windows: Array<{ start: number; end: number }> }> };
  tasks: Record<
    string,
    {
      taskId: string;
      stage: "keyframe" | "interpolation" | "decode";
      level: number;
      window?: { start: number; end: number };
      attempt: number;
      result?: { workerId: string; startTime: string; endTime: string; receivedAt: string };
    }
  >;
  levels: Record<string, unknown>;
  reruns: Record<string, number>;
  slot: number | null;
  cleanedUp: boolean;
}
