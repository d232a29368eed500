/**
 * The files of an embedded run: PNG frames, video.mp4 at the run's frame rate, and video.gif playing the same
 * seconds. A GIF stores each frame's delay in whole hundredths of a second, and players (browsers, ffmpeg) show a
 * delay below 2 as 10: a GIF above 50 fps would crawl at about 10 fps. So above 50 fps the GIF keeps every
 * `frameStep`-th frame at `fps / frameStep` (a 64 fps video: every 2nd frame at 32 fps), the same motion and length.
 */
import path from "node:path";
import {
  digestFile,
  encodeGif,
  type OutputFile,
  type RgbVideo,
  type VideoOutputOptions,
  type VideoOutputs,
  writeVideoOutputs,
} from "@longshot/media";

/** The highest frame rate a GIF plays at (delays of 2/100 s). */
export const MAX_GIF_FPS = 50;

/** How video.gif is timed: every `frameStep`-th frame (from the first), `frames` of them, at `fps`. */
export interface GifTiming {
  fps: number;
  frameStep: number;
  frames: number;
}

/** The GIF timing of a video of `frames` frames at `fps`. */
export function gifTiming(fps: number, frames: number): GifTiming {
  const frameStep = Math.max(1, Math.ceil(fps / MAX_GIF_FPS));
  return { fps: fps / frameStep, frameStep, frames: Math.floor((frames - 1) / frameStep) + 1 };
}

export interface VideoFiles extends VideoOutputs {
  /** video.gif's timing; undefined when no GIF was written. */
  readonly gif: GifTiming | undefined;
}

/** Writes `outDir/frames/…`, `video.mp4` at `video.fps` and `video.gif` (see the module comment). */
export async function writeVideoFiles(
  outDir: string,
  video: RgbVideo,
  options: VideoOutputOptions = {},
): Promise<VideoFiles> {
  const wantGif = options.gif ?? true;
  const outputs = await writeVideoOutputs(outDir, video, { ...options, gif: false });
  if (!wantGif) return { ...outputs, gif: undefined };
  const gif = gifTiming(video.fps, video.frames.length);
  options.onOutput?.("gif");
  const t = performance.now();
  const file = path.join(outDir, "video.gif");
  await encodeGif(
    file,
    {
      frames: video.frames.filter((_, i) => i % gif.frameStep === 0),
      width: video.width,
      height: video.height,
      fps: gif.fps,
    },
    {
      ...(options.scale === undefined ? {} : { scale: options.scale }),
      ...(outputs.ffmpeg === undefined ? {} : { ffmpeg: outputs.ffmpeg }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    },
  );
  const files: OutputFile[] = [...outputs.files, { path: "video.gif", ...(await digestFile(file)) }];
  return {
    ...outputs,
    files,
    timings: { ...outputs.timings, gif: performance.now() - t },
    gif,
  };
}
