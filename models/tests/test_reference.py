import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from longshot_models import reference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"


def test_reference_pipeline_is_deterministic(pack_dir: Path) -> None:
    pipe = reference.ReferencePipeline(pack_dir)
    s = reference.Settings(keyframe_steps=3, interp_steps=2, frames=17)
    noise = reference.make_noise(pipe.noise_shapes(17), 3)
    a = pipe("a blue square moving up on a black background", noise, s)
    b = pipe("a blue square moving up on a black background", noise, s)
    assert a["frames"].shape == (17, 64, 64, 3)
    assert np.array_equal(a["frames"], b["frames"])


def test_pinned_mode_keeps_keyframes_exactly(pack_dir: Path) -> None:
    pipe = reference.ReferencePipeline(pack_dir)
    s = reference.Settings(keyframe_steps=3, interp_steps=2, frames=17, mode="pinned")
    out = pipe("a red circle moving left on a white background", reference.make_noise(pipe.noise_shapes(17), 5), s)
    assert np.array_equal(out["interp1"][:, :, 0::4], out["keyframes"])


def test_committed_fixtures_reproduce(pack_dir: Path) -> None:
    meta = json.loads((FIXTURES / "fixture.json").read_text())
    pipe = reference.ReferencePipeline(pack_dir)
    s = reference.Settings(meta["keyframe_steps"], meta["keyframe_guidance"], meta["interp_steps"], meta["interp_guidance"], meta["mode"], meta["frames"])
    out = pipe(meta["prompt"], load_file(str(FIXTURES / "noise.safetensors")), s)
    want = load_file(str(FIXTURES / "latents.safetensors"))
    for k, v in want.items():
        assert np.abs(out[k] - v).max() <= 1e-4, k
