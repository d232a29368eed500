"""The seed lineage's UNet: `UNetPseudo3DConditionModel` folders of lxj616/make-a-stable-diffusion-video (a fork of
diffusers 0.12; docs/model-pack.md, "From a make-a-stable-diffusion-video (lineage) checkpoint").

The lineage saves its UNet as diffusers does (`config.json` + `diffusion_pytorch_model.bin` or `.safetensors`) but
with its own class, which diffusers does not have. This module reads such a folder into `LineageUNet`, a PyTorch
implementation of that architecture written here (plain torch plus diffusers' timestep embedding), whose parameter
names are the lineage's state-dict keys, so the weights load with strict key matching:

- SD 1.x layout (`block_out_channels` 320/640/1280/1280, `attention_head_dim` = the number of heads, 8, each of
  width C / 8; `cross_attention_dim` 768), block types named as SD's (`CrossAttnDownBlock2D`, `DownBlock2D`,
  `UpBlock2D`, `CrossAttnUpBlock2D`, mid block `UNetMidBlock2DCrossAttn`);
- every conv a `Pseudo3DConv`: `spatial_conv` (Conv2d per frame) then `temporal_conv` (Conv1d, kernel 3, padding 1,
  over frames, identity at init), also the 1x1 resnet shortcuts and the up/down-samplers;
- resnets' GroupNorms and `conv_norm_out` on the 5-D tensor (statistics over all frames); the transformers'
  GroupNorm per frame;
- each transformer block: `attn1` (spatial self-attention), `attn2` (cross-attention to the text, repeated per
  frame), `attn_temporal` after `norm_temporal` (self-attention over frames at each pixel, no position encoding),
  then `ff` (GEGLU).

For export every attention is plain `softmax(QK^T * scale) V`; `attn_temporal` adds the band bias of
`convert.attention` (local window, optional first frame) computed from the call's frame count.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .attention import FULL, band_bias
from .errors import ConvertError, read_json_object

LINEAGE_CLASS = "UNetPseudo3DConditionModel"
DOWN_BLOCKS = ("CrossAttnDownBlock2D", "DownBlock2D")
UP_BLOCKS = ("CrossAttnUpBlock2D", "UpBlock2D")
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
ACTIVATIONS = ("silu", "swish")
TEMPORAL_PARTS = ("temporal_conv.", "attn_temporal.", "norm_temporal.")
"""Key fragments of the layers the lineage added to SD's UNet."""


