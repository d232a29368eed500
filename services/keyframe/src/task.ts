/** Checks of a keyframe task that need this service's pack (the contract checks are in @longshot/proto). */
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { Stage, type StageTask, validateStageTask } from "@longshot/proto";
import type { Pack } from "@longshot/runtime";

/** Checks a keyframe task against the contract and this service's pack; returns it unchanged. */
export function checkKeyframeTask(task: StageTask | undefined, pack: Pack): StageTask {
  const valid = validateStageTask(task, "task", Stage.STAGE_KEYFRAME);
  if (valid.packName !== pack.name || valid.packVersion !== pack.version) {
    throw new LongshotError(
      `task ${valid.taskId} was planned for pack ${valid.packName}@${valid.packVersion}; this service runs ${pack.id}`,
      { code: "FAILED_PRECONDITION" },
    );
  }
  if (valid.params?.$case === "keyframe" && valid.params.value.numFrames !== pack.manifest.video.keyframes) {
    throw new InvalidArgumentError(
      "task.keyframe.num_frames",
      `must be ${pack.manifest.video.keyframes} (video.keyframes of pack ${pack.id}), got ${valid.params.value.numFrames}`,
    );
  }
  return valid;
}
