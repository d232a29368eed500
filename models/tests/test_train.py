import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from longshot_models import train, vae, world


@pytest.fixture()
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(train, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(train, "WEIGHTS", tmp_path / "weights")
    return tmp_path


def test_vae_training_resumes_from_its_checkpoint(scratch: Path) -> None:
    # 250 steps write a checkpoint; a second run must continue from it rather than start over.
    train.RUNS.mkdir(parents=True)
    model = vae.VAE()
    opt = torch.optim.AdamW(model.parameters())
    rng = random.Random(0)
    train._save_ckpt(train.RUNS / "vae.ckpt", model=model.state_dict(), opt=opt.state_dict(), step=3, rng=rng.getstate(), torch_rng=torch.get_rng_state())
    train.train_vae(steps=4, seed=0, batch=2)
    logged = [json.loads(x) for x in (train.RUNS / "vae.log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in logged if "step" in r]
    assert steps == [3], steps  # only the one remaining step ran
    assert (train.WEIGHTS / "vae.safetensors").exists()


def test_interpolation_window_covers_keyframes_at_every_stride() -> None:
    rng = random.Random(1)
    spec = world.sample_spec(rng)
    seen = set()
    for _ in range(200):
        times, stride = train.sample_interp_window(rng, spec)
        seen.add(stride)
        assert len(times) == train.INTERP_WINDOW
        assert 0.0 <= times[0] and times[-1] <= 1.0 + 1e-9
        assert all(abs((b - a) * 64 - stride) < 1e-6 for a, b in zip(times, times[1:]))
    assert seen == set(train.INTERP_STRIDES)


def test_interpolation_strides_can_be_weighted_and_are_checked() -> None:
    rng = random.Random(2)
    spec = world.sample_spec(rng)
    draws = [train.sample_interp_window(rng, spec, (4.0, 4.0, 1.0, 0.25))[1] for _ in range(2000)]
    assert 0.45 < draws.count(4.0) / len(draws) < 0.55  # listed twice of four: half the draws
    for bad in ("4,2", "four"):
        with pytest.raises(SystemExit):
            train.main(["--stage", "interpolation", "--interp-strides", bad])


def test_learning_rate_warms_up_then_decays() -> None:
    lrs = [train.lr_at(s, 1000, 1e-3) for s in range(1000)]
    assert lrs[0] < lrs[99] == pytest.approx(1e-3)
    assert lrs[-1] == pytest.approx(1e-4, rel=0.05)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))


def test_trained_weights_carry_their_config() -> None:  # reads the committed models/weights
    for kind in ("keyframe", "interpolation"):
        path = train.WEIGHTS / f"{kind}_unet.safetensors"
        assert path.exists(), f"missing committed weights {path}"
        model = train.load_unet(kind)
        assert model.cfg.in_channels == (4 if kind == "keyframe" else 9)
    _, scale = train.load_vae()
    assert 0.1 < scale < 10
