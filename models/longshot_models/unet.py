"""Pseudo-3D UNet in miniature, after the seed's UNetPseudo3DConditionModel.

- Every conv is a Conv2d over (b f) c h w followed by a Conv1d(k=3) over frames, initialised to identity.
- Each transformer block runs spatial self-attention, cross-attention to the text states, then temporal
  attention, then a feed-forward, as in the seed's BasicTransformerBlock.
- Temporal attention is *local*: a band mask |i - j| <= window // 2 (optionally always seeing frame 0), so the
  same weights run on 5, 17, 65 or 257 frames.
- Normalisation is per frame (GroupNorm over (b f) c h w), unlike the seed's 5-D GroupNorm: a long sequence can
  be cut into windows and each window computed on its own.
- The interpolation variant takes 9 input channels cat[noisy(4), mask(1), hint(4)] and is conditioned on the
  frame stride (4 for 5->17, 1 for 17->65, 1/4 for 65->257) through the time embedding.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 4
    out_channels: int = 4
    channels: tuple[int, int] = (32, 64)
    heads: int = 4
    context_dim: int = 384
    temporal_window: int = 5  # non-causal local window: each frame sees |i - j| <= window // 2
    attend_first_frame: bool = False  # the seed's unverified "always attend to frame 0" option
    stride_conditioning: bool = False  # interpolation models are told the frame stride
    # Frame order (docs/models.md, "Frame order"): without one of these the denoiser is equivariant to reversing
    # the frame axis and samples a clip and its reverse (a "left" clip is a reversed "right" one) equally.
    relative_position_bias: bool = False  # signed per-head bias per frame offset inside the band (any length)
    frame_position_embedding: bool = False  # absolute position i / (F - 1) in the clip, for models that see whole clips
    prompt_frame_conditioning: bool = False  # per-frame attention pooling of the prompt into the time embedding
    # How the interpolation model's hint channels were built in training, and so how the engine must build them:
    # "repeat" (the seed's: each frame gets its preceding known frame) or "blend" (the known frames blended
    # linearly across each gap, so the hint says where in the gap a frame lies). Not read by the network itself.
    interpolation_hint: str = "repeat"

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @staticmethod
    def from_dict(d: dict[str, object]) -> UNetConfig:
        d = dict(d)
        d["channels"] = tuple(d["channels"])  # type: ignore[arg-type]
        return UNetConfig(**d)  # type: ignore[arg-type]


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
    args = x.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    b, c, f, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def _batch_to_frames(x: torch.Tensor, b: int, f: int) -> torch.Tensor:
    bf, c, h, w = x.shape
    return x.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)


def _per_frame(t: torch.Tensor, f: int) -> torch.Tensor:
    """[b, ...] -> [(b f), ...], without repeat_interleave (it breaks the dynamo exporter at batch >= 2)."""
    b = t.shape[0]
    return t[:, None].expand(b, f, *t.shape[1:]).reshape(b * f, *t.shape[1:])


class Pseudo3DConv(nn.Module):
    """Conv2d over each frame, then Conv1d over frames (identity at init, as the seed's dirac_ init)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        self.temporal = nn.Conv1d(cout, cout, 3, padding=1)
        nn.init.dirac_(self.temporal.weight)
        nn.init.zeros_(self.temporal.bias)

    def forward(self, x: torch.Tensor, f: int) -> torch.Tensor:
        # x: [(b f), c, h, w]
        x = self.spatial(x)
        bf, c, h, w = x.shape
        b = bf // f
        t = x.reshape(b, f, c, h, w).permute(0, 3, 4, 2, 1).reshape(b * h * w, c, f)
        t = self.temporal(t)
        return t.reshape(b, h, w, c, f).permute(0, 4, 3, 1, 2).reshape(bf, c, h, w)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = Pseudo3DConv(cin, cout)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = Pseudo3DConv(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor, f: int) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), f)
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)), f)
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
        """mask [lq, lk] bool (False = not attended); bias [heads, lq, lk] added to the logits."""
        n, lq, d = x.shape
        ctx = x if context is None else context
        lk = ctx.shape[1]
        hd = d // self.heads
        q = self.to_q(x).reshape(n, lq, self.heads, hd).transpose(1, 2)
        k = self.to_k(ctx).reshape(n, lk, self.heads, hd).transpose(1, 2)
        v = self.to_v(ctx).reshape(n, lk, self.heads, hd).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        if bias is not None:
            scores = scores + bias
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        out = torch.matmul(scores.softmax(dim=-1), v)
        return self.to_out(out.transpose(1, 2).reshape(n, lq, d))


def band_mask(f: int, window: int, attend_first: bool, device: torch.device) -> torch.Tensor:
    """[f, f] bool: frame i may attend to frame j when |i - j| <= window // 2 (or j == 0 if attend_first)."""
    idx = torch.arange(f, device=device)
    m = (idx[:, None] - idx[None, :]).abs() <= window // 2
    if attend_first:
        m = m | (idx[None, :] == 0)
    return m


