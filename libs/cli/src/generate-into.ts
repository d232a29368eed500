/** One video of an in-process `longshot generate` run, written into its folder with its result.json. */

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { CancelledError, InvalidArgumentError } from "@longshot/core";
import type { Engine, GenerateOptions, GenerateResult } from "@longshot/engine";
import { digestFile, keyframePreviewPng, type OutputFile } from "@longshot/media";
import type { Pack } from "@longshot/pack";
import { isWorldPrompt, type ProbeScore, score } from "@longshot/probe";
import type { Tensor } from "@longshot/tensor";
import { asUsage, type GenerateArgs } from "./generate-args.js";
import type { CliIo } from "./io.js";
import { writeResultJson } from "./out-dir.js";
import { cliVersion, KEYFRAMES_PNG, shownPath } from "./paths.js";
import type { ProgressReporter } from "./progress.js";
import { describeScore } from "./score-text.js";
import { type GifTiming, writeVideoFiles } from "./video-files.js";

const round1 = (ms: number) => Math.round(ms * 10) / 10;

export interface GenerateRecord {
  longshot: { version: string; command: "generate" };
  createdAt: string;
  prompt: string;
  negativePrompt: string;
  seed: number | string;
  pack: { name: string; version: string; dir: string };
  frames: number;
  /** Frames per second of video.mp4 (--fps, else {@link defaultFps}). */
  fps: number;
  width: number;
  height: number;
  video: {
    width: number;
    height: number;
    scale: number;
    /** video.mp4's frame rate (= fps). */
    fps: number;
    codec: "h264";
    pixelFormat: "yuv420p";
    /** video.gif: every `frameStep`-th frame at `fps` (GIF frame delays are whole 1/100 s, at least 2). */
    gif: GifTiming | null;
  };
  mode: string;
  sampler: string;
  stages: {
    keyframe: { steps: number; guidance: number; frames: number };
    interpolation: { steps: number; guidance: number; strength: number; levels: number[] };
  };
  window: { frames: number; overlap: number } | null;
  noise: { source: "seed" } | { source: "file"; file: string; sha256: string };
  runtime: { executionProvider: string; threads: number | null };
  keyframeIndices: number[];
  timingsMs: Record<string, number | number[]>;
  probe: ProbeScore | null;
  files: OutputFile[];
  ffmpeg: { path: string; version: string; source: string } | null;
}

/** Writes keyframes.png (keyframePreviewPng of the keyframe latents) into `outDir`; undefined without a map. */
async function writeKeyframePreview(
  outDir: string,
  latents: Tensor<"float32">,
  pack: Pack,
): Promise<OutputFile | undefined> {
  if (pack.manifest.latent.previewRgb === undefined) return undefined;
  const file = path.join(outDir, KEYFRAMES_PNG);
  await writeFile(file, keyframePreviewPng(latents, pack.manifest.latent));
  const digest = await digestFile(file);
  return { path: KEYFRAMES_PNG, bytes: digest.bytes, sha256: digest.sha256 };
}

/** The name of the keyframe stage's latents in GenerateControl.onLatents. */
const KEYFRAME_STREAM = "keyframes";

/**
 * The frame rate of a video of `frames` frames when --fps is not given. A length above the pack's default is more
 * interpolation levels of the same keyframes (the same motion, more frames between them), so it plays faster to
 * last as long: 257 frames of a pack made for 65 at 16 fps play at 64 fps, the same 4 s, smoother. Up to the
 * default length, the pack's fps.
 */
export function defaultFps(video: { fps: number; defaultFrames: number }, frames: number): number {
  if (frames <= video.defaultFrames || video.defaultFrames < 2) return video.fps;
  return Math.round((video.fps * (frames - 1)) / (video.defaultFrames - 1));
}

/** What one video of an in-process run needs: the checked command line, the loaded pack and engine, its options. */
export interface VideoRun {
  args: GenerateArgs;
  pack: Pack;
  engine: Engine;
  opts: GenerateOptions;
  io: CliIo;
  progress: ProgressReporter;
  tStart: number;
  loadMs: number;
  /** Which video of a --num-videos run this is. */
  video: { index: number; count: number } | undefined;
}

/**
 * Generates one video into `outDir`: keyframes.png as soon as the keyframes exist, then the frames, video.mp4,
 * video.gif and result.json, and the summary lines on stdout.
 */
