/**
 * The S3 side of the stage kit against a real S3 server from @longshot/testing: openBlobStore's S3
 * branch, and finding a previous run's output again (intact, same fingerprint) or not.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type BlobStore, S3BlobStore } from "@longshot/blob";
import { createLogger } from "@longshot/core";
import { Tensor } from "@longshot/tensor";
import { startServers, type TestServers } from "@longshot/testing";
import { openBlobStore } from "./blob-store.js";
import { findReusableLatent, protoLatentRef, putLatent, readLatent, statOrUndefined } from "./latents.js";

const silent = createLogger("test", "silent");
const FP = "f".repeat(64);

describe("stage latents on S3 (real S3 server)", { timeout: 120_000 }, () => {
  let servers: TestServers<{ s3: true }>;
  let store: BlobStore;

  before(async () => {
    servers = (await startServers({ s3: true, log: () => {} })) as TestServers<{ s3: true }>;
    const s3 = servers.s3;
    store = await openBlobStore(
      {
        blobDir: undefined,
        s3Endpoint: s3.url,
        s3Bucket: "stage-kit-test",
        s3Region: s3.region,
        s3AccessKey: s3.accessKey,
        s3SecretKey: s3.secretKey,
      },
      silent,
    );
  });
  after(async () => {
    await servers?.stop();
  });

  it("opens the bucket the configuration names, creating it when missing (and again when it exists)", async () => {
    assert.equal(store.kind, "s3");
    assert.ok(store instanceof S3BlobStore);
    assert.equal(store.bucket, "stage-kit-test");
    assert.equal(await store.client.bucketExists("stage-kit-test"), true);
    const s3 = servers.s3;
    const again = await openBlobStore(
      {
        blobDir: undefined,
        s3Endpoint: s3.url,
        s3Bucket: "stage-kit-test",
        s3Region: s3.region,
        s3AccessKey: s3.accessKey,
        s3SecretKey: s3.secretKey,
      },
      silent,
    );
    assert.equal(again.uriFor("a/b"), store.uriFor("a/b"));
  });

  it("finds an intact output written for the same fingerprint, and it reads back as written", async () => {
    const t = new Tensor("float32", Float32Array.from([1, 2, 3, 4, 5, 6]), [1, 1, 2, 3, 1]);
    const written = await putLatent(store, "jobs/r1/out.safetensors", t, FP);
    const found = await findReusableLatent(store, "jobs/r1/out.safetensors", FP, silent);
    assert.deepEqual(found, written);
    assert.deepEqual((await readLatent(store, protoLatentRef(found as typeof written), "result.latents")).data, t.data);
  });

  it("does not reuse an output of another task, a missing key, or a key that holds no latent", async () => {
    const t = new Tensor("float32", Float32Array.from([1, 2]), [1, 1, 2, 1, 1]);
    await putLatent(store, "jobs/r2/out.safetensors", t, FP);
    assert.equal(await findReusableLatent(store, "jobs/r2/out.safetensors", "e".repeat(64), silent), undefined);
    assert.equal(await findReusableLatent(store, "jobs/r2/none.safetensors", FP, silent), undefined);

    await store.putAt("jobs/r2/text.bin", new TextEncoder().encode("not a safetensors file"));
    assert.equal(await findReusableLatent(store, "jobs/r2/text.bin", FP, silent), undefined);
  });

  it("does not reuse an output damaged at rest (its recorded SHA-256 no longer matches)", async () => {
    const s3 = store as S3BlobStore;
    const t = new Tensor("float32", Float32Array.from([1, 2, 3, 4]), [1, 1, 4, 1, 1]);
    const key = "jobs/r3/out.safetensors";
    await putLatent(store, key, t, FP);
    assert.notEqual(await findReusableLatent(store, key, FP, silent), undefined);

    const stat = await statOrUndefined(store, key);
    assert.ok(stat?.sha256 !== undefined);
    const bad = Buffer.from(await store.get(store.refFor(key, stat.sha256, stat.bytes)));
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    await s3.client.putObject(s3.bucket, key, bad, bad.length, { sha256: stat.sha256 });

    assert.equal(await findReusableLatent(store, key, FP, silent), undefined);
  });
});
