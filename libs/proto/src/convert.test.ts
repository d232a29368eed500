import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import {
  dataTypeOf,
  dtypeOf,
  durationFromMs,
  durationToMs,
  modeFromName,
  samplerFromName,
  samplerName,
} from "./convert.js";
import { DataType, Mode, Sampler } from "./gen/longshot/v1/common.js";

describe("durations", () => {
  it("converts milliseconds both ways", () => {
    assert.deepEqual(durationFromMs(1500.25), { seconds: 1n, nanos: 500_250_000 });
    assert.deepEqual(durationFromMs(0), { seconds: 0n, nanos: 0 });
    assert.equal(durationToMs(durationFromMs(123_456.5)), 123_456.5);
  });

  it("rejects negative and non-finite values", () => {
    assert.throws(() => durationFromMs(-1), InvalidArgumentError);
    assert.throws(() => durationFromMs(Number.NaN), InvalidArgumentError);
    assert.throws(() => durationFromMs(Number.POSITIVE_INFINITY), InvalidArgumentError);
  });
});

describe("data types", () => {
  it("maps every tensor dtype both ways", () => {
    for (const dtype of ["float32", "float16", "int32", "int64"] as const)
      assert.equal(dtypeOf(dataTypeOf(dtype)), dtype);
  });

  it("names the field for an unset or unknown data type", () => {
    assert.throws(
      () => dtypeOf(DataType.DATA_TYPE_UNSPECIFIED, "task.interpolation.input_latents.dtype"),
      (err: unknown) => err instanceof InvalidArgumentError && err.field === "task.interpolation.input_latents.dtype",
    );
    assert.throws(() => dtypeOf(DataType.UNRECOGNIZED), InvalidArgumentError);
  });
});

describe("sampler and mode names", () => {
  it("reads CLI spellings, pack identifiers and enum names", () => {
    assert.equal(samplerFromName("ddim"), Sampler.SAMPLER_DDIM);
    assert.equal(samplerFromName("Euler"), Sampler.SAMPLER_EULER);
    assert.equal(samplerFromName("euler-a"), Sampler.SAMPLER_EULER_ANCESTRAL);
    assert.equal(samplerFromName("euler_ancestral"), Sampler.SAMPLER_EULER_ANCESTRAL);
    assert.equal(samplerFromName("dpm++2m"), Sampler.SAMPLER_DPMPP_2M);
    assert.equal(samplerFromName("dpmpp_2m"), Sampler.SAMPLER_DPMPP_2M);
    assert.equal(samplerFromName("SAMPLER_DDIM"), Sampler.SAMPLER_DDIM);
    assert.equal(samplerFromName("pndm"), undefined);
    assert.equal(samplerFromName(""), undefined);
  });

  it("names every sampler the way the CLI spells it, and reads the name back", () => {
    for (const s of [
      Sampler.SAMPLER_DDIM,
      Sampler.SAMPLER_EULER,
      Sampler.SAMPLER_EULER_ANCESTRAL,
      Sampler.SAMPLER_DPMPP_2M,
    ]) {
      assert.equal(samplerFromName(samplerName(s)), s);
    }
    assert.throws(() => samplerName(Sampler.SAMPLER_UNSPECIFIED), InvalidArgumentError);
  });

  it("reads modes", () => {
    assert.equal(modeFromName("pinned"), Mode.MODE_PINNED);
    assert.equal(modeFromName("SEED"), Mode.MODE_SEED);
    assert.equal(modeFromName("MODE_SEED"), Mode.MODE_SEED);
    assert.equal(modeFromName("blend"), undefined);
  });
});
