/** Checks of a keyframe task that need this service's pack (the contract checks are in @longshot/proto). */
import { InvalidArgumentError } from "@longshot/core";
import { Stage, type StageTask, validateStageTask } from "@longshot/proto";
import type { Pack } from "@longshot/runtime";
import { PackMismatchError } from "@longshot/stage";

/** The object key of the text embeddings a keyframe task writes: `text.safetensors` next to its output key. */
export function textEmbeddingsKey(outputKey: string): string {
  const slash = outputKey.lastIndexOf("/");
  return `${slash < 0 ? "" : outputKey.slice(0, slash + 1)}text.safetensors`;
}

/**
 * Checks a keyframe task against the contract and this service's pack; returns it unchanged.
 * InvalidArgumentError names the field; PackMismatchError (FAILED_PRECONDITION) when it was planned
 * for another pack.
 */
export function checkKeyframeTask(task: StageTask | undefined, pack: Pack): StageTask {
  const valid = validateStageTask(task, "task", Stage.STAGE_KEYFRAME);
  if (valid.packName !== pack.name || valid.packVersion !== pack.version) {
    throw new PackMismatchError(
      `task ${valid.taskId} was planned for pack ${valid.packName}@${valid.packVersion}; this service runs ${pack.id}`,
    );
  }
  if (valid.params?.$case === "keyframe" && valid.params.value.numFrames !== pack.manifest.video.keyframes) {
    throw new InvalidArgumentError(
      "task.keyframe.num_frames",
      `must be ${pack.manifest.video.keyframes} (video.keyframes of pack ${pack.id}), got ${valid.params.value.numFrames}`,
    );
  }
  const guidance = valid.sampler?.guidance ?? 0;
  if (guidance < 1) {
    throw new InvalidArgumentError(
      "task.sampler.guidance",
      `must be at least 1 (1 = no classifier-free guidance), got ${guidance}`,
    );
  }
  if (textEmbeddingsKey(valid.outputKey) === valid.outputKey) {
    throw new InvalidArgumentError(
      "task.output_key",
      `${JSON.stringify(valid.outputKey)} is where the text embeddings go; name the keyframe latents otherwise (e.g. jobs/<id>/keyframes.safetensors)`,
    );
  }
  return valid;
}
