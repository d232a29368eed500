/** Unit tests of openBlobStore's choice between a directory and S3 (S3 itself: blob-store.int.test.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, InvalidArgumentError } from "@longshot/core";
import { makeTempDir, removeTempDir } from "@longshot/testing";
import { openBlobStore } from "./blob-store.js";

const silent = createLogger("test", "silent");

describe("openBlobStore", () => {
  it("opens a directory store with blobDir, and refuses S3 without credentials naming both settings", async () => {
    const dir = makeTempDir("stage-blob-store");
    try {
      const s3 = { s3Endpoint: "http://127.0.0.1:9", s3Bucket: "longshot", s3Region: "us-east-1" };
      const fs = await openBlobStore({ ...s3, blobDir: dir, s3AccessKey: undefined, s3SecretKey: undefined }, silent);
      assert.equal(fs.kind, "fs");
      await assert.rejects(
        openBlobStore({ ...s3, blobDir: undefined, s3AccessKey: undefined, s3SecretKey: undefined }, silent),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          err.field === "s3AccessKey" &&
          /LONGSHOT_S3_ACCESS_KEY.*LONGSHOT_S3_SECRET_KEY.*LONGSHOT_BLOB_DIR/.test(err.message),
      );
      await assert.rejects(
        openBlobStore({ ...s3, blobDir: undefined, s3AccessKey: "id", s3SecretKey: undefined }, silent),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          err.field === "s3SecretKey" &&
          !/LONGSHOT_S3_ACCESS_KEY/.test(err.message),
      );
      await assert.rejects(
        openBlobStore({ ...s3, blobDir: undefined, s3AccessKey: undefined, s3SecretKey: "hush" }, silent),
        (err: unknown) =>
          err instanceof InvalidArgumentError && err.field === "s3AccessKey" && !/hush/.test(err.message),
      );
    } finally {
      removeTempDir(dir);
    }
  });
});
