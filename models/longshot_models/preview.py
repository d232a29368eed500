"""Keyframe previews without the VAE decoder (what ComfyUI and AUTOMATIC1111 call a latent2rgb preview).

`fit_preview` fits, by least squares, one linear map plus bias from a model-space latent pixel (the VAE encoder's
mean times the pack's scalingFactor: what the UNets produce, 4 channels) to the RGB colour, in [0, 1], of the 4x4
block of video pixels it covers (the frame averaged over each block). It fits on world clips drawn at a fixed seed
and reports how close the map gets (PSNR against the block-averaged frames, on the clips it was fitted on and on
clips drawn at another seed). export.build_manifest writes the map as pack.json `latent.previewRgb`:
RGB = clamp(weights . latent + bias, 0, 1) per latent pixel; libs/media's keyframePreviewPng draws it.

    python -m longshot_models.preview [--clips 256] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from . import vae, world

# The fixed seeds: clips to fit on, and other clips to check the fit on. Chosen before any fit was run.
FIT_SEED = 0
CHECK_SEED = 1
FIT_CLIPS = 256
FRAMES_PER_CLIP = 5  # times drawn at random along each clip (any point of the motion, like a keyframe)


@dataclass(frozen=True)
class PreviewFit:
    weights: list[list[float]]  # 3 rows (R, G, B) of 4 numbers (latent channels)
    bias: list[float]  # 3 numbers

    def to_manifest(self) -> dict[str, object]:
        """pack.json `latent.previewRgb`, to 6 decimals (a colour error of a few 1e-6 at most)."""
        return {"weights": [[round(v, 6) for v in row] for row in self.weights], "bias": [round(v, 6) for v in self.bias]}

    def apply(self, latents: torch.Tensor) -> torch.Tensor:
        """[N, 4, H, W] model-space latents -> [N, 3, H, W] RGB in [0, 1]."""
        w = torch.tensor(self.weights, dtype=latents.dtype)
        b = torch.tensor(self.bias, dtype=latents.dtype)
        return (torch.einsum("rc,nchw->nrhw", w, latents) + b.view(1, 3, 1, 1)).clamp(0.0, 1.0)


def world_samples(vae_model: vae.VAE, scale: float, seed: int, clips: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Model-space latents [N, 4, 16, 16], the block-averaged frames [N, 3, 16, 16] in [0, 1] and the share of each
    block the object covers [N, 1, 16, 16] of `clips` world clips (any colour, shape, motion and background) at
    FRAMES_PER_CLIP random times each."""
    rng = random.Random(seed)
    specs = [world.sample_spec(rng, split="any") for _ in range(clips)]
    times = [[rng.random() for _ in range(FRAMES_PER_CLIP)] for _ in specs]
    frames = torch.cat([world.render(spec, t) for spec, t in zip(specs, times)])
    background = torch.cat([torch.tensor(world.BACKGROUNDS[s.background]).view(1, 3, 1, 1).expand(FRAMES_PER_CLIP, 3, world.SIZE, world.SIZE) for s in specs])
    rgb = (frames + 1.0) / 2.0
    covered = ((rgb - background).abs().sum(dim=1, keepdim=True) > 0.05).float()
    with torch.no_grad():
        latents = torch.cat([vae_model.encode(chunk) * scale for chunk in frames.split(256)])
    down = world.SIZE // latents.shape[-1]
    return latents, F.avg_pool2d(rgb, down), F.avg_pool2d(covered, down)


def fit_linear(latents: torch.Tensor, target: torch.Tensor) -> PreviewFit:
    """Least squares: target[n, :, h, w] ~ W @ latents[n, :, h, w] + b over every latent pixel (float64)."""
    c = latents.shape[1]
    x = latents.permute(0, 2, 3, 1).reshape(-1, c).double()
    y = target.permute(0, 2, 3, 1).reshape(-1, target.shape[1]).double()
    design = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
    solution = torch.linalg.lstsq(design, y, driver="gelsd").solution  # [c + 1, 3]
    weights = solution[:c].T  # [3, c]
    bias = solution[c]
    return PreviewFit([[float(v) for v in row] for row in weights], [float(v) for v in bias])


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    mse = float(F.mse_loss(pred.double(), target.double()))
    return 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf


def fit_preview(clips: int = FIT_CLIPS, seed: int = FIT_SEED, check_seed: int = CHECK_SEED) -> tuple[PreviewFit, dict[str, float]]:
    """The pack's preview map and its report: PSNR (dB) against the block-averaged frames on the fitted clips and
    on other clips (all of it, the blocks inside the object, the background blocks), and, for scale, the PSNR of
    the best single colour (the mean) on those other clips. The world is mostly background, and the VAE's latent
    of an object's colour depends on the background around it, so one linear map shows the background closely and
    the object at its place in a duller colour (check_object_psnr_db)."""
    from . import train

    torch.manual_seed(0)
    vae_model, scale = train.load_vae()
    latents, target, _ = world_samples(vae_model, scale, seed, clips)
    fit = fit_linear(latents, target)
    check_latents, check_target, coverage = world_samples(vae_model, scale, check_seed, max(1, clips // 4))
    mean_colour = target.mean(dim=(0, 2, 3), keepdim=True).expand_as(check_target)
    check = fit.apply(check_latents)
    inside = (coverage > 0.99).expand_as(check)  # blocks wholly inside the object
    outside = (coverage < 0.01).expand_as(check)  # blocks of background only
    report = {
        "fit_psnr_db": psnr(fit.apply(latents), target),
        "check_psnr_db": psnr(check, check_target),
        "check_object_psnr_db": psnr(check[inside], check_target[inside]),
        "check_background_psnr_db": psnr(check[outside], check_target[outside]),
        "check_mean_colour_psnr_db": psnr(mean_colour, check_target),
        "pixels": float(latents.shape[0] * latents.shape[2] * latents.shape[3]),
    }
    return fit, report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=FIT_CLIPS)
    ap.add_argument("--seed", type=int, default=FIT_SEED)
    args = ap.parse_args(argv)
    fit, report = fit_preview(args.clips, args.seed)
    print(json.dumps({"previewRgb": fit.to_manifest(), **report}, indent=2))


if __name__ == "__main__":
    main()
