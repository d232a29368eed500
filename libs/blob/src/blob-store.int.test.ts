/**
 * The BlobStore contract against real backends: an S3 server from @longshot/testing (s3rver as its own
 * process, or MinIO under Docker) and a directory on disk.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { IntegrityError, InvalidArgumentError, LongshotError, NotFoundError, UnavailableError } from "@longshot/core";
import { float32ArrayToFloat16, Tensor } from "@longshot/tensor";
import { freePort, startServers, type TestServers } from "@longshot/testing";
import { type BlobStore, sha256Hex } from "./blob-store.js";
import { FsBlobStore } from "./fs-blob-store.js";
import { getTensor, putTensor } from "./latents.js";
import { S3BlobStore } from "./s3-blob-store.js";

const utf8 = new TextEncoder();

interface Fixture {
  store: BlobStore;
  /** How errors name the store location. */
  location: string;
  /** Replaces the stored bytes of `key` behind the store's back (keeping any recorded hash). */
  corrupt(key: string, bytes: Uint8Array): Promise<void>;
  /** Reads what a presigned URL points at, as a client without credentials would. */
  fetchPresigned(url: string): Promise<Uint8Array>;
}

function expectError<T extends Error>(type: new (...args: never[]) => T, ...patterns: Array<RegExp | string>) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    for (const p of patterns) {
      if (typeof p === "string") assert.ok(err.message.includes(p), `"${err.message}" lacks "${p}"`);
      else assert.match(err.message, p);
    }
    return true;
  };
}

