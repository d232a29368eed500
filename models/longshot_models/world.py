"""The synthetic world: one flat-coloured object moving on a flat background, with its prompt.

Every clip is a pure function of its `ClipSpec`, rendered analytically at any time t in [0, 1], so the same
motion can be drawn at any frame rate (65 frames, or 257 for the 65 -> 257 pass). Nothing is stored on disk.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

SIZE = 64  # frame height and width in pixels (see docs/models.md for why 64 and not 128)
FRAMES = 65  # frames per clip: (17 - 1) * 4 + 1

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "green": (0.10, 0.75, 0.15),
    "blue": (0.15, 0.35, 0.95),
    "yellow": (0.95, 0.90, 0.10),
    "white": (0.97, 0.97, 0.97),
    "purple": (0.60, 0.15, 0.80),
    "orange": (1.00, 0.55, 0.05),
    "cyan": (0.10, 0.85, 0.90),
}
BACKGROUNDS: dict[str, tuple[float, float, float]] = {
    "black": (0.02, 0.02, 0.02),
    "white": (0.97, 0.97, 0.97),
    "gray": (0.50, 0.50, 0.50),
    "dark blue": (0.05, 0.08, 0.35),
}
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("left", "right", "up", "down", "approaching", "receding")

# How each motion, shape and background is said in a prompt: several words for each (synonyms a user would type),
# so the text side learns the meaning rather than one string. A clip's `template` picks the sentence
# (template % 3), the motion words (template % 4), the shape word ((template // 4) % 3) and the background word
# (template % 2); 12 templates cover every sentence x motion-word pair.
_MOTION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("moving left", "going left", "sliding left", "drifting to the left"),
    "right": ("moving right", "going right", "sliding right", "drifting to the right"),
    "up": ("moving up", "going up", "rising", "floating upward"),
    "down": ("moving down", "going down", "falling", "sinking downward"),
    "approaching": ("approaching", "coming closer", "getting closer", "growing nearer"),
    "receding": ("receding", "moving away", "getting farther away", "drifting away"),
}
# More ways to say each motion that keyframe training draws from as well (`varied_prompt`), so free English lands
# near a trained phrasing. A clip's `prompt` never uses them: evaluation draws keep the prompts they always had.
# None teaches a word of the paraphrase set that the phrasings above do not already use (tests/test_world.py).
_MORE_MOTION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("shifting left", "sweeping to the left", "moving to the left", "passing left"),
    "right": ("shifting right", "sweeping to the right", "moving to the right", "passing right"),
    "up": ("shifting up", "soaring upward", "moving higher", "rising to the upper edge"),
    "down": ("shifting down", "plunging downward", "moving lower", "falling to the lower edge"),
    "approaching": ("moving closer", "looming closer", "expanding", "enlarging"),
    "receding": ("backing away", "dwindling", "withdrawing", "moving farther away"),
}
_SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "disc"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
}
_BACKGROUND_WORDS: dict[str, tuple[str, ...]] = {"gray": ("gray", "grey")}
_TEMPLATES = (
    "a {colour} {shape} {motion} on a {background} background",
    "a {colour} {shape} {motion} over a {background} background",
    "{colour} {shape} {motion}, {background} background",
)
TEMPLATE_COUNT = 12


@dataclass(frozen=True)
class ClipSpec:
    colour: str
    shape: str
    motion: str
    background: str
    # Geometry, in pixels of a SIZE x SIZE frame.
    start: tuple[float, float]  # object centre at t = 0
    end: tuple[float, float]  # object centre at t = 1
    radius0: float  # object half-size at t = 0
    radius1: float  # object half-size at t = 1
    template: int = 0

    @property
    def combo(self) -> tuple[str, str, str]:
        return (self.colour, self.shape, self.motion)

    @property
    def prompt(self) -> str:
        return make_prompt(self.colour, self.shape, self.motion, self.background, self.template)

    def centre(self, t: float) -> tuple[float, float]:
        return (self.start[0] + (self.end[0] - self.start[0]) * t, self.start[1] + (self.end[1] - self.start[1]) * t)

    def radius(self, t: float) -> float:
        return self.radius0 + (self.radius1 - self.radius0) * t


def _pick(words: tuple[str, ...], i: int) -> str:
    return words[i % len(words)]


def make_prompt(colour: str, shape: str, motion: str, background: str, template: int = 0, motion_words: str | None = None) -> str:
    """The prompt of template number `template`; `motion_words` says the motion instead of the template's words."""
    tpl = _TEMPLATES[template % len(_TEMPLATES)]
    text = tpl.format(
        colour=colour,
        shape=_pick(_SHAPE_WORDS[shape], template // 4),
        motion=motion_words or _pick(_MOTION_WORDS[motion], template),
        background=_pick(_BACKGROUND_WORDS.get(background, (background,)), template),
    )
    return text.replace("a orange", "an orange")


def varied_prompt(spec: ClipSpec, rng: random.Random) -> str:
    """The clip's prompt with its motion said by any of the world's phrasings for it (what keyframe training sees)."""
    return make_prompt(spec.colour, spec.shape, spec.motion, spec.background, spec.template, rng.choice(_MOTION_WORDS[spec.motion] + _MORE_MOTION_WORDS[spec.motion]))


def motion_phrases() -> dict[str, str]:
    """Every motion phrase the world uses, mapped to its motion."""
    return {w: m for table in (_MOTION_WORDS, _MORE_MOTION_WORDS) for m, words in table.items() for w in words}


def shape_words() -> dict[str, str]:
    return {w: s for s, words in _SHAPE_WORDS.items() for w in words}


def background_words() -> dict[str, str]:
    return {w: b for b in BACKGROUNDS for w in _BACKGROUND_WORDS.get(b, (b,))}


def all_prompts() -> list[str]:
    """Every prompt the world can produce (all combos, backgrounds and phrasings), including held-out ones."""
    out: list[str] = []
    for c in COLOURS:
        for s in SHAPES:
            for m in MOTIONS:
                for b in BACKGROUNDS:
                    if not _visible(c, b):
                        continue
                    for tpl in range(TEMPLATE_COUNT):
                        p = make_prompt(c, s, m, b, tpl)
                        if p not in out:
                            out.append(p)
    return out


def _visible(colour: str, background: str) -> bool:
    """An object must differ clearly from its background (no white on white)."""
    a, b = COLOURS[colour], BACKGROUNDS[background]
    return sum((x - y) ** 2 for x, y in zip(a, b)) > 0.05


def all_combos() -> list[tuple[str, str, str]]:
    return [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]


def is_held_out(combo: tuple[str, str, str]) -> bool:
    """A fixed 1-in-5 lattice over (colour, shape, motion): every colour, shape and motion stays seen on its own,
    but about 20 % of their combinations never appear in training."""
    c, s, m = combo
    ci, si, mi = list(COLOURS).index(c), SHAPES.index(s), MOTIONS.index(m)
    return (ci + 2 * si + 3 * mi) % 5 == 0


def seen_combos() -> list[tuple[str, str, str]]:
    return [c for c in all_combos() if not is_held_out(c)]


def held_out_combos() -> list[tuple[str, str, str]]:
    return [c for c in all_combos() if is_held_out(c)]


def sample_spec(rng: random.Random, combo: tuple[str, str, str] | None = None, split: str = "train") -> ClipSpec:
    """Draw a clip. `split` is "train" (seen combos only), "held_out" or "any"."""
    if combo is None:
        pool = {"train": seen_combos(), "held_out": held_out_combos(), "any": all_combos()}[split]
        combo = rng.choice(pool)
    colour, shape, motion = combo
    background = rng.choice([b for b in BACKGROUNDS if _visible(colour, b)])
    lo, hi = 0.22 * SIZE, 0.78 * SIZE
    if motion in ("left", "right", "up", "down"):
        r = rng.uniform(6.0, 8.5)
        across = rng.uniform(0.30 * SIZE, 0.70 * SIZE)
        a, b = (hi, lo) if motion in ("left", "up") else (lo, hi)
        a += rng.uniform(-2, 2)
        b += rng.uniform(-2, 2)
        start, end = ((a, across), (b, across)) if motion in ("left", "right") else ((across, a), (across, b))
        r0 = r1 = r
    else:
        cx, cy = rng.uniform(0.42 * SIZE, 0.58 * SIZE), rng.uniform(0.42 * SIZE, 0.58 * SIZE)
        start = end = (cx, cy)
        small, big = rng.uniform(3.0, 4.5), rng.uniform(13.0, 16.0)
        r0, r1 = (small, big) if motion == "approaching" else (big, small)
    return ClipSpec(colour, shape, motion, background, start, end, r0, r1, template=rng.randrange(TEMPLATE_COUNT))


_GRID: torch.Tensor | None = None


def _grid() -> torch.Tensor:
    global _GRID
    if _GRID is None:
        ys, xs = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32) + 0.5, torch.arange(SIZE, dtype=torch.float32) + 0.5, indexing="ij")
        _GRID = torch.stack([xs, ys])  # [2, H, W]
    return _GRID


