/** Reading videos back with ffmpeg: stream facts from `ffmpeg -i`, and frames as raw RGB. */
import { stat } from "node:fs/promises";
import { InvalidArgumentError, NotFoundError } from "@longshot/core";
import { FfmpegError } from "./errors.js";
import { type FfmpegBinary, findFfmpeg, runFfmpeg } from "./ffmpeg.js";

export interface VideoInfo {
  /** Codec name as ffmpeg prints it ("h264", "gif"). */
  readonly codec: string;
  /** Pixel format ("yuv420p", "bgra"). */
  readonly pixelFormat: string;
  /** The words in brackets after the pixel format, e.g. ["tv", "bt709", "progressive"]. */
  readonly pixelFormatDetails: readonly string[];
  readonly width: number;
  readonly height: number;
  /** Frames per second, when ffmpeg reports it. */
  readonly fps: number | undefined;
  /** Container duration in seconds, when known. */
  readonly durationSeconds: number | undefined;
  /** Container format names ("mov,mp4,m4a,3gp,3g2,mj2", "gif"). */
  readonly container: string;
}

async function checkFile(file: string): Promise<void> {
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new InvalidArgumentError("video", `${file} is not a file`);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new NotFoundError(`video file ${file} does not exist`, { cause: err });
  }
}

/** Splits "a (x, y), b, c" on the commas that are not inside brackets. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(" || ch === "[") depth++;
    else if (ch === ")" || ch === "]") depth = Math.max(0, depth - 1);
    if (ch === "," && depth === 0) {
      parts.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

/** Parses the first video stream of `ffmpeg -i` output. Exported for tests; use {@link inspectVideo}. */
export function parseFfmpegInfo(text: string, label = "video"): VideoInfo {
  const container = /^Input #0, ([^,]+(?:,[^,\s]+)*), from /m.exec(text)?.[1] ?? "";
  const line = /^\s*Stream #\d+:\d+.*?: Video: (.*)$/m.exec(text)?.[1];
  if (line === undefined) {
    throw new InvalidArgumentError(
      "video",
      `${label} has no video stream that ffmpeg can read${text.trim() ? `: ${lastLine(text)}` : ""}`,
    );
  }
  const parts = splitTopLevel(line);
  const codec = (parts[0] ?? "").split(/\s+/)[0] ?? "";
  const pix = /^(\w+)(?:\(([^)]*)\))?/.exec(parts[1] ?? "");
  const size = parts.map((p) => /^(\d+)x(\d+)\b/.exec(p)).find((m) => m !== null);
  if (!size) throw new InvalidArgumentError("video", `cannot find the frame size of ${label} in: ${line}`);
  const fpsPart = parts.map((p) => /^([\d.]+)(k?) fps\b/.exec(p)).find((m) => m !== null);
  const fps = fpsPart ? Number(fpsPart[1]) * (fpsPart[2] === "k" ? 1000 : 1) : undefined;
  const dur = /Duration: (\d+):(\d+):([\d.]+)/.exec(text);
  const durationSeconds = dur ? Number(dur[1]) * 3600 + Number(dur[2]) * 60 + Number(dur[3]) : undefined;
  return {
    codec,
    pixelFormat: pix?.[1] ?? "",
    pixelFormatDetails: pix?.[2] ? pix[2].split(",").map((s) => s.trim()) : [],
    width: Number(size[1]),
    height: Number(size[2]),
    fps,
    durationSeconds,
    container,
  };
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim();
}

/** Stream facts of a video file, parsed from `ffmpeg -i` (works with any ffmpeg, no ffprobe needed). */
export async function inspectVideo(file: string, options: { ffmpeg?: FfmpegBinary } = {}): Promise<VideoInfo> {
  await checkFile(file);
  const ffmpeg = options.ffmpeg ?? (await findFfmpeg());
  // `ffmpeg -i FILE` with no output prints the stream facts and exits 1 ("At least one output file must be
  // specified"); that exit status is expected here.
  let text: string;
  try {
    text = (await runFfmpeg(ffmpeg, ["-hide_banner", "-nostdin", "-i", file], { what: `reading ${file}` })).stderr;
  } catch (err) {
    if (!(err instanceof FfmpegError)) throw err;
    text = err.stderr;
  }
  return parseFfmpegInfo(text, file);
}

export interface DecodedVideo {
  readonly frames: Uint8Array[];
  readonly width: number;
  readonly height: number;
  readonly info: VideoInfo;
}

export interface DecodeOptions {
  ffmpeg?: FfmpegBinary;
  /** Resample to this size (area averaging when shrinking: undoes a nearest-neighbour upscale). */
  width?: number;
  height?: number;
  signal?: AbortSignal;
}

/** Decodes every frame of a video to RGB (rgb24), one frame per decoded picture (no frame-rate conversion). */
export async function decodeVideo(file: string, options: DecodeOptions = {}): Promise<DecodedVideo> {
  const ffmpeg = options.ffmpeg ?? (await findFfmpeg());
  const info = await inspectVideo(file, { ffmpeg });
  const width = options.width ?? info.width;
  const height = options.height ?? info.height;
  for (const [name, v] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(name, `must be a positive integer, got ${v}`);
  }
  const resize = width !== info.width || height !== info.height;
  const args = [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-i",
    file,
    // Convert to RGB first, then resample: resampling yuv420p straight to a smaller RGB frame bleeds chroma
    // across block edges.
    ...(resize ? ["-vf", `format=rgb24,scale=${width}:${height}:flags=area`] : []),
    "-vsync",
    "0",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "pipe:1",
  ];
  const { stdout } = await runFfmpeg(ffmpeg, args, {
    captureStdout: true,
    what: `decoding ${file}`,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const frameBytes = width * height * 3;
  if (stdout.length % frameBytes !== 0) {
    throw new InvalidArgumentError(
      "video",
      `decoding ${file} gave ${stdout.length} bytes, not a whole number of ${width}x${height} RGB frames`,
    );
  }
  const frames: Uint8Array[] = [];
  for (let off = 0; off < stdout.length; off += frameBytes) {
    frames.push(new Uint8Array(stdout.buffer.slice(stdout.byteOffset + off, stdout.byteOffset + off + frameBytes)));
  }
  return { frames, width, height, info };
}
