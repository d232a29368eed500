"""Which stage loses quality: `python -m longshot_models.diagnose [--videos N]`.

1. keyframes alone: the 5 generated keyframes, decoded and probed (colour, shape, background, motion);
2. interpolation alone: ground-truth keyframes (VAE-encoded renders) interpolated 5 -> 17 -> 65, probed;
3. the VAE alone: ground-truth 65-frame clips encoded and decoded, probed;
4. `--only vae-frames` (not in the default set): how often the probe reads each shape right in single frames after
   the VAE (every 4th frame of clips drawn over every combination of that shape, the draw of docs/models.md's
   "Reading the shape": `--seed 7 --videos 40`);
5. smoothness (`--only smoothness`, not in the default set): whole videos (keyframes -> 17 -> 65), and for each the
   largest frame-to-frame step: which frames it joins (a keyframe slot, a 17-level slot or two in-between frames),
   the 4-frame gap it lies in (its length against the median gap, the share of it the step covers; 0.25 is even),
   the ratio on the motion axis alone (if that passes, the probe's size or cross-axis reading made the jump), the
   unevenness of the 5 keyframes against the true clip's, and the true world clip's own ratio. Over all videos: where
   the in-between frames sit inside each gap (even: 0.25 / 0.50 / 0.75). `--eval-videos 9,18` regenerates those
   videos of `evaluate` (its prompts and noise, `--eval-seed`, default 1) instead of diagnose's own.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import probe, world
from .reference import ReferencePipeline, Settings, make_noise
from .train import ROOT, load_vae
from .vae import VAE


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


def vae_frame_shape_rates(vae_model: VAE, seed: int, clips_per_shape: int) -> dict[str, float]:
    """Per shape, the share of frames the probe reads as that shape after the VAE: `clips_per_shape` clips over every
    (colour, shape, motion) of the shape (`random.Random(seed)`, shapes in world order), every 4th of 65 frames
    encoded and decoded."""
    rng = random.Random(seed)
    rates: dict[str, float] = {}
    for shape in world.SHAPES:
        combos = [c for c in world.all_combos() if c[1] == shape]
        right = total = 0
        for _ in range(clips_per_shape):
            spec = world.sample_spec(rng, rng.choice(combos))
            with torch.no_grad():
                rec = vae_model.decode(vae_model.encode(world.render(spec, world.frame_times(65)[::4]))).clamp(-1, 1)
            read = probe.frame_shapes(_uint8(rec))
            right += sum(s == shape for s in read)
            total += sum(s is not None for s in read)
        rates[shape] = round(right / total, 4)
    return rates


def _shape_every_frame(frames: np.ndarray, shape: str) -> bool:
    shapes = probe.frame_shapes(frames)
    return sum(s == shape for s in shapes) / len(shapes) >= 0.9


# ---------------------------------------------------------------- smoothness

KEYFRAME_EVERY = 16  # frame slots of a 65-frame video that hold the 5 keyframes
LEVEL17_EVERY = 4  # slots that hold the 17-level frames


def slot_level(frame: int) -> str:
    """Which pass made frame `frame` of a 65-frame video: "keyframe", "17-level" or "in-between" (the last pass)."""
    if frame < 0:
        raise ValueError(f"frame index must be >= 0, got {frame}")
    return "keyframe" if frame % KEYFRAME_EVERY == 0 else "17-level" if frame % LEVEL17_EVERY == 0 else "in-between"


def step_level(step: int) -> str:
    """The level of the step from frame `step` to `step + 1`: the higher level of its two frames."""
    levels = (slot_level(step), slot_level(step + 1))
    return next(lv for lv in ("keyframe", "17-level", "in-between") if lv in levels)


def _check_track(track: Sequence[float], every: int) -> np.ndarray:
    v = np.asarray(track, dtype=np.float64)
    if every < 2 or len(v) < every + 1 or (len(v) - 1) % every:
        raise ValueError(f"a track of {len(v)} frames does not split into gaps of {every} frames (need {every}k + 1 frames, k >= 1)")
    if np.isnan(v).any():
        raise ValueError("the track has frames where the probe saw no object (NaN); gap positions need the object in every frame")
    return v


def gap_fractions(track: Sequence[float], every: int = LEVEL17_EVERY, min_gap: float = 1.0) -> list[float]:
    """Where the frames inside each gap of `every` frames sit, as a fraction of the gap (mean over gaps that move at
    least `min_gap` px; NaN where none does). Even motion gives 1/every, 2/every, ...; lower values lag behind."""
    v = _check_track(track, every)
    rows = [(v[g + 1 : g + every] - v[g]) / (v[g + every] - v[g]) for g in range(0, len(v) - 1, every) if abs(v[g + every] - v[g]) >= min_gap]
    return [float(x) for x in np.mean(rows, axis=0)] if rows else [math.nan] * (every - 1)


def motion_track(motion: str, r: probe.ProbeResult) -> list[float]:
    """The probe's track on the clip's motion axis: x for left/right, y for up/down, size for approaching/receding."""
    if motion in ("left", "right"):
        return r.xs
    if motion in ("up", "down"):
        return r.ys
    if motion in ("approaching", "receding"):
        return r.sizes
    raise ValueError(f"unknown motion {motion!r}; expected one of {world.MOTIONS}")


def _steps(points: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(np.diff(points, axis=0) ** 2, axis=1))


def unevenness(r: probe.ProbeResult) -> float:
    """Largest over median step of a probed track (x, y, size); 1.0 is perfectly even."""
    steps = _steps(np.array([r.xs, r.ys, r.sizes]).T)
    med = float(np.median(steps))
    return float(steps.max()) / med if med > 0 else math.inf


def smoothness_row(motion: str, frames: np.ndarray, keyframe_frames: np.ndarray, truth: np.ndarray) -> dict[str, object]:
    """Where a 65-frame video's largest step comes from (see the module docstring). frames and truth: [65, H, W, 3]
    uint8 (the video and the world's true clip), keyframe_frames: the 5 decoded keyframes."""
    if len(frames) != 65 or len(truth) != 65 or len(keyframe_frames) != 5:
        raise ValueError(f"need 65 frames, 65 true frames and 5 keyframes, got {len(frames)}, {len(truth)} and {len(keyframe_frames)}")
    r = probe.probe(frames)
    if r.colour is None or any(math.isnan(x) for x in r.xs):
        return {"smooth": False, "max_step_ratio": math.inf, "object_lost": True}
    steps = _steps(np.array([r.xs, r.ys, r.sizes]).T)
    j = int(np.argmax(steps))
    along = np.asarray(motion_track(motion, r))
    slots = along[::LEVEL17_EVERY]
    gaps = np.abs(np.diff(slots))
    g = j // LEVEL17_EVERY
    gap = float(gaps[g])
    kf, kf_true = probe.probe(keyframe_frames), probe.probe(truth[::KEYFRAME_EVERY])
    true_r = probe.probe(truth)
    return {
        "smooth": r.smooth,
        "max_step_ratio": round(r.max_step_ratio, 3),
        "max_step": f"{j}->{j + 1}",
        "max_step_level": step_level(j),
        "max_step_gap_vs_median_gap": round(gap / float(np.median(gaps)), 2) if np.median(gaps) > 0 else math.inf,
        "max_step_share_of_gap": round(float(abs(along[j + 1] - along[j])) / gap, 2) if gap > 0 else math.inf,
        "motion_axis_ratio": round(probe._max_step_ratio(list(along), [0.0] * len(along), [0.0] * len(along)), 3),
        "keyframe_unevenness": round(unevenness(kf), 2),
        "keyframe_unevenness_true": round(unevenness(kf_true), 2),
        "true_clip_ratio": round(true_r.max_step_ratio, 3),
        "true_clip_smooth": true_r.smooth,
        "gap_fractions_65": gap_fractions(along),
        "gap_fractions_17": gap_fractions(slots),
    }


def smoothness_summary(rows: list[dict[str, object]], prompts: list[str]) -> dict[str, object]:
    """Rates over videos, the mean in-between positions, and one line per video that fails the smoothness check."""
    ok = [r for r in rows if not r.get("object_lost")]
    mean_fr = lambda k: [round(float(x), 3) for x in np.nanmean([r[k] for r in ok], axis=0)] if ok else []  # noqa: E731
    levels = [str(r["max_step_level"]) for r in ok]
    fails = [(p, r) for p, r in zip(prompts, rows) if not r["smooth"]]
    return {
        "smooth": round(sum(bool(r["smooth"]) for r in rows) / len(rows), 3),
        "true_clip_smooth": round(sum(bool(r["true_clip_smooth"]) for r in ok) / max(1, len(ok)), 3),
        "largest_step_at": {lv: levels.count(lv) for lv in ("keyframe", "17-level", "in-between")},
        "largest_step_at_failures": {lv: sum(str(r.get("max_step_level")) == lv for _, r in fails) for lv in ("keyframe", "17-level", "in-between")},
        "gap_fractions_65_mean (even 0.25 0.5 0.75)": mean_fr("gap_fractions_65"),
        "gap_fractions_17_mean (even 0.25 0.5 0.75)": mean_fr("gap_fractions_17"),
        # the step into the next 17-level slot, as a share of its 4-frame gap (even: 0.25)
        "last_step_share_65_mean": round(1.0 - mean_fr("gap_fractions_65")[-1], 3) if ok else None,
        "failures": [{"prompt": p, **{k: v for k, v in r.items() if not k.startswith("gap_fractions")}} for p, r in fails],
    }


def evaluate_specs(seed: int, indices: Sequence[int]) -> list[tuple[int, world.ClipSpec, int]]:
    """(index, spec, noise seed) of `evaluate`'s videos at these indices: the same draws as evaluate.evaluate
    (even index seen, odd held out, noise seed * 100 000 + index), so the videos come out bit for bit."""
    if not indices or min(indices) < 0:
        raise ValueError(f"evaluate video indices must be >= 0 and at least one, got {list(indices)}")
    rng = random.Random(seed)
    specs = [world.sample_spec(rng, split="held_out" if i % 2 else "train") for i in range(max(indices) + 1)]
    return [(i, specs[i], seed * 100_000 + i) for i in indices]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", type=Path, default=ROOT / "packs" / "shapes-mini")
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a pack default, e.g. --set interp_strength=1.0")
    ap.add_argument("--only", choices=["keyframes", "interpolation", "vae", "vae-frames", "smoothness"], action="append", help="probe only these parts (default: keyframes, interpolation, vae)")
    ap.add_argument("--eval-videos", default=None, metavar="I,J,...", help="with --only smoothness: regenerate these videos of evaluate instead")
    ap.add_argument("--eval-seed", type=int, default=1, help="evaluate's --seed for --eval-videos")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    overrides = {k: (v if k == "mode" else float(v) if "." in v else int(v)) for k, v in (a.split("=", 1) for a in args.set)}
    only = set(args.only or ["keyframes", "interpolation", "vae"])
    if only == {"smoothness"}:
        _smoothness_main(args, overrides)
        return
    if "smoothness" in only or args.eval_videos:
        ap.error("--only smoothness (and --eval-videos) runs on its own: leave out the other --only parts")
    if only == {"vae-frames"}:
        print(json.dumps({"clips_per_shape": args.videos, "seed": args.seed, "vae_frames_read_right": vae_frame_shape_rates(load_vae()[0], args.seed, args.videos)}, indent=2))
        return
    if "vae-frames" in only:
        ap.error("--only vae-frames runs on its own: leave out the other --only parts")
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


def _smoothness_main(args: argparse.Namespace, overrides: dict[str, object]) -> None:
    if args.eval_videos:
        try:
            videos = evaluate_specs(args.eval_seed, [int(x) for x in args.eval_videos.split(",")])
        except ValueError:
            raise SystemExit(f"--eval-videos takes comma-separated video indices >= 0, e.g. 9,18; got {args.eval_videos!r}") from None
    else:
        rng = random.Random(args.seed)
        videos = [(i, world.sample_spec(rng, split="train"), 10_000 + i) for i in range(args.videos)]
    pipe = ReferencePipeline(args.pack, threads=args.threads)
    s = Settings.pack_defaults(pipe.manifest, **overrides)
    rows, prompts = [], []
    for i, spec, noise_seed in videos:
        res = pipe(spec.prompt, make_noise(pipe.noise_shapes(65), noise_seed), s)
        truth = _uint8(world.render(spec, world.frame_times(65)))
        rows.append({"i": i, **smoothness_row(spec.motion, res["frames"], pipe.decode(res["keyframes"]), truth)})
        prompts.append(spec.prompt)
    clean = lambda x: None if isinstance(x, float) and not math.isfinite(x) else x  # noqa: E731
    summary = smoothness_summary(rows, prompts)
    summary["failures"] = [{k: clean(v) for k, v in f.items()} for f in summary["failures"]]  # type: ignore[union-attr]
    print(json.dumps({"videos": len(rows), "settings": s.__dict__, "smoothness": summary}, indent=2))


if __name__ == "__main__":
    main()
