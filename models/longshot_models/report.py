"""Training report: `python -m longshot_models.report` keeps the loss logs of the last run (models/logs/) and draws
docs/images/training-loss.png."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .train import ROOT, RUNS

LOGS = ROOT / "logs"
IMAGES = ROOT.parent / "docs" / "images"


def _read(stage: str) -> list[dict[str, object]]:
    path = RUNS / f"{stage}.log.jsonl"
    if not path.exists():
        path = LOGS / f"{stage}.log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    LOGS.mkdir(exist_ok=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, stage in zip(axes, ("vae", "keyframe", "interpolation")):
        rows = _read(stage)
        if (RUNS / f"{stage}.log.jsonl").exists():
            shutil.copy(RUNS / f"{stage}.log.jsonl", LOGS / f"{stage}.log.jsonl")
        pts = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{stage} loss")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        # A resumed run restarts its clock: add up the segments.
        secs, last = 0.0, 0.0
        for r in rows:
            e = float(r.get("elapsed", 0))  # type: ignore[arg-type]
            if e < last:
                secs += last
            last = e
        secs += last
        ax.text(0.98, 0.95, f"{secs / 60:.0f} min", transform=ax.transAxes, ha="right", va="top")
    fig.tight_layout()
    fig.savefig(IMAGES / "training-loss.png", dpi=110)
    print(f"wrote {IMAGES / 'training-loss.png'}")


if __name__ == "__main__":
    main()
