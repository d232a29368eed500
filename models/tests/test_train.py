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


def test_vae_decoder_fine_tune_keeps_the_latents_and_runs_once(scratch: Path) -> None:
    # The UNets are trained on the encoder's latents: the decoder-only stage must leave the encoder and the scaling
    # factor exactly as they were, change the decoder, say so in the weights' metadata, and not run twice.
    from safetensors import safe_open

    train.WEIGHTS.mkdir(parents=True)
    model = vae.VAE().eval()
    path = train.WEIGHTS / "vae.safetensors"
    save_file(model.state_dict(), str(path), metadata={"scaling_factor": "0.5", "steps": "1"})
    x = world.render(world.sample_spec(random.Random(1)), [0.2, 0.7])
    with torch.no_grad():
        z, image = model.encode(x), model.decode(model.encode(x))
    train.train_vae_decoder(steps=3, seed=0, batch=2)
    tuned, scale = train.load_vae()
    with torch.no_grad():
        assert torch.equal(tuned.encode(x), z)
        assert not torch.allclose(tuned.decode(z), image)
    assert scale == 0.5
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["decoder_steps"] == "3"
    written = path.read_bytes()
    train.train_vae_decoder(steps=3, seed=0, batch=2)
    assert path.read_bytes() == written


def test_the_decoder_edge_term_is_zero_only_for_the_right_edges() -> None:
    sharp = world.render(world.sample_spec(random.Random(2)), [0.5])
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1, count_include_pad=False)
    gy, gx = vae.image_gradients(sharp)
    assert gy.shape == (1, 3, 63, 64) and gx.shape == (1, 3, 64, 63)
    edge = lambda a, b: sum(float((p - q).abs().mean()) for p, q in zip(vae.image_gradients(a), vae.image_gradients(b)))  # noqa: E731
    assert edge(sharp, sharp) == 0.0
    assert edge(blurred, sharp) > 0.01
    assert edge(sharp + 0.3, sharp) == pytest.approx(0.0, abs=1e-6)  # a flat shift leaves every edge in place


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
