/**
 * Finding and running ffmpeg.
 *
 * Discovery order (the first candidate that runs and can encode H.264 wins):
 *   1. `LONGSHOT_FFMPEG`, when set: the path of an ffmpeg binary (if it does not work, that is an error: an
 *      explicit choice is never silently replaced by another binary);
 *   2. `ffmpeg` on `PATH` (e.g. Debian's ffmpeg 5.1);
 *   3. the static build carried by the npm package `@ffmpeg-installer/ffmpeg` (ffmpeg from 2018, with libx264).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { CancelledError } from "@longshot/core";
import { FfmpegError, FfmpegNotFoundError } from "./errors.js";

export type FfmpegSource = "LONGSHOT_FFMPEG" | "PATH" | "@ffmpeg-installer/ffmpeg";

export interface FfmpegBinary {
  /** Absolute path of the binary. */
  readonly path: string;
  readonly source: FfmpegSource;
  /** The version word of `ffmpeg -version` ("5.1.9-0+deb12u1", "N-47683-g0e8eb07980-static"). */
  readonly version: string;
}

export interface FindFfmpegOptions {
  /** Environment to read LONGSHOT_FFMPEG and PATH from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Whether to fall back to the npm package `@ffmpeg-installer/ffmpeg` (default true). */
  npmFallback?: boolean;
}

/** How long a `-version` / `-encoders` check may take before the candidate counts as not working. */
const CHECK_TIMEOUT_MS = 20_000;
/** How much of ffmpeg's stderr is kept for error messages. */
const STDERR_KEEP = 16 * 1024;

const cache = new Map<string, Promise<FfmpegBinary>>();

/**
 * The ffmpeg to use (see the module comment for the order). The result is cached per (LONGSHOT_FFMPEG, PATH,
 * npmFallback). Throws FfmpegNotFoundError naming every candidate tried and why it was not used.
 */
export function findFfmpeg(options: FindFfmpegOptions = {}): Promise<FfmpegBinary> {
  const env = options.env ?? process.env;
  const npmFallback = options.npmFallback ?? true;
  const key = JSON.stringify([env.LONGSHOT_FFMPEG ?? null, env.PATH ?? null, npmFallback]);
  let found = cache.get(key);
  if (!found) {
    found = discover(env, npmFallback);
    cache.set(key, found);
    // A failed discovery is not cached: the user may install ffmpeg and retry in the same process.
    found.catch(() => cache.delete(key));
  }
  return found;
}

async function discover(env: NodeJS.ProcessEnv, npmFallback: boolean): Promise<FfmpegBinary> {
  const tried: string[] = [];
  const explicit = env.LONGSHOT_FFMPEG;
  if (explicit !== undefined && explicit !== "") {
    const abs = path.resolve(explicit);
    const problem = await checkCandidate(abs);
    if (typeof problem === "string") {
      throw new FfmpegNotFoundError([`LONGSHOT_FFMPEG=${explicit}: ${problem}`]);
    }
    return { path: abs, source: "LONGSHOT_FFMPEG", version: problem.version };
  }
  tried.push("LONGSHOT_FFMPEG (not set)");

  const onPath = await whichOnPath("ffmpeg", env.PATH ?? "");
  if (onPath === undefined) {
    tried.push(`ffmpeg on PATH (not found in ${env.PATH ? `PATH=${env.PATH}` : "an empty PATH"})`);
  } else {
    const res = await checkCandidate(onPath);
    if (typeof res === "string") tried.push(`ffmpeg on PATH at ${onPath} (${res})`);
    else return { path: onPath, source: "PATH", version: res.version };
  }

  if (npmFallback) {
    let npmPath: string | undefined;
    try {
      const require = createRequire(import.meta.url);
      const mod = require("@ffmpeg-installer/ffmpeg") as { path?: unknown };
      if (typeof mod.path === "string") npmPath = mod.path;
      else tried.push("npm package @ffmpeg-installer/ffmpeg (it exports no binary path)");
    } catch (err) {
      tried.push(`npm package @ffmpeg-installer/ffmpeg (${describeThrown(err)})`);
    }
    if (npmPath !== undefined) {
      const res = await checkCandidate(npmPath);
      if (typeof res === "string") tried.push(`npm package @ffmpeg-installer/ffmpeg at ${npmPath} (${res})`);
      else return { path: npmPath, source: "@ffmpeg-installer/ffmpeg", version: res.version };
    }
  } else {
    tried.push("npm package @ffmpeg-installer/ffmpeg (fallback disabled)");
  }
  throw new FfmpegNotFoundError(tried);
}

function describeThrown(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] ?? text;
}

