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


def test_local_attention_and_per_frame_norm_make_windows_exact_away_from_their_edges() -> None:
    torch.manual_seed(0)
    model = unet.UNetPseudo3D(unet.interpolation_config()).eval()
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