def _coverage(shape: str, cx: float, cy: float, r: float) -> torch.Tensor:
    """Anti-aliased coverage in [0, 1] from a signed distance (1 px soft edge)."""
    g = _grid()
    dx, dy = g[0] - cx, g[1] - cy
    if shape == "circle":
        d = torch.sqrt(dx * dx + dy * dy) - r
    elif shape == "square":
        d = torch.maximum(dx.abs(), dy.abs()) - r * 0.9
    elif shape == "triangle":
        # Equilateral triangle pointing up, circumradius ~1.2 r (centroid at the centre).
        k = math.sqrt(3.0)
        R = r * 1.25
        px, py = dx.abs(), -dy  # y up
        # Distance to an equilateral triangle of side s = R * sqrt(3) centred on its centroid (iq's formula).
        s = R * k
        px = px - s / 2
        py = py + s / (2 * k)
        cond = px + k * py > 0
        npx = torch.where(cond, (px - k * py) / 2, px)
        npy = torch.where(cond, (-k * px - py) / 2, py)
        npx = npx - torch.clamp(npx, -s, 0.0)
        d = -torch.sqrt(npx * npx + npy * npy) * torch.sign(npy)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return torch.clamp(0.5 - d, 0.0, 1.0)


def render(spec: ClipSpec, times: torch.Tensor | list[float]) -> torch.Tensor:
    """Frames at the given times in [0, 1] as a [T, 3, SIZE, SIZE] float tensor in [-1, 1]."""
    ts = [float(t) for t in times]
    bg = torch.tensor(BACKGROUNDS[spec.background]).view(3, 1, 1)
    fg = torch.tensor(COLOURS[spec.colour]).view(3, 1, 1)
    frames = []
    for t in ts:
        cx, cy = spec.centre(t)
        a = _coverage(spec.shape, cx, cy, spec.radius(t)).unsqueeze(0)
        frames.append(bg * (1 - a) + fg * a)
    return torch.stack(frames) * 2.0 - 1.0


def frame_times(frames: int = FRAMES) -> torch.Tensor:
    """Times of a clip's frames: frame i of n lies at i / (n - 1)."""
    return torch.linspace(0.0, 1.0, frames)
