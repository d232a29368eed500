/**
 * The text-to-video pipeline in one process (the embedded default): the stage functions in `stages/` run in
 * order on the sessions of one pack.
 *
 * ```ts
 * const engine = await Engine.create({ packDir: "models/packs/shapes-mini" });
 * const result = await engine.generate({ prompt: "a red circle moving right", seed: 7 }, { onProgress });
 * await engine.close();
 * ```
 *
 * Phases (as a diffusers pipeline's `__call__`): 0. check inputs and resolve defaults; 1. encode the prompt;
 * 2. keyframes; 3. interpolation levels (whole passes or windows); 4. decode. Noise comes from the seed
 * (Philox streams "keyframes", "interp1", "interp2", …; see stage-noise.ts), so the same seed and settings give
 * the same video on any machine and in any replica, or from `opts.noise`.
 */
import { CancelledError, LongshotError } from "@longshot/core";
import { loadPack, type Pack } from "@longshot/pack";
import { createModelRuntime, type ExecutionProvider, type ModelRuntime, type ModelSession } from "@longshot/runtime";
import { ATTR_LONGSHOT_FRAMES, SPAN_GENERATE, type Span, withSpan } from "@longshot/telemetry/light";
import type { Tensor } from "@longshot/tensor";
import { type GenerateOptions, type ResolvedSettings, resolveGenerateOptions } from "./options.js";
import {
  interpolationStream,
  KEYFRAME_STREAM,
  type StageNoise,
  seededStageNoise,
  tensorStageNoise,
} from "./stage-noise.js";
import { decodeFrames } from "./stages/decode.js";
import { throwIfCancelled } from "./stages/denoise.js";
import { encodePrompt } from "./stages/encode-prompt.js";
import { interpolatePass, strengthBeginIndex } from "./stages/interpolate.js";
import { interpolateWindowed, type WindowInfo } from "./stages/interpolate-windowed.js";
import { denoiseKeyframes } from "./stages/keyframes.js";
import { PromptTokenizer } from "./tokenizer.js";

export type GenerateStage = "encode" | "keyframes" | "interpolate" | "decode";

export interface ProgressEvent {
  stage: GenerateStage;
  /** Interpolation level (1 = keyframes → first level), for stage "interpolate". */
  level?: number;
  /** Steps done (decode: frames done); 0 when a stage starts. */
  step: number;
  /** Steps of this stage (or of this window); decode: frames. */
  total: number;
  /** The window whose steps these are, when a level runs as windows. */
  window?: WindowInfo;
  /** Output frames of the level, for stage "interpolate". */
  frames?: number;
}

export interface GenerateControl {
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  /** Aborting stops the generation between steps (a step already running is abandoned): CancelledError. */
  signal?: AbortSignal | undefined;
  /**
   * Called with each stage's latents as soon as they exist, before the next stage starts: "keyframes"
   * `[1, C, K, h, w]` (e.g. for keyframe previews while the rest runs), then "interp1", "interp2", ….
   */
  onLatents?: ((name: string, latents: Tensor<"float32">) => void) | undefined;
}

/** Wall time per stage in milliseconds. */
export interface StageTimings {
  encode: number;
  keyframes: number;
  /** All interpolation levels together. */
  interpolate: number;
  /** Each interpolation level, in order. */
  interpolateLevels: number[];
  decode: number;
  total: number;
}

export interface GenerateResult {
  /** One `height · width · 3` RGB buffer per frame. */
  frames: Uint8Array[];
  width: number;
  height: number;
  fps: number;
  /** Latents of each stage: "keyframes" `[1, C, K, h, w]`, "interp1", "interp2", … `[1, C, F, h, w]`. */
  latents: Record<string, Tensor<"float32">>;
  /** The `[2, T, H]` text embeddings (unconditional, conditional). */
  textEmbeddings: Tensor<"float32">;
  /** Indices of the keyframes in the output video (e.g. 0, 16, 32, 48, 64 for 65 frames). */
  keyframeIndices: number[];
  timings: StageTimings;
  settings: ResolvedSettings;
}

