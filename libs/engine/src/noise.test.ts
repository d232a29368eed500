import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { philox4x32, randn, randnAt, randnFrames, seedKey, streamWords } from "./noise.js";

describe("philox4x32", () => {
  // Random123 tests/kat_vectors, the three "philox4x32 10" lines (counter, key, expected output).
  const kat: [number[], number[], number[]][] = [
    [
      [0, 0, 0, 0],
      [0, 0],
      [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ],
  ];
  for (const [ctr, key, expected] of kat) {
    it(`matches the Random123 known answer for counter ${ctr.map((w) => w.toString(16)).join(" ")}`, () => {
      assert.deepEqual(Array.from(philox4x32(ctr, key)), expected);
    });
  }

  it("matches the Random123 philox4x32 7-round known answer (round count and key schedule)", () => {
    // kat_vectors: philox4x32 7 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0 -> 4dfccaba 190a87f0 c47362ba b6b5242a
    const out = philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 7);
    assert.deepEqual(Array.from(out), [0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a]);
  });

  it("rejects malformed counters and keys", () => {
    assert.throws(() => philox4x32([0, 0, 0], [0, 0]), { name: "InvalidArgumentError", field: "counter" });
    assert.throws(() => philox4x32([0, 0, 0, -1], [0, 0]), { name: "InvalidArgumentError", field: "counter" });
    assert.throws(() => philox4x32([0, 0, 0, 0], [0, 2 ** 32]), { name: "InvalidArgumentError", field: "key" });
  });
});

describe("seeds and streams", () => {
  it("splits a 64-bit seed into key words, low word first", () => {
    assert.deepEqual(seedKey(0), [0, 0]);
    assert.deepEqual(seedKey(2 ** 32 + 5), [5, 1]);
    assert.deepEqual(seedKey((1n << 64n) - 1n), [0xffffffff, 0xffffffff]);
    assert.deepEqual(seedKey(123456789), seedKey(123456789n));
  });

  it("rejects seeds that are not integers in [0, 2^64)", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, -1n, 1n << 64n]) {
      assert.throws(
        () => seedKey(bad),
        (e: unknown) => e instanceof InvalidArgumentError && e.field === "seed",
      );
    }
    assert.throws(() => seedKey("7" as unknown as number), { name: "InvalidArgumentError", field: "seed" });
  });

  it("derives stream words from SHA-256 of the name", () => {
    // sha256("") = e3b0c442 98fc1c14 ...: little-endian words 0x42c4b0e3, 0x141cfc98
    assert.deepEqual(streamWords(""), [0x42c4b0e3, 0x141cfc98]);
    assert.notDeepEqual(streamWords("keyframes"), streamWords("interp-1/window-3"));
  });
});

describe("randn", () => {
  it("is deterministic and returns a float32 tensor of the requested dims", () => {
    const a = randn(42, [2, 3, 4], { stream: "keyframes" });
    const b = randn(42n, [2, 3, 4], { stream: "keyframes" });
    assert.equal(a.dtype, "float32");
    assert.deepEqual(a.dims, [2, 3, 4]);
    assert.equal(a.data.length, 24);
    assert.deepEqual(a.data, b.data);
  });

  it("gives different numbers for different streams and seeds", () => {
    const base = randn(42, [64], { stream: "keyframes" }).data;
    const otherStream = randn(42, [64], { stream: "interp-1/window-3" }).data;
    const otherSeed = randn(43, [64], { stream: "keyframes" }).data;
    const defaultStream = randn(42, [64]).data;
    for (const other of [otherStream, otherSeed, defaultStream]) {
      let equal = 0;
      for (let i = 0; i < 64; i++) if (base[i] === other[i]) equal++;
      assert.equal(equal, 0);
    }
  });

  it("has standard-normal moments over 1e6 samples", () => {
    const { data } = randn(2024, [1_000_000], { stream: "moments" });
    let sum = 0;
    let sumSq = 0;
    let sum4 = 0;
    let within1 = 0;
    for (const v of data) {
      sum += v;
      sumSq += v * v;
      sum4 += v ** 4;
      if (Math.abs(v) < 1) within1++;
    }
    const n = data.length;
    const mean = sum / n;
    const std = Math.sqrt(sumSq / n - mean * mean);
    // Standard errors: mean 1e-3, std 7e-4, kurtosis ~2.5e-3 * 3, P(|z|<1) 4.7e-4. Bounds are ~5 sigma.
    assert.ok(Math.abs(mean) < 5e-3, `mean ${mean}`);
    assert.ok(Math.abs(std - 1) < 4e-3, `std ${std}`);
    assert.ok(Math.abs(sum4 / n - 3) < 0.04, `fourth moment ${sum4 / n}`);
    assert.ok(Math.abs(within1 / n - 0.682689) < 2.5e-3, `P(|z| < 1) = ${within1 / n}`);
  });

  it("has no correlation between neighbouring elements (lanes and blocks)", () => {
    const { data } = randn(9, [400_000], { stream: "corr" });
    for (const lag of [1, 2, 3, 4, 5]) {
      let s = 0;
      for (let i = 0; i + lag < data.length; i++) s += (data[i] as number) * (data[i + lag] as number);
      const corr = s / (data.length - lag);
      assert.ok(Math.abs(corr) < 8e-3, `lag ${lag} correlation ${corr}`);
    }
  });

  it("rejects bad dims", () => {
    assert.throws(() => randn(1, [2, -1]), { name: "InvalidArgumentError", field: "dims" });
    assert.throws(() => randn(1, [2.5]), { name: "InvalidArgumentError", field: "dims" });
  });
});

