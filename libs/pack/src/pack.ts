/**
 * Loading a model pack from disk: parse and validate pack.json, then check that the directory holds exactly the
 * listed files with the listed sizes and SHA-256 hashes, and that nothing resolves outside the pack directory.
 * Nothing in a pack is used before this has passed.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { ConfigError, IntegrityError, InvalidArgumentError, NotFoundError } from "@longshot/core";
import { type GraphSpec, type PackManifest, validateManifest } from "./manifest.js";

/** pack.json is missing fields, has wrong types or violates the contract. `problems` has one line per problem. */
export class PackManifestError extends ConfigError {
  readonly problems: readonly string[];
  constructor(dir: string, problems: readonly string[]) {
    super(`invalid model pack ${dir} (${plural(problems.length, "problem")}):\n  ${problems.join("\n  ")}`);
    this.name = "PackManifestError";
    this.problems = problems;
  }
}

/** The pack directory does not match pack.json: missing, extra, resized or modified files, or escaping paths. */
export class PackIntegrityError extends IntegrityError {
  readonly problems: readonly string[];
  constructor(label: string, problems: readonly string[]) {
    super(
      `model pack ${label} failed verification (${plural(problems.length, "problem")}):\n  ${problems.join("\n  ")}`,
    );
    this.name = "PackIntegrityError";
    this.problems = problems;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A verified file of a pack. */
export interface PackFile {
  /** Path relative to the pack directory, as in pack.json. */
  readonly path: string;
  /** Absolute path with symlinks resolved (inside the pack directory). */
  readonly absPath: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** A pack whose manifest and files have been verified. */
export class Pack {
  /** Absolute, symlink-resolved pack directory. */
  readonly dir: string;
  readonly manifest: PackManifest;
  readonly #files: ReadonlyMap<string, PackFile>;

  constructor(dir: string, manifest: PackManifest, files: ReadonlyMap<string, PackFile>) {
    this.dir = dir;
    this.manifest = manifest;
    this.#files = files;
  }

  get name(): string {
    return this.manifest.name;
  }

  get version(): string {
    return this.manifest.version;
  }

  /** "name@version", for logs and error messages. */
  get id(): string {
    return `${this.manifest.name}@${this.manifest.version}`;
  }

  get graphNames(): string[] {
    return Object.keys(this.manifest.graphs);
  }

  /** The contract (file, inputs, outputs) of one graph. */
  graph(name: string): GraphSpec {
    const spec = Object.hasOwn(this.manifest.graphs, name) ? this.manifest.graphs[name] : undefined;
    if (!spec) {
      throw new NotFoundError(`pack ${this.id} has no graph "${name}" (graphs: ${this.graphNames.join(", ")})`);
    }
    return spec;
  }

  /** The verified ONNX file of one graph. */
  graphFile(name: string): PackFile {
    return this.file(this.graph(name).file);
  }

  get tokenizerFile(): PackFile {
    return this.file(this.manifest.text.tokenizer);
  }

  get tokenizerConfigFile(): PackFile {
    return this.file(this.manifest.text.tokenizerConfig);
  }

  /** Every verified file (everything in the pack except pack.json). */
  get files(): PackFile[] {
    return [...this.#files.values()];
  }

  file(relPath: string): PackFile {
    const f = this.#files.get(relPath);
    if (!f) throw new NotFoundError(`pack ${this.id} lists no file "${relPath}"`);
    return f;
  }

  /** Frame counts a request may ask for, ascending. */
  get allowedFrames(): readonly number[] {
    return [...this.manifest.video.frames].sort((a, b) => a - b);
  }

  get defaultFrames(): number {
    return this.manifest.video.defaultFrames;
  }

  /** The interpolation UNet's frame_stride conditioning for a video of `frames` frames. */
  strideFor(frames: number): number {
    const stride = this.manifest.interpolation.strides[String(frames)];
    if (!this.manifest.video.frames.includes(frames) || stride === undefined) {
      throw new InvalidArgumentError(
        "frames",
        `must be one of ${this.allowedFrames.join(", ")} for pack ${this.id}, got ${frames}`,
      );
    }
    return stride;
  }
}

/**
 * Reads, validates and verifies the pack in `dir`. Throws NotFoundError if the directory or pack.json does not
 * exist, PackManifestError (a ConfigError) listing every manifest problem, PackIntegrityError (an IntegrityError)
 * listing every file that is missing, unlisted, of the wrong size or hash, or that resolves outside the pack.
 */
export async function loadPack(dir: string): Promise<Pack> {
  const absDir = path.resolve(dir);
  let realDir: string;
  try {
    realDir = await realpath(absDir);
  } catch (err) {
    throw new NotFoundError(`model pack directory ${absDir} does not exist`, { cause: err });
  }
  if (!(await stat(realDir)).isDirectory()) throw new ConfigError(`model pack path ${absDir} is not a directory`);

  let text: string;
  try {
    text = await readFile(path.join(realDir, "pack.json"), "utf8");
  } catch (err) {
    throw new NotFoundError(`model pack ${absDir} has no readable pack.json`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PackManifestError(absDir, [`pack.json: not valid JSON: ${(err as Error).message}`]);
  }
  const { manifest, problems } = validateManifest(json);
  if (!manifest) throw new PackManifestError(absDir, problems);

  const label = `${manifest.name}@${manifest.version} (${absDir})`;
  const files = await verifyFiles(realDir, manifest, label);
  return new Pack(realDir, manifest, files);
}

async function verifyFiles(realDir: string, manifest: PackManifest, label: string): Promise<Map<string, PackFile>> {
  const problems: string[] = [];
  const files = new Map<string, PackFile>();
  const toHash: PackFile[] = [];

  for (const entry of manifest.files) {
    const where = `file "${entry.path}"`;
    let real: string;
    try {
      real = await realpath(path.join(realDir, ...entry.path.split("/")));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        code === "ENOENT"
          ? `${where} listed in pack.json is missing`
          : `${where} cannot be opened: ${(err as Error).message}`,
      );
      continue;
    }
    if (!isInside(realDir, real)) {
      problems.push(`${where} resolves to ${real}, outside the pack directory`);
      continue;
    }
    const st = await stat(real);
    if (!st.isFile()) {
      problems.push(`${where} is not a regular file`);
      continue;
    }
    if (st.size !== entry.bytes) {
      problems.push(`${where} has ${st.size} bytes, pack.json says ${entry.bytes}`);
      continue;
    }
    const file: PackFile = { path: entry.path, absPath: real, sha256: entry.sha256, bytes: entry.bytes };
    files.set(entry.path, file);
    toHash.push(file);
  }

  for (const rel of await unlistedFiles(realDir, new Set(manifest.files.map((f) => f.path)))) {
    problems.push(`file "${rel}" is in the pack directory but not listed in pack.json files`);
  }

  // Sizes first (cheap), hashes only for files of the right size.
  for (const file of toHash) {
    const actual = await sha256File(file.absPath);
    if (actual !== file.sha256) {
      problems.push(`file "${file.path}" is corrupt or modified: sha256 expected ${file.sha256}, got ${actual}`);
    }
  }
  if (problems.length > 0) throw new PackIntegrityError(label, problems);
  return files;
}

function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== "" && !rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel);
}

/** Files (and symlinks to non-directories) under `dir` that are neither pack.json nor listed. */
async function unlistedFiles(dir: string, listed: ReadonlySet<string>): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (e.isDirectory()) continue;
    const rel = path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/");
    if (rel === "pack.json" || listed.has(rel)) continue;
    if (e.isSymbolicLink()) {
      const target = await stat(path.join(e.parentPath, e.name)).catch(() => undefined);
      if (target?.isDirectory()) continue;
    }
    out.push(rel);
  }
  return out.sort();
}

/** SHA-256 of a file, streamed (model files can be large). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
