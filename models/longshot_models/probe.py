"""Eval probe: recover what a video shows (object colour, shape, centroid and size tracks) from its RGB frames,
and score it against a prompt. The TypeScript engine's tests use the same algorithm (libs/engine probe), checked
against this file through shared fixtures.

Algorithm (all thresholds are in docs/models.md):
  1. background colour = per-channel median of the frame border pixels of each frame;
  2. object mask = pixels farther than 0.25 (RGB in [0, 1], Euclidean) from the background colour;
  3. colour = nearest palette colour to the mean of masked pixels; shape, on the frame where the object is largest:
     triangle when the mask's centroid lies low in its bounding box (the world's triangles point up: 2/3 of the
     way down, circles and squares 1/2), else square or circle by the fill ratio of the mask in its bounding box
     (square ~1.0, circle ~0.79);
  4. tracks: centroid (x, y) and size sqrt(area) per frame; motion = the dominant of horizontal, vertical and
     size change between the first and last quarter of the clip;
  5. smoothness: the largest frame-to-frame step of (x, y, size) is at most 3x the median step
     (the median is floored at 0.5 px so pixel quantisation of a slow object is not called jumpy).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

from . import world

MASK_THRESHOLD = 0.25
SQUARE_MIN_FILL = 0.88
# Where the centroid lies down the bounding box, 0 (top) to 1 (bottom), above which the object is a triangle. Measured
# per frame (docs/models.md, "Reading the shape"): 0.61-0.68 on true triangles and 0.56-0.63 (5th to 95th percentile)
# after the VAE, which blunts their tips; at most 0.54 on true circles and squares, 0.56 after the VAE.
TRIANGLE_MIN_CENTROID_DROP = 0.56
SIZE_CHANGE_MIN = 0.35  # |log(size_end / size_start)| above this is approaching / receding
MOVE_MIN_PX = 6.0
MEDIAN_STEP_FLOOR = 0.5


@dataclass
class ProbeResult:
    colour: str | None
    shape: str | None
    motion: str | None
    background: str | None
    smooth: bool
    max_step_ratio: float
    xs: list[float]
    ys: list[float]
    sizes: list[float]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _nearest(rgb: np.ndarray, palette: dict[str, tuple[float, float, float]]) -> str:
    return min(palette, key=lambda k: float(np.sum((np.asarray(palette[k]) - rgb) ** 2)))


def probe(frames: np.ndarray) -> ProbeResult:
    """frames: [T, H, W, 3] uint8 or float in [0, 1]."""
    f = frames.astype(np.float32)
    if f.max() > 1.5:
        f = f / 255.0
    t, h, w, _ = f.shape
    border = np.concatenate([f[:, 0], f[:, -1], f[:, :, 0], f[:, :, -1]], axis=1)  # [T, 2H+2W, 3]
    bg = np.median(border, axis=1)  # [T, 3]
    dist = np.sqrt(np.sum((f - bg[:, None, None, :]) ** 2, axis=-1))  # [T, H, W]
    mask = dist > MASK_THRESHOLD
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    xs, ys, sizes = [], [], []
    for i in range(t):
        m = mask[i]
        a = float(m.sum())
        if a < 2:
            xs.append(math.nan)
            ys.append(math.nan)
            sizes.append(0.0)
            continue
        xs.append(float(xx[m].mean()))
        ys.append(float(yy[m].mean()))
        sizes.append(math.sqrt(a))
    background = _nearest(np.median(bg, axis=0), world.BACKGROUNDS)
    if not any(s > 0 for s in sizes):
        return ProbeResult(None, None, None, background, False, math.inf, xs, ys, sizes)
    big = int(np.argmax(sizes))
    m = mask[big]
    core = m & (dist[big] > 2 * MASK_THRESHOLD)
    pix = f[big][core if core.sum() >= 4 else m]
    colour = _nearest(pix.mean(axis=0), world.COLOURS)
    shape = shape_of(m)
    motion = _motion(xs, ys, sizes)
    ratio = _max_step_ratio(xs, ys, sizes)
    return ProbeResult(colour, shape, motion, background, ratio <= 3.0, ratio, xs, ys, sizes)


def shape_of(mask: np.ndarray) -> str:
    """Step 3's shape rule on one frame's object mask [H, W] (at least one pixel set)."""
    rows, cols = np.where(mask)
    top, height = int(rows.min()), int(rows.max() - rows.min() + 1)
    drop = (float(rows.sum()) / len(rows) - top + 0.5) / height
    if drop >= TRIANGLE_MIN_CENTROID_DROP:
        return "triangle"
    fill = float(len(rows)) / float(height * (cols.max() - cols.min() + 1))
    return "square" if fill >= SQUARE_MIN_FILL else "circle"


def frame_shapes(frames: np.ndarray) -> list[str | None]:
    """The shape read on every frame on its own (the rule of step 3 per frame; None where no object is seen).
    Python-only: `evaluate` uses it to check the shape holds in every frame, not only the largest one."""
    f = frames.astype(np.float32)
    if f.max() > 1.5:
        f = f / 255.0
    out: list[str | None] = []
    for frame in f:
        border = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
        m = np.sqrt(np.sum((frame - np.median(border, axis=0)) ** 2, axis=-1)) > MASK_THRESHOLD
        if m.sum() < 4:
            out.append(None)
            continue
        out.append(shape_of(m))
    return out


def _quarter_mean(v: list[float], first: bool) -> float:
    n = max(1, len(v) // 4)
    part = [x for x in (v[:n] if first else v[-n:]) if not math.isnan(x)]
    return float(np.mean(part)) if part else math.nan


def _motion(xs: list[float], ys: list[float], sizes: list[float]) -> str | None:
    dx = _quarter_mean(xs, False) - _quarter_mean(xs, True)
    dy = _quarter_mean(ys, False) - _quarter_mean(ys, True)
    s0, s1 = _quarter_mean(sizes, True), _quarter_mean(sizes, False)
    if any(math.isnan(v) for v in (dx, dy)) or s0 <= 0 or s1 <= 0:
        return None
    growth = math.log(s1 / s0)
    if abs(growth) > SIZE_CHANGE_MIN and max(abs(dx), abs(dy)) < MOVE_MIN_PX * 2:
        return "approaching" if growth > 0 else "receding"
    if max(abs(dx), abs(dy)) < MOVE_MIN_PX:
        return None
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def _max_step_ratio(xs: list[float], ys: list[float], sizes: list[float]) -> float:
    pts = np.array([xs, ys, sizes], dtype=np.float64).T
    if np.isnan(pts).any():
        return math.inf
    steps = np.sqrt(np.sum(np.diff(pts, axis=0) ** 2, axis=1))
    if len(steps) == 0:
        return 0.0
    med = max(float(np.median(steps)), MEDIAN_STEP_FLOOR)
    return float(steps.max() / med)


_MOTION_PHRASES = world.motion_phrases()


def parse_prompt(prompt: str) -> dict[str, str | None]:
    """What a world prompt asks for: colour, shape, motion, background (None where it says nothing)."""
    p = prompt.lower()
    background = None
    p_obj = p
    for word, b in sorted(world.background_words().items(), key=lambda kv: len(kv[0]), reverse=True):
        m = re.search(rf"\b{word}\s+background", p)
        if m:
            background = b
            p_obj = p[: m.start()] + p[m.end() :]
            break
    colour = next((c for c in world.COLOURS if re.search(rf"\b{c}\b", p_obj)), None)
    shape = next((s for word, s in world.shape_words().items() if re.search(rf"\b{word}\b", p_obj)), None)
    motion = next((m for phrase, m in _MOTION_PHRASES.items() if phrase in p_obj), None)
    return {"colour": colour, "shape": shape, "motion": motion, "background": background}


def score(frames: np.ndarray, prompt: str) -> dict[str, object]:
    want = parse_prompt(prompt)
    got = probe(frames)
    return {
        "want": want,
        "got": {k: getattr(got, k) for k in ("colour", "shape", "motion", "background")},
        "colour_ok": got.colour == want["colour"],
        "shape_ok": got.shape == want["shape"],
        "motion_ok": got.motion == want["motion"],
        "background_ok": got.background == want["background"],
        "smooth": got.smooth,
        "max_step_ratio": got.max_step_ratio,
    }
