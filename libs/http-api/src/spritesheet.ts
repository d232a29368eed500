/**
 * The `spritesheet` variant of a job's content: its keyframes side by side as one PNG at the video's size, made
 * from the keyframe latents `[1, C, K, h, w]` with the pack's linear preview (`latent.previewRgb`) by
 * `keyframePreviewPng` of @longshot/media. Both job services call this with the latents they keep.
 */
import { NotFoundError } from "@longshot/core";
import { keyframePreviewPng } from "@longshot/media";
import type { PackManifest } from "@longshot/pack";
import type { Tensor } from "@longshot/tensor";

/** The PNG of `latents` (job `jobId`'s keyframe latents); NotFoundError for a pack without `latent.previewRgb`. */
export function keyframesSpritesheet(jobId: string, latents: Tensor, manifest: PackManifest): Uint8Array {
  if (manifest.latent.previewRgb === undefined) {
    throw new NotFoundError(
      `job ${jobId}: pack ${manifest.name}@${manifest.version} declares no latent.previewRgb, so its keyframes have no preview`,
    );
  }
  return keyframePreviewPng(latents as Tensor<"float32">, manifest.latent);
}
