"""Temporal attention as local attention: a band mask over frames, exportable to ONNX with dynamic frame counts.

A query frame i attends to key frame j when |i - j| <= window // 2 (the pack's `interpolation.attentionWindow`
semantics, xformers' non-causal local attention), or, with `first_frame`, when j == 0 (the seed lineage's "always
attend to the first frame" option). A window of at least 2F - 1 frames covers every frame of an F-frame call, and
the result then equals full attention (the bias is all zeros). The mask is computed from the frame count of the
call, so the exported graph keeps a dynamic frame axis (a band mask, not `Tensor.unfold`, which the TorchScript
exporter cannot take with a dynamic size).
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention
from torch import nn

FULL = 0
"""`window` value meaning full temporal attention (no band)."""


def band_bias(frames: int | torch.Tensor, window: int, first_frame: bool, dtype: torch.dtype, device: torch.device | None = None) -> torch.Tensor:
    """`[F, F]` additive bias: 0 where frame i may attend to frame j, -inf elsewhere."""
    idx = torch.arange(frames, device=device)
    if window == FULL:
        allowed = torch.ones(idx.shape[0], idx.shape[0], dtype=torch.bool, device=device)
    else:
        allowed = (idx[:, None] - idx[None, :]).abs() <= window // 2
        if first_frame:
            allowed = allowed | (idx[None, :] == 0)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, torch.full((), float("-inf"), dtype=dtype, device=device))


def attention_probs(attn: Attention, query: torch.Tensor, key: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """diffusers' `Attention.get_attention_scores` (same upcasting, scale and softmax) without its `baddbmm` over an
    empty tensor: traced, that becomes a zero tensor the size of the score matrix, multiplied by 0 and added, which
    onnxruntime holds beside the scores (one SD 1.x first-level attention, 4096 tokens, 1 frame: 2.1 GB per call
    with it, 1.1 GB without)."""
    dtype = query.dtype
    if attn.upcast_attention:
        query, key = query.float(), key.float()
    scores = torch.bmm(query, key.transpose(-1, -2)) * attn.scale
    if bias is not None:
        scores = scores + bias
    if attn.upcast_softmax:
        scores = scores.float()
    return scores.softmax(dim=-1).to(dtype)


class PlainAttnProcessor:
    """diffusers' plain `AttnProcessor` (explicit softmax(QK^T·scale)V, no SDPA, no xformers/flash), scores through
    `attention_probs`: the spatial and text attention of exported graphs."""

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: object, **kwargs: object) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        attention_mask = attn.prepare_attention_mask(attention_mask, context.shape[1], context.shape[0])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        if encoder_hidden_states is None:
            context = hidden_states
        elif attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        hidden_states = attn.batch_to_head_dim(torch.bmm(attention_probs(attn, query, key, attention_mask), value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


class LocalTemporalAttnProcessor:
    """diffusers' plain `AttnProcessor` (explicit softmax(QK^T·scale)V, no SDPA, no xformers/flash) over the frame
    sequence `[(b h w), F, C]`, with the band bias added to the scores. Used on self-attention only."""

    def __init__(self, window: int, first_frame: bool) -> None:
        if window < 0:
            raise ValueError(f"attention window must be >= 0 (0 = full), got {window}")
        self.window = window
        self.first_frame = first_frame

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: object, **kwargs: object) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None or attn.spatial_norm is not None or hidden_states.ndim != 3:
            raise ValueError("local temporal attention supports plain self-attention over [(b h w), frames, channels] only")
        residual = hidden_states
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(hidden_states))
        value = attn.head_to_batch_dim(attn.to_v(hidden_states))
        bias = None
        if self.window != FULL or self.first_frame:
            bias = band_bias(hidden_states.shape[1], self.window, self.first_frame, query.dtype if not attn.upcast_attention else torch.float32, query.device)[None]
        probs = attention_probs(attn, query, key, bias)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def temporal_attention_modules(model: nn.Module, temporal_classes: tuple[type, ...]) -> dict[str, Attention]:
    """Every `Attention` inside a temporal block (an instance of one of `temporal_classes`), by module path."""
    found: dict[str, Attention] = {}
    for name, module in model.named_modules():
        if isinstance(module, temporal_classes):
            for sub, inner in module.named_modules():
                if isinstance(inner, Attention):
                    found[f"{name}.{sub}"] = inner
    return found


def set_export_attention(model: nn.Module, temporal_classes: tuple[type, ...], window: int, first_frame: bool) -> int:
    """Plain attention everywhere (exportable, identical results to SDPA within float rounding), local attention
    in the temporal blocks. Returns the number of temporal attention layers."""
    temporal = temporal_attention_modules(model, temporal_classes)
    for name, module in model.named_modules():
        if isinstance(module, Attention):
            module.set_processor(LocalTemporalAttnProcessor(window, first_frame) if name in temporal else PlainAttnProcessor())
    return len(temporal)
