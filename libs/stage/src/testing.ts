/**
 * `@longshot/stage/testing`: helpers of the stage services' integration tests (not part of any
 * service, and not exported from the package's main entry): a real nats-server and S3 server from
 * @longshot/testing, the topology, a results reader, the service as a child process.
 *
 * The model pack: `LONGSHOT_TEST_PACK`, else the first of TEST_PACK_CANDIDATES that exists (the
 * committed shapes-mini pack, then the development pack with random weights in /tmp/smoke).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { S3BlobStore } from "@longshot/blob";
import {
  type Bus,
  connectBus,
  DLQ_STREAM,
  EVENTS_STREAM,
  ensureTopology,
  eventSubject,
  HEADER_EVENT_SEQUENCE,
  RESULTS_STREAM,
  type ResultConsumer,
  replayEvents,
  startResultConsumer,
  TASKS_STREAM,
} from "@longshot/bus";
import { createLogger, type Logger } from "@longshot/core";
import type { JobEvent, StageResult } from "@longshot/proto";
import { loadPack, type Pack } from "@longshot/runtime";
import { type ManagedProcess, spawnProcess, startServers, type TestServers, waitFor } from "@longshot/testing";

/** The repository root (this file is libs/stage/{src,dist}/testing.*). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export const TEST_PACK_CANDIDATES: readonly string[] = [
  path.join(REPO_ROOT, "models/packs/shapes-mini"),
  "/tmp/smoke/pack",
];

/** The pack the tests run (see the module comment); a clear error when none exists. */
export function testPackDir(): string {
  const env = process.env.LONGSHOT_TEST_PACK;
  const candidates = env ? [env] : TEST_PACK_CANDIDATES;
  const found = candidates.find((dir) => existsSync(path.join(dir, "pack.json")));
  if (found === undefined) {
    throw new Error(
      `no model pack for the stage service tests: tried ${candidates.join(", ")}. Build models/packs/shapes-mini ` +
        "(see models/README) or set LONGSHOT_TEST_PACK to a pack directory.",
    );
  }
  return found;
}

/** Queue settings the tests and the service processes share (ensureTopology must not fight over them). */
export const QUEUE = { ackWaitMs: 5000, maxDeliver: 3 } as const;
export const QUEUE_FLAGS = [`--ack-wait=${QUEUE.ackWaitMs}ms`, `--max-deliver=${QUEUE.maxDeliver}`];
export const BUCKET = "longshot-test";

/** Test log lines are off; LONGSHOT_TEST_LOG=debug (or info, warn…) sends them to stderr. */
export function testLogger(name: string): Logger {
  const level = (process.env.LONGSHOT_TEST_LOG ?? "silent") as "silent";
  return createLogger(name, level, {
    format: "json",
    destination: { write: (s: string) => void process.stderr.write(s) },
  });
}

export interface StageTestEnv {
  readonly servers: TestServers<{ nats: true; s3: true }>;
  readonly bus: Bus;
  readonly store: S3BlobStore;
  readonly pack: Pack;
  readonly packDir: string;
  /** Every result read from LONGSHOT_RESULTS so far. */
  readonly results: StageResult[];
  /** Environment for a service process: NATS, S3, logs. */
  serviceEnv(): NodeJS.ProcessEnv;
  /** Waits for the result of a task (the n-th one with that id when `nth` > 1). */
  result(taskId: string, timeoutMs?: number, nth?: number): Promise<StageResult>;
  /** The events of a job published so far. */
  events(jobId: string): Promise<JobEvent[]>;
  stop(): Promise<void>;
}

