/**
 * The output folder of `longshot generate`: checked and created one level at a time, with every failure a
 * UsageError on --out that says which path is in the way and why; and a run folder's JSON files (result.json
 * written whole, result.json and job.json read back by `list` and `probe`).
 *
 * Node's `mkdir(dir, { recursive: true })` is not used: where a file system refuses a new folder with ENOENT
 * although its parent exists (`/proc`, `/sys`), it keeps creating the parent and retrying forever, and a path
 * under a file fails with a bare ENOTDIR.
 */
import { constants } from "node:fs";
import { access, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "./args.js";

const REASONS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many levels of symbolic links",
  EIO: "input/output error",
};

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Why an fs call failed, in words, with the error code. */
function reason(err: unknown): string {
  const code = codeOf(err);
  const words = code !== undefined ? REASONS[code] : undefined;
  if (words !== undefined) return `${words} (${code})`;
  return (err as Error).message;
}

/**
 * Makes sure `dir` (absolute) is a folder this process can write to, creating it and any missing parents.
 * Returns the topmost folder it created (to remove if the run fails), or undefined when `dir` existed.
 * Throws UsageError("--out", …) naming the path in the way and why.
 */
export async function prepareOutDir(dir: string, arg = "--out"): Promise<string | undefined> {
  const fail = (message: string) => new UsageError(arg, message);
  // The missing folders, outermost first, and the deepest path that exists.
  const missing: string[] = [];
  let existing = dir;
  for (;;) {
    try {
      const st = await stat(existing);
      if (!st.isDirectory()) {
        throw fail(
          existing === dir
            ? `${dir} exists and is not a folder`
            : `cannot create ${dir}: ${existing} is a file, not a folder`,
        );
      }
      break;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const code = codeOf(err);
      // ENOTDIR: a parent is a file; the walk up finds which one.
      if (code !== "ENOENT" && code !== "ENOTDIR") throw fail(`cannot use ${existing}: ${reason(err)}`);
      const parent = path.dirname(existing);
      if (parent === existing) throw fail(`cannot use ${dir}: ${reason(err)}`);
      missing.unshift(existing);
      existing = parent;
    }
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch (err) {
    const what = missing.length === 0 ? `${dir} is not writable` : `cannot create ${dir}: ${existing} is not writable`;
    throw fail(`${what}: ${reason(err)}`);
  }
  let first: string | undefined;
  for (const d of missing) {
    try {
      await mkdir(d);
      first ??= d;
    } catch (err) {
      if (codeOf(err) === "EEXIST" && (await stat(d).catch(() => undefined))?.isDirectory()) continue;
      // Leave nothing behind: the folders made so far go again.
      if (first !== undefined) await rm(first, { recursive: true, force: true }).catch(() => undefined);
      const why =
        codeOf(err) === "ENOENT"
          ? `the file system of ${path.dirname(d)} does not allow new folders there (ENOENT)`
          : reason(err);
      throw fail(`cannot create ${d === dir ? dir : `${dir} (at ${d})`}: ${why}`);
    }
  }
  return first;
}

/** Writes `record` as `outDir`/result.json, whole or not at all (a partial file renamed into place). */
export async function writeResultJson(outDir: string, record: object): Promise<void> {
  const tmp = path.join(outDir, `.result.json.${process.pid}.partial`);
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await rename(tmp, path.join(outDir, "result.json"));
}

/** A run folder's JSON file (result.json, job.json) parsed; undefined when it cannot be read. Throws on invalid JSON. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  return JSON.parse(text) as unknown;
}
