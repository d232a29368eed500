/**
 * The interpolation stage: one checked task = one window `[window_start, window_end)` of one level
 * (a whole-level pass is the window `[0, output_frames)`). It reads the level's input latents and the
 * text embeddings by reference (hashes verified), runs the engine's `runWindow` with the level's
 * noise (the job seed's Philox stream `interp<level>` over the whole level, of which the window draws
 * its own frames), and stores the window's latents `[1, C, end − start, h, w]` at the task's
 * `output_key` (the gateway names them `jobs/<id>/interp<level>/<start>-<end>.safetensors`).
 * The result therefore equals the window an in-process `interpolateWindowed` computes with the same
 * plan and seed, and `blendWindows` over all windows' results gives the embedded pipeline's level.
 *
 * A task that runs again finds its earlier output intact and stamped with its fingerprint, and
 * reports it without computing anything.
 */
import type { BlobStore } from "@longshot/blob";
import { LongshotError } from "@longshot/core";
import {
  type InterpolationMode,
  interpolationStream,
  runWindow,
  type SchedulerName,
  seededStageNoise,
} from "@longshot/engine";
import { Mode, StageResult, type StageTask, samplerName } from "@longshot/proto";
import type { ModelSession, Pack } from "@longshot/runtime";
import {
  findReusableLatent,
  protoLatentRef,
  putLatent,
  readLatent,
  type StageRunContext,
  TaskClock,
  taskFingerprint,
} from "@longshot/stage";

export interface InterpolationStageOptions {
  pack: Pack;
  unet: ModelSession;
  store: BlobStore;
  workerId: string;
  /** Execution provider of the sessions ("cpu", "cuda"), recorded on the stage's spans. */
  executionProvider?: string | undefined;
}

/** The engine's mode name of a (resolved) proto Mode. */
export function interpolationMode(mode: Mode): InterpolationMode {
  return mode === Mode.MODE_SEED ? "seed" : "pinned";
}

export class InterpolationStage {
  readonly #o: InterpolationStageOptions;

  constructor(options: InterpolationStageOptions) {
    this.#o = options;
  }

  /** Runs a task checked by `checkInterpolationTask` (see the module comment). */
  async run(task: StageTask, ctx: StageRunContext): Promise<StageResult> {
    const { pack, store } = this.#o;
    const p = task.params?.$case === "interpolation" ? task.params.value : undefined;
    const inputRef = p?.inputLatents;
    const textRef = p?.textEmbeddings;
    if (p === undefined || inputRef === undefined || textRef === undefined || task.sampler === undefined) {
      throw new LongshotError(
        `InterpolationStage.run: task ${task.taskId} was not checked (no interpolation params, inputs or sampler)`,
      );
    }
    const sampler = task.sampler;
    const log = ctx.logger;
    const clock = new TaskClock();
    const fingerprint = taskFingerprint(task);
    const key = task.outputKey;
    const window = { start: p.windowStart, end: p.windowEnd };

    const earlier = await clock.time("load", () => findReusableLatent(store, key, fingerprint, log));
    if (earlier !== undefined) {
      log.info({ key }, "outputs of an earlier run of this task are intact; reusing them");
      ctx.progress?.(sampler.steps, sampler.steps);
      return this.#result(task, earlier, clock);
    }

    const where = "task.interpolation";
    const [latents, textEmbeddings] = await clock.time("load", () =>
      Promise.all([
        readLatent(store, inputRef, `${where}.input_latents`),
        readLatent(store, textRef, `${where}.text_embeddings`),
      ]),
    );
    const { latent, video } = pack.manifest;
    const out = await clock.time("compute", () =>
      runWindow({
        unet: this.#o.unet,
        sampler: samplerName(sampler.sampler) as SchedulerName,
        schedulerConfig: pack.manifest.scheduler,
        steps: sampler.steps,
        textEmbeddings,
        latents,
        noise: seededStageNoise(task.seed, interpolationStream(p.level), [
          1,
          latent.channels,
          p.outputFrames,
          latent.height,
          latent.width,
        ]),
        frameStride: p.frameStride,
        guidance: sampler.guidance,
        strength: p.strength ?? 1,
        mode: interpolationMode(p.mode),
        factor: video.interpolationFactor,
        hint: pack.manifest.interpolation.hint,
        window,
        signal: ctx.signal,
        onStep: ctx.progress,
        executionProvider: this.#o.executionProvider,
      }),
    );
    const stored = await clock.time("store", () => putLatent(store, key, out, fingerprint));
    return this.#result(task, stored, clock);
  }

  #result(task: StageTask, latents: Parameters<typeof protoLatentRef>[0], clock: TaskClock): StageResult {
    const p = task.params?.$case === "interpolation" ? task.params.value : undefined;
    return StageResult.fromPartial({
      jobId: task.jobId,
      taskId: task.taskId,
      stage: task.stage,
      latents: protoLatentRef(latents),
      timings: clock.timings(),
      workerId: this.#o.workerId,
      windowStart: p?.windowStart ?? 0,
      windowEnd: p?.windowEnd ?? 0,
    });
  }
}
