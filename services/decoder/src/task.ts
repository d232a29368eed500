/** Checks of a decode task that need this service's pack (the contract checks are in @longshot/proto). */
import { InvalidArgumentError, LongshotError } from "@longshot/core";
import { Stage, type StageTask, validateStageTask } from "@longshot/proto";
import type { Pack } from "@longshot/runtime";

/** Checks a decode task against the contract and this service's pack; returns it unchanged. */
export function checkDecoderTask(task: StageTask | undefined, pack: Pack): StageTask {
  const valid = validateStageTask(task, "task", Stage.STAGE_DECODE);
  if (valid.packName !== pack.name || valid.packVersion !== pack.version) {
    throw new LongshotError(
      `task ${valid.taskId} was planned for pack ${valid.packName}@${valid.packVersion}; this service runs ${pack.id}`,
      { code: "FAILED_PRECONDITION" },
    );
  }
  if (valid.params?.$case !== "decode") return valid; // unreachable: validateStageTask checked the case
  const p = valid.params.value;
  const { latent } = pack.manifest;
  const shape = p.latents?.shape ?? [];
  const frames = shape[2] ?? 0;
  const expected = [1, latent.channels, frames, latent.height, latent.width];
  if (shape.length !== 5 || shape.some((d, i) => d !== expected[i])) {
    throw new InvalidArgumentError(
      "task.decode.latents.shape",
      `must be [1, ${latent.channels}, frames, ${latent.height}, ${latent.width}] for pack ${pack.id}, got [${shape.join(", ")}]`,
    );
  }
  if (p.frameEnd > frames) {
    throw new InvalidArgumentError(
      "task.decode.frame_end",
      `must be at most ${frames} (the latents' frames), got ${p.frameEnd}`,
    );
  }
  return valid;
}
