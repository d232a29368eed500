import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, found from this module's own location (libs/cli/dist/paths.js → ../../..). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The bundled pack, relative to the repository root. */
export const BUNDLED_PACK = path.join("models", "packs", "shapes-mini");

/** The pack to use when --pack is not given: $LONGSHOT_PACK, else the bundled pack. */
export function defaultPackDir(env: NodeJS.ProcessEnv): { dir: string; from: string } {
  const fromEnv = env.LONGSHOT_PACK;
  if (fromEnv !== undefined && fromEnv !== "") return { dir: path.resolve(fromEnv), from: "LONGSHOT_PACK" };
  return { dir: path.join(REPO_ROOT, BUNDLED_PACK), from: "the bundled pack" };
}

/** A folder-name-safe slug of a prompt: lower case ASCII letters and digits joined by "-", at most 60 chars. */
export function slugify(text: string, maxLength = 60): string {
  const slug = text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  const cut =
    slug.length > maxLength ? slug.slice(0, maxLength).replace(/-[^-]*$/, "") || slug.slice(0, maxLength) : slug;
  return cut.replace(/-+$/g, "") || "video";
}

/** The default output folder: out/<slug-of-prompt>-<seed>, relative to the working directory. */
export function defaultOutDir(prompt: string, seed: number | bigint): string {
  return path.join("out", `${slugify(prompt)}-${seed}`);
}

let version: string | undefined;
/** This package's version (libs/cli/package.json). */
export function cliVersion(): string {
  if (version === undefined) {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
    version = pkg.version ?? "unknown";
  }
  return version;
}

/** The keyframe preview's file name in a run folder. */
export const KEYFRAMES_PNG = "keyframes.png";

/** `file` (a run folder or a file in one) as a summary line shows it: relative to the working directory when inside it. */
export function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file) || ".";
  return rel.startsWith("..") ? file : rel;
}
