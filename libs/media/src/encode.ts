/**
 * Writing a clip of RGB frames: PNG frames, an H.264 MP4 that browsers play, and a looping GIF.
 * Frames go to ffmpeg's stdin as rawvideo (rgb24); small frames are scaled up with nearest-neighbour so the
 * pixels stay sharp and the size is even (yuv420p needs even width and height).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { InvalidArgumentError } from "@longshot/core";
import { type FfmpegBinary, findFfmpeg, runFfmpeg } from "./ffmpeg.js";
import { checkImage, encodePng } from "./png.js";

/** A clip: `frames[i]` holds height * width * 3 RGB bytes. */
export interface RgbVideo {
  readonly frames: readonly Uint8Array[];
  readonly width: number;
  readonly height: number;
  /** Frames per second (> 0). */
  readonly fps: number;
}

export interface EncodeOptions {
  /** Integer nearest-neighbour upscale factor for MP4 and GIF (default {@link DEFAULT_SCALE}). */
  scale?: number;
  /** ffmpeg to use (default: {@link findFfmpeg}). */
  ffmpeg?: FfmpegBinary;
  signal?: AbortSignal;
}

export interface Mp4Options extends EncodeOptions {
  /** x264 constant rate factor, 0 (lossless) to 51 (default 18: visually lossless). */
  crf?: number;
  /** x264 preset (default "medium"). */
  preset?: string;
}

export interface GifOptions extends EncodeOptions {
  /** paletteuse dither (default "bayer": ordered, stable from frame to frame, no crawling noise). */
  dither?: "none" | "bayer" | "floyd_steinberg" | "sierra2_4a";
}

/** The default upscale: a 64x64 clip becomes a 256x256 video. */
export const DEFAULT_SCALE = 4;
const MAX_SCALE = 32;
const X264_PRESETS = [
  "ultrafast",
  "superfast",
  "veryfast",
  "faster",
  "fast",
  "medium",
  "slow",
  "slower",
  "veryslow",
] as const;
const GIF_DITHERS = ["none", "bayer", "floyd_steinberg", "sierra2_4a"] as const;

/** Checks a clip's shape; throws InvalidArgumentError naming what is wrong. */
export function checkVideo(video: RgbVideo): void {
  if (!Array.isArray(video.frames) || video.frames.length === 0) {
    throw new InvalidArgumentError("frames", "a video needs at least one frame");
  }
  if (!(Number.isFinite(video.fps) && video.fps > 0)) {
    throw new InvalidArgumentError("fps", `must be a positive number, got ${video.fps}`);
  }
  video.frames.forEach((data, i) => {
    checkImage({ data, width: video.width, height: video.height }, `frames[${i}]`);
  });
}

function scaleOf(options: EncodeOptions): number {
  const scale = options.scale ?? DEFAULT_SCALE;
  if (!Number.isInteger(scale) || scale < 1 || scale > MAX_SCALE) {
    throw new InvalidArgumentError("scale", `must be an integer from 1 to ${MAX_SCALE}, got ${scale}`);
  }
  return scale;
}

function rawInputArgs(video: RgbVideo): string[] {
  return [
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "-s",
    `${video.width}x${video.height}`,
    "-framerate",
    String(video.fps),
    "-i",
    "pipe:0",
  ];
}

