/**
 * Test helpers (the `@longshot/pack/testing` subpath, for tests only): a temp copy of a pack to tamper with, and
 * edits of its pack.json.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/** A fresh copy of the pack in `dir` in a temp dir; `dispose()` removes it. */
export async function copyPack(dir: string): Promise<{ dir: string; dispose: () => Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), "longshot-pack-"));
  const copy = path.join(root, path.basename(dir));
  await cp(dir, copy, { recursive: true });
  return { dir: copy, dispose: () => rm(root, { recursive: true, force: true }) };
}

/** The parsed pack.json of the pack in `dir`, unvalidated. */
// biome-ignore lint/suspicious/noExplicitAny: tests reach into arbitrary pack.json fields
export async function readManifestJson(dir: string): Promise<any> {
  return JSON.parse(await readFile(path.join(dir, "pack.json"), "utf8"));
}

/** Rewrites pack.json of a pack copy through `edit` (which mutates the parsed JSON). */
// biome-ignore lint/suspicious/noExplicitAny: tests reach into arbitrary pack.json fields
export async function editManifest(dir: string, edit: (m: any) => void): Promise<void> {
  const manifest = await readManifestJson(dir);
  edit(manifest);
  await writeFile(path.join(dir, "pack.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}
