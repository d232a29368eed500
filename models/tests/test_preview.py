import json
import random
import shutil
from pathlib import Path

import pytest
import torch

from longshot_models import export, preview, world


@pytest.fixture(scope="module")
def fitted() -> tuple[preview.PreviewFit, dict[str, float]]:
    return preview.fit_preview()


def test_least_squares_recovers_a_known_affine_map() -> None:
    g = torch.Generator().manual_seed(5)
    latents = torch.randn(6, 4, 16, 16, generator=g, dtype=torch.float64)
    weights = torch.tensor([[0.2, -0.1, 0.05, 0.3], [0.0, 0.25, -0.2, 0.1], [-0.15, 0.1, 0.2, 0.0]], dtype=torch.float64)
    bias = torch.tensor([0.5, 0.4, 0.6], dtype=torch.float64)
    target = torch.einsum("rc,nchw->nrhw", weights, latents) + bias.view(1, 3, 1, 1)
    fit = preview.fit_linear(latents, target)
    assert torch.allclose(torch.tensor(fit.weights, dtype=torch.float64), weights, atol=1e-9)
    assert torch.allclose(torch.tensor(fit.bias, dtype=torch.float64), bias, atol=1e-9)


def test_the_map_previews_unseen_clips_far_better_than_one_colour(fitted: tuple[preview.PreviewFit, dict[str, float]]) -> None:
    _, report = fitted
    # Thresholds fixed before the first fit: the map must generalise (clips of another seed within 1 dB of the
    # fitted ones) and show far more than the average colour (6 dB is 4x less squared error).
    assert report["check_psnr_db"] >= report["fit_psnr_db"] - 1.0, report
    assert report["check_psnr_db"] >= report["check_mean_colour_psnr_db"] + 6.0, report


def test_a_flat_background_previews_near_its_colour(fitted: tuple[preview.PreviewFit, dict[str, float]]) -> None:
    """A frame of one world background colour, encoded, previews (away from the borders the VAE's convolutions
    see) within 0.1 of that colour on every channel. (Object colours come out duller: see fit_preview.)"""
    from longshot_models import train

    fit, _ = fitted
    vae_model, scale = train.load_vae()
    colours = torch.tensor(list(world.BACKGROUNDS.values()))
    frames = colours.view(-1, 3, 1, 1).expand(-1, 3, world.SIZE, world.SIZE) * 2.0 - 1.0
    with torch.no_grad():
        rgb = fit.apply(vae_model.encode(frames) * scale)
    inner = rgb[:, :, 4:-4, 4:-4].mean(dim=(2, 3))
    err = (inner - colours).abs().max()
    assert err <= 0.1, (err, inner, colours)


def test_the_bundled_pack_carries_this_fit_and_vocabulary(pack_dir: Path, fitted: tuple[preview.PreviewFit, dict[str, float]]) -> None:
    manifest = json.loads((pack_dir / "pack.json").read_text())
    fit, _ = fitted
    got = manifest["latent"]["previewRgb"]
    want = fit.to_manifest()
    assert torch.allclose(torch.tensor(got["weights"]), torch.tensor(want["weights"]), atol=1e-5), (got, want)
    assert torch.allclose(torch.tensor(got["bias"]), torch.tensor(want["bias"]), atol=1e-5), (got, want)
    assert manifest["text"]["vocabulary"] == export.vocabulary()


def test_vocabulary_holds_every_word_of_the_training_prompts() -> None:
    words = export.vocabulary()
    assert words == sorted(set(words))
    assert all(w == w.lower() and export.WORD.fullmatch(w) for w in words)
    rng = random.Random(11)
    for _ in range(500):
        spec = world.sample_spec(rng, split="any")
        for w in spec.prompt.lower().replace(",", " ").split():
            assert w in words, (w, spec.prompt)
    assert "zigzag" not in words and "an" in words and "grey" in words


def test_manifest_only_adds_the_fields_and_keeps_every_file_hash(pack_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    shutil.copytree(pack_dir, out)
    before = json.loads((out / "pack.json").read_text())
    stripped = json.loads(json.dumps(before))
    del stripped["latent"]["previewRgb"]
    del stripped["text"]["vocabulary"]
    (out / "pack.json").write_text(json.dumps(stripped, indent=2) + "\n")
    manifest, changed = export.write_manifest_only(out)
    assert changed == ["latent.previewRgb", "text.vocabulary"]
    assert manifest["files"] == before["files"]
    for name in [f["path"] for f in before["files"]]:
        assert (out / name).read_bytes() == (pack_dir / name).read_bytes()
