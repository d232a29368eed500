import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  CancelledError,
  ConfigError,
  IntegrityError,
  InvalidArgumentError,
  LongshotError,
  UnavailableError,
} from "@longshot/core";
import { loadPack, type Pack } from "@longshot/pack";
import { Tensor } from "@longshot/tensor";
import type { TensorLike } from "./contract-check.js";
import {
  copyTinyPack,
  editManifest,
  LATENT,
  maxAbsDiff,
  randomFloats,
  refInterpolationUnet,
  refKeyframeUnet,
  refTextEncoder,
  refVaeDecoder,
  TINY_PACK,
} from "./fixture-support.js";
import { createModelRuntime, type ModelRuntime } from "./runtime.js";

const f32 = (dims: number[], seed = 1): TensorLike<"float32"> => ({
  dtype: "float32",
  dims,
  data: randomFloats(
    dims.reduce((a, b) => a * b, 1),
    seed,
  ),
});

function invalidArg(field: string, message: string | RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.equal(err.code, "INVALID_ARGUMENT");
    if (typeof message === "string") assert.equal(err.message, `${field}: ${message}`);
    else assert.match(err.message, message);
    return true;
  };
}

describe("model runtime on the CPU execution provider", () => {
  let pack: Pack;
  let rt: ModelRuntime;

  before(async () => {
    pack = await loadPack(TINY_PACK);
    rt = createModelRuntime({ threads: 1 });
  });
  after(async () => {
    await rt.close();
  });

  it("decodes latents like the JS reference (vaeDecoder) and returns transferred tensors", async () => {
    const vae = await rt.load(pack, "vaeDecoder");
    assert.equal(vae.name, "vaeDecoder");
    assert.equal(vae.pack, "tiny-pack@1.0.0");
    assert.deepEqual(vae.inputNames, ["latent"]);
    assert.deepEqual(vae.outputNames, ["image"]);
    assert.deepEqual(vae.contract.outputs[0]?.shape, ["batch", 3, 16, 16]);
    const latent = f32([2, LATENT.c, LATENT.h, LATENT.w], 7);
    const { image } = await vae.run({ latent });
    assert.ok(image instanceof Tensor);
    assert.equal(image.dtype, "float32");
    assert.deepEqual(image.dims, [2, 3, 16, 16]);
    assert.ok(maxAbsDiff(image.data as Float32Array, refVaeDecoder(latent.data, 2)) < 1e-5);
    assert.equal(image.data.buffer.byteLength, image.data.byteLength, "output owns its buffer");
    assert.equal(latent.data.length, 2 * 64, "the caller's input is not detached");
    await vae.release();
  });

  it("encodes tokens like the JS reference (textEncoder, int64 inputs)", async () => {
    const enc = await rt.load(pack, "textEncoder");
    const ids = new BigInt64Array([2n, 3n, 6n, 0n, 0n, 19n, 4n, 7n, 9n, 10n]);
    const mask = new BigInt64Array([1n, 1n, 1n, 0n, 0n, 1n, 1n, 1n, 1n, 1n]);
    const out = await enc.run({
      input_ids: { dtype: "int64", dims: [2, 5], data: ids },
      attention_mask: { dtype: "int64", dims: [2, 5], data: mask },
    });
    const hidden = out.last_hidden_state as Tensor;
    assert.deepEqual(hidden.dims, [2, 5, 8]);
    assert.deepEqual(Array.from(hidden.data as Float32Array), Array.from(refTextEncoder(ids, mask, 2, 5)));
    await enc.release();
  });

  it("runs the keyframe and interpolation UNets like the JS reference (dynamic batch, frames, tokens)", async () => {
    const kf = await rt.load(pack, "keyframeUnet");
    const sample = f32([2, 4, 5, 4, 4], 11);
    const timestep: TensorLike<"float32"> = { dtype: "float32", dims: [2], data: new Float32Array([981, 21]) };
    const ehs = f32([2, 3, 8], 12);
    const kfOut = (await kf.run({ sample, timestep, encoder_hidden_states: ehs })).noise_pred as Tensor<"float32">;
    assert.deepEqual(kfOut.dims, [2, 4, 5, 4, 4]);
    assert.ok(maxAbsDiff(kfOut.data, refKeyframeUnet(sample.data, timestep.data, ehs.data, 2)) < 1e-5);

    const interp = await rt.load(pack, "interpolationUnet");
    const s9 = f32([1, 9, 17, 4, 4], 13);
    const t1: TensorLike<"float32"> = { dtype: "float32", dims: [1], data: new Float32Array([500]) };
    const e1 = f32([1, 8, 8], 14);
    const stride: TensorLike<"float32"> = { dtype: "float32", dims: [1], data: new Float32Array([pack.strideFor(65)]) };
    const out = (await interp.run({ sample: s9, timestep: t1, encoder_hidden_states: e1, frame_stride: stride }))
      .noise_pred as Tensor<"float32">;
    assert.deepEqual(out.dims, [1, 4, 17, 4, 4]);
    assert.ok(
      maxAbsDiff(out.data, refInterpolationUnet(s9.data, t1.data, e1.data, stride.data, [1, 9, 17, 4, 4])) < 1e-5,
    );
    await Promise.all([kf.release(), interp.release()]);
  });

  it("passes float16 as raw IEEE half bits both ways", async () => {
    const half = await rt.load(pack, "halfIdentity");
    // 1, 2, -0.5, 65504 (max half), +inf, 2^-24 (smallest subnormal)
    const bits = new Uint16Array([0x3c00, 0x4000, 0xb800, 0x7bff, 0x7c00, 0x0001]);
    const out = await half.run({ x: { dtype: "float16", dims: [6], data: bits } });
    assert.equal(out.y16?.dtype, "float16");
    assert.ok(out.y16?.data instanceof Uint16Array);
    assert.deepEqual(Array.from(out.y16.data), Array.from(bits));
    assert.deepEqual(Array.from(out.y32?.data as Float32Array), [
      1,
      2,
      -0.5,
      65504,
      Number.POSITIVE_INFINITY,
      2 ** -24,
    ]);
    await half.release();
  });

  describe("input checks, before anything reaches the worker", () => {
    const ts = (n: number): TensorLike<"float32"> => ({ dtype: "float32", dims: [n], data: new Float32Array(n) });

    it("missing input: lists the expected inputs", async () => {
      const kf = await rt.load(pack, "keyframeUnet");
      await assert.rejects(
        kf.run({ sample: f32([1, 4, 5, 4, 4]), encoder_hidden_states: f32([1, 3, 8]) }),
        invalidArg(
          "keyframeUnet.timestep",
          "missing input; keyframeUnet expects inputs sample, timestep, encoder_hidden_states",
        ),
      );
      await kf.release();
    });

    it("unknown extra input", async () => {
      const vae = await rt.load(pack, "vaeDecoder");
      await assert.rejects(
        vae.run({ latent: f32([1, 4, 4, 4]), scale: ts(1) }),
        invalidArg("vaeDecoder.scale", "unknown input; vaeDecoder expects inputs latent"),
      );
      await vae.release();
    });

    it("wrong rank, wrong fixed dim, wrong dtype, wrong data array, wrong element count", async () => {
      const vae = await rt.load(pack, "vaeDecoder");
      await assert.rejects(
        vae.run({ latent: f32([4, 4, 4]) }),
        invalidArg(
          "vaeDecoder.latent",
          "expected float32 [batch, 4, 4, 4], got float32 [4, 4, 4]: rank must be 4, not 3",
        ),
      );
      await assert.rejects(
        vae.run({ latent: f32([1, 3, 4, 4]) }),
        invalidArg(
          "vaeDecoder.latent",
          "expected float32 [batch, 4, 4, 4], got float32 [1, 3, 4, 4]: dim 1 must be 4, not 3",
        ),
      );
      await assert.rejects(
        vae.run({ latent: { dtype: "int32", dims: [1, 4, 4, 4], data: new Int32Array(64) } }),
        invalidArg(
          "vaeDecoder.latent",
          "expected float32 [batch, 4, 4, 4], got int32 [1, 4, 4, 4]: dtype must be float32",
        ),
      );
      await assert.rejects(
        vae.run({
          latent: { dtype: "float32", dims: [1, 4, 4, 4], data: new Float64Array(64) } as unknown as TensorLike,
        }),
        invalidArg("vaeDecoder.latent", "a float32 tensor needs its data in a Float32Array, got Float64Array"),
      );
      await assert.rejects(
        vae.run({ latent: { dtype: "float32", dims: [1, 4, 4, 4], data: new Float32Array(63) } }),
        invalidArg("vaeDecoder.latent", "data has 63 elements but dims [1, 4, 4, 4] need 64"),
      );
      await assert.rejects(
        vae.run({ latent: { dtype: "bfloat16", dims: [1], data: new Uint16Array(1) } as unknown as TensorLike }),
        invalidArg(
          "vaeDecoder.latent",
          'expected a tensor with dtype one of float32,float16,int64,int32, got "bfloat16"',
        ),
      );
      await assert.rejects(
        vae.run({ latent: null } as unknown as Record<string, TensorLike>),
        invalidArg("vaeDecoder.latent", "expected a tensor {dtype, dims, data}, got null"),
      );
      await assert.rejects(
        vae.run([] as unknown as Record<string, TensorLike>),
        invalidArg("vaeDecoder", /^vaeDecoder: feeds must be an object/),
      );
      await vae.release();
    });

    it("the same dynamic axis must have one size across inputs", async () => {
      const kf = await rt.load(pack, "keyframeUnet");
      await assert.rejects(
        kf.run({ sample: f32([2, 4, 5, 4, 4]), timestep: ts(1), encoder_hidden_states: f32([2, 3, 8]) }),
        invalidArg(
          "keyframeUnet.timestep",
          'expected float32 [batch], got float32 [1]: dynamic axis "batch" (dim 0) is 1 here but 2 in input "sample"',
        ),
      );
      await assert.rejects(
        kf.run({ sample: f32([1, 4, 5, 4, 4]), timestep: ts(1), encoder_hidden_states: f32([1, 0, 8]) }),
        invalidArg("keyframeUnet.encoder_hidden_states", /dynamic axis "tokens" \(dim 1\) must be at least 1$/),
      );
      await kf.release();
    });
  });

  it("reports an onnxruntime failure in the worker as a LongshotError with graph name and original cause", async () => {
    const enc = await rt.load(pack, "textEncoder");
    const feeds = (id: bigint) => ({
      input_ids: { dtype: "int64" as const, dims: [1, 1], data: new BigInt64Array([id]) },
      attention_mask: { dtype: "int64" as const, dims: [1, 1], data: new BigInt64Array([1n]) },
    });
    await assert.rejects(enc.run(feeds(99n)), (err: unknown) => {
      assert.ok(err instanceof LongshotError);
      assert.equal(err.code, "INTERNAL");
      assert.match(
        err.message,
        /^graph textEncoder \(pack tiny-pack@1\.0\.0\): onnxruntime run failed: .*indices element out of data bounds/,
      );
      assert.ok(err.cause instanceof Error);
      assert.match(err.cause.message, /idx=99/);
      assert.match(err.cause.stack ?? "", /backend\.js/, "the worker-side stack survives the thread boundary");
      return true;
    });
    const ok = await enc.run(feeds(3n));
    assert.deepEqual(ok.last_hidden_state?.dims, [1, 1, 8], "the session still works after a failed run");
    await enc.release();
  });

  describe("cancellation", () => {
    it("an already-aborted signal rejects without running", async () => {
      const vae = await rt.load(pack, "vaeDecoder");
      const runs = rt.memoryInfo().workers[0]?.runs;
      await assert.rejects(vae.run({ latent: f32([1, 4, 4, 4]) }, { signal: AbortSignal.abort() }), CancelledError);
      assert.equal(rt.memoryInfo().workers[0]?.runs, runs);
      await vae.release();
    });

    it("a queued run is dropped before it starts; a running one rejects at once and its result is discarded", async () => {
      const stress = await rt.load(pack, "stressMatmul");
      const vae = await rt.load(pack, "vaeDecoder");
      const runsBefore = rt.memoryInfo().workers[0]?.runs ?? 0;
      const x = f32([2048, 512], 3);

      // A heavy run occupies the worker; a vae run queued behind it is aborted and must never execute.
      const heavy = stress.run({ x });
      const queuedAbort = new AbortController();
      const queued = vae.run({ latent: f32([1, 4, 4, 4]) }, { signal: queuedAbort.signal });
      queuedAbort.abort(new Error("client went away"));
      await assert.rejects(queued, (err: unknown) => {
        assert.ok(err instanceof CancelledError);
        assert.equal(err.message, "run cancelled: client went away");
        return true;
      });
      assert.deepEqual((await heavy).y?.dims, [2048, 512]);
      assert.equal(rt.memoryInfo().workers[0]?.runs, runsBefore + 1, "only the heavy run executed");

      // Abort a run while it is inside onnxruntime.
      const running = new AbortController();
      const started = performance.now();
      const inFlight = stress.run({ x }, { signal: running.signal });
      setTimeout(() => running.abort(), 20);
      await assert.rejects(inFlight, CancelledError);
      const rejectedAfter = performance.now() - started;
      // The worker is still busy with the abandoned run; the next run waits for it, then works.
      const latent = f32([1, 4, 4, 4], 5);
      const { image } = await vae.run({ latent });
      assert.ok(maxAbsDiff(image?.data as Float32Array, refVaeDecoder(latent.data, 1)) < 1e-5);
      const nextDoneAfter = performance.now() - started;
      assert.ok(
        rejectedAfter < nextDoneAfter,
        `cancel returned at ${rejectedAfter} ms, before the worker freed up at ${nextDoneAfter} ms`,
      );
      await Promise.all([stress.release(), vae.release()]);
    });
  });

  it("a released session refuses to run; release is idempotent", async () => {
    const count = () => rt.describe().sessions.filter((s) => s.graph === "vaeDecoder").length;
    const before = count();
    const vae = await rt.load(pack, "vaeDecoder");
    assert.equal(count(), before + 1);
    await vae.release();
    await vae.release();
    assert.equal(count(), before);
    await assert.rejects(vae.run({ latent: f32([1, 4, 4, 4]) }), (err: unknown) => {
      assert.ok(err instanceof LongshotError);
      assert.equal(err.code, "FAILED_PRECONDITION");
      assert.equal(err.message, "graph vaeDecoder (pack tiny-pack@1.0.0): session was released");
      return true;
    });
  });

  it("refuses an ONNX file whose inputs or outputs disagree with pack.json", async () => {
    const copy = await copyTinyPack();
    try {
      await editManifest(copy.dir, (m) => {
        m.graphs.stressMatmul.inputs[0].shape = ["rows", 256];
        m.graphs.halfIdentity.inputs[0].name = "z";
        m.graphs.vaeDecoder.inputs[0].shape = ["batch", 4, "height", 4];
      });
      const edited = await loadPack(copy.dir);
      const sessionsBefore = rt.describe().sessions.length;
      await assert.rejects(rt.load(edited, "stressMatmul"), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(
          err.message,
          'graph stressMatmul (pack tiny-pack@1.0.0): stress_matmul.onnx does not match pack.json:\n  model input "x" is float32 [rows, 512], pack.json says float32 [rows, 256]: dim 1 differs',
        );
        return true;
      });
      await assert.rejects(rt.load(edited, "halfIdentity"), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /pack\.json declares input "z" but the model has no such input \(model inputs: x\)/);
        assert.match(err.message, /the model has input "x", which pack\.json does not declare/);
        return true;
      });
      await assert.rejects(
        rt.load(edited, "vaeDecoder"),
        /dim 2 is the dynamic axis "height" in pack\.json but fixed to 4 in the model/,
      );
      assert.equal(rt.describe().sessions.length, sessionsBefore, "sessions that failed the check are released");
    } finally {
      await copy.dispose();
    }
  });

  it("re-verifies the bytes it hands to onnxruntime: a file changed after loadPack is refused", async () => {
    const copy = await copyTinyPack();
    try {
      const verified = await loadPack(copy.dir);
      const file = path.join(copy.dir, "vae_decoder.onnx");
      const bytes = await readFile(file);
      bytes[10] = (bytes[10] as number) ^ 0xff;
      await writeFile(file, bytes);
      await assert.rejects(rt.load(verified, "vaeDecoder"), (err: unknown) => {
        assert.ok(err instanceof IntegrityError);
        assert.match(
          err.message,
          /^graph vaeDecoder: .*vae_decoder\.onnx changed after the pack was verified: sha256 expected [0-9a-f]{64}, got [0-9a-f]{64}$/,
        );
        return true;
      });
    } finally {
      await copy.dispose();
    }
  });

  it("runs with spinning intra-op threads when asked (off by default)", async () => {
    const rt = createModelRuntime({ threads: 2, spinning: true });
    after(() => rt.close());
    const vae = await rt.load(pack, "vaeDecoder");
    const latent = f32([1, 4, 4, 4]);
    const { image } = await vae.run({ latent });
    assert.ok(maxAbsDiff(image?.data as Float32Array, refVaeDecoder(latent.data, 1)) < 1e-4);
    assert.equal(rt.describe().spinning, true);
  });

  it("describes itself and reports memory without waiting on workers", async () => {
    const rt = createModelRuntime({ threads: 1 });
    after(() => rt.close());
    const vae = await rt.load(pack, "vaeDecoder");
    await vae.run({ latent: f32([1, 4, 4, 4]) });
    const d = rt.describe();
    assert.equal(d.executionProvider, "cpu");
    assert.equal(d.deviceId, undefined);
    assert.equal(
      d.onnxruntimeVersion,
      (createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string }).version,
    );
    assert.equal(d.intraOpNumThreads, 1);
    assert.equal(d.spinning, false);
    assert.equal(d.maxWorkers, 1);
    assert.equal(d.workers, 1);
    assert.deepEqual(d.sessions, [{ graph: "vaeDecoder", pack: "tiny-pack@1.0.0", worker: 0 }]);
    const m = rt.memoryInfo();
    assert.ok(m.rss > 0 && m.heapUsed > 0);
    const w = m.workers[0];
    assert.ok(w);
    assert.equal(w.alive, true);
    assert.equal(w.busy, false);
    assert.deepEqual(w.sessions, ["vaeDecoder"]);
    assert.ok((w.memory?.heapUsed ?? 0) > 0 && (w.memory?.rss ?? 0) > 0);
    assert.ok(w.runs > 0 && w.runMsTotal > 0);
    assert.ok(!Number.isNaN(Date.parse(w.memorySampledAt ?? "")));
    await vae.release();
  });
});

