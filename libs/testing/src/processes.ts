/**
 * Child processes for tests: spawn, wait for a ready line, kill, and make sure none outlives the test
 * process. Every child is registered until it exits; on process exit, SIGINT, SIGTERM or SIGHUP the
 * survivors get SIGKILL. On Linux children are also started under `setpriv --pdeathsig KILL` (util-linux),
 * so the kernel kills them even if this process dies without running any handler (SIGKILL, OOM).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { waitFor } from "./wait.js";

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Whether the process has exited. */
  readonly hasExited: boolean;
  /** The last 64 KiB of stdout and stderr, interleaved as received. */
  output(): string;
  /** Waits for an output line matching `pattern`; fails with the output tail if the process exits or time runs out. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends `signal` (default SIGTERM) and waits for exit; escalates to SIGKILL after `graceMs` (default 5 s). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitInfo>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep a pipe on stdin (our own launcher scripts exit when it closes). Default true. */
  stdinPipe?: boolean;
}

const OUTPUT_LIMIT = 64 * 1024;
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let handlersInstalled = false;

function killAllNow(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort: a later run sweeps it (sweepStaleTempDirs)
    }
  }
  tempDirs.clear();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = (): void => {
      killAllNow();
      process.removeListener(signal, handler);
      // Let the default action (or other listeners) run now that our children are gone.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = null;
    if (process.platform === "linux") {
      for (const candidate of ["/usr/bin/setpriv", "/bin/setpriv"]) {
        if (existsSync(candidate)) {
          setprivPath = candidate;
          break;
        }
      }
    }
  }
  return setprivPath;
}

/** Finds an executable on PATH, then in `extraDirs`; null when absent. */
export function findExecutable(name: string, extraDirs: readonly string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Spawns a registered child process whose output is captured (see ManagedProcess). */
export function spawnProcess(
  name: string,
  command: string,
  args: readonly string[],
  opts: SpawnOptions = {},
): ManagedProcess {
  installHandlers();
  const guard = setpriv();
  const [cmd, argv] = guard ? [guard, ["--pdeathsig", "KILL", "--", command, ...args]] : [command, [...args]];
  const child = spawn(cmd, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.stdinPipe === false ? "ignore" : "pipe", "pipe", "pipe"],
  });
  live.add(child);

  let out = "";
  let partial = "";
  const lineWaiters = new Set<(line: string) => void>();
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString("utf8");
    out += text;
    if (out.length > OUTPUT_LIMIT) out = out.slice(out.length - OUTPUT_LIMIT);
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) for (const w of [...lineWaiters]) w(line);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  child.stdin?.on("error", () => {}); // EPIPE when the child dies first

  let exitInfo: ExitInfo | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("error", (err) => {
      spawnError = err;
      if (child.pid === undefined) {
        live.delete(child);
        exitInfo = { code: null, signal: null };
        resolve(exitInfo);
      }
    });
    child.once("close", (code, signal) => {
      live.delete(child);
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  const describe = (): string => {
    const how = spawnError
      ? `failed to start (${spawnError.message})`
      : exitInfo
        ? `exited (code ${exitInfo.code}, signal ${exitInfo.signal})`
        : "is running";
    const tail = out.trim().split("\n").slice(-20).join("\n");
    return `${name} (${command} ${args.join(" ")}) ${how}${tail ? `; output:\n${tail}` : ""}`;
  };

  const handle: ManagedProcess = {
    name,
    get pid() {
      return child.pid ?? -1;
    },
    child,
    exited,
    get hasExited() {
      return exitInfo !== undefined;
    },
    output: () => out,
    waitForLine(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        for (const line of out.split("\n")) {
          const m = pattern.exec(line);
          if (m) return resolve(m);
        }
        const cleanup = (): void => {
          clearTimeout(timer);
          lineWaiters.delete(onLine);
        };
        const onLine = (line: string): void => {
          const m = pattern.exec(line);
          if (m) {
            cleanup();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from ${describe()}`));
        }, timeoutMs);
        lineWaiters.add(onLine);
        void exited.then(() => {
          if (!lineWaiters.has(onLine)) return;
          // Flush a last line without a newline before giving up.
          if (partial) onLine(partial);
          if (!lineWaiters.has(onLine)) return;
          cleanup();
          reject(new Error(`waiting for ${pattern}: ${describe()}`));
        });
      });
    },
    async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<ExitInfo> {
      if (exitInfo) return exitInfo;
      try {
        child.kill(signal);
      } catch {
        // already exiting
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
      }, graceMs);
      const info = await exited;
      clearTimeout(timer);
      return info;
    },
  };
  return handle;
}

const TEMP_PREFIX = "longshot-test-";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

let swept = false;
/**
 * Removes temporary directories left by test processes that died without cleaning up (SIGKILL).
 * Directory names carry the owner's PID; only those whose owner is gone are removed. Runs once per process
 * unless `again` is true.
 */
export function sweepStaleTempDirs(again = false): void {
  if (swept && !again) return;
  swept = true;
  let entries: string[];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /^longshot-test-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    try {
      rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
    } catch {
      // another sweeper got there first, or not ours to remove
    }
  }
}

/**
 * Creates a temporary directory (named after this process, `kind` and a random suffix) that is removed
 * when the process exits or is interrupted, unless `releaseTempDir` was called first.
 */
export function makeTempDir(kind: string): string {
  installHandlers();
  const dir = mkdtempSync(path.join(tmpdir(), `${TEMP_PREFIX}${process.pid}-${kind}-`));
  tempDirs.add(dir);
  return dir;
}

/** Removes a directory made by makeTempDir now. */
export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Sends SIGKILL to every child process this module started that is still running. */
export function killAllChildren(): void {
  killAllNow();
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP connection to host:port succeeds; rejects after `timeoutMs`. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `something to listen on ${host}:${port}`,
    () =>
      new Promise<true>((resolve, reject) => {
        const socket = net.connect({ port, host });
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", (err) => {
          socket.destroy();
          reject(err);
        });
      }),
    { timeoutMs, intervalMs: 50 },
  );
}
