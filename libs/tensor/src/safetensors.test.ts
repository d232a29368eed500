import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IntegrityError, InvalidArgumentError } from "@longshot/core";
import { decodeSafetensors, decodeSafetensorsHeader, encodeSafetensors, MAX_HEADER_BYTES } from "./safetensors.js";
import { Tensor } from "./tensor.js";

const utf8 = new TextEncoder();

/** Builds a file from a raw header object (or string) and a data buffer, padding like the reference writer. */
function rawFile(header: unknown, data: Uint8Array | number, opts: { pad?: boolean } = {}): Uint8Array {
  const json = utf8.encode(typeof header === "string" ? header : JSON.stringify(header));
  const len = opts.pad === false ? json.length : Math.ceil(json.length / 8) * 8;
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + len + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.fill(0x20, 8, 8 + len);
  out.set(json, 8);
  out.set(body, 8 + len);
  return out;
}

function headerText(bytes: Uint8Array): string {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + n));
}

function assertIntegrity(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IntegrityError, `expected IntegrityError, got ${String(err)}`);
    assert.equal(err.code, "DATA_LOSS");
    assert.match(err.message, pattern);
    return true;
  });
}

describe("encodeSafetensors", () => {
  it("writes the reference layout: length, compact JSON with metadata first, space padding, sorted data", () => {
    const bytes = encodeSafetensors(
      {
        b: new Tensor("float32", new Float32Array([1, 2]), [2]),
        a: new Tensor("float16", new Uint16Array([0x3c00]), [1]),
        c: new Tensor("int64", new BigInt64Array([-5n]), []),
        d: new Tensor("int32", new Int32Array([7, 8, 9]), [3, 1]),
      },
      { format: "pt" },
    );
    const text = headerText(bytes);
    const n = text.length;
    assert.equal(n % 8, 0);
    assert.equal(
      text.trimEnd(),
      '{"__metadata__":{"format":"pt"},' +
        '"c":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
        '"d":{"dtype":"I32","shape":[3,1],"data_offsets":[16,28]},' +
        '"a":{"dtype":"F16","shape":[1],"data_offsets":[28,30]}}',
    );
    assert.match(text, /^[^ ]+ *$/);
    assert.equal(bytes.length, 8 + n + 30);
    const data = bytes.subarray(8 + n);
    assert.deepEqual([...data.subarray(8, 12)], [0, 0, 0x80, 0x3f]); // 1.0f little-endian
    assert.deepEqual([...data.subarray(28, 30)], [0x00, 0x3c]);
  });

  it("encodes an empty set as an 8-byte padded '{}'", () => {
    const bytes = encodeSafetensors({});
    assert.equal(bytes.length, 16);
    assert.equal(headerText(bytes), "{}      ");
    assert.deepEqual(decodeSafetensors(bytes), { tensors: {}, metadata: undefined });
  });

  it("rejects bad input with InvalidArgumentError naming it", () => {
    const t = Tensor.zeros([1]);
    assert.throws(() => encodeSafetensors({ __metadata__: t }), InvalidArgumentError);
    assert.throws(
      () => encodeSafetensors({ x: new Float32Array(1) as unknown as Tensor }),
      /tensors\.x: is not a Tensor/,
    );
    assert.throws(
      () => encodeSafetensors({ x: t }, { n: 1 as unknown as string }),
      /metadata\.n: must be a string, got number/,
    );
  });
});

