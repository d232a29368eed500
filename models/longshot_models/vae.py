"""A small KL autoencoder: 64x64 RGB <-> 4 x 16 x 16 latents (4x spatial down-sampling), SD-style."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ResBlock2d(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Encoder(nn.Module):
    """64x64 (ch) -> 32x32 (2 ch) -> 16x16 (4 ch) -> mean, logvar of 4 latent channels."""

    def __init__(self, ch: int = 16, latent: int = 4) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        self.res0 = ResBlock2d(ch, ch)
        self.down0 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)  # 64 -> 32
        self.res1 = ResBlock2d(2 * ch, 2 * ch)
        self.down1 = nn.Conv2d(2 * ch, 4 * ch, 3, stride=2, padding=1)  # 32 -> 16
        self.res2 = ResBlock2d(4 * ch, 4 * ch)
        self.norm_out = nn.GroupNorm(8, 4 * ch)
        self.conv_out = nn.Conv2d(4 * ch, 2 * latent, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.res0(self.conv_in(x))
        h = self.res1(self.down0(h))
        h = self.res2(self.down1(h))
        mean, logvar = self.conv_out(F.silu(self.norm_out(h))).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


class Decoder(nn.Module):
    """4 latent channels at 16x16 -> 32x32 -> 64x64 RGB."""

    def __init__(self, ch: int = 16, latent: int = 4) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(latent, 4 * ch, 3, padding=1)
        self.res0 = ResBlock2d(4 * ch, 4 * ch)
        self.up0 = nn.Conv2d(4 * ch, 2 * ch, 3, padding=1)  # 16 -> 32 after nearest upsampling
        self.res1 = ResBlock2d(2 * ch, 2 * ch)
        self.up1 = nn.Conv2d(2 * ch, ch, 3, padding=1)  # 32 -> 64
        self.res2 = ResBlock2d(ch, ch)
        self.norm_out = nn.GroupNorm(8, ch)
        self.conv_out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.res0(self.conv_in(z))
        h = self.res1(self.up0(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        h = self.res2(self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        return self.conv_out(F.silu(self.norm_out(h)))


class VAE(nn.Module):
    def __init__(self, ch: int = 16, latent: int = 4) -> None:
        super().__init__()
        self.encoder = Encoder(ch, latent)
        self.decoder = Decoder(ch, latent)

    def encode(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        mean, logvar = self.encoder(x)
        if not sample:
            return mean
        return mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def loss(self, x: torch.Tensor, kl_weight: float = 1e-6) -> tuple[torch.Tensor, dict[str, float]]:
        mean, logvar = self.encoder(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        rec = self.decoder(z)
        rec_loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x)
        kl = 0.5 * torch.mean(mean.pow(2) + logvar.exp() - 1.0 - logvar)
        return rec_loss + kl_weight * kl, {"rec": float(rec_loss.detach()), "kl": float(kl.detach())}

    def decoder_loss(self, x: torch.Tensor, edge_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
        """The decoder-only fine-tune (SD's ft-decoder recipe): the encoder is frozen, so the latents, and the UNets
        trained on them, stay valid. `edge_weight` adds an L1 loss on the image gradients, which the plain loss
        barely sees: a blunted corner costs few pixels but turns a square into a circle for the probe."""
        with torch.no_grad():
            mean, logvar = self.encoder(x)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        rec = self.decoder(z)
        rec_loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x)
        (ry, rx), (xy, xx) = image_gradients(rec), image_gradients(x)
        edge = F.l1_loss(ry, xy) + F.l1_loss(rx, xx)
        return rec_loss + edge_weight * edge, {"rec": float(rec_loss.detach()), "edge": float(edge.detach())}


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite differences of [N, C, H, W] images along H and along W."""
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


class VaeDecoderGraph(nn.Module):
    """What the pack exports: unscaled latents [N, 4, 16, 16] -> images [N, 3, 64, 64] in [-1, 1]."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.decoder = vae.decoder

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent).clamp(-1.0, 1.0)