export async function startStageTestEnv(): Promise<StageTestEnv> {
  const packDir = testPackDir();
  const pack = await loadPack(packDir);
  const servers = (await startServers({ nats: true, s3: true, log: () => {} })) as TestServers<{
    nats: true;
    s3: true;
  }>;
  const bus = await connectBus({ ...servers.nats.connectOptions(), name: "stage-test", reconnectTimeWaitMs: 200 });
  await ensureTopology(bus.js, QUEUE);
  for (const s of [TASKS_STREAM, RESULTS_STREAM, EVENTS_STREAM, DLQ_STREAM]) await bus.jsm.streams.purge(s);
  const s3 = servers.s3;
  const store = new S3BlobStore({
    endPoint: s3.endPoint,
    port: s3.port,
    useSSL: false,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    region: s3.region,
    bucket: BUCKET,
  });
  await store.ensureBucket();
  const results: StageResult[] = [];
  const consumer: ResultConsumer = await startResultConsumer({
    js: bus.js,
    pullExpiresMs: 1000,
    logger: testLogger("results"),
    handle: async (r) => {
      results.push(r);
    },
  });
  return {
    servers,
    bus,
    store,
    pack,
    packDir,
    results,
    serviceEnv() {
      const nats = servers.nats;
      return {
        PATH: process.env.PATH,
        LONGSHOT_NATS_URL: nats.url,
        ...(nats.user === undefined ? {} : { LONGSHOT_NATS_USER: nats.user, LONGSHOT_NATS_PASSWORD: nats.pass }),
        LONGSHOT_S3_ENDPOINT: s3.url,
        LONGSHOT_S3_BUCKET: BUCKET,
        LONGSHOT_S3_REGION: s3.region,
        LONGSHOT_S3_ACCESS_KEY: s3.accessKey,
        LONGSHOT_S3_SECRET_KEY: s3.secretKey,
        LONGSHOT_LOG_FORMAT: "json",
        ...(process.env.LONGSHOT_FFMPEG ? { LONGSHOT_FFMPEG: process.env.LONGSHOT_FFMPEG } : {}),
      };
    },
    async result(taskId, timeoutMs = 30_000, nth = 1) {
      await waitFor(
        `result ${nth} of task ${taskId}`,
        () => results.filter((r) => r.taskId === taskId).length >= nth,
        timeoutMs,
      );
      return results.filter((r) => r.taskId === taskId)[nth - 1] as StageResult;
    },
    async events(jobId) {
      const out: JobEvent[] = [];
      const last = await bus.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: eventSubject(jobId) });
      if (last === null) return out;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 5000);
      for await (const ev of replayEvents(bus.js, jobId, 1, { signal: ac.signal, untilTerminal: false })) {
        out.push(ev);
        if (ev.sequence >= BigInt(last.header?.get(HEADER_EVENT_SEQUENCE) ?? "0")) break;
      }
      clearTimeout(timer);
      return out;
    },
    async stop() {
      await consumer.stop();
      await bus.close();
      await servers.stop();
    },
  };
}

export interface ServiceProcess {
  readonly proc: ManagedProcess;
  /** gRPC port. */
  readonly port: number;
}

/** Starts `main.js` of a service with the test environment and waits until it serves. */
export async function spawnService(
  name: string,
  main: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<ServiceProcess> {
  const proc = spawnProcess(name, process.execPath, [main, "--grpc-host=127.0.0.1", "--grpc-port=0", ...args], {
    env,
  });
  try {
    const [, port] = await proc.waitForLine(/"port":(\d+).*"msg":"\w+ service serving"/, 60_000);
    return { proc, port: Number(port) };
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
}

/** Flips one byte in the middle of an S3 object, keeping its recorded sha256 metadata (corruption at rest). */
export async function corruptObject(store: S3BlobStore, key: string): Promise<void> {
  const stat = await store.stat(key);
  const bytes = await store.get(store.refFor(key, stat.sha256 ?? "", stat.bytes));
  const bad = Buffer.from(bytes);
  const i = Math.floor(bad.length * 0.75);
  bad[i] = (bad[i] as number) ^ 0xff;
  await store.client.putObject(store.bucket, key, bad, bad.length, { sha256: stat.sha256 ?? "" });
}
export { describeStageProcess, type StageProcessTestOptions } from "./process-tests.js";
