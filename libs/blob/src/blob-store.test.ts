import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IntegrityError, InvalidArgumentError } from "@longshot/core";
import {
  contentKey,
  MAX_KEY_BYTES,
  sha256Hex,
  validateExpiry,
  validateKey,
  validatePrefix,
  validateRef,
  verifyBlob,
} from "./blob-store.js";
import { FsBlobStore } from "./fs-blob-store.js";
import { EXPIRY_RULE_PREFIX, S3BlobStore, withExpiryRule } from "./s3-blob-store.js";

function invalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe("keys", () => {
  it("accepts ordinary keys", () => {
    for (const k of [
      "a",
      "jobs/123/keyframes.safetensors",
      "x/sha256/ab",
      "ünï/cödé",
      "a.b/c-d_e",
      "..a/b..",
      ".hidden",
    ]) {
      assert.equal(validateKey(k), k);
    }
  });

  it("refuses keys that could escape a directory or are malformed", () => {
    invalid(() => validateKey(""), /key: is empty/);
    invalid(() => validateKey(42), /key: must be a string, got number/);
    invalid(() => validateKey("/etc/passwd"), /starts with "\/"/);
    invalid(() => validateKey("a/"), /ends with "\/"/);
    invalid(() => validateKey("a//b"), /empty path segment/);
    invalid(() => validateKey("../x"), /a "\.\." path segment/);
    invalid(() => validateKey("a/../../x"), /a "\.\." path segment/);
    invalid(() => validateKey("a/./b"), /a "\." path segment/);
    invalid(() => validateKey("a\\..\\b"), /backslash/);
    invalid(() => validateKey("a\u0000b"), /control characters/);
    invalid(() => validateKey("x".repeat(MAX_KEY_BYTES + 1)), /longer than 1024 bytes/);
    invalid(() => validateKey("é".repeat(513)), /longer than 1024 bytes/);
  });

  it("checks prefixes, allowing a trailing slash", () => {
    assert.equal(validatePrefix("jobs/1/"), "jobs/1/");
    assert.equal(validatePrefix("jobs/1"), "jobs/1");
    invalid(() => validatePrefix(""), /prefix: is empty/);
    invalid(() => validatePrefix("../"), /prefix: .*"\.\."/);
  });

  it("builds content-addressed keys", () => {
    const hex = sha256Hex(new TextEncoder().encode("abc"));
    assert.equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(contentKey(hex), `sha256/${hex}`);
    assert.equal(contentKey(hex, "latents"), `latents/sha256/${hex}`);
    assert.equal(contentKey(hex, "jobs/7/"), `jobs/7/sha256/${hex}`);
    invalid(() => contentKey(hex, "../up"), /prefix/);
  });

  it("validates presign expiry against the SigV4 limit", () => {
    assert.equal(validateExpiry(60), 60);
    assert.equal(validateExpiry(604_800), 604_800);
    invalid(() => validateExpiry(0), /expirySeconds: 0 is not an integer in 1\.\.604800/);
    invalid(() => validateExpiry(604_801), /604801/);
    invalid(() => validateExpiry(1.5), /1\.5/);
  });
});

describe("refs and verification", () => {
  const bytes = new TextEncoder().encode("hello");
  const ref = { uri: "s3://b/k", key: "k", sha256: sha256Hex(bytes), bytes: bytes.length };

  it("validates ref fields", () => {
    assert.deepEqual(validateRef(ref), ref);
    invalid(() => validateRef(null), /ref: must be a BlobRef/);
    invalid(() => validateRef({ ...ref, sha256: "ABC" }), /ref\.sha256: "ABC" is not 64 lowercase hex/);
    invalid(() => validateRef({ ...ref, bytes: -1 }), /ref\.bytes: -1/);
    invalid(() => validateRef({ ...ref, key: "../k" }), /ref\.key/);
    invalid(() => validateRef({ ...ref, uri: "" }), /ref\.uri: is missing/);
  });

  it("names location, key, expected and actual on a mismatch", () => {
    verifyBlob('s3 bucket "b"', ref, bytes);
    const other = new TextEncoder().encode("hellO");
    assert.throws(
      () => verifyBlob('s3 bucket "b"', ref, other),
      (err: unknown) => {
        assert.ok(err instanceof IntegrityError);
        assert.equal(err.code, "DATA_LOSS");
        assert.match(err.message, /s3 bucket "b" key "k"/);
        assert.ok(err.message.includes(`expected sha256 ${ref.sha256} (5 bytes)`));
        assert.ok(err.message.includes(`actual sha256 ${sha256Hex(other)} (5 bytes)`));
        return true;
      },
    );
    assert.throws(() => verifyBlob("x", ref, bytes.subarray(0, 4)), /\(4 bytes\)/);
  });
});