@dataclass(frozen=True)
class LineageConfig:
    """`config.json` of a lineage UNet: the fields of `UNetPseudo3DConditionModel.__init__`, with its defaults."""

    sample_size: int | None = None
    in_channels: int = 4
    out_channels: int = 4
    center_input_sample: bool = False
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    down_block_types: tuple[str, ...] = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
    up_block_types: tuple[str, ...] = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    downsample_padding: int = 1
    mid_block_scale_factor: float = 1.0
    act_fn: str = "silu"
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    cross_attention_dim: int = 768
    attention_head_dim: int = 8

    def to_json(self) -> dict[str, Any]:
        """The fields as the lineage's `save_pretrained` writes them."""
        out: dict[str, Any] = {"_class_name": LINEAGE_CLASS, "_diffusers_version": "0.12.0.dev0"}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _want(where: str, key: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ConvertError(f"{where}: {key} = {value!r}; expected {what}")


def parse_config(raw: dict[str, Any], where: str) -> LineageConfig:
    """A lineage `config.json` → `LineageConfig`; every field the architecture does not have, every block type it
    does not know and every inconsistent size is refused, naming `where` (the file) and the field."""
    if raw.get("_class_name") != LINEAGE_CLASS:
        raise ConvertError(f"{where}: class {raw.get('_class_name')!r} is not {LINEAGE_CLASS}")
    known = {f.name for f in fields(LineageConfig)}
    unknown = sorted(k for k in raw if not k.startswith("_") and k not in known)
    if unknown:
        raise ConvertError(f"{where}: field {unknown[0]!r} is not one of {LINEAGE_CLASS}'s ({', '.join(sorted(known))}); the converter does not know what it changes")
    values = {k: v for k, v in raw.items() if k in known}
    for key in ("down_block_types", "up_block_types", "block_out_channels"):
        if key in values:
            _want(where, key, values[key], isinstance(values[key], list) and len(values[key]) > 0, "a non-empty list")
            values[key] = tuple(values[key])
    cfg = LineageConfig(**values)
    ints = ("in_channels", "out_channels", "layers_per_block", "norm_num_groups", "cross_attention_dim", "attention_head_dim")
    for key in ints:
        value = getattr(cfg, key)
        _want(where, key, value, isinstance(value, int) and not isinstance(value, bool) and value > 0, "a positive integer")
    for key in ("norm_eps", "mid_block_scale_factor", "freq_shift"):
        value = getattr(cfg, key)
        _want(where, key, value, isinstance(value, (int, float)) and not isinstance(value, bool), "a number")
    for key in ("center_input_sample", "flip_sin_to_cos"):
        _want(where, key, getattr(cfg, key), isinstance(getattr(cfg, key), bool), "true or false")
    _want(where, "sample_size", cfg.sample_size, cfg.sample_size is None or (isinstance(cfg.sample_size, int) and cfg.sample_size > 0), "a positive integer or null")
    _want(where, "downsample_padding", cfg.downsample_padding, cfg.downsample_padding in (0, 1), "0 or 1")
    _want(where, "act_fn", cfg.act_fn, cfg.act_fn in ACTIVATIONS, " or ".join(repr(a) for a in ACTIVATIONS))
    for key, allowed in (("down_block_types", DOWN_BLOCKS), ("up_block_types", UP_BLOCKS)):
        for i, block in enumerate(getattr(cfg, key)):
            if block not in allowed:
                raise ConvertError(f"{where}: {key}[{i}] {block!r} is not a block type of {LINEAGE_CLASS} (known: {', '.join(allowed)})")
    levels = len(cfg.block_out_channels)
    for key in ("down_block_types", "up_block_types"):
        _want(where, key, list(getattr(cfg, key)), len(getattr(cfg, key)) == levels, f"{levels} entries, one per block_out_channels entry")
    for c in cfg.block_out_channels:
        _want(where, "block_out_channels", list(cfg.block_out_channels), isinstance(c, int) and c > 0 and c % cfg.norm_num_groups == 0 and c % cfg.attention_head_dim == 0,
              f"positive multiples of norm_num_groups ({cfg.norm_num_groups}) and attention_head_dim ({cfg.attention_head_dim})")
    return cfg


# --- the architecture ---------------------------------------------------------------------------------------------


def _frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    """[b, c, f, h, w] → [(b f), c, h, w]."""
    return x.transpose(1, 2).flatten(0, 1)


def _batch_to_frames(x: torch.Tensor, batch: int) -> torch.Tensor:
    """[(b f), c, h, w] → [b, c, f, h, w]."""
    return x.reshape(batch, -1, x.shape[1], x.shape[2], x.shape[3]).transpose(1, 2)


class Pseudo3DConv(nn.Module):
    """Conv2d on every frame, then Conv1d (kernel 3, padding 1) over the frames at every pixel; the Conv1d starts
    as the identity (a Dirac kernel, zero bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.spatial_conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.temporal_conv = nn.Conv1d(out_channels, out_channels, 3, padding=1)
        nn.init.dirac_(self.temporal_conv.weight)
        nn.init.zeros_(self.temporal_conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f = x.shape[0], x.shape[2]
        y = self.spatial_conv(_frames_to_batch(x))
        c, h, w = y.shape[1], y.shape[2], y.shape[3]
        y = y.reshape(b, f, c, h, w).permute(0, 3, 4, 2, 1).reshape(b * h * w, c, f)
        y = self.temporal_conv(y)
        return y.reshape(b, h, w, c, f).permute(0, 3, 4, 1, 2)


class ResnetBlockPseudo3D(nn.Module):
    """SD's resnet with Pseudo3DConvs; both GroupNorms see all frames at once."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, groups: int, eps: float, output_scale_factor: float = 1.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = Pseudo3DConv(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = Pseudo3DConv(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = Pseudo3DConv(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.output_scale_factor = output_scale_factor

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return (skip + h) / self.output_scale_factor


class LineageAttention(nn.Module):
    """Multi-head attention with the lineage's projections (`to_q`/`to_k`/`to_v` without bias, `to_out.0`), computed
    as plain softmax(QK^T * scale)V. `temporal` layers add the band bias (`window`, `first_frame`)."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None = None, temporal: bool = False) -> None:
        super().__init__()
        inner = heads * dim_head
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(0.0)])
        self.heads = heads
        self.scale = dim_head**-0.5
        self.temporal = temporal
        self.window = FULL
        self.first_frame = False

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        ctx = x if context is None else context
        q, k, v = self._split(self.to_q(x)), self._split(self.to_k(ctx)), self._split(self.to_v(ctx))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if self.temporal and (self.window != FULL or self.first_frame):
            scores = scores + band_bias(x.shape[1], self.window, self.first_frame, scores.dtype, scores.device)
        out = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2)
        out = out.reshape(out.shape[0], out.shape[1], -1)
        return self.to_out[1](self.to_out[0](out))


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TransformerBlockPseudo3D(nn.Module):
    """Spatial self-attention, cross-attention, temporal self-attention (over frames at each pixel), feed-forward;
    each pre-normed (LayerNorm) and residual."""

    def __init__(self, dim: int, heads: int, context_dim: int) -> None:
        super().__init__()
        self.attn1 = LineageAttention(dim, heads, dim // heads)
        self.ff = FeedForward(dim)
        self.attn2 = LineageAttention(dim, heads, dim // heads, context_dim)
        self.attn_temporal = LineageAttention(dim, heads, dim // heads, temporal=True)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm_temporal = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, frames: int) -> torch.Tensor:
        """`x`: [(b f), (h w), c]; `context`: [(b f), tokens, d]."""
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        bf, hw, c = x.shape
        t = x.reshape(-1, frames, hw, c).transpose(1, 2).reshape(-1, frames, c)
        t = self.attn_temporal(self.norm_temporal(t)) + t
        x = t.reshape(-1, hw, frames, c).transpose(1, 2).reshape(bf, hw, c)
        return self.ff(self.norm3(x)) + x


class TransformerPseudo3D(nn.Module):
    """SD's Transformer2DModel (GroupNorm, 1x1 conv projections, one block) on every frame, with temporal
    attention inside the block."""

    def __init__(self, channels: int, heads: int, groups: int, context_dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([TransformerBlockPseudo3D(channels, heads, context_dim)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = x.shape
        y = _frames_to_batch(x)
        residual = y
        y = self.proj_in(self.norm(y)).permute(0, 2, 3, 1).reshape(-1, h * w, c)
        ctx = context[:, None].expand(-1, f, -1, -1).reshape(-1, context.shape[1], context.shape[2])
        for block in self.transformer_blocks:
            y = block(y, ctx, f)
        y = self.proj_out(y.reshape(-1, h, w, c).permute(0, 3, 1, 2)) + residual
        return _batch_to_frames(y, b)


class Downsample(nn.Module):
    def __init__(self, channels: int, padding: int) -> None:
        super().__init__()
        self.padding = padding
        self.conv = Pseudo3DConv(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = Pseudo3DConv(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        y = _frames_to_batch(x)
        y = F.interpolate(y, scale_factor=2.0, mode="nearest") if size is None else F.interpolate(y, size=size, mode="nearest")
        return self.conv(_batch_to_frames(y, x.shape[0]))


class DownBlock(nn.Module):
    """`CrossAttnDownBlock2D` (a transformer after every resnet) or `DownBlock2D`."""

    def __init__(self, cross: bool, layers: int, cin: int, cout: int, temb: int, cfg: LineageConfig, downsample: bool) -> None:
        super().__init__()
        g, eps = cfg.norm_num_groups, cfg.norm_eps
        self.resnets = nn.ModuleList([ResnetBlockPseudo3D(cin if i == 0 else cout, cout, temb, g, eps) for i in range(layers)])
        self.attentions = nn.ModuleList([TransformerPseudo3D(cout, cfg.attention_head_dim, g, cfg.cross_attention_dim) for _ in range(layers)]) if cross else None
        self.downsamplers = nn.ModuleList([Downsample(cout, cfg.downsample_padding)]) if downsample else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x, context)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class MidBlock(nn.Module):
    """`UNetMidBlock2DCrossAttn`: resnet, transformer, resnet."""

    def __init__(self, channels: int, temb: int, cfg: LineageConfig) -> None:
        super().__init__()
        g, eps, scale = cfg.norm_num_groups, cfg.norm_eps, cfg.mid_block_scale_factor
        self.attentions = nn.ModuleList([TransformerPseudo3D(channels, cfg.attention_head_dim, g, cfg.cross_attention_dim)])
        self.resnets = nn.ModuleList([ResnetBlockPseudo3D(channels, channels, temb, g, eps, scale) for _ in range(2)])

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x, temb)
        return self.resnets[1](self.attentions[0](x, context), temb)


class UpBlock(nn.Module):
    """`CrossAttnUpBlock2D` or `UpBlock2D`: each resnet takes the previous output concatenated with a skip."""

    def __init__(self, cross: bool, layers: int, cin: int, cout: int, prev: int, temb: int, cfg: LineageConfig, upsample: bool) -> None:
        super().__init__()
        g, eps = cfg.norm_num_groups, cfg.norm_eps
        self.resnets = nn.ModuleList(
            [ResnetBlockPseudo3D((prev if i == 0 else cout) + (cin if i == layers - 1 else cout), cout, temb, g, eps) for i in range(layers)]
        )
        self.attentions = nn.ModuleList([TransformerPseudo3D(cout, cfg.attention_head_dim, g, cfg.cross_attention_dim) for _ in range(layers)]) if cross else None
        self.upsamplers = nn.ModuleList([Upsample(cout)]) if upsample else None

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor], temb: torch.Tensor, context: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                x = self.attentions[i](x, context)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, size)
        return x


class LineageUNet(nn.Module):
    """`UNetPseudo3DConditionModel`: sample [b, in_channels, f, h, w], timestep [b], text [b, tokens, d] →
    noise prediction [b, out_channels, f, h, w]. Called as diffusers' UNets are; returns a 1-tuple."""

    source_class = f"{LINEAGE_CLASS} (make-a-stable-diffusion-video)"

    def __init__(self, cfg: LineageConfig) -> None:
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        self.config = cfg
        chans = cfg.block_out_channels
        temb = chans[0] * 4
        self.conv_in = Pseudo3DConv(cfg.in_channels, chans[0], 3, padding=1)
        self.time_proj = Timesteps(chans[0], cfg.flip_sin_to_cos, cfg.freq_shift)
        self.time_embedding = TimestepEmbedding(chans[0], temb)
        last = len(chans) - 1
        self.down_blocks = nn.ModuleList(
            DownBlock(kind == "CrossAttnDownBlock2D", cfg.layers_per_block, chans[max(i - 1, 0)], chans[i], temb, cfg, i < last)
            for i, kind in enumerate(cfg.down_block_types)
        )
        self.mid_block = MidBlock(chans[-1], temb, cfg)
        rev = list(reversed(chans))
        self.up_blocks = nn.ModuleList(
            UpBlock(kind == "CrossAttnUpBlock2D", cfg.layers_per_block + 1, rev[min(i + 1, last)], rev[i], rev[max(i - 1, 0)], temb, cfg, i < last)
            for i, kind in enumerate(cfg.up_block_types)
        )
        self.conv_norm_out = nn.GroupNorm(cfg.norm_num_groups, chans[0], eps=cfg.norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = Pseudo3DConv(chans[0], cfg.out_channels, 3, padding=1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor, return_dict: bool = False) -> tuple[torch.Tensor]:
        del return_dict  # always a tuple, as diffusers' UNets with return_dict=False
        if self.config.center_input_sample:
            sample = 2 * sample - 1.0
        t = timestep if timestep.ndim else timestep[None]
        emb = self.time_embedding(self.time_proj(t.expand(sample.shape[0])).to(self.conv_in.spatial_conv.weight.dtype))
        factor = 2 ** (len(self.up_blocks) - 1)
        forward_size = any(int(s) % factor != 0 for s in sample.shape[-2:])
        x = self.conv_in(sample)
        skips = [x]
        for block in self.down_blocks:
            x, res = block(x, emb, encoder_hidden_states)
            skips.extend(res)
        x = self.mid_block(x, emb, encoder_hidden_states)
        for i, block in enumerate(self.up_blocks):
            mine = skips[-len(block.resnets):]
            del skips[-len(block.resnets):]
            size = (int(skips[-1].shape[-2]), int(skips[-1].shape[-1])) if forward_size and i < len(self.up_blocks) - 1 else None
            x = block(x, mine, emb, encoder_hidden_states, size)
        return (self.conv_out(self.conv_act(self.conv_norm_out(x))),)


class MaskZeroed(nn.Module):
    """A 9-channel lineage UNet as the pack's interpolation UNet: the mask channel (index `latent_channels` of
    cat[noisy, mask, hint]) is replaced by 0 before the UNet sees it; noisy latents and hint pass unchanged."""

    def __init__(self, unet: LineageUNet, latent_channels: int) -> None:
        super().__init__()
        self.unet = unet
        self.latent_channels = latent_channels
        self.config = unet.config
        self.source_class = unet.source_class

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor, return_dict: bool = False) -> tuple[torch.Tensor]:
        lc = self.latent_channels
        mask = torch.zeros_like(sample[:, lc : lc + 1])
        return self.unet(torch.cat([sample[:, :lc], mask, sample[:, lc + 1 :]], dim=1), timestep, encoder_hidden_states)


def is_lineage(model: nn.Module) -> bool:
    return isinstance(model, (LineageUNet, MaskZeroed))


def set_temporal_attention(model: nn.Module, window: int, first_frame: bool) -> int:
    """Sets the band (window, first frame) of every `attn_temporal`; returns how many there are."""
    if window < 0:
        raise ValueError(f"attention window must be >= 0 (0 = full), got {window}")
    count = 0
    for module in model.modules():
        if isinstance(module, LineageAttention) and module.temporal:
            module.window, module.first_frame = window, first_frame
            count += 1
    return count


# --- reading a folder ---------------------------------------------------------------------------------------------


def read_config(folder: Path, what: str) -> LineageConfig:
    raw = read_json_object(folder / "config.json", f"{what}/config.json")
    return parse_config(raw, f"{what}/config.json")


def read_weights(folder: Path, what: str) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict of the first weight file found (safetensors first), and the file's name."""
    for name in WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".safetensors"):
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # the libraries' messages name the problem; say which file
            raise ConvertError(f"{what}/{name}: cannot read it: {err}") from err
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ConvertError(f"{what}/{name}: expected a state dict (key → tensor)")
        return state, name
    raise ConvertError(f"{what}: no weights in {folder} (expected {' or '.join(WEIGHT_FILES)})")