describe("model runtime with several workers", () => {
  it("spreads sessions over workers and runs them concurrently", async () => {
    const pack = await loadPack(TINY_PACK);
    const rt = createModelRuntime({ workers: 2, threads: 1 });
    try {
      const [a, b] = await Promise.all([rt.load(pack, "vaeDecoder"), rt.load(pack, "keyframeUnet")]);
      assert.deepEqual(
        rt.describe().sessions.map((s) => [s.graph, s.worker]),
        [
          ["vaeDecoder", 0],
          ["keyframeUnet", 1],
        ],
      );
      const latent = f32([3, 4, 4, 4], 21);
      const sample = f32([1, 4, 5, 4, 4], 22);
      const timestep: TensorLike<"float32"> = { dtype: "float32", dims: [1], data: new Float32Array([10]) };
      const ehs = f32([1, 2, 8], 23);
      const [va, kb] = await Promise.all([
        a?.run({ latent }),
        b?.run({ sample, timestep, encoder_hidden_states: ehs }),
      ]);
      assert.ok(maxAbsDiff(va?.image?.data as Float32Array, refVaeDecoder(latent.data, 3)) < 1e-5);
      assert.ok(
        maxAbsDiff(kb?.noise_pred?.data as Float32Array, refKeyframeUnet(sample.data, timestep.data, ehs.data, 1)) <
          1e-5,
      );
      assert.deepEqual(
        rt.memoryInfo().workers.map((w) => w.runs),
        [1, 1],
      );
    } finally {
      await rt.close();
    }
  });
});

