/**
 * Unit tests of latents.ts with a directory store: fingerprints, reference conversions, input reads
 * with errors naming the field, fingerprint stamps, the fetch and store spans (reuse from S3:
 * latents.int.test.ts).
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { FsBlobStore } from "@longshot/blob";
import { createLogger, IntegrityError, InvalidArgumentError, NotFoundError } from "@longshot/core";
import { DataType, Stage, StageTask } from "@longshot/proto";
import { initTelemetry } from "@longshot/telemetry";
import { decodeSafetensors, Tensor } from "@longshot/tensor";
import { makeTempDir, removeTempDir } from "@longshot/testing";
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import {
  blobLatentRef,
  FINGERPRINT_METADATA,
  findReusableLatent,
  protoLatentRef,
  putLatent,
  readLatent,
  statOrUndefined,
  taskFingerprint,
} from "./latents.js";

const silent = createLogger("test", "silent");

function task(change: Partial<StageTask> = {}): StageTask {
  return StageTask.create({
    jobId: "j1",
    taskId: "j1/keyframe",
    outputKey: "jobs/j1/keyframes.safetensors",
    stage: Stage.STAGE_KEYFRAME,
    packName: "shapes-mini",
    packVersion: "1.0.0",
    seed: 7n,
    traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    params: { $case: "keyframe", value: { prompt: "a red circle", numFrames: 5 } },
    ...change,
  });
}

describe("latents", () => {
  it("fingerprints what a task computes: not its task id or trace context, but its seed, params and inputs", () => {
    const base = taskFingerprint(task());
    assert.match(base, /^[0-9a-f]{64}$/);
    assert.equal(taskFingerprint(task({ taskId: "j1/keyframe/retry", traceContext: {} })), base);
    assert.notEqual(taskFingerprint(task({ seed: 8n })), base);
    assert.notEqual(
      taskFingerprint(task({ params: { $case: "keyframe", value: { prompt: "a blue square", numFrames: 5 } } })),
      base,
    );
    assert.notEqual(taskFingerprint(task({ packVersion: "1.0.1" })), base);
    assert.notEqual(taskFingerprint(task({ jobId: "j2" })), base);
    assert.notEqual(taskFingerprint(task({ outputKey: "jobs/j1/other.safetensors" })), base);
  });

  it("converts latent references both ways and names the field of a bad dtype", () => {
    const proto = {
      uri: "s3://b/jobs/j1/k.safetensors",
      shape: [1, 4, 5, 16, 16],
      dtype: DataType.DATA_TYPE_FLOAT32,
      sha256: "a".repeat(64),
      bytes: 20_560n,
    };
    const blob = blobLatentRef(proto, "task.interpolation.input_latents");
    assert.deepEqual(blob, { ...proto, dtype: "float32", bytes: 20_560 });
    assert.deepEqual(protoLatentRef(blob), proto);
    assert.deepEqual(protoLatentRef({ ...blob, dtype: "float16" }).dtype, DataType.DATA_TYPE_FLOAT16);
    assert.throws(
      () => blobLatentRef({ ...proto, dtype: DataType.DATA_TYPE_UNSPECIFIED }, "task.decode.latents"),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "task.decode.latents.dtype",
    );
  });

  it("reads inputs by reference; a missing, corrupt or foreign object is an error naming the field and key", async () => {
    const dir = makeTempDir("stage-latents");
    try {
      const store = new FsBlobStore(dir);
      const t = new Tensor("float32", Float32Array.from([1, 2, 3, 4, 5, 6]), [1, 1, 2, 3, 1]);
      const ref = protoLatentRef(await putLatent(store, "jobs/j1/in.safetensors", t, "fp"));
      assert.deepEqual((await readLatent(store, ref, "task.decode.latents")).data, t.data);

      await assert.rejects(
        readLatent(store, { ...ref, uri: store.uriFor("jobs/j1/gone.safetensors") }, "task.decode.latents"),
        (err: unknown) => err instanceof NotFoundError && /^task\.decode\.latents: /.test(err.message),
      );
      await assert.rejects(
        readLatent(store, { ...ref, uri: "s3://elsewhere/jobs/j1/in.safetensors" }, "task.decode.latents"),
        (err: unknown) => err instanceof InvalidArgumentError && err.field === "task.decode.latents.uri",
      );
      await assert.rejects(
        readLatent(store, { ...ref, shape: [1, 1, 3, 2, 1] }, "task.interpolation.input_latents"),
        (err: unknown) =>
          err instanceof IntegrityError &&
          /^task\.interpolation\.input_latents: latent .*float32 \[1, 1, 2, 3, 1\] but the ref says float32 \[1, 1, 3, 2, 1\]/.test(
            err.message,
          ),
      );
      const file = path.join(dir, "jobs/j1/in.safetensors");
      const bytes = await readFile(file);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      await writeFile(file, bytes);
      await assert.rejects(
        readLatent(store, ref, "task.decode.latents"),
        (err: unknown) =>
          err instanceof IntegrityError &&
          /^task\.decode\.latents: blob .* key "jobs\/j1\/in\.safetensors": content does not match its ref/.test(
            err.message,
          ),
      );
    } finally {
      removeTempDir(dir);
    }
  });

  it("stamps outputs with the fingerprint; a store that keeps no hashes (a directory) never reuses them", async () => {
    const dir = makeTempDir("stage-latents");
    try {
      const store = new FsBlobStore(dir);
      const t = new Tensor("float32", Float32Array.from([1, 2]), [1, 1, 2, 1, 1]);
      await putLatent(store, "jobs/j1/out.safetensors", t, "f".repeat(64));
      const raw = await readFile(path.join(dir, "jobs/j1/out.safetensors"));
      const text = raw.toString("latin1");
      assert.ok(text.includes(`"${FINGERPRINT_METADATA}":"${"f".repeat(64)}"`));
      assert.deepEqual(decodeSafetensors(raw).metadata, { [FINGERPRINT_METADATA]: "f".repeat(64) });
      assert.equal(await findReusableLatent(store, "jobs/j1/out.safetensors", "f".repeat(64), silent), undefined);
      assert.equal(await findReusableLatent(store, "jobs/j1/none.safetensors", "f".repeat(64), silent), undefined);
    } finally {
      removeTempDir(dir);
    }
  });

  it("stats a key, with a missing key as undefined", async () => {
    const dir = makeTempDir("stage-latents");
    try {
      const store = new FsBlobStore(dir);
      const t = new Tensor("float32", Float32Array.from([1, 2]), [1, 1, 2, 1, 1]);
      const ref = await putLatent(store, "jobs/j1/out.safetensors", t, "fp");
      const stat = await statOrUndefined(store, "jobs/j1/out.safetensors");
      assert.equal(stat?.bytes, ref.bytes);
      assert.equal(stat?.uri, ref.uri);
      assert.equal(await statOrUndefined(store, "jobs/j1/none.safetensors"), undefined);
    } finally {
      removeTempDir(dir);
    }
  });

  it("traces reads as `fetch latents` (field, URI, bytes, sha256_ok) and writes as `store latents`, below the task's span", async () => {
    const dir = makeTempDir("stage-latents");
    const memory = new InMemorySpanExporter();
    const telemetry = await initTelemetry({ serviceName: "stage-test", spanExporters: [memory] });
    try {
      const store = new FsBlobStore(dir);
      const t = new Tensor("float32", Float32Array.from([1, 2, 3, 4]), [1, 1, 4, 1, 1]);
      const task = trace.getTracer("test").startSpan("process longshot.tasks.decode");
      await context.with(trace.setSpan(context.active(), task), async () => {
        const ref = protoLatentRef(await putLatent(store, "jobs/j1/in.safetensors", t, "fp"));
        await readLatent(store, ref, "task.decode.latents");
        const file = path.join(dir, "jobs/j1/in.safetensors");
        const bytes = await readFile(file);
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
        await writeFile(file, bytes);
        await assert.rejects(readLatent(store, ref, "task.decode.latents"), IntegrityError);
        await assert.rejects(
          readLatent(store, { ...ref, uri: store.uriFor("jobs/j1/gone.safetensors") }, "task.decode.latents"),
          NotFoundError,
        );
      });
      task.end();
      const spans = memory.getFinishedSpans().filter((s) => s.name !== "process longshot.tasks.decode");
      assert.deepEqual(
        spans.map((s) => s.name),
        ["store latents", "fetch latents", "fetch latents", "fetch latents"],
      );
      assert.ok(spans.every((s) => s.parentSpanContext?.spanId === task.spanContext().spanId));
      const [stored, fetched, corrupt, missing] = spans as [ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan];
      const uri = store.uriFor("jobs/j1/in.safetensors");
      assert.equal(stored.attributes["longshot.latents.uri"], uri);
      assert.ok(Number(stored.attributes["longshot.latents.bytes"]) > 16);
      assert.deepEqual(fetched.attributes, {
        "longshot.latents.field": "task.decode.latents",
        "longshot.latents.uri": uri,
        "longshot.latents.bytes": stored.attributes["longshot.latents.bytes"],
        "longshot.latents.sha256_ok": true,
      });
      assert.equal(fetched.status.code, SpanStatusCode.UNSET);
      assert.equal(corrupt.attributes["longshot.latents.sha256_ok"], false);
      assert.equal(corrupt.status.code, SpanStatusCode.ERROR);
      assert.equal(corrupt.attributes["error.type"], "IntegrityError");
      assert.match(corrupt.status.message ?? "", /^task\.decode\.latents: .*content does not match its ref/);
      assert.equal(missing.attributes["longshot.latents.sha256_ok"], undefined, "nothing was read to check");
      assert.equal(missing.status.code, SpanStatusCode.ERROR);
      assert.equal(missing.attributes["error.type"], "NotFoundError");
    } finally {
      await telemetry.shutdown();
      removeTempDir(dir);
    }
  });
});
