/**
 * The decode stage: a checked decode task → its latents read by reference (hash verified), decoded
 * by the pack's VAE in bounded batches (`decodeBatches`: one batch of frames in the decoder at a
 * time), the frames encoded as the requested files (H.264 MP4, GIF, PNG frames) through
 * @longshot/media, and the files stored under keys derived from the task's `output_key`
 * (`jobs/<id>/video.mp4` → `jobs/<id>/video.mp4`, `jobs/<id>/video.gif`, `jobs/<id>/video-frames/0000.png`).
 * A manifest (`jobs/<id>/video.json`: the task's fingerprint and every artifact's hash) is written
 * last; a task that runs again finds it, checks every artifact against it and reports them without
 * decoding anything.
 *
 * Traced inside the task's `process` span: `fetch latents`, `decode` (the engine's) and one `encode video`
 * per format (format, frames, bytes). PNG frames are stored one by one as they are encoded, so their span
 * includes storing them.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BlobStore } from "@longshot/blob";
import { IntegrityError, type Logger, LongshotError, NotFoundError } from "@longshot/core";
import { decodeBatches } from "@longshot/engine";
import { encodeGif, encodeMp4, encodePng, type FfmpegBinary, type RgbVideo } from "@longshot/media";
import { type Artifact, OutputFormat, StageResult, type StageTask } from "@longshot/proto";
import type { ModelSession, Pack } from "@longshot/runtime";
import { readLatent, type StageRunContext, statOrUndefined, TaskClock, taskFingerprint } from "@longshot/stage";
import {
  ATTR_LONGSHOT_FRAMES,
  ATTR_LONGSHOT_VIDEO_BYTES,
  ATTR_LONGSHOT_VIDEO_FORMAT,
  SPAN_ENCODE_VIDEO,
  withSpan,
} from "@longshot/telemetry";
import { type DecodeKeys, decodeKeys } from "./task.js";

export interface DecodeStageOptions {
  pack: Pack;
  vae: ModelSession;
  store: BlobStore;
  workerId: string;
  ffmpeg: FfmpegBinary;
  /** Frames per VAE call. */
  decodeBatch: number;
  /** Lifetime of presigned artifact URLs (S3 only); 0: none. */
  presignExpirySeconds: number;
  /** Execution provider of the VAE session ("cpu", "cuda"), recorded on the `decode` span. */
  executionProvider?: string | undefined;
}

/** What the manifest records of each artifact. */
interface StoredArtifact {
  format: OutputFormat;
  key: string;
  sha256: string;
  bytes: number;
  contentType: string;
  frame: number;
}

interface DecodeManifest {
  format: typeof MANIFEST_FORMAT;
  /** Fingerprint of the task that wrote it. */
  task: string;
  artifacts: StoredArtifact[];
}

const MANIFEST_FORMAT = "longshot.decode/v1";
const CONTENT_TYPES: Partial<Record<OutputFormat, string>> = {
  [OutputFormat.OUTPUT_FORMAT_MP4]: "video/mp4",
  [OutputFormat.OUTPUT_FORMAT_GIF]: "image/gif",
  [OutputFormat.OUTPUT_FORMAT_PNG]: "image/png",
};

export class DecodeStage {
  readonly #o: DecodeStageOptions;

  constructor(options: DecodeStageOptions) {
    this.#o = options;
  }

  /** Runs a task checked by `checkDecoderTask` (see the module comment). */
  async run(task: StageTask, ctx: StageRunContext): Promise<StageResult> {
    const { pack, store } = this.#o;
    const p = task.params?.$case === "decode" ? task.params.value : undefined;
    const latentsRef = p?.latents;
    if (p === undefined || latentsRef === undefined) {
      throw new LongshotError(`DecodeStage.run: task ${task.taskId} was not checked (no decode params or latents)`);
    }
    const log = ctx.logger;
    const clock = new TaskClock();
    const fingerprint = taskFingerprint(task);
    const keys = decodeKeys(task.outputKey);
    const total = p.frameEnd - p.frameStart;

    const earlier = await clock.time("load", () => this.#findEarlier(keys, fingerprint, log));
    if (earlier !== undefined) {
      log.info({ manifest: keys.manifest }, "outputs of an earlier run of this task are intact; reusing them");
      ctx.progress?.(total, total);
      return this.#result(task, earlier, clock);
    }

    const latents = await clock.time("load", () => readLatent(store, latentsRef, "task.decode.latents"));
    const frames: Uint8Array[] = [];
    let width = 0;
    let height = 0;
    await clock.time("compute", async () => {
      for await (const batch of decodeBatches({
        vae: this.#o.vae,
        latents,
        scalingFactor: pack.manifest.latent.scalingFactor,
        batch: this.#o.decodeBatch,
        start: p.frameStart,
        end: p.frameEnd,
        signal: ctx.signal,
        executionProvider: this.#o.executionProvider,
      })) {
        frames.push(...batch.frames);
        width = batch.width;
        height = batch.height;
        ctx.progress?.(frames.length, total);
      }
    });
    const video: RgbVideo = { frames, width, height, fps: pack.manifest.video.fps };
    const artifacts = await this.#writeArtifacts(
      task,
      keys,
      video,
      p.outputFormats,
      p.frameStart,
      p.frameEnd,
      clock,
      ctx,
    );
    const manifest: DecodeManifest = { format: MANIFEST_FORMAT, task: fingerprint, artifacts };
    await clock.time("store", () =>
      store.putAt(keys.manifest, new TextEncoder().encode(JSON.stringify(manifest)), {
        contentType: "application/json",
      }),
    );
    return this.#result(task, artifacts, clock);
  }