describe("closing the runtime", () => {
  it("rejects pending and later work with UnavailableError", async () => {
    const pack = await loadPack(TINY_PACK);
    const rt = createModelRuntime({ threads: 1 });
    const stress = await rt.load(pack, "stressMatmul");
    const pending = assert.rejects(
      stress.run({ x: f32([1024, 512]) }),
      (err: unknown) => err instanceof UnavailableError && err.message === "model runtime is closed",
    );
    const queued = assert.rejects(stress.run({ x: f32([8, 512]) }), UnavailableError);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(rt.memoryInfo().workers[0]?.busy, true);
    assert.equal(rt.memoryInfo().workers[0]?.queued, 1);
    await rt.close();
    await pending;
    await queued;
    await assert.rejects(stress.run({ x: f32([8, 512]) }), /its model worker is gone \(model runtime is closed\)/);
    await assert.rejects(rt.load(pack, "vaeDecoder"), UnavailableError);
    assert.deepEqual(rt.memoryInfo().workers, []);
    await rt.close();
  });
});

describe("execution provider and options", () => {
  const bin = path.join(
    path.dirname(createRequire(import.meta.url).resolve("onnxruntime-node")),
    "..",
    "bin",
    "napi-v6",
    process.platform,
    process.arch,
  );
  const cudaInstalled = existsSync(path.join(bin, "libonnxruntime_providers_cuda.so"));

  it("requesting CUDA where it cannot load fails loudly instead of falling back to CPU", {
    skip: cudaInstalled && "CUDA EP libraries are installed here",
  }, async () => {
    const pack = await loadPack(TINY_PACK);
    const rt = createModelRuntime({ executionProvider: "cuda" });
    try {
      assert.equal(rt.describe().executionProvider, "cuda");
      assert.equal(rt.describe().deviceId, 0);
      await assert.rejects(rt.load(pack, "vaeDecoder"), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.code, "FAILED_PRECONDITION");
        assert.match(
          err.message,
          /^graph vaeDecoder \(pack tiny-pack@1\.0\.0\): the CUDA execution provider was requested \(executionProvider "cuda", device 0\) but onnxruntime could not create the session with it; not falling back to CPU: .+/,
        );
        assert.ok(err.cause instanceof Error, "the onnxruntime error is kept as cause");
        return true;
      });
      assert.deepEqual(rt.describe().sessions, []);
    } finally {
      await rt.close();
    }
  });

  it("creates CUDA sessions where the CUDA EP is installed", {
    skip: !cudaInstalled && "no CUDA EP libraries in this onnxruntime-node install",
  }, async () => {
    const pack = await loadPack(TINY_PACK);
    const rt = createModelRuntime({ executionProvider: "cuda" });
    try {
      const vae = await rt.load(pack, "vaeDecoder");
      const latent = f32([1, 4, 4, 4], 9);
      const { image } = await vae.run({ latent });
      assert.ok(maxAbsDiff(image?.data as Float32Array, refVaeDecoder(latent.data, 1)) < 1e-4);
    } finally {
      await rt.close();
    }
  });

  it("validates its options", () => {
    assert.throws(
      () => createModelRuntime({ executionProvider: "tpu" as "cpu" }),
      /^ConfigError: executionProvider must be "cpu" or "cuda", got "tpu"$/,
    );
    assert.throws(() => createModelRuntime({ threads: 0 }), /threads must be an integer >= 1, got 0/);
    assert.throws(() => createModelRuntime({ workers: 1.5 }), /workers must be an integer >= 1, got 1\.5/);
    assert.throws(
      () => createModelRuntime({ deviceId: 1 }),
      /deviceId is only meaningful with executionProvider "cuda"/,
    );
    assert.throws(() => createModelRuntime({ executionProvider: "cuda", deviceId: -1 }), ConfigError);
    assert.throws(
      () => createModelRuntime({ spinning: "yes" as unknown as boolean }),
      /^ConfigError: spinning must be true or false, got "yes"$/,
    );
  });
});
