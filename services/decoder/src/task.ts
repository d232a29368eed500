/** Checks of a decode task that need this service's pack (the contract checks are in @longshot/proto). */
import { InvalidArgumentError } from "@longshot/core";
import { DataType, OutputFormat, Stage, type StageTask, validateStageTask } from "@longshot/proto";
import type { Pack } from "@longshot/runtime";
import { PackMismatchError } from "@longshot/stage";

/** Where a decode task's files go: derived from its output key without the extension (`jobs/j/video.mp4` → `jobs/j/video`). */
export interface DecodeKeys {
  stem: string;
  mp4: string;
  gif: string;
  /** PNG frame `i` (0-based, frame index in the video): `<stem>-frames/0000.png`. */
  png(frame: number, count: number): string;
  /** The record of a finished run (artifacts and the task fingerprint), written last. */
  manifest: string;
}

export function decodeKeys(outputKey: string): DecodeKeys {
  const slash = outputKey.lastIndexOf("/");
  const dot = outputKey.lastIndexOf(".");
  const stem = dot > slash + 1 ? outputKey.slice(0, dot) : outputKey;
  return {
    stem,
    mp4: `${stem}.mp4`,
    gif: `${stem}.gif`,
    png: (frame, count) => `${stem}-frames/${String(frame).padStart(Math.max(4, String(count - 1).length), "0")}.png`,
    manifest: `${stem}.json`,
  };
}

/**
 * Checks a decode task against the contract and this service's pack; returns it unchanged.
 * InvalidArgumentError names the field; PackMismatchError (FAILED_PRECONDITION) when it was planned
 * for another pack.
 */
export function checkDecoderTask(task: StageTask | undefined, pack: Pack): StageTask {
  const valid = validateStageTask(task, "task", Stage.STAGE_DECODE);
  if (valid.packName !== pack.name || valid.packVersion !== pack.version) {
    throw new PackMismatchError(
      `task ${valid.taskId} was planned for pack ${valid.packName}@${valid.packVersion}; this service runs ${pack.id}`,
    );
  }
  if (valid.params?.$case !== "decode") return valid; // unreachable: validateStageTask checked the case
  const p = valid.params.value;
  const { latent } = pack.manifest;
  if (p.latents !== undefined && p.latents.dtype !== DataType.DATA_TYPE_FLOAT32) {
    throw new InvalidArgumentError(
      "task.decode.latents.dtype",
      `must be DATA_TYPE_FLOAT32, got ${DataType[p.latents.dtype] ?? p.latents.dtype}`,
    );
  }
  const seen = new Set<OutputFormat>();
  p.outputFormats.forEach((format, i) => {
    if (seen.has(format)) {
      throw new InvalidArgumentError(`task.decode.output_formats[${i}]`, `${OutputFormat[format]} is listed twice`);
    }
    seen.add(format);
  });
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