function contract(name: string, setup: () => Promise<Fixture>): void {
  describe(`${name}: BlobStore contract`, { timeout: 120_000 }, () => {
    let f: Fixture;
    before(async () => {
      f = await setup();
    });

    it("puts content-addressed blobs and gets them back verified", async () => {
      const bytes = utf8.encode("keyframes for job 1");
      const ref = await f.store.put(bytes, { prefix: "jobs/1", contentType: "text/plain" });
      const hex = sha256Hex(bytes);
      assert.equal(ref.key, `jobs/1/sha256/${hex}`);
      assert.equal(ref.sha256, hex);
      assert.equal(ref.bytes, bytes.length);
      assert.equal(ref.uri, f.store.uriFor(ref.key));
      assert.deepEqual(await f.store.get(ref), bytes);
      const again = await f.store.put(bytes, { prefix: "jobs/1" });
      assert.deepEqual(again, ref);
      const bare = await f.store.put(bytes);
      assert.equal(bare.key, `sha256/${hex}`);
    });

    it("putAt writes deterministic keys idempotently, last write wins", async () => {
      const a = await f.store.putAt("jobs/2/keyframe/out.bin", utf8.encode("first"));
      const b = await f.store.putAt("jobs/2/keyframe/out.bin", utf8.encode("second"));
      assert.equal(a.key, b.key);
      assert.notEqual(a.sha256, b.sha256);
      assert.deepEqual(await f.store.get(b), utf8.encode("second"));
      // The old ref no longer matches what is stored: reading with it is a detected integrity failure.
      await assert.rejects(f.store.get(a), IntegrityError);
      const empty = await f.store.putAt("jobs/2/empty", new Uint8Array(0));
      assert.equal(empty.bytes, 0);
      assert.deepEqual(await f.store.get(empty), new Uint8Array(0));
    });

    it("stores a 2 MiB blob intact", async () => {
      const big = new Uint8Array(2 * 1024 * 1024 + 7);
      for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
      const ref = await f.store.putAt("jobs/3/big.bin", big);
      const back = await f.store.get(ref);
      assert.equal(back.length, big.length);
      assert.equal(sha256Hex(back), sha256Hex(big));
    });

    it("stat and exists", async () => {
      const ref = await f.store.putAt("jobs/4/a.bin", utf8.encode("abcd"), { contentType: "application/x-test" });
      const s = await f.store.stat("jobs/4/a.bin");
      assert.equal(s.key, "jobs/4/a.bin");
      assert.equal(s.bytes, 4);
      assert.equal(s.uri, ref.uri);
      assert.ok(s.lastModified instanceof Date && !Number.isNaN(s.lastModified.getTime()));
      if (f.store.kind === "s3") {
        assert.equal(s.sha256, ref.sha256);
        assert.equal(s.contentType, "application/x-test");
      }
      assert.equal(await f.store.exists("jobs/4/a.bin"), true);
      assert.equal(await f.store.exists("jobs/4/missing.bin"), false);
      assert.equal(await f.store.exists("jobs/4"), false); // a "directory" is not a blob
      await assert.rejects(
        f.store.stat("jobs/4/missing.bin"),
        expectError(NotFoundError, f.location, 'key "jobs/4/missing.bin"'),
      );
    });

    it("a missing key is a NotFoundError naming the location and key", async () => {
      const ref = f.store.refFor("jobs/none/x.bin", "0".repeat(64), 1);
      await assert.rejects(
        f.store.get(ref),
        expectError(NotFoundError, f.location, 'key "jobs/none/x.bin"', "not found"),
      );
    });

    it("detects corrupted content by hash, naming location, key, expected and actual", async () => {
      const good = utf8.encode("the real latent bytes");
      const ref = await f.store.putAt("jobs/5/latent.bin", good);
      const evil = utf8.encode("the fake latent bytes");
      assert.equal(evil.length, good.length);
      await f.corrupt("jobs/5/latent.bin", evil);
      await assert.rejects(
        f.store.get(ref),
        expectError(
          IntegrityError,
          f.location,
          'key "jobs/5/latent.bin"',
          `expected sha256 ${ref.sha256}`,
          `actual sha256 ${sha256Hex(evil)}`,
        ),
      );
      await f.corrupt("jobs/5/latent.bin", good.subarray(0, 10));
      await assert.rejects(f.store.get(ref), expectError(IntegrityError, "(10 bytes)"));
    });

    it("refuses refs that belong elsewhere or are malformed", async () => {
      const ref = await f.store.putAt("jobs/6/x", utf8.encode("x"));
      await assert.rejects(
        f.store.get({ ...ref, uri: "s3://someone-else/jobs/6/x" }),
        expectError(InvalidArgumentError, "ref.uri"),
      );
      await assert.rejects(f.store.get({ ...ref, sha256: "nothex" }), expectError(InvalidArgumentError, "ref.sha256"));
      await assert.rejects(f.store.get({ ...ref, key: "../x" }), InvalidArgumentError);
      await assert.rejects(f.store.putAt("/abs", utf8.encode("x")), InvalidArgumentError);
    });

    it("delete is idempotent; deletePrefix removes exactly the keys under the prefix", async () => {
      for (const k of ["jobs/7/a", "jobs/7/sub/b", "jobs/7/sub/deeper/c", "jobs/70/d", "jobs/8/e"]) {
        await f.store.putAt(k, utf8.encode(k));
      }
      await f.store.delete("jobs/7/a");
      assert.equal(await f.store.exists("jobs/7/a"), false);
      await f.store.delete("jobs/7/a");
      await f.store.delete("jobs/7/never-existed");
      assert.equal(await f.store.deletePrefix("jobs/7/"), 2);
      assert.equal(await f.store.exists("jobs/7/sub/b"), false);
      assert.equal(await f.store.exists("jobs/7/sub/deeper/c"), false);
      assert.equal(await f.store.exists("jobs/70/d"), true);
      assert.equal(await f.store.exists("jobs/8/e"), true);
      assert.equal(await f.store.deletePrefix("jobs/7"), 1); // a plain string prefix: jobs/70/d matches
      assert.equal(await f.store.exists("jobs/70/d"), false);
      assert.equal(await f.store.deletePrefix("jobs/nothing/"), 0);
      // The store still writes where a pruned directory was.
      const again = await f.store.putAt("jobs/7/sub/b", utf8.encode("back"));
      assert.deepEqual(await f.store.get(again), utf8.encode("back"));
    });

    it("presigned GET URLs fetch the bytes without credentials", async () => {
      const bytes = utf8.encode("decoded mp4 would go here");
      const ref = await f.store.putAt("jobs/9/video.mp4", bytes, { contentType: "video/mp4" });
      const url = await f.store.presignGet(ref.key, 60);
      assert.deepEqual(await f.fetchPresigned(url), bytes);
      await assert.rejects(f.store.presignGet(ref.key, 604_801), InvalidArgumentError);
    });

    it("stores tensors as safetensors and returns LatentRefs (fp16 [1,4,65,16,16] and fp32)", async () => {
      const dims = [1, 4, 65, 16, 16];
      const values = Float32Array.from({ length: 4 * 65 * 16 * 16 }, (_, i) => Math.sin(i / 100) * 4);
      const half = new Tensor("float16", float32ArrayToFloat16(values), dims);
      const ref = await putTensor(f.store, half, {
        key: "jobs/10/interp/latent.safetensors",
        metadata: { stage: "interp" },
      });
      assert.equal(ref.uri, f.store.uriFor("jobs/10/interp/latent.safetensors"));
      assert.deepEqual(ref.shape, dims);
      assert.equal(ref.dtype, "float16");
      assert.equal(ref.bytes, (await f.store.stat("jobs/10/interp/latent.safetensors")).bytes);
      const back = await getTensor(f.store, ref);
      assert.equal(back.dtype, "float16");
      assert.deepEqual(back.dims, dims);
      assert.deepEqual(back.data, half.data);

      const full = new Tensor("float32", values, dims);
      const cref = await putTensor(f.store, full, { prefix: "latents" });
      assert.match(f.store.keyOf(cref.uri), /^latents\/sha256\/[0-9a-f]{64}$/);
      assert.deepEqual((await getTensor(f.store, cref)).data, values);

      await assert.rejects(
        getTensor(f.store, { ...ref, dtype: "float32" }),
        expectError(IntegrityError, "is float16 [1, 4, 65, 16, 16] but the ref says float32"),
      );
      await assert.rejects(
        getTensor(f.store, { ...ref, shape: [1, 4, 17, 16, 16] }),
        expectError(IntegrityError, "but the ref says float16 [1, 4, 17, 16, 16]"),
      );
      await assert.rejects(
        getTensor(f.store, { ...ref, dtype: "bfloat16" as never }),
        expectError(InvalidArgumentError, "ref.dtype"),
      );

      // A blob that hashes right but is not safetensors is an IntegrityError naming the latent.
      const junk = await f.store.putAt("jobs/10/junk", utf8.encode("not a safetensors file"));
      await assert.rejects(
        getTensor(f.store, { uri: junk.uri, shape: [1], dtype: "float32", sha256: junk.sha256, bytes: junk.bytes }),
        expectError(IntegrityError, `latent ${junk.uri}`),
      );
    });
  });
}

