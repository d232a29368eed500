"""The real-size benchmark module (`python -m longshot_models.real_size`) at a tiny size: the same code path as the
real run (each case in a fresh process, band-mask temporal attention from the converter, the memory estimate and
the skip), on a model small enough for CI. The real-size numbers themselves come from `npm run bench -- real-size`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from longshot_models import real_size
from longshot_models.convert.attention import LocalTemporalAttnProcessor


def test_tiny_run_measures_every_case(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert real_size.main(["--scale", "tiny", "--cases", "kf,interp,vae", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == "longshot-real-size/1"
    names = [c["spec"]["name"] for c in doc["cases"]]
    assert names == [
        "keyframe UNet, 5 frames, batch 2",
        "interpolation UNet, 17 frames, window 5",
        "interpolation UNet, 17 frames, full attention",
        "VAE decoder, 1 frame",
        "VAE decoder, 4 frames",
    ]
    for c in doc["cases"]:
        assert c["status"] == "measured", c
        assert c["parameters"] > 0
        assert c["weightMB"]["fp16"] == pytest.approx(c["weightMB"]["fp32"] / 2)
        assert c["seconds"] > 0
        assert c["peakMB"] >= c["rssBeforeMB"] > 0
    kf, local, full = doc["cases"][:3]
    # The interpolation UNet takes 9 input channels: more parameters than the 4-channel keyframe UNet, nothing else.
    assert local["parameters"] == full["parameters"] > kf["parameters"]


def test_a_case_over_the_budget_is_skipped_with_the_reason(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert real_size.main(["--scale", "tiny", "--cases", "vae", "--budget-gb", "0.0001", "--json", str(out)]) == 0
    cases = json.loads(out.read_text())["cases"]
    assert [c["status"] for c in cases] == ["skipped", "skipped"]
    assert "exceeds the budget 0 MB" in cases[0]["reason"]


def test_local_and_full_temporal_attention_differ_only_in_the_mask() -> None:
    spec = real_size.CaseSpec("t", "interpolation", 9, 1, 3, scale="tiny")
    local = real_size.build(spec)
    full = real_size.build(real_size.CaseSpec("t", "interpolation", 9, 1, 0, scale="tiny"))
    processors = [p for p in local.attn_processors.values() if isinstance(p, LocalTemporalAttnProcessor)]
    assert processors and all(p.window == 3 for p in processors)
    args = real_size.inputs(spec)
    with torch.inference_mode():
        a = real_size.call(local, spec, args)
        b = real_size.call(full, spec, args)
    assert a.shape == (1, 4, 9, 8, 8)
    # Same seed, same weights: the outputs differ only because frames beyond the window are masked.
    assert not torch.allclose(a, b)
    wide = real_size.build(real_size.CaseSpec("t", "interpolation", 9, 1, 17, scale="tiny"))
    with torch.inference_mode():
        c = real_size.call(wide, spec, args)
    torch.testing.assert_close(c, b, rtol=1e-4, atol=1e-5)


def test_bad_options_are_named() -> None:
    with pytest.raises(SystemExit):
        real_size.main(["--cases", "nope"])
    with pytest.raises(SystemExit):
        real_size.main(["--frames", "0"])


def test_the_real_size_unet_has_sd_heads() -> None:
    """SD 1.x (and the seed lineage) split every attention layer into 8 heads of width C / 8; diffusers' 3-D blocks
    built from the same config split it into C / 8 heads of width 8, which is 5x the score matrix at 320 channels."""
    from diffusers import UNet3DConditionModel
    from diffusers.models.attention_processor import Attention

    with torch.device("meta"):
        unet = UNet3DConditionModel(**real_size.unet_config(4, "real"))
    before = unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1
    assert (before.heads, before.inner_dim // before.heads) == (40, 8)  # diffusers' split
    assert real_size.sd_heads(unet, 8) > 0
    for name, module in unet.named_modules():
        if isinstance(module, Attention) and not name.startswith("transformer_in."):
            assert module.heads == 8, name
            assert module.scale == pytest.approx((module.inner_dim // 8) ** -0.5), name
    spec = real_size.CaseSpec("kf", "keyframe", 5, 2, 0)
    assert real_size.plain_score_mb(spec) == 5 * 2 * 8 * 4096 * 4096 * 4 / 2**20
