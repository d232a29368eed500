import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "@longshot/core";
import { Tensor } from "@longshot/tensor";
import {
  keyframePreviewImage,
  keyframePreviewPng,
  NoPreviewMapError,
  type PreviewLatentSpec,
  type PreviewRgb,
} from "./keyframe-preview.js";
import { decodePng } from "./png.js";

/** R reads channel 0, G channel 1, B channel 2 (times 0.5, plus 0.5); channel 3 adds to all three. */
const MAP: PreviewRgb = {
  weights: [
    [0.5, 0, 0, 0.1],
    [0, 0.5, 0, 0.1],
    [0, 0, 0.5, 0.1],
  ],
  bias: [0.5, 0.5, 0.5],
};
const SPEC: PreviewLatentSpec = { channels: 4, height: 4, width: 6, downsample: 4, previewRgb: MAP };

/** [B, 4, F, 4, 6] latents: every pixel of frame f of batch b holds the latent vector `at(b, f, x)`. */
function latents(
  batches: number,
  frames: number,
  at: (b: number, f: number, x: number) => number[],
): Tensor<"float32"> {
  const { channels: c, height: h, width: w } = SPEC;
  const data = new Float32Array(batches * c * frames * h * w);
  for (let b = 0; b < batches; b++)
    for (let f = 0; f < frames; f++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const v = at(b, f, x);
          for (let ch = 0; ch < c; ch++) data[(((b * c + ch) * frames + f) * h + y) * w + x] = v[ch] as number;
        }
  return new Tensor("float32", data, [batches, c, frames, h, w]);
}

/** The colour the map gives a latent vector, as bytes. */
const colour = (v: number[]) =>
  [0, 1, 2].map((r) => {
    const row = MAP.weights[r] as number[];
    const x = row.reduce((s, wgt, c) => s + wgt * (v[c] as number), MAP.bias[r] as number);
    return Math.round(Math.min(1, Math.max(0, x)) * 255);
  });

const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number) => [
  ...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3),
];

describe("keyframePreviewPng", () => {
  test("draws each keyframe's latent colour over its whole frame, frames side by side at the video's size", () => {
    const perFrame = [
      [0.7, -0.6, -0.6, 0],
      [-0.6, 0.6, -0.4, 0.2],
      [-0.5, -0.3, 0.9, -0.1],
    ];
    const png = keyframePreviewPng(
      latents(1, 3, (_b, f) => perFrame[f] as number[]),
      SPEC,
    );
    const img = decodePng(png);
    assert.equal(img.width, 3 * 6 * 4);
    assert.equal(img.height, 4 * 4);
    for (let f = 0; f < 3; f++) {
      const want = colour(perFrame[f] as number[]);
      for (let y = 0; y < img.height; y++)
        for (let x = f * 24; x < (f + 1) * 24; x++) assert.deepEqual(pixel(img, x, y), want, `frame ${f} at ${x},${y}`);
    }
  });

  test("clamps colours to [0, 1] and picks the asked batch item", () => {
    const img = keyframePreviewImage(
      latents(2, 1, (b) => (b === 0 ? [5, -5, 0, 0] : [0, 0, 0, 0])),
      SPEC,
      { batch: 0 },
    );
    assert.deepEqual(pixel(img, 3, 3), [255, 0, 128]);
    assert.deepEqual(
      pixel(
        keyframePreviewImage(
          latents(2, 1, (b) => (b === 0 ? [5, -5, 0, 0] : [0, 0, 0, 0])),
          SPEC,
          { batch: 1 },
        ),
        3,
        3,
      ),
      [128, 128, 128],
    );
  });

  test("scales up bilinearly: flat inside each half, a ramp across the edge between two latent pixels", () => {
    // Latent columns 0-2 give black (0, 0, 0), columns 3-5 white (1, 1, 1).
    const img = keyframePreviewImage(
      latents(1, 1, (_b, _f, x) => (x < 3 ? [-1, -1, -1, 0] : [1, 1, 1, 0])),
      SPEC,
    );
    assert.deepEqual(pixel(img, 0, 0), [0, 0, 0]);
    assert.deepEqual(pixel(img, 9, 5), [0, 0, 0]); // centre of latent column 2 is at x = 10
    assert.deepEqual(pixel(img, 14, 5), [255, 255, 255]); // centre of latent column 3 is at x = 14
    assert.deepEqual(pixel(img, 23, 15), [255, 255, 255]);
    // Output pixel x samples latent column (x + 0.5) / 4 - 0.5: x = 10 is 1/8 of the way from column 2 to 3.
    const across = [10, 11, 12, 13, 14].map((x) => pixel(img, x, 7)[0]);
    assert.deepEqual(
      across,
      [0.125, 0.375, 0.625, 0.875, 1].map((t) => Math.round(t * 255)),
    );
  });

  test("with the bundled pack's map, a zero latent is the map's bias colour", async () => {
    const manifest = JSON.parse(
      await readFile(new URL("../../../models/packs/shapes-mini/pack.json", import.meta.url), "utf8"),
    );
    const spec: PreviewLatentSpec = manifest.latent;
    assert.ok(spec.previewRgb, "the bundled pack declares latent.previewRgb");
    const t = new Tensor("float32", new Float32Array(5 * spec.channels * spec.height * spec.width), [
      1,
      spec.channels,
      5,
      spec.height,
      spec.width,
    ]);
    const img = decodePng(keyframePreviewPng(t, spec));
    assert.equal(img.width, 5 * manifest.video.width);
    assert.equal(img.height, manifest.video.height);
    const want = spec.previewRgb.bias.map((b) => Math.round(Math.min(1, Math.max(0, b)) * 255));
    assert.deepEqual(pixel(img, 0, 0), want);
    assert.deepEqual(pixel(img, img.width - 1, img.height - 1), want);
  });

  test("names what is wrong with its inputs", () => {
    const ok = latents(1, 2, () => [0, 0, 0, 0]);
    assert.throws(() => keyframePreviewPng(ok, { ...SPEC, previewRgb: undefined }), NoPreviewMapError);
    assert.throws(() => keyframePreviewPng(ok, { ...SPEC, previewRgb: undefined }), /latent\.previewRgb/);
    const flat = new Tensor("float32", new Float32Array(4 * 4 * 6), [4, 4, 6]);
    assert.throws(
      () => keyframePreviewPng(flat, SPEC),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /latents: must be \[B, C, F, H, W\] \(BCFHW\), got \[4, 4, 6\]/.test(e.message),
    );
    assert.throws(
      () => keyframePreviewPng(ok, { ...SPEC, channels: 3 }),
      /latents: shape \[1, 4, 2, 4, 6\] does not match the pack's latents \[B, 3, F, 4, 6\]/,
    );
    assert.throws(
      () =>
        keyframePreviewPng(ok, {
          ...SPEC,
          previewRgb: {
            weights: [
              [1, 2, 3],
              [1, 2, 3, 4],
              [1, 2, 3, 4],
            ],
            bias: [0, 0, 0],
          },
        }),
      /latentSpec\.previewRgb: must hold 3 rows of 4 weights and 3 biases, got 3 rows \(3, 4, 4 weights\)/,
    );
    assert.throws(() => keyframePreviewPng(ok, SPEC, { batch: 1 }), /batch: must be an integer in \[0, 0\], got 1/);
  });
});
