from dataclasses import replace
from pathlib import Path

import pytest
import torch

from longshot_models import train, unet


def test_band_mask_is_local_and_symmetric() -> None:
    m = unet.band_mask(9, 5, False, torch.device("cpu"))
    assert m.sum(dim=1).tolist() == [3, 4, 5, 5, 5, 5, 5, 4, 3]
    assert torch.equal(m, m.T)
    first = unet.band_mask(9, 5, True, torch.device("cpu"))
    assert first[:, 0].all() and first.sum() == m.sum() + 6


def test_hint_and_mask_follow_the_seed_snippet() -> None:
    x0 = torch.randn(2, 4, 9, 16, 16)
    noisy = torch.randn_like(x0)
    inp = train.interp_inputs(x0, noisy)
    assert inp.shape == (2, 9, 9, 16, 16)
    assert torch.equal(inp[:, :4], noisy)
    # hint = latents[:,:,0::4].repeat_interleave(4, 2)[:,:,:F]
    assert torch.equal(inp[:, 5:], x0[:, :, 0::4].repeat_interleave(4, 2)[:, :, :9])
    assert inp[:, 4, 0::4].eq(0).all() and inp[:, 4, 1::4].eq(1).all()


def test_blend_hint_places_each_frame_between_its_known_frames() -> None:
    x0 = torch.randn(2, 4, 9, 16, 16)
    hint = train.interp_inputs(x0, torch.randn_like(x0), "blend")[:, 5:]
    assert torch.equal(hint[:, :, 0::4], x0[:, :, 0::4])  # the known frames themselves
    for i, (k, a) in {1: (0, 0.25), 2: (0, 0.5), 3: (0, 0.75), 6: (4, 0.5), 7: (4, 0.75)}.items():
        torch.testing.assert_close(hint[:, :, i], (1 - a) * x0[:, :, k] + a * x0[:, :, k + 4], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="'repeat' or 'blend'"):
        train.interp_inputs(x0, x0, "nearest")


@pytest.mark.parametrize("relative_bias", [False, True])
def test_local_attention_and_per_frame_norm_make_windows_exact_away_from_their_edges(relative_bias: bool) -> None:
    # With the signed relative bias too: it depends only on the frame offset, so windows still see the same bias.
    torch.manual_seed(0)
    model = unet.UNetPseudo3D(replace(unet.interpolation_config(), relative_position_bias=relative_bias)).eval()
    _randomise_frame_order(model)
    f, cut = 80, 70
    x = torch.randn(1, 9, f, 16, 16)
    args = (torch.tensor([500.0]), torch.randn(1, 32, 384), torch.tensor([1.0]))
    with torch.no_grad():
        full = model(x, *args)
        window = model(x[:, :, :cut], *args)
    reach = 29  # temporal receptive field of the network, frames each side
    assert torch.allclose(full[:, :, : cut - reach], window[:, :, : cut - reach], atol=1e-5)
    assert not torch.allclose(full[:, :, cut - 1], window[:, :, cut - 1], atol=1e-5)


def test_the_same_weights_run_on_any_frame_count() -> None:
    model = unet.UNetPseudo3D(unet.interpolation_config()).eval()
    for f in (5, 17, 65):
        with torch.no_grad():
            y = model(torch.randn(2, 9, f, 16, 16), torch.tensor([10.0, 900.0]), torch.randn(2, 32, 384), torch.tensor([4.0, 0.25]))
        assert y.shape == (2, 4, f, 16, 16)


def _randomise_frame_order(model: unet.UNetPseudo3D) -> None:
    """Give the zero-initialised frame-order parameters values, as training would."""
    g = torch.Generator().manual_seed(3)
    for name, p in model.named_parameters():
        if "temporal_bias" in name or "prompt_frame.out" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.5


def test_relative_position_bias_is_signed_and_depends_only_on_the_offset() -> None:
    bias = unet.RelativePositionBias(heads=2, window=5)
    bias.table.data = torch.arange(10.0).reshape(2, 5)
    b = bias(7, torch.device("cpu"))
    assert b.shape == (2, 7, 7)
    for i in range(7):
        for j in range(7):
            assert b[0, i, j] == bias.table[0, max(-2, min(2, j - i)) + 2]
    assert not torch.equal(b[0], b[0].T)  # earlier and later frames are told apart


def test_frame_order_breaks_the_reversal_symmetry_of_the_old_design() -> None:
    torch.manual_seed(0)
    x, t, ctx = torch.randn(2, 4, 5, 16, 16), torch.tensor([700.0, 100.0]), torch.randn(2, 32, 384)
    rev = lambda y: y.flip(2)  # noqa: E731
    old = unet.UNetPseudo3D(unet.keyframe_config(relative_position_bias=False, frame_position_embedding=False, prompt_frame_conditioning=False)).eval()
    new = unet.UNetPseudo3D(unet.keyframe_config()).eval()
    _randomise_frame_order(new)
    with torch.no_grad():
        # Without a frame-order signal the denoiser treats a clip and its reverse alike: it cannot tell "left" from
        # a reversed "right".
        assert torch.allclose(old(rev(x), t, ctx), rev(old(x, t, ctx)), atol=1e-5)
        y = new(x, t, ctx)
        assert (new(rev(x), t, ctx) - rev(y)).norm() / y.norm() > 0.01


def test_the_keyframe_model_runs_on_any_frame_count() -> None:
    model = unet.UNetPseudo3D(unet.keyframe_config()).eval()
    for f in (1, 5, 17):
        with torch.no_grad():
            y = model(torch.randn(2, 4, f, 16, 16), torch.tensor([10.0, 900.0]), torch.randn(2, 32, 384))
        assert y.shape == (2, 4, f, 16, 16) and torch.isfinite(y).all()


def test_frame_order_exports_with_a_dynamic_frame_axis(tmp_path: Path) -> None:
    """Traced once at 5 frames, the graph must take F from the tensor's shape (not a traced Python int) and match
    PyTorch at every frame count the engine uses."""
    import numpy as np
    import onnxruntime as ort

    from longshot_models import export

    torch.manual_seed(1)
    model = unet.UNetPseudo3D(unet.keyframe_config()).eval()
    _randomise_frame_order(model)
    contract = export.graph_contracts()["keyframeUnet"]
    path = tmp_path / "keyframe.onnx"
    export._export(export.KeyframeGraph(model), tuple(export.example_inputs("keyframeUnet").values()), path, contract)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for f, batch in ((5, 2), (17, 2), (65, 1), (257, 1)):
        inputs = export.example_inputs("keyframeUnet", frames=f, batch=batch)
        with torch.no_grad():
            ref = model(*inputs.values()).numpy()
        (got,) = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
        assert float(np.abs(got - ref).max()) <= 1e-4, f
