/**
 * `longshot serve` (the embedded engine behind the HTTP API and this page; no NATS or S3) for the page's tests:
 * scripts/longshot serve on a free port with its own output folder, stopped with SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir, removeTempDir } from "@longshot/testing";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface LocalServe {
  /** The URL serve printed: http://127.0.0.1:PORT/ */
  readonly url: string;
  /** SIGTERM, then the output folder is removed; rejects when serve does not exit 0. */
  stop(): Promise<void>;
}

/** Starts `longshot serve --port 0` with `pack`; resolves with its URL once it prints it. */
export async function startLocalServe(pack: string, timeoutMs = 120_000): Promise<LocalServe> {
  const out = makeTempDir("web-serve");
  const child: ChildProcess = spawn(
    path.join(ROOT, "scripts", "longshot"),
    ["serve", "--host", "127.0.0.1", "--port", "0", "--out", out, "--pack", pack, "--quiet"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`longshot serve printed no URL in ${timeoutMs} ms:\n${stderr}`)),
      timeoutMs,
    );
    child.stdout?.on("data", (d) => {
      stdout += d;
      const m = /^longshot serve: (http:\/\/\S+)$/m.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`longshot serve exited (${code ?? signal}) before printing its URL:\n${stdout}\n${stderr}`));
    });
  });
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      const [code, signal] = await exited;
      removeTempDir(out);
      if (code !== 0) throw new Error(`longshot serve exited ${code ?? signal} on SIGTERM:\n${stderr}`);
    },
  };
}