describe("randnAt", () => {
  it("equals the corresponding slice of the whole tensor for any offset and length", () => {
    const full = randn(77, [257], { stream: "s" }).data;
    for (const [offset, count] of [
      [0, 0],
      [0, 1],
      [1, 3],
      [3, 1],
      [3, 6],
      [4, 4],
      [5, 7],
      [100, 157],
      [256, 1],
    ] as const) {
      assert.deepEqual(
        randnAt(77, "s", offset, count),
        full.subarray(offset, offset + count),
        `[${offset}, +${count})`,
      );
    }
  });

  it("reaches far offsets without generating the prefix", () => {
    const t0 = performance.now();
    const far = randnAt(5, "x", 2 ** 50 + 3, 8);
    assert.ok(performance.now() - t0 < 50);
    assert.deepEqual(randnAt(5, "x", 2 ** 50 + 5, 4), far.subarray(2, 6));
  });

  it("rejects bad offsets and counts", () => {
    assert.throws(() => randnAt(1, "", -1, 2), { name: "InvalidArgumentError", field: "offset" });
    assert.throws(() => randnAt(1, "", 0.5, 2), { name: "InvalidArgumentError", field: "offset" });
    assert.throws(() => randnAt(1, "", 0, -2), { name: "InvalidArgumentError", field: "count" });
    assert.throws(() => randnAt(1, "", Number.MAX_SAFE_INTEGER, 2), { name: "InvalidArgumentError", field: "offset" });
  });
});

describe("randnFrames", () => {
  const dims = [2, 4, 17, 3, 5] as const; // [B, C, F, H, W]: odd sizes so windows straddle Philox blocks

  function sliceFrames(full: Float32Array, a: number, b: number): Float32Array {
    const [B, C, F, H, W] = dims;
    const out: number[] = [];
    for (let bi = 0; bi < B; bi++)
      for (let c = 0; c < C; c++)
        for (let f = a; f < b; f++)
          for (let p = 0; p < H * W; p++) out.push(full[((bi * C + c) * F + f) * H * W + p] as number);
    return Float32Array.from(out);
  }

  it("returns exactly the frames of the whole-sequence noise", () => {
    const full = randn(31337n, dims, { stream: "interp-1" }).data;
    for (const [a, b] of [
      [0, 17],
      [0, 1],
      [0, 5],
      [4, 9],
      [8, 13],
      [16, 17],
      [3, 14],
    ] as const) {
      const win = randnFrames(31337n, "interp-1", dims, a, b);
      assert.deepEqual(win.dims, [2, 4, b - a, 3, 5]);
      assert.deepEqual(win.data, sliceFrames(full, a, b), `frames [${a}, ${b})`);
    }
  });

  it("overlapping windows agree on the frames they share", () => {
    const w1 = randnFrames(1, "w", dims, 0, 9).data;
    const w2 = randnFrames(1, "w", dims, 4, 13).data;
    const frame = 3 * 5;
    // frame 6 of batch 0, channel 0: index 6 in w1, index 2 in w2
    assert.deepEqual(w1.subarray(6 * frame, 7 * frame), w2.subarray(2 * frame, 3 * frame));
  });

  it("rejects bad windows and shapes", () => {
    assert.throws(() => randnFrames(1, "w", dims, 5, 5), { name: "InvalidArgumentError", field: "frames" });
    assert.throws(() => randnFrames(1, "w", dims, 9, 4), { name: "InvalidArgumentError", field: "frames" });
    assert.throws(() => randnFrames(1, "w", dims, 0, 18), { name: "InvalidArgumentError", field: "frames" });
    assert.throws(() => randnFrames(1, "w", dims, -1, 3), { name: "InvalidArgumentError", field: "frames" });
    assert.throws(() => randnFrames(1, "w", [4, 17, 3, 5], 0, 3), { name: "InvalidArgumentError", field: "dims" });
  });
});

describe("noise recipe matches the independent Python implementation", () => {
  interface NoiseCase {
    seed: string;
    stream: string;
    offset: number;
    count: number;
    streamWords: number[];
    firstBlockWords: number[];
    values: number[];
  }
  const goldens = JSON.parse(readFileSync(new URL("../reference/noise-goldens.json", import.meta.url), "utf8")) as {
    cases: NoiseCase[];
    moments: { seed: string; stream: string; count: number; mean: number; std: number };
  };

  for (const c of goldens.cases) {
    it(`seed ${c.seed}, stream ${JSON.stringify(c.stream)}, offset ${c.offset}`, () => {
      const seed = BigInt(c.seed);
      assert.deepEqual(streamWords(c.stream), c.streamWords);
      const [k0, k1] = seedKey(seed);
      const block = Math.floor(c.offset / 4);
      const words = philox4x32([block >>> 0, Math.floor(block / 2 ** 32), ...c.streamWords], [k0, k1]);
      assert.deepEqual(Array.from(words), c.firstBlockWords);
      // Same float32 values; the float64 log/cos/sin of V8 and of the C library may differ in the last
      // bit, which can flip a float32 rounding: allow one float32 ulp.
      const got = randnAt(seed, c.stream, c.offset, c.count);
      c.values.forEach((v, i) => {
        const ulp = 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23);
        assert.ok(Math.abs((got[i] as number) - v) <= ulp, `value ${i}: ${got[i]} vs ${v}`);
      });
    });
  }

  it("same moments over the first 200k samples", () => {
    const m = goldens.moments;
    const data = randnAt(BigInt(m.seed), m.stream, 0, m.count);
    let sum = 0;
    for (const v of data) sum += v;
    const mean = sum / data.length;
    let sq = 0;
    for (const v of data) sq += (v - mean) ** 2;
    assert.ok(Math.abs(mean - m.mean) < 1e-9, `mean ${mean} vs ${m.mean}`);
    assert.ok(Math.abs(Math.sqrt(sq / data.length) - m.std) < 1e-9);
  });
});
