"""Quality of the pack, measured by the eval probe: `python -m longshot_models.evaluate [--videos N]`.

Generates N 65-frame videos from world prompts (seen and held-out combinations) with the reference pipeline on the
exported ONNX graphs, scores each with the probe, and writes models/eval/results.json plus sample frames/GIFs
under docs/images/.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import probe, world
from .paraphrases import PARAPHRASES
from .reference import ReferencePipeline, Settings, make_noise

ROOT = Path(__file__).resolve().parents[1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def save_gif(frames: np.ndarray, path: Path, scale: int = 2, fps: int = 16) -> None:
    imgs = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)


def save_strip(frames: np.ndarray, path: Path, every: int = 8, scale: int = 2) -> None:
    sel = frames[::every]
    strip = np.concatenate(list(sel), axis=1)
    Image.fromarray(strip).resize((strip.shape[1] * scale, strip.shape[0] * scale), Image.NEAREST).save(path)


def evaluate(
    pack: Path, videos: int, seed: int, samples_dir: Path | None, shard: tuple[int, int] = (0, 1), threads: int = 2, overrides: dict[str, object] | None = None
) -> list[dict[str, object]]:
    """Score `videos` generated videos (half seen, half held-out prompts); with shard (i, n) only every n-th.
    `overrides` replace pack defaults (Settings fields, e.g. {"interp_strength": 1.0})."""
    pipe = ReferencePipeline(pack, threads=threads)
    manifest = pipe.manifest
    rng = random.Random(seed)
    s = Settings.pack_defaults(manifest, **(overrides or {}))
    rows: list[dict[str, object]] = []
    t0 = time.time()
    specs = [world.sample_spec(rng, split="held_out" if i % 2 else "train") for i in range(videos)]
    for i, spec in enumerate(specs):
        if i % shard[1] != shard[0]:
            continue
        split = "held_out" if i % 2 else "train"
        noise = make_noise(pipe.noise_shapes(65), seed * 100_000 + i)
        res = pipe(spec.prompt, noise, s)
        frames = res["frames"]
        key_frames = pipe.decode(res["keyframes"])
        sc = probe.score(frames, spec.prompt)
        fid = min(psnr(frames[k * 16], key_frames[k]) for k in range(5))
        shapes = probe.frame_shapes(frames)
        rows.append(
            {
                "i": i,
                "prompt": spec.prompt,
                "split": "seen" if split == "train" else "held_out",
                **{k: sc[k] for k in ("colour_ok", "shape_ok", "motion_ok", "background_ok", "smooth", "max_step_ratio")},
                "shape_frames": round(sum(s == spec.shape for s in shapes) / len(shapes), 3),
                "got": sc["got"],
                "keyframe_psnr": fid,
            }
        )
        if samples_dir is not None and i < 8:
            samples_dir.mkdir(parents=True, exist_ok=True)
            slug = f"{rows[-1]['split']}-" + spec.prompt.replace(",", "").replace(" ", "-")
            save_gif(frames, samples_dir / f"sample-{i}-{slug}.gif")
            save_strip(frames, samples_dir / f"sample-{i}-{slug}.png")
        rows[-1]["seconds"] = round(time.time() - t0, 1)
        print(json.dumps(rows[-1]), flush=True)
    return rows


def summarize(rows: list[dict[str, object]], settings: dict[str, object]) -> dict[str, object]:
    summary: dict[str, object] = {"videos": len(rows), "settings": settings}
    for split in ("seen", "held_out"):
        rs = [r for r in rows if r["split"] == split]
        if not rs:
            continue
        frac = lambda k: round(sum(bool(r[k]) for r in rs) / len(rs), 3)  # noqa: E731
        fids = [r["keyframe_psnr"] for r in rs]
        summary[split] = {
            "n": len(rs),
            "colour": frac("colour_ok"),
            "shape": frac("shape_ok"),
            "motion": frac("motion_ok"),
            "background": frac("background_ok"),
            "smooth": frac("smooth"),
            # the asked shape read in at least 90 % of the frames (not only the largest one)
            "shape_every_frame": round(sum(float(r["shape_frames"]) >= 0.9 for r in rs) / len(rs), 3),  # type: ignore[arg-type]
            "keyframe_psnr_min": min(fids),
        }
        summary[split]["motion_by_direction"] = {  # type: ignore[index]
            m: f"{sum(bool(r['motion_ok']) for r in rs if probe.parse_prompt(str(r['prompt']))['motion'] == m)}/{sum(probe.parse_prompt(str(r['prompt']))['motion'] == m for r in rs)}"
            for m in world.MOTIONS
        }
    return summary


def evaluate_paraphrases(pack: Path, seed: int, shard: tuple[int, int] = (0, 1), threads: int = 1, overrides: dict[str, object] | None = None) -> list[dict[str, object]]:
    """Score the free-English prompts of paraphrases.py (never in training) at fixed seeds."""
    pipe = ReferencePipeline(pack, threads=threads)
    s = Settings.pack_defaults(pipe.manifest, **(overrides or {}))
    rows: list[dict[str, object]] = []
    for i, (prompt, colour, shape, motion, _background) in enumerate(PARAPHRASES):
        if i % shard[1] != shard[0]:
            continue
        got = probe.probe(pipe(prompt, make_noise(pipe.noise_shapes(65), seed * 100_000 + i), s)["frames"])
        ok = {"colour_ok": got.colour == colour, "shape_ok": got.shape == shape, "motion_ok": got.motion == motion}
        rows.append({"i": i, "prompt": prompt, **ok, "all_ok": all(ok.values()), "got": {"colour": got.colour, "shape": got.shape, "motion": got.motion}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pack", type=Path, default=ROOT / "packs" / "shapes-mini")
    ap.add_argument("--videos", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results.json")
    ap.add_argument("--samples", type=Path, default=ROOT.parent / "docs" / "images")
    ap.add_argument("--processes", type=int, default=2, help="evaluate in this many processes (1 thread each)")
    ap.add_argument("--paraphrases", action="store_true", help="score the free-English prompts of paraphrases.py instead (writes eval/paraphrases.json)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a pack default, e.g. --set interp_strength=1.0 --set keyframe_guidance=7.5")
    args = ap.parse_args(argv)
    overrides = {k: (v if k == "mode" else float(v) if "." in v else int(v)) for k, v in (a.split("=", 1) for a in args.set)}
    import multiprocessing as mp

    n = max(1, args.processes)
    if args.paraphrases:
        with mp.get_context("spawn").Pool(n) as pool:
            parts = pool.starmap(evaluate_paraphrases, [(args.pack, args.seed, (k, n), 1, overrides) for k in range(n)])
        rows = sorted((r for part in parts for r in part), key=lambda r: int(r["i"]))  # type: ignore[arg-type]
        frac = lambda k: round(sum(bool(r[k]) for r in rows) / len(rows), 3)  # noqa: E731
        summary = {"prompts": len(rows), "seed": args.seed, "overrides": overrides, **{k.removesuffix("_ok"): frac(k) for k in ("colour_ok", "shape_ok", "motion_ok", "all_ok")}}
        out = args.out.parent / "paraphrases.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
        print(json.dumps(summary, indent=2))
        return
    with mp.get_context("spawn").Pool(n) as pool:
        parts = pool.starmap(evaluate, [(args.pack, args.videos, args.seed, None if overrides else args.samples, (k, n), 1, overrides) for k in range(n)])
    rows = sorted((r for part in parts for r in part), key=lambda r: int(r["i"]))  # type: ignore[arg-type]
    manifest = json.loads((args.pack / "pack.json").read_text())
    summary = summarize(rows, {"defaults": manifest["defaults"], "overrides": overrides, "frames": 65})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    clean = lambda x: None if isinstance(x, float) and math.isinf(x) else x  # noqa: E731
    args.out.write_text(json.dumps({"summary": summary, "rows": [{k: clean(v) for k, v in r.items()} for r in rows]}, indent=1) + "\n")
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
