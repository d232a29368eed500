/**
 * Keyframe previews without the VAE decoder (a "latent2rgb" preview, as ComfyUI and AUTOMATIC1111 draw while they
 * sample): each latent pixel's colour is the pack's linear map `latent.previewRgb` (RGB in [0, 1] = weights · latent
 * + bias, on the model-space latents the UNets produce), and each keyframe is scaled up to the video's size. The
 * keyframes sit side by side in one PNG: what `longshot generate` writes as keyframes.png and the HTTP API serves as
 * `?variant=spritesheet`.
 */
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import type { Tensor } from "@longshot/tensor";
import { encodePng, type RgbImage } from "./png.js";

/** pack.json `latent.previewRgb`: 3 rows (R, G, B) of one weight per latent channel, and 3 biases. */
export interface PreviewRgb {
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
}

/** What the renderer reads of pack.json `latent` (a LatentSpec of @longshot/pack fits). */
export interface PreviewLatentSpec {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Video pixels per latent pixel, along each axis. */
  readonly downsample: number;
  readonly previewRgb?: PreviewRgb | undefined;
}

export interface KeyframePreviewOptions {
  /** Which item of the batch axis to draw (default 0). */
  batch?: number;
}

/** The pack declares no `latent.previewRgb`, so its latents cannot be previewed without the VAE. */
export class NoPreviewMapError extends LongshotError {
  constructor() {
    super(
      "the pack declares no latent.previewRgb (a pack exported before keyframe previews); " +
        "re-export it (python -m longshot_models.export --manifest-only adds it) to get keyframe previews",
      { code: "FAILED_PRECONDITION" },
    );
    this.name = "NoPreviewMapError";
  }
}

/**
 * The keyframes of `latents` (`[B, C, F, h, w]`, layout BCFHW, model-space) as one RGB image: F frames of
 * `w·downsample × h·downsample` pixels side by side, left to right, each scaled up bilinearly from the colours of
 * its latent pixels.
 */
export function keyframePreviewImage(
  latents: Tensor<"float32">,
  latentSpec: PreviewLatentSpec,
  options: KeyframePreviewOptions = {},
): RgbImage {
  const map = latentSpec.previewRgb;
  if (map === undefined) throw new NoPreviewMapError();
  const [batches, channels, frames, h, w] = checkLatents(latents, latentSpec, map);
  const batch = options.batch ?? 0;
  if (!Number.isSafeInteger(batch) || batch < 0 || batch >= batches) {
    throw new InvalidArgumentError("batch", `must be an integer in [0, ${batches - 1}], got ${batch}`);
  }
  const ds = latentSpec.downsample;
  const fw = w * ds;
  const fh = h * ds;
  const width = fw * frames;
  const data = new Uint8Array(width * fh * 3);
  const plane = h * w;
  const rgb = new Float64Array(plane * 3);
  const src = latents.data;
  for (let f = 0; f < frames; f++) {
    // Colours of the latent pixels of frame f, clamped to [0, 1].
    for (let p = 0; p < plane; p++) {
      for (let r = 0; r < 3; r++) {
        const row = map.weights[r] as readonly number[];
        let v = map.bias[r] as number;
        for (let c = 0; c < channels; c++) {
          v += (row[c] as number) * (src[((batch * channels + c) * frames + f) * plane + p] as number);
        }
        rgb[p * 3 + r] = Math.min(1, Math.max(0, v));
      }
    }
    // Bilinear, pixel centres aligned (PyTorch's align_corners=False), edges held.
    for (let y = 0; y < fh; y++) {
      const [y0, y1, ty] = taps((y + 0.5) / ds - 0.5, h);
      for (let x = 0; x < fw; x++) {
        const [x0, x1, tx] = taps((x + 0.5) / ds - 0.5, w);
        const out = (y * width + f * fw + x) * 3;
        for (let r = 0; r < 3; r++) {
          const a = rgb[(y0 * w + x0) * 3 + r] as number;
          const b = rgb[(y0 * w + x1) * 3 + r] as number;
          const c = rgb[(y1 * w + x0) * 3 + r] as number;
          const d = rgb[(y1 * w + x1) * 3 + r] as number;
          const v = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
          data[out + r] = Math.round(v * 255);
        }
      }
    }
  }
  return { data, width, height: fh };
}

/** {@link keyframePreviewImage} encoded as an 8-bit RGB PNG. */
export function keyframePreviewPng(
  latents: Tensor<"float32">,
  latentSpec: PreviewLatentSpec,
  options: KeyframePreviewOptions = {},
): Buffer {
  return encodePng(keyframePreviewImage(latents, latentSpec, options));
}

/** The two source indices and the weight of the second, for a source coordinate `s` on an axis of `n`. */
function taps(s: number, n: number): [number, number, number] {
  if (s <= 0) return [0, 0, 0];
  if (s >= n - 1) return [n - 1, n - 1, 0];
  const i = Math.floor(s);
  return [i, i + 1, s - i];
}

function checkLatents(
  latents: Tensor<"float32">,
  spec: PreviewLatentSpec,
  map: PreviewRgb,
): [number, number, number, number, number] {
  if (latents.dtype !== "float32" || !(latents.data instanceof Float32Array)) {
    throw new InvalidArgumentError("latents", `must be float32, got ${latents.dtype}`);
  }
  const dims = latents.dims;
  const shape = `[${dims.join(", ")}]`;
  if (dims.length !== 5) throw new InvalidArgumentError("latents", `must be [B, C, F, H, W] (BCFHW), got ${shape}`);
  const [b, c, f, h, w] = dims as [number, number, number, number, number];
  if (b < 1 || f < 1) throw new InvalidArgumentError("latents", `holds no frame: ${shape}`);
  if (c !== spec.channels || h !== spec.height || w !== spec.width) {
    throw new InvalidArgumentError(
      "latents",
      `shape ${shape} does not match the pack's latents [B, ${spec.channels}, F, ${spec.height}, ${spec.width}]`,
    );
  }
  if (!Number.isSafeInteger(spec.downsample) || spec.downsample < 1) {
    throw new InvalidArgumentError("latentSpec.downsample", `must be an integer >= 1, got ${spec.downsample}`);
  }
  if (map.weights.length !== 3 || map.weights.some((row) => row.length !== c) || map.bias.length !== 3) {
    throw new InvalidArgumentError(
      "latentSpec.previewRgb",
      `must hold 3 rows of ${c} weights and 3 biases, got ${map.weights.length} rows (${map.weights
        .map((row) => row.length)
        .join(", ")} weights) and ${map.bias.length} biases`,
    );
  }
  return [b, c, f, h, w];
}