class RelativePositionBias(nn.Module):
    """A learned logit bias per head for each signed frame offset j - i in [-window // 2, window // 2] (as
    make-a-video's ContinuousPositionBias, tabulated). Zero at init, so it starts as the plain band attention. It
    depends only on j - i, so any window of a long sequence sees the same bias. Offsets outside the band (frame 0
    under attend_first) share the nearest edge's bias."""

    def __init__(self, heads: int, window: int) -> None:
        super().__init__()
        self.half = window // 2
        self.table = nn.Parameter(torch.zeros(heads, 2 * self.half + 1))

    def forward(self, f: int, device: torch.device) -> torch.Tensor:
        idx = torch.arange(f, device=device)
        offset = (idx[None, :] - idx[:, None]).clamp(-self.half, self.half) + self.half  # [f, f]
        return self.table[:, offset]  # [heads, f, f]


class TransformerBlock(nn.Module):
    def __init__(
        self, dim: int, heads: int, context_dim: int, window: int, attend_first: bool, spatial: bool = True, relative_bias: bool = False
    ) -> None:
        super().__init__()
        self.spatial = spatial
        self.norm_in = nn.GroupNorm(8, dim)
        self.proj_in = nn.Linear(dim, dim)
        # Spatial self-attention costs (h w)^2 per frame: the 16x16 level goes without it (cross-attention,
        # temporal attention and the convolutions still mix information there).
        self.norm1 = nn.LayerNorm(dim) if spatial else nn.Identity()
        self.attn1 = Attention(dim, heads) if spatial else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, context_dim)
        self.norm_temporal = nn.LayerNorm(dim)
        self.attn_temporal = Attention(dim, heads)
        self.temporal_bias = RelativePositionBias(heads, window) if relative_bias else None
        self.norm3 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.proj_out = nn.Linear(dim, dim)
        self.window = window
        self.attend_first = attend_first

    def forward(self, x: torch.Tensor, context: torch.Tensor, f: int) -> torch.Tensor:
        bf, c, h, w = x.shape
        b = bf // f
        res = x
        t = self.norm_in(x).permute(0, 2, 3, 1).reshape(bf, h * w, c)
        t = self.proj_in(t)
        if self.spatial:
            t = t + self.attn1(self.norm1(t))
        t = t + self.attn2(self.norm2(t), context=context)
        # temporal: [(b f), hw, c] -> [(b hw), f, c]
        tt = t.reshape(b, f, h * w, c).transpose(1, 2).reshape(b * h * w, f, c)
        mask = band_mask(f, self.window, self.attend_first, x.device)
        bias = self.temporal_bias(f, x.device) if self.temporal_bias is not None else None
        tt = tt + self.attn_temporal(self.norm_temporal(tt), mask=mask, bias=bias)
        t = tt.reshape(b, h * w, f, c).transpose(1, 2).reshape(bf, h * w, c)
        t = t + self.ff(self.norm3(t))
        t = self.proj_out(t)
        return res + t.reshape(bf, h, w, c).permute(0, 3, 1, 2)


def frame_positions(f: int, device: torch.device) -> torch.Tensor:
    """Each frame's place in the clip, i / (F - 1) in [0, 1] (0 for a single frame); F from the tensor's shape."""
    idx = torch.arange(f, device=device, dtype=torch.float32)
    return idx / (idx[-1:].clamp(min=1.0))


