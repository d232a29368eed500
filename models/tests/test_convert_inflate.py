"""Inflation: a plain SD 1.x UNet (2-D) → a pseudo-3D keyframe UNet with identity temporal layers and a 9-channel
interpolation UNet (zero-initialised extra channels), written as a checkpoint folder the converter reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from longshot_models.convert import ConvertError, Options, convert
from longshot_models.convert.inflate import INFLATED_KEY, SPATIAL_HEADS_KEY, inflate_checkpoint, inflate_unet2d, restore_spatial_heads
from longshot_models.convert.tiny import build_sd


@pytest.fixture(scope="module")
def sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sd(tmp_path_factory.mktemp("sd") / "tiny-sd", seed=5)


def test_inflated_unet_is_the_2d_unet_on_every_frame(sd: Path) -> None:
    from diffusers import UNet2DConditionModel

    unet2d = UNet2DConditionModel.from_pretrained(sd / "unet").eval()
    unet3d = inflate_unet2d(unet2d).eval()
    g = torch.Generator().manual_seed(2)
    frames = 5
    x = torch.randn(2, 4, frames, 8, 8, generator=g)
    t = torch.tensor([700.0, 30.0])
    ctx = torch.randn(2, 77, 32, generator=g)
    with torch.no_grad():
        got = unet3d(x, t, ctx).sample
        for f in range(frames):
            want = unet2d(x[:, :, f], t, ctx).sample
            assert torch.allclose(got[:, :, f], want, atol=1e-5), f
        # The temporal layers are there, and they are what makes frames interact once trained.
        names = [n for n, _ in unet3d.named_modules()]
        assert any("temp_attentions" in n for n in names) and any("temp_convs" in n for n in names)


def test_sd_folder_becomes_a_checkpoint_the_converter_reads(sd: Path, tmp_path: Path) -> None:
    ckpt = inflate_checkpoint(sd, tmp_path / "t2v")
    index = json.loads((ckpt / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet3DConditionModel"]
    # Saved and loaded back as the converter does (the 2-D head split restored from the config).
    from diffusers import UNet2DConditionModel, UNet3DConditionModel

    unet3d = UNet3DConditionModel.from_pretrained(ckpt / "unet").eval()
    restore_spatial_heads(unet3d, json.loads((ckpt / "unet" / "config.json").read_text())[SPATIAL_HEADS_KEY])
    unet2d = UNet2DConditionModel.from_pretrained(sd / "unet").eval()
    x, t, ctx = torch.randn(1, 4, 3, 8, 8), torch.tensor([400.0]), torch.randn(1, 77, 32)
    with torch.no_grad():
        got = unet3d(x, t, ctx).sample
        for f in range(3):
            assert torch.allclose(got[:, :, f], unet2d(x[:, :, f], t, ctx).sample, atol=1e-5)
    interp = json.loads((ckpt / "interpolation_unet" / "config.json").read_text())
    assert interp["in_channels"] == 9 and interp[INFLATED_KEY] is True
    with pytest.raises(ConvertError, match=f"{INFLATED_KEY}: this interpolation UNet was inflated"):
        convert(ckpt, tmp_path / "pack", Options(parity_frames=()))
    assert not (tmp_path / "pack").exists()
    result = convert(ckpt, tmp_path / "pack", Options(inflate_interpolation=True, parity_frames=(5,)))
    assert "not meaningful until it is fine-tuned" in result.manifest["description"]
    assert max(result.parity.values()) <= 1e-4


def test_unsupported_2d_unets_are_refused(sd: Path, tmp_path: Path) -> None:
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(sd / "unet")
    unet.register_to_config(class_embed_type="timestep")
    with pytest.raises(ConvertError, match="class_embed_type = 'timestep'; inflation supports SD 1.x UNets"):
        inflate_unet2d(unet)
    with pytest.raises(ConvertError, match="model_index.json is missing"):
        inflate_checkpoint(tmp_path / "nothing", tmp_path / "out")