describe("decodeSafetensors", () => {
  it("round-trips every dtype, shapes, metadata and odd names", () => {
    const tensors = {
      latent: new Tensor(
        "float32",
        Float32Array.from({ length: 24 }, (_, i) => i * 0.25 - 3),
        [1, 2, 3, 4],
      ),
      half: new Tensor("float16", new Uint16Array([0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x0001]), [5]),
      ids: new Tensor("int64", new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n]), [3]),
      mask: new Tensor("int32", new Int32Array([-1, 2 ** 31 - 1]), [1, 2]),
      empty: new Tensor("float32", new Float32Array(0), [0, 4]),
      scalar: new Tensor("float32", new Float32Array([Math.PI]), []),
      ["__proto__"]: new Tensor("int32", new Int32Array([42]), [1]),
      "ünïcödé/name.weight": new Tensor("float16", new Uint16Array([1, 2]), [2]),
    };
    const bytes = encodeSafetensors(tensors, { step: "3", ключ: "значение", ["__proto__"]: "x" });
    const decoded = decodeSafetensors(bytes);
    assert.deepEqual(Object.keys(decoded.tensors).sort(), Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const d = decoded.tensors[name];
      assert.ok(d instanceof Tensor, name);
      assert.equal(d.dtype, t.dtype, name);
      assert.deepEqual(d.dims, t.dims, name);
      assert.deepEqual(d.data, t.data, name);
    }
    assert.equal(Object.getPrototypeOf(decoded.tensors), Object.prototype);
    assert.deepEqual(Object.entries(decoded.metadata ?? {}).sort(), [
      ["__proto__", "x"],
      ["step", "3"],
      ["ключ", "значение"],
    ]);
  });

  it("does not alias the input buffer and accepts unaligned input views", () => {
    const bytes = encodeSafetensors({ x: new Tensor("float32", new Float32Array([1.5, -2]), [2]) });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const decoded = decodeSafetensors(view);
    view.fill(0);
    assert.deepEqual([...(decoded.tensors.x?.data ?? [])], [1.5, -2]);
  });

  it("accepts an unpadded header and any tensor order in the file", () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const file = rawFile(
      {
        second: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
        first: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      },
      data,
      { pad: false },
    );
    const { tensors } = decodeSafetensors(file);
    assert.deepEqual([...(tensors.first?.data ?? [])], [1, 2]);
    assert.deepEqual([...(tensors.second?.data ?? [])], [3]);
  });

  it("rejects a file shorter than the length prefix", () => {
    assertIntegrity(() => decodeSafetensors(new Uint8Array(5)), /5 bytes, shorter than the 8-byte header length/);
  });

  it("rejects a header length past the end of the file", () => {
    const file = encodeSafetensors({ x: Tensor.zeros([2]) });
    new DataView(file.buffer).setBigUint64(0, BigInt(file.length), true);
    assertIntegrity(() => decodeSafetensors(file), /header length \d+ runs past the end/);
  });

  it("rejects a header length over the limit", () => {
    const file = new Uint8Array(16);
    new DataView(file.buffer).setBigUint64(0, 2n ** 63n, true);
    assertIntegrity(() => decodeSafetensors(file), new RegExp(`exceeds the ${MAX_HEADER_BYTES}-byte limit`));
  });

  it("rejects headers that are not a UTF-8 JSON object", () => {
    assertIntegrity(() => decodeSafetensors(rawFile('["x"]', 0)), /does not start with '\{'/);
    assertIntegrity(() => decodeSafetensors(rawFile(" {}", 0)), /does not start with '\{'/);
    assertIntegrity(() => decodeSafetensors(rawFile('{"x": ', 0)), /not valid JSON/);
    const bad = rawFile('{"x":1}', 0);
    bad[10] = 0xff;
    assertIntegrity(() => decodeSafetensors(bad), /not valid UTF-8/);
  });

  it("rejects an unknown dtype naming the tensor", () => {
    const file = rawFile({ "model.w": { dtype: "BF16", shape: [2], data_offsets: [0, 4] } }, 4);
    assertIntegrity(() => decodeSafetensors(file), /tensor "model\.w": unsupported dtype "BF16"/);
  });

  it("rejects malformed tensor entries naming the tensor", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ t: [] }, /tensor "t": entry is not an object/],
      [{ t: { shape: [1], data_offsets: [0, 4] } }, /tensor "t": dtype is missing/],
      [{ t: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, /tensor "t": shape \[-1\] is not a list/],
      [{ t: { dtype: "F32", shape: [1.5], data_offsets: [0, 4] } }, /tensor "t": shape/],
      [{ t: { dtype: "F32", shape: [1], data_offsets: [0] } }, /tensor "t": data_offsets \[0\] is not a pair/],
      [{ t: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, /tensor "t": data_offsets \[4, 0\] end before/],
      [{ t: { dtype: "F32", shape: [1], data_offsets: [0, 4], extra: 1 } }, /tensor "t": unexpected field "extra"/],
      [{ __metadata__: { a: 1 }, t: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, /"a" is 1, not a string/],
      [{ __metadata__: "x" }, /"__metadata__" is not an object/],
    ];
    for (const [header, pattern] of cases) {
      assertIntegrity(() => decodeSafetensors(rawFile(header, 4)), pattern);
    }
  });

  it("rejects shape × dtype that does not match the byte span", () => {
    const file = rawFile({ latent: { dtype: "F16", shape: [2, 3], data_offsets: [0, 24] } }, 24);
    assertIntegrity(
      () => decodeSafetensors(file),
      /tensor "latent": shape \[2, 3\] × F16 needs 12 bytes but data_offsets \[0, 24\] span 24/,
    );
  });

  it("rejects offsets out of range", () => {
    const file = rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8);
    assertIntegrity(
      () => decodeSafetensors(file),
      /tensor "w": data_offsets \[0, 16\] run past the 8-byte data buffer/,
    );
  });

  it("rejects overlapping tensors", () => {
    const file = rawFile(
      {
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      },
      12,
    );
    assertIntegrity(() => decodeSafetensors(file), /tensor "b": data_offsets \[4, 12\] overlap tensor "a"/);
  });

  it("rejects gaps and trailing bytes (offsets not covering the buffer)", () => {
    const gap = rawFile(
      {
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
        b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
      },
      12,
    );
    assertIntegrity(() => decodeSafetensors(gap), /tensor "b": .* leave bytes 4\.\.8 of the data buffer unused/);
    const lead = rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8);
    assertIntegrity(() => decodeSafetensors(lead), /tensor "a": .* leave bytes 0\.\.4/);
    const trailing = rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 6);
    assertIntegrity(() => decodeSafetensors(trailing), /cover 4 bytes but the data buffer has 6/);
  });

  it("detects truncation of a real file", () => {
    const file = encodeSafetensors({ latent: Tensor.zeros([1, 4, 8, 8]) });
    assertIntegrity(() => decodeSafetensors(file.subarray(0, file.length - 1)), /tensor "latent".*run past/);
  });

  it("exposes the parsed header", () => {
    const file = encodeSafetensors({ x: Tensor.zeros([2, 2]) }, { k: "v" });
    const h = decodeSafetensorsHeader(file);
    assert.deepEqual(h.metadata, { k: "v" });
    assert.deepEqual(h.tensors, [{ name: "x", dtype: "F32", shape: [2, 2], data_offsets: [0, 16] }]);
    assert.equal(h.dataStart, file.length - 16);
  });
});
