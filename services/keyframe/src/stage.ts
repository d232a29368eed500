/**
 * The keyframe stage: a checked keyframe task → the prompt's text embeddings `[2, T, H]` and the
 * denoised keyframe latents `[1, C, K, h, w]`, stored as safetensors under deterministic keys:
 * the latents at the task's `output_key`, the embeddings at `text.safetensors` next to it
 * (`jobs/<id>/keyframes.safetensors` → `jobs/<id>/text.safetensors`). Noise is the job seed's
 * Philox stream "keyframes", so the result equals the embedded pipeline's for the same seed.
 *
 * A task that runs again (redelivery, retry after a lost result) finds both objects of its earlier
 * run intact and stamped with its fingerprint, and reports them without computing anything.
 */
import type { BlobStore } from "@longshot/blob";
import { LongshotError } from "@longshot/core";
import {
  denoiseKeyframes,
  encodePrompt,
  KEYFRAME_STREAM,
  type PromptTokenizer,
  type SchedulerName,
  seededStageNoise,
} from "@longshot/engine";
import { StageResult, type StageTask, samplerName } from "@longshot/proto";
import type { ModelSession, Pack } from "@longshot/runtime";
import {
  findReusableLatent,
  protoLatentRef,
  putLatent,
  type StageRunContext,
  TaskClock,
  taskFingerprint,
} from "@longshot/stage";
import { textEmbeddingsKey } from "./task.js";

export interface KeyframeStageOptions {
  pack: Pack;
  textEncoder: ModelSession;
  unet: ModelSession;
  tokenizer: PromptTokenizer;
  store: BlobStore;
  workerId: string;
  /** Execution provider of the sessions ("cpu", "cuda"), recorded on the stage's spans. */
  executionProvider?: string | undefined;
}

export class KeyframeStage {
  readonly #o: KeyframeStageOptions;

  constructor(options: KeyframeStageOptions) {
    this.#o = options;
  }

  /** Runs a task checked by `checkKeyframeTask` (see the module comment). */
  async run(task: StageTask, ctx: StageRunContext): Promise<StageResult> {
    const { pack, store } = this.#o;
    if (task.params?.$case !== "keyframe" || task.sampler === undefined) {
      throw new LongshotError(`KeyframeStage.run: task ${task.taskId} was not checked (no keyframe params or sampler)`);
    }
    const params = task.params.value;
    const sampler = task.sampler;
    const log = ctx.logger;
    const clock = new TaskClock();
    const fingerprint = taskFingerprint(task);
    const latentsKey = task.outputKey;
    const textKey = textEmbeddingsKey(latentsKey);

    const earlier = await clock.time("load", async () => {
      const latents = await findReusableLatent(store, latentsKey, fingerprint, log);
      const text = latents && (await findReusableLatent(store, textKey, fingerprint, log));
      return latents && text ? { latents, text } : undefined;
    });
    if (earlier !== undefined) {
      log.info({ latentsKey, textKey }, "outputs of an earlier run of this task are intact; reusing them");
      ctx.progress?.(sampler.steps, sampler.steps);
      return this.#result(task, earlier.latents, earlier.text, clock);
    }

    const { latent, video } = pack.manifest;
    const textEmbeddings = await clock.time("compute", () =>
      encodePrompt({
        textEncoder: this.#o.textEncoder,
        tokenizer: this.#o.tokenizer,
        prompt: params.prompt,
        negativePrompt: params.negativePrompt,
        signal: ctx.signal,
        executionProvider: this.#o.executionProvider,
      }),
    );
    const keyframes = await clock.time("compute", () =>
      denoiseKeyframes({
        unet: this.#o.unet,
        sampler: samplerName(sampler.sampler) as SchedulerName,
        schedulerConfig: pack.manifest.scheduler,
        steps: sampler.steps,
        textEmbeddings,
        noise: seededStageNoise(task.seed, KEYFRAME_STREAM, [
          1,
          latent.channels,
          video.keyframes,
          latent.height,
          latent.width,
        ]),
        guidance: sampler.guidance,
        signal: ctx.signal,
        onStep: ctx.progress,
        executionProvider: this.#o.executionProvider,
      }),
    );
    const [text, latents] = await clock.time("store", () =>
      Promise.all([
        putLatent(store, textKey, textEmbeddings, fingerprint),
        putLatent(store, latentsKey, keyframes, fingerprint),
      ]),
    );
    return this.#result(task, latents, text, clock);
  }

  #result(
    task: StageTask,
    latents: Parameters<typeof protoLatentRef>[0],
    text: Parameters<typeof protoLatentRef>[0],
    clock: TaskClock,
  ): StageResult {
    return StageResult.fromPartial({
      jobId: task.jobId,
      taskId: task.taskId,
      stage: task.stage,
      latents: protoLatentRef(latents),
      textEmbeddings: protoLatentRef(text),
      timings: clock.timings(),
      workerId: this.#o.workerId,
    });
  }
}
