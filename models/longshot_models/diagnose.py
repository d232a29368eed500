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
    rates = {k.removesuffix("_ok"): round(sum(bool(s[k]) for s in scores) / len(scores), 3) for k in keys}
    if all("shape_every_frame" in s for s in scores):
        rates["shape_every_frame"] = round(sum(bool(s["shape_every_frame"]) for s in scores) / len(scores), 3)
    rates["median_max_step_ratio"] = round(float(np.median([float(s["max_step_ratio"]) for s in scores])), 2)  # type: ignore[arg-type]
    return rates


def _uint8(x: torch.Tensor) -> np.ndarray:
    """[F, 3, H, W] in [-1, 1] -> [F, H, W, 3] uint8, as the decoder's output is written."""
    return np.round((x.permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)


def _frame_psnr(frames: np.ndarray, truth: np.ndarray) -> np.ndarray:
    mse = np.mean((frames.astype(np.float64) - truth.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def _psnr_summary(per_video: list[np.ndarray]) -> dict[str, object]:
    """PSNR of every in-between frame (not a keyframe slot) against the world's true frame: the mean over
    frames and videos, and the worst frame position (its mean over videos)."""
    p = np.stack(per_video)  # [videos, 65]
    between = [i for i in range(p.shape[1]) if i % 16]
    by_pos = p[:, between].mean(axis=0)
    worst = int(np.argmin(by_pos))
    return {"psnr_mean": round(float(p[:, between].mean()), 2), "psnr_worst_position": between[worst], "psnr_worst_position_mean": round(float(by_pos[worst]), 2)}


def _shape_every_frame(frames: np.ndarray, shape: str) -> bool:
    shapes = probe.frame_shapes(frames)
    return sum(s == shape for s in shapes) / len(shapes) >= 0.9


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", type=Path, default=ROOT / "packs" / "shapes-mini")
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a pack default, e.g. --set interp_strength=1.0")
    ap.add_argument("--only", choices=["keyframes", "interpolation", "vae"], action="append", help="probe only these parts (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    overrides = {k: (v if k == "mode" else float(v) if "." in v else int(v)) for k, v in (a.split("=", 1) for a in args.set)}
    only = set(args.only or ["keyframes", "interpolation", "vae"])
    pipe = ReferencePipeline(args.pack, threads=args.threads)
    vae_model, scale = load_vae()
    s = Settings.pack_defaults(pipe.manifest, **overrides)
    rng = random.Random(args.seed)
    scores: dict[str, list[dict[str, object]]] = {k: [] for k in ("keyframes", "interpolation", "vae")}
    psnrs: dict[str, list[np.ndarray]] = {"interpolation": [], "vae": []}
    for i in range(args.videos):
        spec = world.sample_spec(rng, split="train")
        noise = make_noise(pipe.noise_shapes(65), 10_000 + i)
        ctx = pipe.encode_prompt(spec.prompt)
        if "keyframes" in only:
            kf = pipe.keyframes(ctx, noise["keyframes"], s)
            scores["keyframes"].append(probe.score(pipe.decode(kf), spec.prompt))
        with torch.no_grad():
            gt = (vae_model.encode(world.render(spec, [k / 4 for k in range(5)])) * scale).permute(1, 0, 2, 3)[None].numpy()
            truth_img = world.render(spec, world.frame_times(65))
            rec = vae_model.decode(vae_model.encode(truth_img)).clamp(-1, 1)
        truth = _uint8(truth_img)
        if "interpolation" in only:
            l17 = pipe.interpolate(ctx, gt, noise["interp1"], 4.0, s)
            l65 = pipe.interpolate(ctx, l17, noise["interp2"], 1.0, s)
            frames = pipe.decode(l65)
            scores["interpolation"].append({**probe.score(frames, spec.prompt), "shape_every_frame": _shape_every_frame(frames, spec.shape)})
            psnrs["interpolation"].append(_frame_psnr(frames, truth))
        if "vae" in only:
            frames = _uint8(rec)
            scores["vae"].append({**probe.score(frames, spec.prompt), "shape_every_frame": _shape_every_frame(frames, spec.shape)})
            psnrs["vae"].append(_frame_psnr(frames, truth))
    names = {"keyframes": "keyframes_alone", "interpolation": "interpolation_alone_from_true_keyframes", "vae": "vae_alone"}
    out = {names[k]: {**_rates(v), **(_psnr_summary(psnrs[k]) if psnrs.get(k) else {})} for k, v in scores.items() if v}
    print(json.dumps({"videos": args.videos, "settings": s.__dict__, **out}, indent=2))

if __name__ == "__main__":
    main()
