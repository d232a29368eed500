"""diagnose --only smoothness: where a video's largest frame-to-frame step comes from."""

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from longshot_models import diagnose, evaluate, probe, world
from longshot_models.reference import ReferencePipeline, Settings, make_noise


def _render(spec: world.ClipSpec, times: list[float]) -> np.ndarray:
    return ((world.render(spec, times).permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().astype(np.uint8)


def test_slot_levels_name_the_pass_that_made_a_frame() -> None:
    assert [diagnose.slot_level(i) for i in (0, 16, 64)] == ["keyframe"] * 3
    assert [diagnose.slot_level(i) for i in (4, 40, 60)] == ["17-level"] * 3
    assert [diagnose.slot_level(i) for i in (1, 27, 63)] == ["in-between"] * 3
    # a step takes the higher level of its two frames
    assert diagnose.step_level(15) == "keyframe"  # 15 -> 16
    assert diagnose.step_level(39) == "17-level"  # 39 -> 40
    assert diagnose.step_level(26) == "in-between"  # 26 -> 27
    with pytest.raises(ValueError, match="frame index"):
        diagnose.slot_level(-1)


def test_gap_fractions_tell_even_from_lagging_motion() -> None:
    even = np.linspace(10.0, 50.0, 65)
    assert diagnose.gap_fractions(even) == pytest.approx([0.25, 0.5, 0.75])
    # every gap: the in-between frames hold back, the step into the next slot catches up
    lag = np.concatenate([[g * 3.0 + f * 3.0 for f in (0.0, 0.1, 0.3, 0.6)] for g in range(16)] + [[48.0]])
    assert diagnose.gap_fractions(lag) == pytest.approx([0.1, 0.3, 0.6])
    assert diagnose.gap_fractions(-lag) == pytest.approx([0.1, 0.3, 0.6])  # direction does not matter
    assert all(math.isnan(x) for x in diagnose.gap_fractions(np.full(65, 7.0)))  # nothing moves: no gap to measure


def test_gap_fractions_reject_tracks_that_do_not_split_into_gaps() -> None:
    with pytest.raises(ValueError, match="64 frames"):
        diagnose.gap_fractions(np.arange(64.0))
    with pytest.raises(ValueError, match="NaN"):
        diagnose.gap_fractions([0.0, 1.0, math.nan, 3.0, 4.0])


def test_smoothness_row_finds_a_catch_up_jump_into_a_17_level_slot() -> None:
    spec = world.sample_spec(random.Random(3), combo=("red", "circle", "right"))
    times = [float(t) for t in world.frame_times(65)]
    truth = _render(spec, times)
    even = diagnose.smoothness_row(spec.motion, truth, truth[::16], truth)
    assert even["smooth"] and even["true_clip_smooth"]
    assert even["gap_fractions_65"] == pytest.approx([0.25, 0.5, 0.75], abs=0.05)
    # frames 37-39 stay where frame 36 was: the whole 4-frame gap is covered by the step 39 -> 40
    held = list(times)
    held[37:40] = [times[36]] * 3
    row = diagnose.smoothness_row(spec.motion, _render(spec, held), truth[::16], truth)
    assert not row["smooth"]
    assert row["max_step"] == "39->40" and row["max_step_level"] == "17-level"
    assert row["max_step_share_of_gap"] == pytest.approx(1.0, abs=0.05)
    assert row["max_step_gap_vs_median_gap"] == pytest.approx(1.0, abs=0.1)  # the 17-level slots are still even
    assert float(row["motion_axis_ratio"]) > 3.0  # the jump is on the motion axis, not in the probe's size reading
    assert row["true_clip_smooth"]  # the world's own motion passes: the video, not the check, is at fault
    assert row["gap_fractions_65"][2] < 0.75


def test_smoothness_summary_counts_where_failures_jump() -> None:
    spec = world.sample_spec(random.Random(3), combo=("red", "circle", "right"))
    times = [float(t) for t in world.frame_times(65)]
    truth = _render(spec, times)
    held = list(times)
    held[37:40] = [times[36]] * 3
    rows = [diagnose.smoothness_row(spec.motion, f, truth[::16], truth) for f in (truth, _render(spec, held))]
    s = diagnose.smoothness_summary(rows, ["even", "held"])
    assert s["smooth"] == 0.5 and s["true_clip_smooth"] == 1.0
    assert s["largest_step_at_failures"] == {"keyframe": 0, "17-level": 1, "in-between": 0}
    assert [f["prompt"] for f in s["failures"]] == ["held"]  # type: ignore[union-attr]


def test_smoothness_row_rejects_videos_of_another_length() -> None:
    frames = np.zeros((17, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="65 frames"):
        diagnose.smoothness_row("right", frames, frames[::4], frames)


def test_eval_videos_come_out_as_evaluate_made_them(pack_dir: Path) -> None:
    torch.set_num_threads(1)
    (row,) = evaluate.evaluate(pack_dir, videos=2, seed=1, samples_dir=None, shard=(1, 2), threads=1)
    ((i, spec, noise_seed),) = diagnose.evaluate_specs(1, [1])
    assert (i, spec.prompt) == (row["i"], row["prompt"])
    pipe = ReferencePipeline(pack_dir, threads=1)
    frames = pipe(spec.prompt, make_noise(pipe.noise_shapes(65), noise_seed), Settings.pack_defaults(pipe.manifest))["frames"]
    assert probe.probe(frames).max_step_ratio == row["max_step_ratio"]
    with pytest.raises(ValueError, match="indices"):
        diagnose.evaluate_specs(1, [])
