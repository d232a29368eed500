/** Unit tests of stageKitConfig: defaults, environment and flags, bounds, secrets. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigValidationError, loadConfig, redactConfig } from "@longshot/core";
import { stageKitConfig } from "./config.js";

describe("stageKitConfig", () => {
  it("has working defaults: worker on, one task at a time, 30 s AckWait, 5 deliveries, local S3", () => {
    const c = loadConfig(stageKitConfig, { env: {}, argv: [] });
    assert.equal(c.worker, true);
    assert.equal(c.workerConcurrency, 1);
    assert.equal(c.ackWait, 30_000);
    assert.equal(c.maxDeliver, 5);
    assert.equal(c.stopTimeout, 30_000);
    assert.equal(c.blobDir, undefined);
    assert.equal(c.s3Endpoint, "http://127.0.0.1:9000");
    assert.equal(c.s3Bucket, "longshot");
    assert.equal(c.s3Region, "us-east-1");
    assert.equal(c.s3AccessKey, undefined);
    assert.equal(c.s3SecretKey, undefined);
    assert.equal(c.natsUrl, "nats://127.0.0.1:4222");
  });

  it("reads LONGSHOT_* variables, and flags win over them", () => {
    const c = loadConfig(stageKitConfig, {
      env: {
        LONGSHOT_WORKER_CONCURRENCY: "4",
        LONGSHOT_ACK_WAIT: "10s",
        LONGSHOT_MAX_DELIVER: "3",
        LONGSHOT_S3_BUCKET: "from-env",
        LONGSHOT_S3_ACCESS_KEY: "id",
        LONGSHOT_S3_SECRET_KEY: "hush",
      },
      argv: ["--no-worker", "--s3-bucket=from-flag", "--stop-timeout=2s", "--blob-dir=/tmp/blobs"],
    });
    assert.equal(c.worker, false);
    assert.equal(c.workerConcurrency, 4);
    assert.equal(c.ackWait, 10_000);
    assert.equal(c.maxDeliver, 3);
    assert.equal(c.stopTimeout, 2000);
    assert.equal(c.s3Bucket, "from-flag");
    assert.equal(c.blobDir, "/tmp/blobs");
    assert.equal(c.s3AccessKey, "id");
    assert.equal(redactConfig(stageKitConfig, c).s3SecretKey, "******");
  });

  it("refuses values out of bounds, naming every bad field", () => {
    assert.throws(
      () =>
        loadConfig(stageKitConfig, {
          env: { LONGSHOT_WORKER_CONCURRENCY: "0", LONGSHOT_S3_SECRET_KEY: "do-not-show-me" },
          argv: ["--ack-wait=500ms", "--max-deliver=101", "--s3-endpoint=ftp://minio:9000"],
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigValidationError);
        const fields = err.issues.map((i) => i.field).sort();
        assert.deepEqual(fields, ["ackWait", "maxDeliver", "s3Endpoint", "workerConcurrency"]);
        assert.match(err.message, /LONGSHOT_WORKER_CONCURRENCY/);
        assert.match(err.message, /--ack-wait/);
        assert.doesNotMatch(err.message, /do-not-show-me/);
        return true;
      },
    );
  });
});
