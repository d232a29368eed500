import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, from this module's location (bench/dist/paths.js → ../..). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** This suite's entry point (bench/dist/main.js), which the engine benchmark starts once per run. */
export const MAIN_JS = fileURLToPath(new URL("./main.js", import.meta.url));

export const RESULTS_DIR = path.join(REPO_ROOT, "bench", "results");

/** `<dir>/<prefix>-<YYYY-MM-DD>.json`, or `…-2.json`, `…-3.json` … when that file exists already. */
export function datedResultPath(dir: string, prefix: string, now = new Date()): string {
  const day = now.toISOString().slice(0, 10);
  let file = path.join(dir, `${prefix}-${day}.json`);
  for (let i = 2; existsSync(file); i++) file = path.join(dir, `${prefix}-${day}-${i}.json`);
  return file;
}

/** Writes JSON through a temporary file and a rename, so a reader never sees half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

/** `file` relative to the repository root when inside it (for messages and docs), else absolute. */
export function displayPath(file: string): string {
  const rel = path.relative(REPO_ROOT, path.resolve(file));
  return rel.startsWith("..") || path.isAbsolute(rel) ? path.resolve(file) : rel;
}
