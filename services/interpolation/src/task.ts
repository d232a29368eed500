/** Checks of an interpolation task that need this service's pack (the contract checks are in @longshot/proto). */
import { InvalidArgumentError } from "@longshot/core";
import { strengthBeginIndex } from "@longshot/engine";
import { DataType, type LatentRef, Stage, type StageTask, validateStageTask } from "@longshot/proto";
import type { Pack } from "@longshot/runtime";
import { PackMismatchError } from "@longshot/stage";

/**
 * Frame counts of each level of the pack: level 0 is the keyframes, level n has
 * (frames(n-1) - 1) * interpolationFactor + 1 frames, up to the largest allowed count.
 */
export function levelFrames(pack: Pack): number[] {
  const { keyframes, interpolationFactor } = pack.manifest.video;
  const largest = Math.max(...pack.allowedFrames);
  const levels = [keyframes];
  for (let f = keyframes; f < largest; ) {
    f = (f - 1) * interpolationFactor + 1;
    levels.push(f);
  }
  return levels;
}

function checkShape(ref: LatentRef | undefined, expected: readonly number[], field: string, what: string): void {
  if (ref !== undefined && ref.dtype !== DataType.DATA_TYPE_FLOAT32) {
    throw new InvalidArgumentError(
      `${field}.dtype`,
      `must be DATA_TYPE_FLOAT32 (${what}), got ${DataType[ref.dtype] ?? ref.dtype}`,
    );
  }
  const shape = ref?.shape ?? [];
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
    throw new InvalidArgumentError(
      `${field}.shape`,
      `must be [${expected.join(", ")}] (${what}), got [${shape.join(", ")}]`,
    );
  }
}

/**
 * Checks an interpolation task against the contract and this service's pack; returns it unchanged.
 * InvalidArgumentError names the field; PackMismatchError (FAILED_PRECONDITION) when it was planned
 * for another pack.
 */
export function checkInterpolationTask(task: StageTask | undefined, pack: Pack): StageTask {
  const valid = validateStageTask(task, "task", Stage.STAGE_INTERPOLATION);
  if (valid.packName !== pack.name || valid.packVersion !== pack.version) {
    throw new PackMismatchError(
      `task ${valid.taskId} was planned for pack ${valid.packName}@${valid.packVersion}; this service runs ${pack.id}`,
    );
  }
  if (valid.params?.$case !== "interpolation") return valid; // unreachable: validateStageTask checked the case
  const p = valid.params.value;
  const where = "task.interpolation";
  const { latent, text, video } = pack.manifest;

  const levels = levelFrames(pack);
  const level = levels.indexOf(p.outputFrames);
  if (level < 1) {
    throw new InvalidArgumentError(
      `${where}.output_frames`,
      `must be one of ${levels.slice(1).join(", ")} (the levels of pack ${pack.id}), got ${p.outputFrames}`,
    );
  }
  if (p.level !== level) {
    throw new InvalidArgumentError(
      `${where}.level`,
      `must be ${level} for ${p.outputFrames} output frames, got ${p.level}`,
    );
  }
  const inputFrames = levels[level - 1] as number;
  checkShape(
    p.inputLatents,
    [1, latent.channels, inputFrames, latent.height, latent.width],
    `${where}.input_latents`,
    `level ${level - 1} latents`,
  );
  checkShape(
    p.textEmbeddings,
    [2, text.maxTokens, text.hiddenSize],
    `${where}.text_embeddings`,
    "unconditional and conditional embeddings",
  );

  const stride = pack.manifest.interpolation.strides[String(p.outputFrames)];
  if (stride === undefined) {
    throw new InvalidArgumentError(
      `${where}.output_frames`,
      `pack ${pack.id} has no frame stride for ${p.outputFrames} frames`,
    );
  }
  if (p.frameStride !== stride) {
    throw new InvalidArgumentError(
      `${where}.frame_stride`,
      `must be ${stride} for ${p.outputFrames} frames in pack ${pack.id}, got ${p.frameStride}`,
    );
  }
  // A window starts and ends on known frames (both ends hold frames of the previous level) and spans an interval.
  const factor = video.interpolationFactor;
  if (p.windowStart % factor !== 0) {
    throw new InvalidArgumentError(
      `${where}.window_start`,
      `${p.windowStart} is not a known frame (windows start and end on multiples of ${factor})`,
    );
  }
  if ((p.windowEnd - 1) % factor !== 0 || p.windowEnd - p.windowStart < factor + 1) {
    throw new InvalidArgumentError(
      `${where}.window_end`,
      `window [${p.windowStart}, ${p.windowEnd}) must end just after a known frame (window_end - 1 a multiple of ${factor}) and span at least ${factor + 1} frames`,
    );
  }
  const guidance = valid.sampler?.guidance ?? 0;
  if (guidance < 1) {
    throw new InvalidArgumentError(
      "task.sampler.guidance",
      `must be at least 1 (1 = no classifier-free guidance), got ${guidance}`,
    );
  }
  strengthBeginIndex(valid.sampler?.steps ?? 0, p.strength ?? 1, `${where}.strength`);
  p.anchorFrames.forEach((frame, i) => {
    if (frame % video.interpolationFactor !== 0) {
      throw new InvalidArgumentError(
        `${where}.anchor_frames[${i}]`,
        `${frame} is not a known frame (known frames are multiples of ${video.interpolationFactor})`,
      );
    }
  });
  return valid;
}
