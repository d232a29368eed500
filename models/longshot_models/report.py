"""Training report: `python -m longshot_models.report` keeps the loss logs of the shipped weights (models/logs/) and
draws docs/images/training-loss.png. A run from scratch replaces a stage's log; a `train --continue` run is appended
to it, its steps counted on from where the weights it continued stood."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .train import ROOT, RUNS

LOGS = ROOT / "logs"
IMAGES = ROOT.parent / "docs" / "images"


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _keep(stage: str) -> None:
    """Bring the run folder's log of `stage` into models/logs/ (replace, or append a continuation once)."""
    run = _rows(RUNS / f"{stage}.log.jsonl")
    if not run:
        return
    kept = _rows(LOGS / f"{stage}.log.jsonl")
    if not any(r.get("continued") for r in run):
        shutil.copy(RUNS / f"{stage}.log.jsonl", LOGS / f"{stage}.log.jsonl")
        return
    if any(r.get("run_time") == run[0]["time"] for r in kept):
        return  # appended before
    base = max((int(r["step"]) for r in kept if "step" in r and not r.get("continued")), default=-1) + 1  # type: ignore[call-overload]
    base = max([base] + [int(r["step"]) + 1 for r in kept if r.get("continued") and "step" in r])  # type: ignore[call-overload]
    with open(LOGS / f"{stage}.log.jsonl", "a") as f:
        for r in run:
            row = {**r, "continued": True, "run_time": run[0]["time"]}
            if "step" in row:
                row["step"] = base + int(row["step"])  # type: ignore[call-overload]
            f.write(json.dumps(row) + "\n")


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    LOGS.mkdir(exist_ok=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, stage in zip(axes, ("vae", "keyframe", "interpolation")):
        _keep(stage)
        rows = _rows(LOGS / f"{stage}.log.jsonl")
        pts = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, lw=1)
        if stage == "vae":  # the decoder-only fine-tune goes on from the VAE's last step (another loss: with its edge term)
            _keep("vae-decoder")
            tail = _rows(LOGS / "vae-decoder.log.jsonl")
            rows += tail
            dec = [(int(xs[-1]) + 1 + int(r["step"]), r["loss"]) for r in tail if "loss" in r]  # type: ignore[call-overload]
            if dec:
                ax.plot(*zip(*dec), lw=1, label="decoder alone, edge term")
                ax.legend(loc="lower left", fontsize=8)
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