class PromptFrameConditioning(nn.Module):
    """Each frame position queries the prompt's token states (one attention pool per frame) and the result,
    with the position, becomes a per-frame shift of the time embedding (FiLM of every ResBlock). This gives the
    prompt a direct path to say what the first and the last frame hold, e.g. which way the object moves."""

    def __init__(self, pos_dim: int, context_dim: int, emb_dim: int, heads: int) -> None:
        super().__init__()
        self.pos_dim = pos_dim
        self.query = nn.Linear(pos_dim, context_dim)
        self.pool = Attention(context_dim, heads)
        self.out = nn.Sequential(nn.Linear(context_dim + pos_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, pos: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """pos [f] in [0, 1], context [b, T, C] -> [(b f), emb]."""
        b = context.shape[0]
        f = pos.shape[0]
        p = sinusoidal(pos * 100.0, self.pos_dim)  # [f, pos_dim]
        q = self.query(p)[None].expand(b, f, -1)
        pooled = self.pool(q, context=context)  # [b, f, C]
        h = torch.cat([pooled, p[None].expand(b, f, -1)], dim=-1)
        return self.out(h).reshape(b * f, -1)


class UNetPseudo3D(nn.Module):
    """sample [B, C_in, F, H, W], timestep [B], encoder_hidden_states [B, T, 384] (+ frame_stride [B])
    -> noise prediction [B, 4, F, H, W]."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c0, c1 = cfg.channels
        emb = 4 * c0
        self.time_embed = nn.Sequential(nn.Linear(c0, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stride_embed = nn.Sequential(nn.Linear(c0, emb), nn.SiLU(), nn.Linear(emb, emb)) if cfg.stride_conditioning else None
        self.frame_embed = nn.Sequential(nn.Linear(c0, emb), nn.SiLU(), nn.Linear(emb, emb)) if cfg.frame_position_embedding else None
        if self.frame_embed is not None:  # zero at init: a model without frame order plus this one computes the same
            nn.init.zeros_(self.frame_embed[-1].weight)
            nn.init.zeros_(self.frame_embed[-1].bias)
        self.prompt_frame = PromptFrameConditioning(c0, cfg.context_dim, emb, cfg.heads) if cfg.prompt_frame_conditioning else None
        tb = lambda d, spatial=True: TransformerBlock(  # noqa: E731
            d, cfg.heads, cfg.context_dim, cfg.temporal_window, cfg.attend_first_frame, spatial, cfg.relative_position_bias
        )
        self.conv_in = Pseudo3DConv(cfg.in_channels, c0)
        self.down0_res = ResBlock(c0, c0, emb)
        self.down0_attn = tb(c0, spatial=False)
        self.down0 = Pseudo3DConv(c0, c0, stride=2)  # 16 -> 8
        self.down1_res = ResBlock(c0, c1, emb)
        self.down1_attn = tb(c1)
        self.down1 = Pseudo3DConv(c1, c1, stride=2)  # 8 -> 4
        self.mid_res1 = ResBlock(c1, c1, emb)
        self.mid_attn = tb(c1)
        self.mid_res2 = ResBlock(c1, c1, emb)
        self.up1_conv = Pseudo3DConv(c1, c1)  # 4 -> 8
        self.up1_res = ResBlock(2 * c1, c1, emb)
        self.up1_attn = tb(c1)
        self.up0_conv = Pseudo3DConv(c1, c1)  # 8 -> 16
        self.up0_res = ResBlock(c1 + c0, c0, emb)
        self.up0_attn = tb(c0, spatial=False)
        self.norm_out = nn.GroupNorm(8, c0)
        self.conv_out = Pseudo3DConv(c0, cfg.out_channels)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        frame_stride: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, _, f, _, _ = sample.shape
        c0 = self.cfg.channels[0]
        emb = self.time_embed(sinusoidal(timestep, c0))
        if self.stride_embed is not None:
            if frame_stride is None:
                raise ValueError("this UNet is stride-conditioned: frame_stride is required")
            emb = emb + self.stride_embed(sinusoidal(torch.log2(frame_stride) * 100.0, c0))
        emb = _per_frame(emb, f)
        if self.frame_embed is not None or self.prompt_frame is not None:
            pos = frame_positions(f, sample.device)
            if self.frame_embed is not None:
                emb = (emb.reshape(b, f, -1) + self.frame_embed(sinusoidal(pos * 100.0, c0))[None]).reshape(b * f, -1)
            if self.prompt_frame is not None:
                emb = emb + self.prompt_frame(pos, encoder_hidden_states)
        ctx = _per_frame(encoder_hidden_states, f)

        x = self.conv_in(_frames_to_batch(sample), f)
        x = self.down0_attn(self.down0_res(x, emb, f), ctx, f)
        s0 = x
        x = self.down0(x, f)
        x = self.down1_attn(self.down1_res(x, emb, f), ctx, f)
        s1 = x
        x = self.down1(x, f)
        x = self.mid_res2(self.mid_attn(self.mid_res1(x, emb, f), ctx, f), emb, f)
        x = self.up1_conv(F.interpolate(x, scale_factor=2.0, mode="nearest"), f)
        x = self.up1_attn(self.up1_res(torch.cat([x, s1], dim=1), emb, f), ctx, f)
        x = self.up0_conv(F.interpolate(x, scale_factor=2.0, mode="nearest"), f)
        x = self.up0_attn(self.up0_res(torch.cat([x, s0], dim=1), emb, f), ctx, f)
        x = self.conv_out(F.silu(self.norm_out(x)), f)
        return _batch_to_frames(x, b, f)


def keyframe_config(**overrides: object) -> UNetConfig:
    """The shipped keyframe model: frame order from a relative bias and its place in the clip, and the prompt's
    per-frame path (chosen by the A/B runs in docs/models.md)."""
    cfg = UNetConfig(in_channels=4, relative_position_bias=True, frame_position_embedding=True, prompt_frame_conditioning=True)
    return replace(cfg, **overrides)  # type: ignore[arg-type]


INTERPOLATION_HINTS = ("repeat", "blend")


def interpolation_config(window: int = 5, attend_first_frame: bool = False, interpolation_hint: str = "blend") -> UNetConfig:
    """The shipped interpolation model: local temporal attention, frame-stride conditioning and the "blend" hint
    (chosen by the A/B runs in docs/models.md; "repeat" is the seed's)."""
    if interpolation_hint not in INTERPOLATION_HINTS:
        raise ValueError(f"interpolation_hint {interpolation_hint!r}: expected one of {INTERPOLATION_HINTS}")
    return UNetConfig(in_channels=9, temporal_window=window, attend_first_frame=attend_first_frame, stride_conditioning=True, interpolation_hint=interpolation_hint)


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
