import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "@longshot/core";
import { PNG } from "pngjs";

/** An RGB image: `data` holds height * width * 3 bytes, row-major, channels last. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Encodes an RGB image as an 8-bit RGB PNG (colour type 2, no alpha). */
export function encodePng(image: RgbImage): Buffer {
  checkImage(image, "image");
  const png = new PNG({
    width: image.width,
    height: image.height,
    colorType: 2,
    inputColorType: 2,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

/** Decodes a PNG of any colour type to RGB (alpha, if any, is dropped). */
export function decodePng(bytes: Uint8Array, label = "PNG"): RgbImage {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new InvalidArgumentError(label, `not a readable PNG: ${(err as Error).message}`, { cause: err });
  }
  const { width, height } = png;
  const rgba = png.data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    data[i] = rgba[j] as number;
    data[i + 1] = rgba[j + 1] as number;
    data[i + 2] = rgba[j + 2] as number;
  }
  return { data, width, height };
}

export async function readPng(file: string): Promise<RgbImage> {
  return decodePng(await readFile(file), file);
}

export function checkImage(image: RgbImage, field: string): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new InvalidArgumentError(field, `width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array)) throw new InvalidArgumentError(field, "data must be a Uint8Array of RGB bytes");
  if (data.length !== width * height * 3) {
    throw new InvalidArgumentError(
      field,
      `holds ${data.length} bytes, expected ${width}*${height}*3 = ${width * height * 3} (RGB, row-major)`,
    );
  }
}