async function whichOnPath(name: string, pathVar: string): Promise<string | undefined> {
  for (const dir of pathVar.split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.resolve(dir, name);
    try {
      const st = await stat(candidate);
      if (!st.isFile()) continue;
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Either the version of a working ffmpeg that has libx264, or why the candidate is not usable. */
async function checkCandidate(bin: string): Promise<{ version: string } | string> {
  try {
    const st = await stat(bin);
    if (!st.isFile()) return "not a regular file";
    await access(bin, constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? "no such file" : code === "EACCES" ? "not executable" : describeThrown(err);
  }
  const version = await capture(bin, ["-hide_banner", "-version"]);
  if (typeof version === "string") return version;
  const m = /^ffmpeg version (\S+)/m.exec(version.stdout);
  if (!m?.[1]) return `does not look like ffmpeg ("${version.stdout.split("\n")[0] ?? ""}")`;
  const encoders = await capture(bin, ["-hide_banner", "-encoders"]);
  if (typeof encoders === "string") return encoders;
  if (!/^\s*V\S*\s+libx264\s/m.test(encoders.stdout)) return `ffmpeg ${m[1]} has no libx264 encoder`;
  return { version: m[1] };
}

/** Runs `bin args` to completion and returns its stdout, or a one-line reason it failed. */
function capture(bin: string, args: string[]): Promise<{ stdout: string } | string> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], timeout: CHECK_TIMEOUT_MS });
    } catch (err) {
      resolve(`cannot run: ${describeThrown(err)}`);
      return;
    }
    const out: Buffer[] = [];
    let err = "";
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => {
      err = (err + b.toString("utf8")).slice(-STDERR_KEEP);
    });
    child.on("error", (e) => resolve(`cannot run: ${e.message}`));
    child.on("close", (code, signal) => {
      if (code === 0) resolve({ stdout: Buffer.concat(out).toString("utf8") });
      else {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        const firstErr = err.trim().split("\n")[0];
        resolve(`\`${path.basename(bin)} ${args.join(" ")}\` failed (${why})${firstErr ? `: ${firstErr}` : ""}`);
      }
    });
  });
}

export interface RunFfmpegOptions {
  /** Buffers written to ffmpeg's stdin one after the other (with back-pressure), then stdin is closed. */
  input?: Iterable<Uint8Array>;
  /** Collect stdout (default: ignore it). */
  captureStdout?: boolean;
  /** Kills ffmpeg and rejects with CancelledError when aborted. */
  signal?: AbortSignal;
  /** What the run is for, at the start of error messages ("encoding out/video.mp4"). */
  what: string;
}

/**
 * Runs ffmpeg with `args`, feeding `input` to stdin. Resolves with stdout (when captured) and stderr; rejects
 * with FfmpegError (exit code or signal, and ffmpeg's stderr) when it fails, CancelledError when aborted.
 */
export function runFfmpeg(
  ffmpeg: FfmpegBinary,
  args: readonly string[],
  options: RunFfmpegOptions,
): Promise<{ stdout: Buffer; stderr: string }> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new CancelledError(`${options.what}: cancelled`));
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg.path, args, {
      stdio: [options.input ? "pipe" : "ignore", options.captureStdout ? "pipe" : "ignore", "pipe"],
    });
    const out: Buffer[] = [];
    let stderr = "";
    let spawnError: Error | undefined;
    let aborted = false;
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString("utf8")).slice(-STDERR_KEEP);
    });
    const onAbort = () => {
      aborted = true;
      child.kill("SIGKILL");
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (e) => {
      spawnError = e;
    });
    child.on("close", (code, sig) => {
      signal?.removeEventListener("abort", onAbort);
      if (aborted) {
        reject(new CancelledError(`${options.what}: cancelled`));
      } else if (code === 0 && !spawnError) {
        resolve({ stdout: Buffer.concat(out), stderr });
      } else {
        reject(
          new FfmpegError(options.what, {
            binary: ffmpeg.path,
            args,
            exitCode: code,
            signal: sig,
            stderr: spawnError ? `${stderr}\n${spawnError.message}` : stderr,
            cause: spawnError,
          }),
        );
      }
    });
    if (options.input && child.stdin) {
      const stdin = child.stdin;
      // EPIPE when ffmpeg exits early (bad arguments): the exit code and stderr tell the story.
      stdin.on("error", () => {});
      void feed(stdin, options.input);
    }
  });
}

async function feed(stdin: NodeJS.WritableStream, input: Iterable<Uint8Array>): Promise<void> {
  for (const chunk of input) {
    if (!(stdin as NodeJS.WritableStream & { writable: boolean }).writable) return;
    const ok = stdin.write(chunk);
    if (!ok) {
      const closed = await new Promise<boolean>((resolve) => {
        const onDrain = () => {
          cleanup();
          resolve(false);
        };
        const onClose = () => {
          cleanup();
          resolve(true);
        };
        const cleanup = () => {
          stdin.removeListener("drain", onDrain);
          stdin.removeListener("close", onClose);
          stdin.removeListener("error", onClose);
        };
        stdin.once("drain", onDrain);
        stdin.once("close", onClose);
        stdin.once("error", onClose);
      });
      if (closed) return;
    }
  }
  stdin.end();
}