  async #writeArtifacts(
    task: StageTask,
    keys: DecodeKeys,
    video: RgbVideo,
    formats: readonly OutputFormat[],
    frameStart: number,
    frameEnd: number,
    clock: TaskClock,
    ctx: StageRunContext,
  ): Promise<StoredArtifact[]> {
    const { store, ffmpeg } = this.#o;
    const out: StoredArtifact[] = [];
    const put = async (format: OutputFormat, key: string, bytes: Uint8Array, frame = 0) => {
      const contentType = CONTENT_TYPES[format] ?? "application/octet-stream";
      const ref = await clock.time("store", () => store.putAt(key, bytes, { contentType }));
      out.push({ format, key, sha256: ref.sha256, bytes: ref.bytes, contentType, frame });
    };
    const dir = await mkdtemp(path.join(tmpdir(), "longshot-decode-"));
    const signal = ctx.signal;
    /** Runs `encode` as the span `encode video`; it returns the bytes it encoded. */
    const traced = <T>(name: string, encode: () => Promise<{ value: T; bytes: number }>): Promise<T> =>
      withSpan(
        SPAN_ENCODE_VIDEO,
        { [ATTR_LONGSHOT_VIDEO_FORMAT]: name, [ATTR_LONGSHOT_FRAMES]: video.frames.length },
        async (span) => {
          const { value, bytes } = await encode();
          span.setAttribute(ATTR_LONGSHOT_VIDEO_BYTES, bytes);
          return value;
        },
      );
    /** ffmpeg writes the file, which is read back for the store. */
    const withFfmpeg = (name: "mp4" | "gif", encode: typeof encodeMp4 | typeof encodeGif) =>
      traced(name, async () => {
        const file = path.join(dir, `video.${name}`);
        await clock.time("compute", () => encode(file, video, { ffmpeg, ...(signal ? { signal } : {}) }));
        const value = await readFile(file);
        return { value, bytes: value.byteLength };
      });
    try {
      for (const format of formats) {
        switch (format) {
          case OutputFormat.OUTPUT_FORMAT_MP4: {
            await put(format, keys.mp4, await withFfmpeg("mp4", encodeMp4));
            break;
          }
          case OutputFormat.OUTPUT_FORMAT_GIF: {
            await put(format, keys.gif, await withFfmpeg("gif", encodeGif));
            break;
          }
          case OutputFormat.OUTPUT_FORMAT_PNG: {
            await traced("png", async () => {
              let bytes = 0;
              for (let i = 0; i < video.frames.length; i++) {
                const frame = frameStart + i;
                const png = encodePng({
                  data: video.frames[i] as Uint8Array,
                  width: video.width,
                  height: video.height,
                });
                bytes += png.byteLength;
                await put(format, keys.png(frame, frameEnd), png, frame);
              }
              return { value: undefined, bytes };
            });
            break;
          }
          default:
            throw new LongshotError(`task ${task.taskId}: output format ${format} is not supported`, {
              code: "INVALID_ARGUMENT",
            });
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return out;
  }

  /** The artifacts of an earlier run of this task, when its manifest and every file are intact. */
  async #findEarlier(keys: DecodeKeys, fingerprint: string, log: Logger): Promise<StoredArtifact[] | undefined> {
    const { store } = this.#o;
    const stat = await statOrUndefined(store, keys.manifest);
    if (stat?.sha256 === undefined) return undefined;
    let manifest: DecodeManifest;
    try {
      const bytes = await store.get(store.refFor(keys.manifest, stat.sha256, stat.bytes));
      manifest = JSON.parse(new TextDecoder().decode(bytes)) as DecodeManifest;
    } catch (err) {
      if (err instanceof IntegrityError || err instanceof NotFoundError || err instanceof SyntaxError) {
        log.warn({ key: keys.manifest, err: (err as Error).message }, "earlier manifest unreadable; decoding again");
        return undefined;
      }
      throw err;
    }
    if (manifest?.format !== MANIFEST_FORMAT || manifest.task !== fingerprint || !Array.isArray(manifest.artifacts)) {
      return undefined;
    }
    for (const a of manifest.artifacts) {
      try {
        await store.get(store.refFor(a.key, a.sha256, a.bytes));
      } catch (err) {
        if (err instanceof IntegrityError || err instanceof NotFoundError) {
          log.warn({ key: a.key, err: (err as Error).message }, "earlier artifact missing or damaged; decoding again");
          return undefined;
        }
        throw err;
      }
    }
    return manifest.artifacts;
  }

  async #result(task: StageTask, stored: readonly StoredArtifact[], clock: TaskClock): Promise<StageResult> {
    const { store, presignExpirySeconds } = this.#o;
    const presign = store.kind === "s3" && presignExpirySeconds > 0;
    const artifacts: Artifact[] = [];
    for (const a of stored) {
      artifacts.push({
        format: a.format,
        uri: store.uriFor(a.key),
        presignedUrl: presign ? await store.presignGet(a.key, presignExpirySeconds) : "",
        presignedUrlExpireTime: presign ? new Date(Date.now() + presignExpirySeconds * 1000) : undefined,
        sha256: a.sha256,
        bytes: BigInt(a.bytes),
        contentType: a.contentType,
        frame: a.frame,
      });
    }
    return StageResult.fromPartial({
      jobId: task.jobId,
      taskId: task.taskId,
      stage: task.stage,
      artifacts,
      timings: clock.timings(),
      workerId: this.#o.workerId,
    });
  }
}