export interface EngineCreateOptions {
  packDir: string;
  /** "cpu" (default) or "cuda" (never silently falls back to CPU). */
  executionProvider?: ExecutionProvider | undefined;
  /** intraOpNumThreads of each session; default: onnxruntime decides. */
  threads?: number | undefined;
}

export interface EngineSessions {
  textEncoder: ModelSession;
  keyframeUnet: ModelSession;
  interpolationUnet: ModelSession;
  vaeDecoder: ModelSession;
}

export class Engine {
  readonly pack: Pack;
  readonly runtime: ModelRuntime;
  readonly sessions: EngineSessions;
  readonly tokenizer: PromptTokenizer;
  #closed = false;

  private constructor(pack: Pack, runtime: ModelRuntime, sessions: EngineSessions, tokenizer: PromptTokenizer) {
    this.pack = pack;
    this.runtime = runtime;
    this.sessions = sessions;
    this.tokenizer = tokenizer;
  }

  /** Loads and verifies the pack, then opens a session for each of its four graphs. */
  static async create(options: EngineCreateOptions): Promise<Engine> {
    const pack = await loadPack(options.packDir);
    const tokenizer = await PromptTokenizer.fromPack(pack);
    const runtime = createModelRuntime({
      executionProvider: options.executionProvider ?? "cpu",
      ...(options.threads === undefined ? {} : { threads: options.threads }),
    });
    try {
      const sessions: EngineSessions = {
        textEncoder: await runtime.load(pack, "textEncoder"),
        keyframeUnet: await runtime.load(pack, "keyframeUnet"),
        interpolationUnet: await runtime.load(pack, "interpolationUnet"),
        vaeDecoder: await runtime.load(pack, "vaeDecoder"),
      };
      return new Engine(pack, runtime, sessions, tokenizer);
    } catch (err) {
      await runtime.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Generates a video (see the module comment). Options are checked first: InvalidArgumentError naming the field.
   * Traced, when the process has a tracer provider, as the span `generate` (a child of the active span, if any)
   * holding the stage functions' spans: `encode prompt`, `denoise` per loop or window, `decode`.
   */
  async generate(opts: GenerateOptions, control: GenerateControl = {}): Promise<GenerateResult> {
    return withSpan(SPAN_GENERATE, {}, (span) => this.#generate(opts, control, span));
  }

  async #generate(opts: GenerateOptions, control: GenerateControl, span: Span): Promise<GenerateResult> {
    if (this.#closed) throw new LongshotError("engine is closed", { code: "FAILED_PRECONDITION" });
    // 0. Check inputs, resolve defaults.
    const { settings, seed, noise } = resolveGenerateOptions(this.pack.manifest, opts);
    span.setAttribute(ATTR_LONGSHOT_FRAMES, settings.frames);
    const { executionProvider } = this.runtime.describe();
    const { signal, onProgress } = control;
    const emit = (e: ProgressEvent): void => onProgress?.(e);
    const manifest = this.pack.manifest;
    const { latent, video } = manifest;
    const factor = video.interpolationFactor;
    const dims = (frames: number) => [1, latent.channels, frames, latent.height, latent.width];
    const stageNoise = (stream: string, frames: number): StageNoise =>
      noise
        ? tensorStageNoise(noise[stream] as Tensor, stream, { seed })
        : seededStageNoise(seed, stream, dims(frames));
    const schedulerConfig = manifest.scheduler;
    throwIfCancelled(signal, "generate");
    const tStart = performance.now();

    // 1. Encode the prompt: [uncond, cond].
    emit({ stage: "encode", step: 0, total: 1 });
    let t = performance.now();
    const textEmbeddings = await encodePrompt({
      textEncoder: this.sessions.textEncoder,
      tokenizer: this.tokenizer,
      prompt: settings.prompt,
      negativePrompt: settings.negativePrompt,
      signal,
      executionProvider,
    });
    const encodeMs = performance.now() - t;
    emit({ stage: "encode", step: 1, total: 1 });

    // 2. Keyframes.
    t = performance.now();
    emit({ stage: "keyframes", step: 0, total: settings.keyframeSteps });
    let lat = await denoiseKeyframes({
      unet: this.sessions.keyframeUnet,
      sampler: settings.sampler,
      schedulerConfig,
      steps: settings.keyframeSteps,
      textEmbeddings,
      noise: stageNoise(KEYFRAME_STREAM, video.keyframes),
      guidance: settings.keyframeGuidance,
      signal,
      executionProvider,
      onStep: (step, total) => emit({ stage: "keyframes", step, total }),
    });
    const keyframesMs = performance.now() - t;
    const latents: Record<string, Tensor<"float32">> = { [KEYFRAME_STREAM]: lat };
    control.onLatents?.(KEYFRAME_STREAM, lat);

    // 3. Interpolation levels: K → (K − 1)·f + 1 → … → frames.
    const levelMs: number[] = [];
    for (let level = 1; level < settings.levels.length; level++) {
      t = performance.now();
      const fout = settings.levels[level] as number;
      const stream = interpolationStream(level);
      const stride = manifest.interpolation.strides[String(fout)];
      if (stride === undefined) {
        throw new LongshotError(`pack ${this.pack.id} has no interpolation stride for ${fout} frames`, {
          code: "FAILED_PRECONDITION",
        });
      }
      const steps =
        settings.interpolationSteps - strengthBeginIndex(settings.interpolationSteps, settings.interpolationStrength);
      emit({ stage: "interpolate", level, frames: fout, step: 0, total: steps });
      const common = {
        unet: this.sessions.interpolationUnet,
        sampler: settings.sampler,
        schedulerConfig,
        steps: settings.interpolationSteps,
        textEmbeddings,
        latents: lat,
        noise: stageNoise(stream, fout),
        frameStride: stride,
        guidance: settings.interpolationGuidance,
        strength: settings.interpolationStrength,
        mode: settings.mode,
        factor,
        hint: manifest.interpolation.hint,
        signal,
        executionProvider,
      };
      const win = settings.window;
      if (win && fout > win.frames) {
        lat = await interpolateWindowed({
          ...common,
          windowFrames: win.frames,
          overlap: win.overlap,
          onWindowStep: (step, total, window) =>
            emit({ stage: "interpolate", level, frames: fout, step, total, window }),
        });
      } else {
        lat = await interpolatePass({
          ...common,
          onStep: (step, total) => emit({ stage: "interpolate", level, frames: fout, step, total }),
        });
      }
      latents[stream] = lat;
      control.onLatents?.(stream, lat);
      levelMs.push(performance.now() - t);
    }

    // 4. Decode.
    t = performance.now();
    emit({ stage: "decode", step: 0, total: settings.frames });
    const decoded = await decodeFrames({
      vae: this.sessions.vaeDecoder,
      latents: lat,
      scalingFactor: latent.scalingFactor,
      batch: settings.decodeBatch,
      signal,
      executionProvider,
      onBatch: (done, total) => emit({ stage: "decode", step: done, total }),
    });
    const decodeMs = performance.now() - t;
    if (signal?.aborted) throw new CancelledError("generate: cancelled", { cause: signal.reason });

    const keyStride = (settings.frames - 1) / (video.keyframes - 1);
    return {
      frames: decoded.frames,
      width: decoded.width,
      height: decoded.height,
      fps: video.fps,
      latents,
      textEmbeddings,
      keyframeIndices: Array.from({ length: video.keyframes }, (_, i) => i * keyStride),
      timings: {
        encode: encodeMs,
        keyframes: keyframesMs,
        interpolate: levelMs.reduce((a, b) => a + b, 0),
        interpolateLevels: levelMs,
        decode: decodeMs,
        total: performance.now() - tStart,
      },
      settings,
    };
  }

  /** Frees the sessions and stops the model workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.runtime.close();
  }
}
