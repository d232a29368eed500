/** Running a module of the Python toolkit (models/) from a benchmark: its progress lines logged as they come. */
import { spawn } from "node:child_process";
import path from "node:path";
import { LongshotError } from "@longshot/core";
import { REPO_ROOT } from "./paths.js";

/**
 * Runs `python -m <module> <args>` in models/ and resolves with its exit code when that is one of `okCodes`
 * (default 0); otherwise rejects with the tail of its stderr. stdout lines are logged as `  python: …`, stderr
 * lines too when `echoStderr`. OpenMP threads wait without spinning (OMP_WAIT_POLICY=PASSIVE unless the
 * environment says otherwise), as the engine's intra-op threads do: on 2 cores shared with other work, spinning
 * OpenMP threads made PyTorch eager about 10x slower, which would flatter the engine.
 */
export function runToolkitModule(
  python: string,
  module: string,
  args: readonly string[],
  log: (line: string) => void,
  options: { okCodes?: readonly number[]; echoStderr?: boolean } = {},
): Promise<number> {
  const okCodes = options.okCodes ?? [0];
  return new Promise((resolve, reject) => {
    const child = spawn(python, ["-m", module, ...args], {
      cwd: path.join(REPO_ROOT, "models"),
      stdio: ["ignore", "pipe", "pipe"],
      env: { OMP_WAIT_POLICY: "PASSIVE", ...process.env, PYTHONUNBUFFERED: "1" },
    });
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n")) if (line.trim()) log(`  python: ${line}`);
    });
    child.stderr.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
      if (options.echoStderr) for (const line of d.toString().split("\n")) if (line.trim()) log(`  ${line}`);
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== null && okCodes.includes(code)) resolve(code);
      else reject(new LongshotError(`python -m ${module} ${args[0] ?? ""} exited with ${code}: ${err.slice(-1500)}`));
    });
  });
}