// --- S3 (the harness's S3 server) ---------------------------------------------------------------------

let servers: TestServers<{ s3: true }> | undefined;
let s3Store: S3BlobStore;

async function s3Servers(): Promise<TestServers<{ s3: true }>> {
  servers ??= await startServers({ s3: true });
  return servers;
}

after(async () => {
  await servers?.stop();
});

contract("S3BlobStore", async () => {
  const s = await s3Servers();
  s3Store = new S3BlobStore({ ...s.s3, bucket: "longshot-contract" });
  await s3Store.ensureBucket();
  await s3Store.ensureBucket(); // idempotent
  return {
    store: s3Store,
    location: 's3 bucket "longshot-contract"',
    corrupt: async (key, bytes) => {
      const stat = await s3Store.stat(key);
      // Overwrite the object through the S3 API, keeping the sha256 metadata of the original.
      await s3Store.client.putObject("longshot-contract", key, Buffer.from(bytes), bytes.length, {
        sha256: stat.sha256 ?? "",
      });
    },
    fetchPresigned: async (url) => {
      assert.match(url, /X-Amz-Signature=/);
      const res = await fetch(url);
      assert.equal(res.status, 200, `GET ${url}: ${res.status} ${await res.clone().text()}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
});

describe("S3BlobStore: server-side behaviour", { timeout: 60_000 }, () => {
  let s: TestServers<{ s3: true }>;
  before(async () => {
    s = await s3Servers();
  });

  it("a missing bucket is a NotFoundError naming it", async () => {
    const store = new S3BlobStore({ ...s.s3, bucket: "longshot-no-such-bucket" });
    await assert.rejects(
      store.get(store.refFor("k", "0".repeat(64), 1)),
      expectError(NotFoundError, 'bucket "longshot-no-such-bucket"'),
    );
    await assert.rejects(
      store.putAt("k", utf8.encode("x")),
      expectError(NotFoundError, 'bucket "longshot-no-such-bucket" does not exist'),
    );
    await assert.rejects(store.exists("k"), NotFoundError);
  });

  it("wrong credentials are reported as such", async () => {
    // (s3rver checks the access key id but not SigV4 signatures; MinIO checks both.)
    const store = new S3BlobStore({
      ...s.s3,
      accessKey: "not-a-key",
      secretKey: "wrong-secret",
      bucket: "longshot-contract",
    });
    await assert.rejects(store.putAt("k", utf8.encode("x")), (err: unknown) => {
      assert.ok(err instanceof LongshotError);
      assert.equal(err.code, "FAILED_PRECONDITION");
      assert.match(err.message, /s3 bucket "longshot-contract" key "k": putObject refused, check the S3 credentials/);
      assert.ok(err.cause);
      return true;
    });
  });

  it("an unreachable endpoint is an UnavailableError wrapping the cause", async () => {
    const port = await freePort();
    const store = new S3BlobStore({ ...s.s3, port, bucket: "longshot-contract" });
    await assert.rejects(store.stat("jobs/x"), (err: unknown) => {
      assert.ok(err instanceof UnavailableError, String(err));
      assert.match(err.message, /s3 bucket "longshot-contract" key "jobs\/x": statObject failed: ECONNREFUSED/);
      assert.ok(err.cause);
      return true;
    });
  });

  it("setExpiry installs a lifecycle rule (MinIO) or reports the server cannot (s3rver)", async () => {
    const store = new S3BlobStore({ ...s.s3, bucket: "longshot-contract" });
    if (s.mode === "docker") {
      await store.setExpiry("tmp/", 7);
      await store.setExpiry("scratch/", 1);
      await store.setExpiry("tmp/", 3);
      const rules = await store.lifecycleRules();
      const mine = rules.filter((r) => r.ID.startsWith("longshot-expire:"));
      assert.equal(mine.length, 2);
      assert.equal(Number(mine.find((r) => r.ID === "longshot-expire:tmp/")?.Expiration?.Days), 3);
    } else {
      await assert.rejects(store.setExpiry("tmp/", 7), (err: unknown) => {
        assert.ok(err instanceof LongshotError);
        assert.equal(err.code, "UNIMPLEMENTED");
        assert.match(err.message, /s3 bucket "longshot-contract": .*not implemented by this S3 server/);
        return true;
      });
    }
  });
});

// --- Filesystem ----------------------------------------------------------------------------------------

let fsRoot = "";
after(async () => {
  if (fsRoot) await rm(fsRoot, { recursive: true, force: true });
});

contract("FsBlobStore", async () => {
  fsRoot = await mkdtemp(path.join(tmpdir(), "longshot-blob-"));
  const store = new FsBlobStore(path.join(fsRoot, "store"));
  return {
    store,
    location: `fs root "${store.root}"`,
    corrupt: async (key, bytes) => {
      await writeFile(path.join(store.root, ...key.split("/")), bytes);
    },
    fetchPresigned: async (url) => {
      assert.match(url, /^file:\/\//);
      return new Uint8Array(await readFile(fileURLToPath(url)));
    },
  };
});

describe("FsBlobStore: confinement to its root", { timeout: 60_000 }, () => {
  let root = "";
  let store: FsBlobStore;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), "longshot-blob-jail-"));
    store = new FsBlobStore(path.join(root, "store"));
    await mkdir(path.join(root, "outside"));
    await writeFile(path.join(root, "outside", "secret"), "secret");
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("refuses traversal keys for every operation", async () => {
    const ref = { uri: "file:///x", key: "../outside/secret", sha256: "0".repeat(64), bytes: 6 };
    for (const key of ["../outside/secret", "a/../../outside/secret", "/etc/passwd", "a\\..\\..\\outside"]) {
      await assert.rejects(store.putAt(key, utf8.encode("x")), InvalidArgumentError, key);
      await assert.rejects(store.stat(key), InvalidArgumentError, key);
      await assert.rejects(store.exists(key), InvalidArgumentError, key);
      await assert.rejects(store.delete(key), InvalidArgumentError, key);
      await assert.rejects(store.presignGet(key, 60), InvalidArgumentError, key);
      await assert.rejects(store.get({ ...ref, key }), InvalidArgumentError, key);
    }
    await assert.rejects(store.deletePrefix("../outside"), InvalidArgumentError);
    assert.equal(await readFile(path.join(root, "outside", "secret"), "utf8"), "secret");
  });

  it("refuses to follow a symlinked directory out of the root", async () => {
    await mkdir(store.root, { recursive: true });
    await symlink(path.join(root, "outside"), path.join(store.root, "link"));
    await assert.rejects(
      store.putAt("link/planted", utf8.encode("x")),
      expectError(InvalidArgumentError, "outside the store root"),
    );
    const ref = store.refFor("link/secret", sha256Hex(utf8.encode("secret")), 6);
    await assert.rejects(store.get(ref), expectError(InvalidArgumentError, "outside the store root"));
    await assert.rejects(store.deletePrefix("link/"), InvalidArgumentError);
    assert.equal(await readFile(path.join(root, "outside", "secret"), "utf8"), "secret");
  });

  it("leaves no temporary files behind and keys never see partial writes", async () => {
    const writes = Array.from({ length: 8 }, (_, i) => store.putAt("race/key", new Uint8Array(256 * 1024).fill(i)));
    const refs = await Promise.all(writes);
    const stored = new Uint8Array(await readFile(path.join(store.root, "race", "key")));
    assert.ok(
      refs.some((r) => r.sha256 === sha256Hex(stored)),
      "the stored bytes are exactly one of the writes",
    );
    const { readdir } = await import("node:fs/promises");
    assert.deepEqual(await readdir(path.join(store.root, "race")), ["key"]);
  });
});
