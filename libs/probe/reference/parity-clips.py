"""Clips and Python probe results for @longshot/probe's parity test (src/probe-parity.int.test.ts).

Renders clips with the Python world (models/longshot_models/world.py), including awkward ones (jumpy, an object
that vanishes for a frame, no object, noisy, non-square, even frame counts), quantises them to uint8 RGB, runs the
Python probe on them and writes:

    OUT/frames.bin   every clip's frames, uint8 [T, H, W, 3] each, concatenated
    OUT/meta.json    per clip: offset, T, H, W, prompt, Python probe result and score; plus the world's palette,
                     words and phrases (with their synonyms), make_prompt over every shape, motion, background and
                     template, the probe's constants, and parse_prompt results for every world prompt and more

Run by the test as `models/.venv/bin/python libs/probe/reference/parity-clips.py OUT` with PYTHONPATH=models.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import numpy as np

from longshot_models import probe, world


def to_uint8(frames) -> np.ndarray:
    """[T, 3, H, W] in [-1, 1] -> [T, H, W, 3] uint8."""
    x = ((frames.clamp(-1, 1) + 1) / 2 * 255).round().to(dtype=__import__("torch").uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def clean(v):
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, (np.floating,)):
        return clean(float(v))
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20241125)
    nprng = np.random.default_rng(7)
    clips: list[tuple[str, str, np.ndarray]] = []  # (label, prompt, uint8 frames)

    # Ordinary clips over every motion, seen and held-out combinations.
    for i in range(14):
        spec = world.sample_spec(rng, split="any")
        clips.append((f"sampled-{i}", spec.prompt, to_uint8(world.render(spec, world.frame_times(65)))))
    for motion in world.MOTIONS:
        spec = world.sample_spec(rng, combo=(rng.choice(list(world.COLOURS)), rng.choice(world.SHAPES), motion))
        clips.append((f"motion-{motion}", spec.prompt, to_uint8(world.render(spec, world.frame_times(65)))))
    # Short and even-length clips (an even frame count takes numpy's two-middle-values median).
    spec = world.sample_spec(rng, combo=("red", "circle", "right"))
    clips.append(("frames-17", spec.prompt, to_uint8(world.render(spec, world.frame_times(17)))))
    spec = world.sample_spec(rng, combo=("cyan", "triangle", "approaching"))
    clips.append(("frames-16", spec.prompt, to_uint8(world.render(spec, world.frame_times(16)))))
    # Jumpy: the object teleports ahead for a few frames in the middle.
    spec = world.sample_spec(rng, combo=("yellow", "square", "left"))
    times = [float(t) for t in world.frame_times(65)]
    for k in range(30, 34):
        times[k] = min(1.0, times[k] + 0.35)
    clips.append(("jumpy", spec.prompt, to_uint8(world.render(spec, times))))
    # The object vanishes for one frame (NaN track, infinite step ratio).
    spec = world.sample_spec(rng, combo=("green", "circle", "down"))
    frames = to_uint8(world.render(spec, world.frame_times(65)))
    frames[20] = frames[20, 0, 0]
    clips.append(("vanishing", spec.prompt, frames))
    # No object at all.
    clips.append(("empty", "a purple square moving up on a gray background", np.broadcast_to(frames[20, :1, :1], frames.shape).copy()))
    # Noisy clips: many pixels near the mask thresholds.
    for i in range(2):
        spec = world.sample_spec(rng, split="any")
        clean_frames = to_uint8(world.render(spec, world.frame_times(65))).astype(np.int16)
        noisy = np.clip(clean_frames + nprng.integers(-40, 41, size=clean_frames.shape), 0, 255).astype(np.uint8)
        clips.append((f"noisy-{i}", spec.prompt, noisy))
    # Non-square frames (cropped): rows and columns must not be mixed up.
    spec = world.sample_spec(rng, combo=("orange", "square", "up"))
    clips.append(("cropped-64x40", spec.prompt, np.ascontiguousarray(to_uint8(world.render(spec, world.frame_times(65)))[:, :, 12:52])))
    spec = world.sample_spec(rng, combo=("white", "circle", "right"))
    clips.append(("cropped-36x64", spec.prompt, np.ascontiguousarray(to_uint8(world.render(spec, world.frame_times(33)))[:, 14:50])))
    # Nearly all-dark bytes (max <= 1.5: probe.py does not divide by 255).
    dark = np.zeros((9, 64, 64, 3), dtype=np.uint8)
    dark[:, 20:30, 10:40] = 1
    clips.append(("dark-0-1", "a black square", dark))

    meta_clips = []
    offset = 0
    with open(out / "frames.bin", "wb") as fh:
        for label, prompt, frames in clips:
            assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[3] == 3, (label, frames.shape)
            fh.write(frames.tobytes())
            t, h, w, _ = frames.shape
            res = probe.probe(frames)
            meta_clips.append(
                {
                    "label": label,
                    "prompt": prompt,
                    "offset": offset,
                    "frames": t,
                    "height": h,
                    "width": w,
                    "probe": clean(res.to_dict()),
                    "score": clean(probe.score(frames, prompt)),
                }
            )
            offset += frames.nbytes

    more = [world.make_prompt("red", "circle", m, "black", k, w) for m in world.MOTIONS for k, w in enumerate(world._MORE_MOTION_WORDS[m])]
    prompts = [c[1] for c in clips] + world.all_prompts() + more + [
        "A RED Circle Moving Right on a DARK BLUE background",
        "a white square on a white background",
        "a reddish circle moving right",
        "a blue circle moving right on black background",
        "blue background, a red triangle receding",
        "an orange triangle coming closer over a dark blue background",
        "a green squares moving away",
        "a_red circle",
        "red-circle moving left",
        "a cyan circle moving up, gray   background",
        "moving down moving up a square",
        "rouge circle",
        "",
        "a yellow circle moving leftwards on a gray background",
        "a purple triangle approaching on a darkblue background",
        "a white circle on a white  background and a black background",
        # Synonyms: shape, motion and background words other than the names.
        "a red ball sliding left over a grey background",
        "a Blue BOX rising, GREY background",
        "a green disc falling on a gray background",
        "a yellow block drifting away on a dark blue background",
        "a cyan triangle getting farther away",
        "an orange ball growing nearer over a grey   background",
        "a purple disc floating upward on a greyish background",
        "a white boxy thing sinking downward",
        "a red balloon drifting to the right",
        "a red box and a ball going up",
        "a red ball getting closer, a blue block moving away",
        "a red ball going left going right",
        "a grey ball on a dark blue background",
        "a white ball on a grey background and a dark blue background",
        "grey background",
        "a red disc drifting to the left over a white background",
        "a blue squarish block sliding right over a black background",
    ]
    meta = {
        "clips": meta_clips,
        "world": {
            "COLOURS": world.COLOURS,
            "BACKGROUNDS": world.BACKGROUNDS,
            "SHAPES": list(world.SHAPES),
            "MOTIONS": list(world.MOTIONS),
            "MOTION_WORDS": {k: list(v) for k, v in world._MOTION_WORDS.items()},
            "MORE_MOTION_WORDS": {k: list(v) for k, v in world._MORE_MOTION_WORDS.items()},
            "SHAPE_WORDS": {k: list(v) for k, v in world._SHAPE_WORDS.items()},
            "BACKGROUND_WORDS": {k: list(v) for k, v in world._BACKGROUND_WORDS.items()},
            "TEMPLATES": list(world._TEMPLATES),
            "TEMPLATE_COUNT": world.TEMPLATE_COUNT,
            "motion_phrases": list(world.motion_phrases().items()),
            "shape_words": list(world.shape_words().items()),
            "background_words": list(world.background_words().items()),
            # Every shape, motion and background at every template number (and a few out of range, negative too),
            # the colour cycling through the palette.
            "make_prompt": [
                [c, s, m, b, tpl, world.make_prompt(c, s, m, b, tpl)]
                for (c, s, m, b, tpl) in [
                    ("orange", "circle", "approaching", "gray", 0),
                    ("red", "square", "receding", "dark blue", 1),
                    ("cyan", "triangle", "left", "black", 2),
                    ("white", "circle", "receding", "gray", 5),
                ]
                + [
                    (list(world.COLOURS)[k % len(world.COLOURS)], s, m, b, tpl)
                    for k, (s, m, b, tpl) in enumerate(
                        (s, m, b, tpl)
                        for s in world.SHAPES
                        for m in world.MOTIONS
                        for b in world.BACKGROUNDS
                        for tpl in range(-3, world.TEMPLATE_COUNT + 3)
                    )
                ]
            ],
        },
        "probe": {
            "MASK_THRESHOLD": probe.MASK_THRESHOLD,
            "SQUARE_MIN_FILL": probe.SQUARE_MIN_FILL,
            "TRIANGLE_MIN_CENTROID_DROP": probe.TRIANGLE_MIN_CENTROID_DROP,
            "SIZE_CHANGE_MIN": probe.SIZE_CHANGE_MIN,
            "MOVE_MIN_PX": probe.MOVE_MIN_PX,
            "MEDIAN_STEP_FLOOR": probe.MEDIAN_STEP_FLOOR,
            "MOTION_PHRASES": list(probe._MOTION_PHRASES.items()),
        },
        "parse_prompt": [[p, probe.parse_prompt(p)] for p in prompts],
    }
    (out / "meta.json").write_text(json.dumps(clean(meta)))


if __name__ == "__main__":
    main()
