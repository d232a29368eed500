"""Which stage loses quality: `python -m longshot_models.diagnose [--videos N]`.

1. keyframes alone: the 5 generated keyframes, decoded and probed (colour, shape, background, motion);
2. interpolation alone: ground-truth keyframes (VAE-encoded renders) interpolated 5 -> 17 -> 65, probed;
3. the VAE alone: ground-truth 65-frame clips encoded and decoded, probed.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from . import probe, world
from .reference import ReferencePipeline, Settings, make_noise
from .train import ROOT, load_vae


def _rates(scores: list[dict[str, object]]) -> dict[str, float]:
    keys = ("colour_ok", "shape_ok", "motion_ok", "background_ok", "smooth")
    return {k.removesuffix("_ok"): round(sum(bool(s[k]) for s in scores) / len(scores), 3) for k in keys}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", type=Path, default=ROOT / "packs" / "shapes-mini")
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args(argv)
    pipe = ReferencePipeline(args.pack, threads=2)
    vae_model, scale = load_vae()
    d = pipe.manifest["defaults"]
    s = Settings(d["keyframe"]["steps"], d["keyframe"]["guidance"], d["interpolation"]["steps"], d["interpolation"]["guidance"])
    rng = random.Random(args.seed)
    kf_scores, interp_scores, vae_scores = [], [], []
    for i in range(args.videos):
        spec = world.sample_spec(rng, split="train")
        noise = make_noise(pipe.noise_shapes(65), 10_000 + i)
        ctx = pipe.encode_prompt(spec.prompt)
        kf = pipe.keyframes(ctx, noise["keyframes"], s)
        kf_scores.append(probe.score(pipe.decode(kf), spec.prompt))
        with torch.no_grad():
            gt = (vae_model.encode(world.render(spec, [k / 4 for k in range(5)])) * scale).permute(1, 0, 2, 3)[None].numpy()
            clip = world.render(spec, world.frame_times(65))
            rec = vae_model.decode(vae_model.encode(clip)).clamp(-1, 1)
        l17 = pipe.interpolate(ctx, gt, noise["interp1"], 4.0, s)
        l65 = pipe.interpolate(ctx, l17, noise["interp2"], 1.0, s)
        interp_scores.append(probe.score(pipe.decode(l65), spec.prompt))
        frames = np.round((rec.permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        vae_scores.append(probe.score(frames, spec.prompt))
    print(json.dumps({"videos": args.videos, "keyframes_alone": _rates(kf_scores), "interpolation_alone_from_true_keyframes": _rates(interp_scores), "vae_alone": _rates(vae_scores)}, indent=2))


if __name__ == "__main__":
    main()
