/** Helpers for this package's tests: the built CLI as a child process. Not exported from the package. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed after `timeoutMs`. */
  timedOut?: boolean;
}

/**
 * Runs `node dist/main.js args…` with LONGSHOT_PACK and LONGSHOT_GRPC_TLS_* cleared unless `env` sets them. With
 * `timeoutMs`, a run still going then is killed (SIGKILL) and resolves with code null and `timedOut`.
 */
export function longshot(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.LONGSHOT_PACK;
    delete env.LONGSHOT_GRPC_TLS_CA;
    delete env.LONGSHOT_GRPC_TLS_CERT;
    delete env.LONGSHOT_GRPC_TLS_KEY;
    Object.assign(env, options.env);
    const child = spawn(process.execPath, [MAIN, ...args], { env, cwd: options.cwd ?? process.cwd() });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, options.timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ...(timedOut ? { timedOut } : {}) });
    });
  });
}

/** The last line on stderr: the error line of a failed run, after any progress lines. */
export function errorLine(r: RunResult): string {
  const lines = r.stderr.trim().split("\n");
  return lines[lines.length - 1] ?? "";
}