export async function generateInto(outDir: string, ctx: VideoRun): Promise<number> {
  const { args, pack, engine, opts, io, progress, tStart, loadMs } = ctx;
  let preview: Promise<OutputFile | undefined> | undefined;
  let res: GenerateResult;
  try {
    res = await engine.generate(opts, {
      onProgress: (e) => progress.event(e),
      signal: io.signal,
      // The keyframe preview is written as soon as the keyframes exist, while the rest of the video runs.
      onLatents: (name, latents) => {
        if (name !== KEYFRAME_STREAM) return;
        preview = writeKeyframePreview(outDir, latents, pack).then((file) => {
          progress.note(
            file !== undefined
              ? `keyframes: ${shownPath(outDir)}/${file.path}`
              : `no ${KEYFRAMES_PNG}: pack ${pack.id} declares no latent.previewRgb (docs/model-pack.md)`,
          );
          return file;
        });
        // Awaited below; a failure is reported there.
        preview.catch(() => undefined);
      },
    });
  } catch (err) {
    await preview?.catch(() => undefined);
    if (err instanceof InvalidArgumentError) throw asUsage(err, args);
    throw err;
  }
  const previewFile = await preview;
  if (io.signal?.aborted) throw new CancelledError("generate: cancelled");

  const fps = args.fps ?? defaultFps(pack.manifest.video, res.frames.length);
  const outputs = await writeVideoFiles(
    outDir,
    { frames: res.frames, width: res.width, height: res.height, fps },
    {
      scale: args.scale,
      ...(io.signal ? { signal: io.signal } : {}),
      onOutput: (what) =>
        progress.phase(what === "frames" ? `writing ${res.frames.length} PNG frames` : `writing video.${what}`),
    },
  );
  const probe = isWorldPrompt(args.prompt)
    ? score({ frames: res.frames, width: res.width, height: res.height }, args.prompt)
    : null;
  const s = res.settings;
  const record: GenerateRecord = {
    longshot: { version: cliVersion(), command: "generate" },
    createdAt: new Date().toISOString(),
    prompt: s.prompt,
    negativePrompt: s.negativePrompt,
    seed: s.seed,
    pack: { name: pack.name, version: pack.version, dir: pack.dir },
    frames: res.frames.length,
    fps,
    width: res.width,
    height: res.height,
    video: {
      width: outputs.videoWidth,
      height: outputs.videoHeight,
      scale: args.scale,
      fps,
      codec: "h264",
      pixelFormat: "yuv420p",
      gif: outputs.gif ?? null,
    },
    mode: s.mode,
    sampler: s.sampler,
    stages: {
      keyframe: { steps: s.keyframeSteps, guidance: s.keyframeGuidance, frames: s.levels[0] as number },
      interpolation: {
        steps: s.interpolationSteps,
        guidance: s.interpolationGuidance,
        strength: s.interpolationStrength,
        levels: s.levels.slice(1),
      },
    },
    window: s.window,
    noise:
      args.noise !== undefined
        ? { source: "file", file: path.resolve(args.noise), sha256: (await digestFile(args.noise)).sha256 }
        : { source: "seed" },
    runtime: { executionProvider: args.ep, threads: args.threads ?? null },
    keyframeIndices: res.keyframeIndices,
    timingsMs: {
      load: round1(loadMs),
      encode: round1(res.timings.encode),
      keyframes: round1(res.timings.keyframes),
      interpolate: round1(res.timings.interpolate),
      interpolateLevels: res.timings.interpolateLevels.map(round1),
      decode: round1(res.timings.decode),
      generate: round1(res.timings.total),
      writeFrames: round1(outputs.timings.frames ?? 0),
      writeMp4: round1(outputs.timings.mp4 ?? 0),
      writeGif: round1(outputs.timings.gif ?? 0),
      total: round1(performance.now() - tStart),
    },
    probe,
    files: previewFile === undefined ? outputs.files : [...outputs.files, previewFile],
    ffmpeg: outputs.ffmpeg
      ? { path: outputs.ffmpeg.path, version: outputs.ffmpeg.version, source: outputs.ffmpeg.source }
      : null,
  };
  await writeResultJson(outDir, record);
  progress.finish();

  const shown = shownPath(outDir);
  const n = res.frames.length;
  const gif = outputs.gif;
  const gifNote = gif !== undefined && gif.frameStep > 1 ? ` (1 frame in ${gif.frameStep}, at ${gif.fps} fps)` : "";
  const lines = [
    `wrote ${shown}/ (${n} frames, ${res.width}x${res.height} at ${fps} fps, seed ${s.seed}, ${((performance.now() - tStart) / 1000).toFixed(1)} s)`,
    `  video.mp4 (${outputs.videoWidth}x${outputs.videoHeight}), video.gif${gifNote}, frames/${outputs.files[0]?.path.replace("frames/", "") ?? ""} … frames/${outputs.files[n - 1]?.path.replace("frames/", "") ?? ""}, ${previewFile === undefined ? "" : `${KEYFRAMES_PNG}, `}result.json`,
  ];
  if (ctx.video !== undefined) lines[0] = `video ${ctx.video.index + 1}/${ctx.video.count}: ${lines[0]}`;
  if (probe) lines.push(`  probe: ${describeScore(probe)}`);
  io.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