describe("S3BlobStore (offline parts)", () => {
  const store = new S3BlobStore({
    endPoint: "127.0.0.1",
    port: 1,
    accessKey: "a",
    secretKey: "b",
    bucket: "longshot-data",
  });

  it("maps keys to s3:// URIs and back", () => {
    assert.equal(store.uriFor("jobs/1/out"), "s3://longshot-data/jobs/1/out");
    assert.equal(store.keyOf("s3://longshot-data/jobs/1/out"), "jobs/1/out");
    invalid(() => store.keyOf("s3://other/jobs/1/out"), /uri: "s3:\/\/other\/jobs\/1\/out" is not in this store/);
    invalid(() => store.keyOf("s3://longshot-data/../x"), /uri/);
    const r = store.refFor("k", "0".repeat(64), 3);
    assert.equal(r.uri, "s3://longshot-data/k");
  });

  it("refuses invalid bucket names and arguments before any request", async () => {
    invalid(
      () => new S3BlobStore({ endPoint: "h", accessKey: "a", secretKey: "b", bucket: "Bad_Bucket" }),
      /bucket: "Bad_Bucket"/,
    );
    await assert.rejects(store.putAt("../x", new Uint8Array(1)), InvalidArgumentError);
    await assert.rejects(store.putAt("k", "text" as unknown as Uint8Array), /bytes: must be a Uint8Array/);
    await assert.rejects(store.presignGet("k", 0), /expirySeconds/);
    await assert.rejects(store.setExpiry("tmp/", 0), /days: 0 is not a whole number/);
    await assert.rejects(store.deletePrefix(""), /prefix: is empty/);
  });

  it("merges expiry rules, replacing only its own rule for the same prefix", () => {
    const other = { ID: "keep-me", Status: "Enabled", Filter: { Prefix: "logs/" }, Expiration: { Days: 30 } };
    const first = withExpiryRule({ Rule: [other] }, "tmp/", 7);
    assert.deepEqual(first.Rule, [
      other,
      { ID: `${EXPIRY_RULE_PREFIX}tmp/`, Status: "Enabled", Filter: { Prefix: "tmp/" }, Expiration: { Days: 7 } },
    ]);
    const second = withExpiryRule(first, "tmp/", 2);
    assert.equal(second.Rule.length, 2);
    assert.deepEqual(second.Rule[1]?.Expiration, { Days: 2 });
    assert.deepEqual(withExpiryRule(null, "a/", 1).Rule.length, 1);
    // A single rule parsed from XML arrives as an object, not an array.
    assert.equal(withExpiryRule({ Rule: other as never }, "b/", 1).Rule.length, 2);
  });
});

describe("FsBlobStore (offline parts)", () => {
  it("maps keys to file:// URIs and refuses others", () => {
    const store = new FsBlobStore("/srv/blobs");
    assert.equal(store.uriFor("jobs/1/a b"), "file:///srv/blobs/jobs/1/a%20b");
    assert.equal(store.keyOf("file:///srv/blobs/jobs/1/a%20b"), "jobs/1/a b");
    invalid(() => store.keyOf("file:///srv/other/x"), /not inside this store/);
    invalid(() => store.keyOf("s3://b/x"), /not a file:\/\/ URI/);
    invalid(() => store.uriFor("../etc/passwd"), /"\.\." path segment/);
  });
});