def load_state(model: LineageUNet, state: dict[str, torch.Tensor], where: str) -> None:
    """Strict key matching: every key of the file is a parameter of `model` with the same shape, and every
    parameter has a key. Floating-point weights are cast to float32."""
    target = model.state_dict()
    unexpected = sorted(k for k in state if k not in target)
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise ConvertError(f"{where}: unexpected key {unexpected[0]!r}{more}: not a parameter of a {LINEAGE_CLASS} with this config.json")
    missing = sorted(k for k in target if k not in state)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConvertError(f"{where}: missing key {missing[0]!r}{more}, which a {LINEAGE_CLASS} with this config.json has")
    for key, value in state.items():
        if tuple(value.shape) != tuple(target[key].shape):
            raise ConvertError(f"{where}: key {key!r} has shape {tuple(value.shape)}; config.json implies {tuple(target[key].shape)}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)


def load_unet(folder: Path, what: str) -> LineageUNet:
    """A lineage UNet folder (`what` names the component in errors) → `LineageUNet` in eval mode, float32."""
    cfg = read_config(folder, what)
    state, name = read_weights(folder, what)
    model = LineageUNet(cfg)
    load_state(model, state, f"{what}/{name}")
    return model.eval()


def check_config(what: str, config: dict[str, Any], in_channels: int, latent_channels: int) -> None:
    """The checkpoint-level check of a lineage UNet's config.json (before any weight is read): the
    architecture's own checks, then the channels its place in the folder needs."""
    cfg = parse_config(config, f"{what}/config.json")
    interpolation = in_channels != latent_channels
    if cfg.in_channels != in_channels:
        if not interpolation and cfg.in_channels == 2 * latent_channels + 1:
            raise ConvertError(
                f"{what}/config.json: in_channels {cfg.in_channels}: this is the lineage's first-frame model "
                f"(cat[noisy {latent_channels}, mask 1, first-frame latents {latent_channels}], as "
                "lxj616/make-a-stable-diffusion-video-timelapse), not a keyframe UNet, which takes "
                f"{latent_channels} channels. Put it in interpolation_unet/ (and pass --first-frame-interpolation) with a "
                f"{latent_channels}-channel keyframe UNet in unet/"
            )
        expected = "cat[noisy, mask, hint] = 2 * latent channels + 1" if interpolation else "the VAE latent channels"
        raise ConvertError(f"{what}/config.json: unexpected in_channels {cfg.in_channels}; expected {in_channels} ({expected}, latent channels {latent_channels})")
    if cfg.out_channels != latent_channels:
        raise ConvertError(f"{what}/config.json: unexpected out_channels {cfg.out_channels}; expected {latent_channels} (the VAE latent channels)")


def inflate_interpolation(unet: LineageUNet) -> LineageUNet:
    """The keyframe UNet with `2 * C + 1` input channels, the mask and hint channels zero (as
    `inflate.inflate_interpolation` does for diffusers' UNets): the keyframe UNet ignoring them until fine-tuned."""
    from .inflate import widen_conv_in

    inflated = copy.deepcopy(unet)
    channels = unet.config.in_channels
    inflated.conv_in.spatial_conv = widen_conv_in(unet.conv_in.spatial_conv, 2 * channels + 1)  # type: ignore[assignment]
    inflated.config = LineageConfig(**{**{f.name: getattr(unet.config, f.name) for f in fields(LineageConfig)}, "in_channels": 2 * channels + 1})
    return inflated