/** Writes to a temporary name in the same folder, then renames, so a reader never sees a half-written file. */
async function atomically(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.partial`);
  try {
    await write(tmp);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Encodes an H.264 MP4 (yuv420p, BT.709 tagged, `+faststart` so browsers start playing before the end arrives).
 * Returns the size of the encoded video.
 */
export async function encodeMp4(
  file: string,
  video: RgbVideo,
  options: Mp4Options = {},
): Promise<{ width: number; height: number }> {
  checkVideo(video);
  const scale = scaleOf(options);
  const width = video.width * scale;
  const height = video.height * scale;
  if (width % 2 !== 0 || height % 2 !== 0) {
    throw new InvalidArgumentError(
      "scale",
      `H.264 yuv420p needs an even width and height; ${video.width}x${video.height} scaled by ${scale} is ${width}x${height} (use an even scale)`,
    );
  }
  const crf = options.crf ?? 18;
  if (!Number.isInteger(crf) || crf < 0 || crf > 51) {
    throw new InvalidArgumentError("crf", `must be an integer from 0 to 51, got ${crf}`);
  }
  const preset = options.preset ?? "medium";
  if (!(X264_PRESETS as readonly string[]).includes(preset)) {
    throw new InvalidArgumentError("preset", `must be one of ${X264_PRESETS.join(", ")}, got ${preset}`);
  }
  const ffmpeg = options.ffmpeg ?? (await findFfmpeg());
  await encodeRaw(
    ffmpeg,
    file,
    video,
    (tmp) => [
      "-vf",
      `scale=${width}:${height}:flags=neighbor:out_color_matrix=bt709:out_range=tv,format=yuv420p`,
      "-c:v",
      "libx264",
      "-preset",
      preset,
      "-crf",
      String(crf),
      "-pix_fmt",
      "yuv420p",
      "-colorspace",
      "bt709",
      "-color_primaries",
      "bt709",
      "-color_trc",
      "bt709",
      "-color_range",
      "tv",
      "-movflags",
      "+faststart",
      "-f",
      "mp4",
      tmp,
    ],
    options.signal,
  );
  return { width, height };
}

/** Encodes a looping GIF with a palette computed over the whole clip (palettegen + paletteuse). */
export async function encodeGif(
  file: string,
  video: RgbVideo,
  options: GifOptions = {},
): Promise<{ width: number; height: number }> {
  checkVideo(video);
  const scale = scaleOf(options);
  const width = video.width * scale;
  const height = video.height * scale;
  const dither = options.dither ?? "bayer";
  if (!(GIF_DITHERS as readonly string[]).includes(dither)) {
    throw new InvalidArgumentError("dither", `must be one of ${GIF_DITHERS.join(", ")}, got ${dither}`);
  }
  const ditherArg = dither === "bayer" ? "bayer:bayer_scale=5" : dither;
  const ffmpeg = options.ffmpeg ?? (await findFfmpeg());
  await encodeRaw(
    ffmpeg,
    file,
    video,
    (tmp) => [
      "-filter_complex",
      `[0:v]scale=${width}:${height}:flags=neighbor,split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=${ditherArg}`,
      "-loop",
      "0",
      "-f",
      "gif",
      tmp,
    ],
    options.signal,
  );
  return { width, height };
}

/** Pipes the raw RGB frames into ffmpeg with the given output arguments, writing `file` atomically. */
async function encodeRaw(
  ffmpeg: FfmpegBinary,
  file: string,
  video: RgbVideo,
  outputArgs: (tmp: string) => string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  await atomically(file, async (tmp) => {
    const args = ["-hide_banner", "-loglevel", "error", "-y", ...rawInputArgs(video), ...outputArgs(tmp)];
    await runFfmpeg(ffmpeg, args, { input: video.frames, what: `encoding ${file}`, ...(signal ? { signal } : {}) });
  });
}

/** A written file: its path relative to the output folder, size and SHA-256. */
export interface OutputFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** The name of frame `i` in a frames folder: 0000.png, 0001.png, … (at least four digits). */
export function frameFileName(i: number, count: number): string {
  return `${String(i).padStart(Math.max(4, String(count - 1).length), "0")}.png`;
}

/**
 * Writes `frames[i]` as `dir/0000.png …`, after removing the `NNNN.png` files a previous run left there (so a
 * 65-frame run over a 257-frame one leaves 65 frames). Returns the files written, relative to `dir`.
 */
export async function writePngFrames(dir: string, video: Omit<RgbVideo, "fps">): Promise<OutputFile[]> {
  if (!Array.isArray(video.frames) || video.frames.length === 0) {
    throw new InvalidArgumentError("frames", "a video needs at least one frame");
  }
  video.frames.forEach((data, i) => {
    checkImage({ data, width: video.width, height: video.height }, `frames[${i}]`);
  });
  await mkdir(dir, { recursive: true });
  for (const name of await readdir(dir)) {
    if (/^\d{4,}\.png$/.test(name)) await rm(path.join(dir, name), { force: true });
  }
  const out: OutputFile[] = [];
  const n = video.frames.length;
  for (let i = 0; i < n; i++) {
    const bytes = encodePng({ data: video.frames[i] as Uint8Array, width: video.width, height: video.height });
    const name = frameFileName(i, n);
    await writeFile(path.join(dir, name), bytes);
    out.push({ path: name, bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
  }
  return out;
}

/** SHA-256 (hex) and size of a file, streamed. */
export function digestFile(file: string): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let bytes = 0;
    createReadStream(file)
      .on("data", (chunk) => {
        const b = chunk as Buffer;
        bytes += b.length;
        hash.update(b);
      })
      .on("error", reject)
      .on("end", () => resolve({ bytes, sha256: hash.digest("hex") }));
  });
}

export interface VideoOutputOptions {
  /** Upscale for MP4 and GIF (default {@link DEFAULT_SCALE}). */
  scale?: number;
  ffmpeg?: FfmpegBinary;
  signal?: AbortSignal;
  /** Which outputs to write (default all three). */
  png?: boolean;
  mp4?: boolean;
  gif?: boolean;
  /** Called when each output starts, for progress display. */
  onOutput?: (what: "frames" | "mp4" | "gif") => void;
}

export interface VideoOutputs {
  /** Every file written, relative to the output folder: frames/0000.png …, video.mp4, video.gif. */
  readonly files: OutputFile[];
  /** Size of the MP4/GIF after upscaling. */
  readonly videoWidth: number;
  readonly videoHeight: number;
  readonly ffmpeg: FfmpegBinary | undefined;
  /** Milliseconds spent on each output. */
  readonly timings: { frames?: number; mp4?: number; gif?: number };
}

/** Writes `outDir/frames/0000.png …`, `outDir/video.mp4` and `outDir/video.gif`. */
export async function writeVideoOutputs(
  outDir: string,
  video: RgbVideo,
  options: VideoOutputOptions = {},
): Promise<VideoOutputs> {
  checkVideo(video);
  const scale = scaleOf(options);
  const wantMp4 = options.mp4 ?? true;
  const wantGif = options.gif ?? true;
  const ffmpeg = wantMp4 || wantGif ? (options.ffmpeg ?? (await findFfmpeg())) : undefined;
  const files: OutputFile[] = [];
  const timings: { frames?: number; mp4?: number; gif?: number } = {};
  const common = { scale, ...(ffmpeg ? { ffmpeg } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  if (options.png ?? true) {
    options.onOutput?.("frames");
    const t = performance.now();
    const frames = await writePngFrames(path.join(outDir, "frames"), video);
    files.push(...frames.map((f) => ({ ...f, path: `frames/${f.path}` })));
    timings.frames = performance.now() - t;
  }
  if (wantMp4) {
    options.onOutput?.("mp4");
    const t = performance.now();
    const file = path.join(outDir, "video.mp4");
    await encodeMp4(file, video, common);
    files.push({ path: "video.mp4", ...(await digestFile(file)) });
    timings.mp4 = performance.now() - t;
  }
  if (wantGif) {
    options.onOutput?.("gif");
    const t = performance.now();
    const file = path.join(outDir, "video.gif");
    await encodeGif(file, video, common);
    files.push({ path: "video.gif", ...(await digestFile(file)) });
    timings.gif = performance.now() - t;
  }
  return { files, videoWidth: video.width * scale, videoHeight: video.height * scale, ffmpeg, timings };
}
