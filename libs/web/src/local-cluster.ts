/**
 * The local cluster of scripts/cluster (docs/deploy.md, "Local cluster") for the page's tests and screenshot:
 * nats-server, an S3 server, the gateway (with its HTTP API and this page), keyframe, N interpolation replicas
 * and the decoder, each its own process, in a temporary state folder with ports of their own.
 */
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findNatsServer, freePort, makeTempDir, removeTempDir } from "@longshot/testing";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SCRIPT = path.join(ROOT, "scripts", "cluster");
/** The trained pack the cluster serves (the one README's first command uses). */
export const BUNDLED_PACK = path.join(ROOT, "models", "packs", "shapes-mini");

export interface LocalCluster {
  /** The gateway's HTTP API (and page): http://127.0.0.1:PORT/ */
  readonly url: string;
  /** The state folder (logs in logs/). */
  readonly dir: string;
  /** `scripts/cluster down --purge`, then the folder is removed. */
  down(): Promise<void>;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(dir: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, args, {
      cwd: ROOT,
      env: { ...process.env, LONGSHOT_CLUSTER_DIR: dir, NATS_SERVER_BIN: findNatsServer() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

/** A base port P with P, P+1, P+2 and P+10 free (gateway, keyframe, decoder, one interpolation replica). */
async function freeBase(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await Promise.all([base, base + 1, base + 2, base + 10].map(portFree))).every(Boolean)) return base;
  }
  throw new Error("no free range of ports for the local cluster");
}

/** `scripts/cluster up` with one interpolation replica; rejects with its output when it fails. */
export async function startLocalCluster(options: { pack?: string } = {}): Promise<LocalCluster> {
  const dir = makeTempDir("web-cluster");
  const [natsPort, s3Port, httpPort] = [await freePort(), await freePort(), await freePort()];
  const port = await freeBase();
  const url = `http://127.0.0.1:${httpPort}/`;
  const up = await run(
    dir,
    [
      "up",
      "--interpolation",
      "1",
      "--pack",
      options.pack ?? BUNDLED_PACK,
      "--port",
      String(port),
      "--http-port",
      String(httpPort),
      "--nats-port",
      String(natsPort),
      "--s3-port",
      String(s3Port),
    ],
    300_000,
  );
  const down = async () => {
    const r = await run(dir, ["down", "--purge"], 60_000);
    if (r.code !== 0) throw new Error(`scripts/cluster down failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    removeTempDir(dir);
  };
  if (up.code !== 0) {
    await run(dir, ["down", "--purge"], 60_000).catch(() => undefined);
    throw new Error(`scripts/cluster up failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
  }
  return { url, dir, down };
}
