import { randomUUID } from "node:crypto";
import type { Dirent } from "node:fs";
import { mkdir, open, readdir, readFile, realpath, rename, rmdir, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { InvalidArgumentError, LongshotError, NotFoundError, UnavailableError } from "@longshot/core";
import {
  type BlobRef,
  type BlobStat,
  type BlobStore,
  contentKey,
  type PutAtOptions,
  type PutOptions,
  sha256Hex,
  validateBytes,
  validateExpiry,
  validateKey,
  validatePrefix,
  validateRef,
  verifyBlob,
} from "./blob-store.js";

const TMP_MARK = ".longshot-tmp-";

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * A BlobStore on a local directory (development, tests, single-host runs). Writes go to a temporary file
 * in the target directory, are fsynced, then renamed over the key, so readers never see partial blobs.
 * Keys map to paths under the root; keys that could leave it (`..`, absolute, backslashes, symlinked
 * directories pointing outside) are refused. Content types and hashes are not persisted: `stat()` has no
 * sha256 (content-addressed keys carry it in the key; refs carry it for verification).
 */
export class FsBlobStore implements BlobStore {
  readonly kind = "fs" as const;
  readonly root: string;
  private readonly where: string;

  constructor(rootDir: string) {
    if (typeof rootDir !== "string" || rootDir === "") throw new InvalidArgumentError("rootDir", "is empty");
    this.root = path.resolve(rootDir);
    this.where = `fs root "${this.root}"`;
  }

  private pathFor(key: string): string {
    validateKey(key);
    const p = path.resolve(this.root, ...key.split("/"));
    if (!p.startsWith(this.root + path.sep)) {
      throw new InvalidArgumentError("key", `"${key}" resolves outside the store root ${this.root}`);
    }
    return p;
  }

  /** Refuses paths whose existing directories resolve (through symlinks) outside the root. */
  private async assertInside(key: string, dir: string): Promise<void> {
    let realRoot: string;
    try {
      realRoot = await realpath(this.root);
    } catch (err) {
      if (errno(err) === "ENOENT") return; // nothing exists yet, nothing can point outside
      throw this.wrap("realpath", key, err);
    }
    let probe = dir;
    for (;;) {
      try {
        const real = await realpath(probe);
        if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
          throw new InvalidArgumentError(
            "key",
            `"${key}" leads through ${probe} to ${real}, outside the store root ${this.root}`,
          );
        }
        return;
      } catch (err) {
        if (err instanceof InvalidArgumentError) throw err;
        if (errno(err) !== "ENOENT" && errno(err) !== "ENOTDIR") throw this.wrap("realpath", key, err);
        if (probe === this.root) return;
        probe = path.dirname(probe);
      }
    }
  }

  private wrap(op: string, key: string, err: unknown): LongshotError {
    const code = errno(err);
    const msg = `blob ${this.where} ${op} key "${key}": ${code ?? ""} ${(err as Error)?.message ?? String(err)}`;
    if (code === "ENOSPC" || code === "EMFILE" || code === "ENFILE" || code === "EAGAIN" || code === "EBUSY") {
      return new UnavailableError(msg, { cause: err });
    }
    return new LongshotError(msg, { code: "INTERNAL", cause: err });
  }

  uriFor(key: string): string {
    return pathToFileURL(this.pathFor(key)).href;
  }

  keyOf(uri: string): string {
    let p: string;
    try {
      p = fileURLToPath(uri);
    } catch (cause) {
      throw new InvalidArgumentError("uri", `"${uri}" is not a file:// URI`, { cause });
    }
    const rel = path.relative(this.root, p);
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) {
      throw new InvalidArgumentError("uri", `"${uri}" is not inside this store (${this.root})`);
    }
    return validateKey(rel.split(path.sep).join("/"), "uri");
  }

  refFor(key: string, sha256: string, bytes: number): BlobRef {
    return validateRef({ uri: this.uriFor(key), key, sha256, bytes });
  }

  async put(bytes: Uint8Array, opts: PutOptions = {}): Promise<BlobRef> {
    validateBytes(bytes);
    const key = contentKey(sha256Hex(bytes), opts.prefix);
    return this.putAt(key, bytes, opts);
  }

  async putAt(key: string, bytes: Uint8Array, _opts: PutAtOptions = {}): Promise<BlobRef> {
    const target = this.pathFor(key);
    validateBytes(bytes);
    const sha256 = sha256Hex(bytes);
    const dir = path.dirname(target);
    // A concurrent deletePrefix may prune a directory between mkdir and open: retry a few times.
    for (let attempt = 0; ; attempt++) {
      const tmp = path.join(dir, `.${path.basename(target)}${TMP_MARK}${randomUUID()}`);
      try {
        await mkdir(dir, { recursive: true });
        await this.assertInside(key, dir);
        const fh = await open(tmp, "wx", 0o644);
        try {
          await fh.writeFile(bytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, target);
        break;
      } catch (err) {
        await unlink(tmp).catch(() => {});
        if (err instanceof InvalidArgumentError) throw err;
        if (errno(err) === "ENOENT" && attempt < 3) continue;
        if (errno(err) === "EISDIR" || errno(err) === "ENOTDIR") {
          throw new InvalidArgumentError("key", `"${key}" collides with a directory of other keys in ${this.root}`, {
            cause: err,
          });
        }
        throw this.wrap("write", key, err);
      }
    }
    return { uri: pathToFileURL(target).href, key, sha256, bytes: bytes.length };
  }

  async get(ref: BlobRef): Promise<Uint8Array> {
    validateRef(ref);
    const p = this.pathFor(ref.key);
    const expectedUri = pathToFileURL(p).href;
    if (ref.uri !== expectedUri) {
      throw new InvalidArgumentError("ref.uri", `"${ref.uri}" is not key "${ref.key}" of this store (${expectedUri})`);
    }
    await this.assertInside(ref.key, path.dirname(p));
    let data: Buffer;
    try {
      data = await readFile(p);
    } catch (err) {
      const code = errno(err);
      if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") {
        throw new NotFoundError(`blob ${this.where} key "${ref.key}" not found`, { cause: err });
      }
      throw this.wrap("read", ref.key, err);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    verifyBlob(this.where, ref, bytes);
    return bytes;
  }

  async stat(key: string): Promise<BlobStat> {
    const p = this.pathFor(key);
    try {
      const s = await stat(p);
      if (!s.isFile()) throw Object.assign(new Error("not a file"), { code: "ENOENT" });
      return { key, uri: pathToFileURL(p).href, bytes: s.size, lastModified: s.mtime };
    } catch (err) {
      const code = errno(err);
      if (code === "ENOENT" || code === "ENOTDIR") {
        throw new NotFoundError(`blob ${this.where} key "${key}" not found`, { cause: err });
      }
      throw this.wrap("stat", key, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.stat(key);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const p = this.pathFor(key);
    try {
      await unlink(p);
    } catch (err) {
      const code = errno(err);
      if (code === "ENOENT" || code === "ENOTDIR") return;
      if (code === "EISDIR" || code === "EPERM") {
        // A directory holding other keys is not a blob: nothing to delete under this key.
        const s = await stat(p).catch(() => undefined);
        if (s?.isDirectory()) return;
      }
      throw this.wrap("delete", key, err);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    validatePrefix(prefix);
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : "";
    const dir = dirKey ? this.pathFor(dirKey) : this.root;
    await this.assertInside(prefix, dir);
    let count = 0;
    const walk = async (absDir: string, keyDir: string): Promise<boolean> => {
      let entries: Dirent[];
      try {
        entries = await readdir(absDir, { withFileTypes: true });
      } catch (err) {
        if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return false;
        throw this.wrap("list", prefix, err);
      }
      let remaining = entries.length;
      for (const e of entries) {
        const key = keyDir ? `${keyDir}/${e.name}` : e.name;
        const abs = path.join(absDir, e.name);
        if (e.isDirectory()) {
          if (!(key.startsWith(prefix) || prefix.startsWith(`${key}/`))) continue;
          if (await walk(abs, key)) {
            await rmdir(abs).then(
              () => remaining--,
              () => {},
            );
          }
        } else if (key.startsWith(prefix) && !e.name.includes(TMP_MARK)) {
          try {
            await unlink(abs);
            count++;
            remaining--;
          } catch (err) {
            if (errno(err) !== "ENOENT") throw this.wrap("delete", key, err);
            remaining--;
          }
        }
      }
      // The directory may go if it is now empty and lies entirely under the prefix.
      return remaining === 0 && keyDir !== "" && (keyDir.startsWith(prefix) || `${keyDir}/`.startsWith(prefix));
    };
    if ((await walk(dir, dirKey)) && dir !== this.root) await rmdir(dir).catch(() => {});
    return count;
  }

  async presignGet(key: string, expirySeconds: number): Promise<string> {
    validateExpiry(expirySeconds);
    return this.uriFor(key);
  }
}
