import random

import numpy as np

from longshot_models import probe, world


def _frames(spec: world.ClipSpec, n: int = 65) -> np.ndarray:
    return ((world.render(spec, world.frame_times(n)).permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().astype(np.uint8)


def test_probe_reads_ground_truth_clips() -> None:
    rng = random.Random(11)
    n, ok = 200, 0
    for _ in range(n):
        spec = world.sample_spec(rng, split="any")
        s = probe.score(_frames(spec), spec.prompt)
        ok += all(s[k] for k in ("colour_ok", "shape_ok", "motion_ok", "background_ok", "smooth"))
    assert ok / n >= 0.98


def test_probe_flags_the_wrong_prompt() -> None:
    spec = world.sample_spec(random.Random(1), combo=("red", "square", "left"))
    s = probe.score(_frames(spec), "a blue circle moving right on a white background")
    assert not s["colour_ok"] and not s["shape_ok"] and not s["motion_ok"]


def test_probe_flags_a_jump() -> None:
    spec = world.sample_spec(random.Random(2), combo=("green", "circle", "right"))
    frames = _frames(spec)
    # Freeze the object for 12 frames, then let it jump to where it should be.
    frames[20:32] = frames[20]
    assert not probe.probe(frames).smooth
    assert probe.probe(_frames(spec)).smooth


def test_probe_reports_an_empty_video_as_nothing() -> None:
    frames = np.zeros((65, 64, 64, 3), np.uint8)
    r = probe.probe(frames)
    assert r.colour is None and r.motion is None and not r.smooth


def test_probe_reads_the_shape_of_vae_reconstructed_clips() -> None:
    """The VAE blunts the tips of small triangles (fill ratio 0.60-0.74 instead of 0.51-0.57), which a fill-ratio
    rule read as circles in 64 % of frames; the centroid rule reads them. Bars: the per-frame accuracy of the shipped
    VAE measured on 40 other clips per shape (docs/models.md, "Reading the shape": circle 97.6 %, square 94.1 %,
    triangle 97.6 %; `diagnose --only vae-frames --seed 7 --videos 40`) less about 5 points. The 1.6.0 decoder read
    squares right in 87.5 % of those frames (83 % on this draw) and fails the square bar."""
    from longshot_models.diagnose import vae_frame_shape_rates
    from longshot_models.train import load_vae

    rates = vae_frame_shape_rates(load_vae()[0], seed=12, clips_per_shape=16)
    bars = {"circle": 0.92, "square": 0.89, "triangle": 0.92}
    assert all(rates[shape] >= bar for shape, bar in bars.items()), f"frames read right {rates}, bars {bars}"
