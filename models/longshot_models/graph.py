"""The UNets' inference graph for ONNX export: the same parameters and the same function as unet.UNetPseudo3D,
written the way onnxruntime's CPU kernels run it fastest (measured with `python -m longshot_models.perf`; see
docs/benchmarks.md). Nothing here is trained: `export.py` wraps a trained UNetPseudo3D in `FastUNet` and exports
that; its parity check compares the exported graph with the original module.

What differs from unet.py's forward, and why (onnxruntime's profile of the first export spent 27-37 % of a step
in Transpose nodes and another 20-36 % in Conv, much of it the temporal Conv1d over a batch of B·H·W tiny
sequences):

- The temporal Conv1d(k=3) over frames runs in the per-frame layout [(B F), C, H, W] with no transpose: one 1x1
  Conv2d with the three taps stacked as 3C output channels, then the taps shifted along the frame axis (an outer
  axis, so the slices are contiguous) and summed. Same weights, reshaped: W[:, :, k] is tap k.
- A transformer block changes layout twice (three times with spatial self-attention) instead of about 17 times:
  cross-attention is per token, so it runs in whatever token order the block is in; the feed-forward and the
  output projection run in the temporal layout; and heads are never split by a Transpose, because attention is
  onnxruntime's fused com.microsoft.MultiHeadAttention (the band mask and the relative bias become its additive
  attention_bias).
- Cross-attention keys and values are projected once per batch item [B, T, C], not once per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import unet

MS_DOMAIN = "com.microsoft"


def _reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, bias: torch.Tensor | None) -> torch.Tensor:
    n, lq, d = q.shape
    lk = k.shape[1]
    hd = d // heads
    q = q.reshape(n, lq, heads, hd).transpose(1, 2)
    k = k.reshape(n, lk, heads, hd).transpose(1, 2)
    v = v.reshape(n, lk, heads, v.shape[2] // heads).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
    if bias is not None:
        scores = scores + bias
    out = torch.matmul(scores.softmax(dim=-1), v)
    return out.transpose(1, 2).reshape(n, lq, -1)


class _MultiHeadAttention(torch.autograd.Function):
    """Scaled dot-product attention over projected q [N, S, D], k and v [N, L, D]; exported as one
    com.microsoft.MultiHeadAttention node (scale 1/sqrt(D / heads), the default)."""

    @staticmethod
    def forward(ctx: object, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:  # type: ignore[override]
        return _reference_attention(q, k, v, heads, None)

    @staticmethod
    def symbolic(g: torch.Graph, q: torch.Value, k: torch.Value, v: torch.Value, heads: int) -> torch.Value:  # type: ignore[override]
        out = g.op(f"{MS_DOMAIN}::MultiHeadAttention", q, k, v, num_heads_i=heads)
        out.setType(q.type())
        return out


class _MultiHeadAttentionBias(torch.autograd.Function):
    """As _MultiHeadAttention with an additive bias [1 | N, heads | 1, S, L] on the scaled logits (-inf masks)."""

    @staticmethod
    def forward(ctx: object, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, heads: int) -> torch.Tensor:  # type: ignore[override]
        return _reference_attention(q, k, v, heads, bias)

    @staticmethod
    def symbolic(g: torch.Graph, q: torch.Value, k: torch.Value, v: torch.Value, bias: torch.Value, heads: int) -> torch.Value:  # type: ignore[override]
        from torch.onnx import symbolic_helper

        none = symbolic_helper._optional_input_placeholder_tensor(g)
        # inputs: query, key, value, bias (of the projections), key_padding_mask, attention_bias
        out = g.op(f"{MS_DOMAIN}::MultiHeadAttention", q, k, v, none, none, bias, num_heads_i=heads)
        out.setType(q.type())
        return out


def attention(m: unet.Attention, x: torch.Tensor, context: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
    """unet.Attention.forward with the mask folded into `bias` (-inf where not attended)."""
    ctx = x if context is None else context
    q, k, v = m.to_q(x), m.to_k(ctx), m.to_v(ctx)
    if bias is None:
        out = _MultiHeadAttention.apply(q, k, v, m.heads)
    else:
        out = _MultiHeadAttentionBias.apply(q, k, v, bias, m.heads)
    return m.to_out(out)


def stacked_taps(m: unet.Pseudo3DConv) -> tuple[torch.Tensor, torch.Tensor]:
    """The temporal Conv1d's weight [C, C, 3] as a 1x1 Conv2d weight [3C, C, 1, 1] (rows k·C..(k+1)·C are tap k),
    and its bias on the centre tap's rows (zeros on the others): every output frame gets it exactly once."""
    w = m.temporal.weight.detach()
    c = w.shape[0]
    bias = torch.zeros(3 * c)
    bias[c : 2 * c] = m.temporal.bias.detach()
    return w.permute(2, 0, 1).reshape(3 * c, c, 1, 1).contiguous(), bias


def pseudo3d_conv(m: unet.Pseudo3DConv, taps: torch.Tensor, taps_bias: torch.Tensor, x: torch.Tensor, f: int) -> torch.Tensor:
    """unet.Pseudo3DConv.forward on x [(B F), C, H, W]: the temporal taps (stacked_taps) as one 1x1 conv, split,
    shifted along frames and summed."""
    y = m.spatial(x)
    bf, c, h, w = y.shape
    z = F.conv2d(y, taps, taps_bias).reshape(bf // f, f, 3, c, h, w)
    before, centre, after = z.unbind(2)  # one Split
    prev = F.pad(before[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))  # out[i] += W0 · y[i - 1]
    nxt = F.pad(after[:, 1:], (0, 0, 0, 0, 0, 0, 0, 1))  # out[i] += W2 · y[i + 1]
    return (centre + prev + nxt).reshape(bf, c, h, w)


Conv = Callable[[unet.Pseudo3DConv, torch.Tensor, int], torch.Tensor]


def res_block(m: unet.ResBlock, conv: Conv, x: torch.Tensor, emb: torch.Tensor, f: int) -> torch.Tensor:
    h = conv(m.conv1, F.silu(m.norm1(x)), f)
    h = h + m.emb(F.silu(emb))[:, :, None, None]
    h = conv(m.conv2, F.silu(m.norm2(h)), f)
    return m.skip(x) + h


def temporal_bias(m: unet.TransformerBlock, f: int, device: torch.device) -> torch.Tensor:
    """[1, heads | 1, F, F]: the band mask as -inf, plus the relative position bias if the block has one."""
    mask = unet.band_mask(f, m.window, m.attend_first, device)
    bias = torch.zeros(f, f, device=device).masked_fill(~mask, float("-inf"))
    if m.temporal_bias is not None:
        return (m.temporal_bias(f, device) + bias)[None]
    return bias[None, None]


def band_attention(m: unet.TransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """The block's temporal attention on x [N, F, C] computed on the band only: each frame's logits against the
    O = 2·(window // 2) + 1 frames around it (the ones the band mask keeps; the others get exactly zero weight in
    the masked softmax), as shifted elementwise products summed per head. Cost and memory grow as F · O, not F²
    (measured faster than one fused MultiHeadAttention over the masked F x F logits from about 65 frames on, and
    1.5-2.5x faster at 257; a gather of [N, F, O, C] windows with MatMul head sums was slower)."""
    a = m.attn_temporal
    n, f, c = x.shape
    heads, half = a.heads, m.window // 2
    hd = c // heads
    q = (a.to_q(x) * (1.0 / math.sqrt(hd))).reshape(n, f, heads, hd)
    kp = F.pad(a.to_k(x), (0, 0, half, half))  # [N, F + 2·half, C]: frame i + o sits at row i + o + half
    vp = F.pad(a.to_v(x), (0, 0, half, half))
    span = range(2 * half + 1)
    scores = torch.stack([(q * kp[:, j : j + f].reshape(n, f, heads, hd)).sum(-1) for j in span], dim=-1)  # [N, F, H, O]
    idx = torch.arange(f, device=x.device)[:, None] + torch.arange(-half, half + 1, device=x.device)[None]  # [F, O]
    bias = torch.zeros(f, 1, 2 * half + 1, device=x.device).masked_fill(((idx < 0) | (idx >= f))[:, None], float("-inf"))
    if m.temporal_bias is not None:
        bias = bias + m.temporal_bias.table[None]  # [1, H, O]: offset j - half, inside the band: no clamping
    p = (scores + bias).softmax(dim=-1)
    out = p[..., 0, None] * vp[:, 0:f].reshape(n, f, heads, hd)
    for j in span[1:]:
        out = out + p[..., j, None] * vp[:, j : j + f].reshape(n, f, heads, hd)
    return a.to_out(out.reshape(n, f, c))


def transformer_block(m: unet.TransformerBlock, x: torch.Tensor, context_kv: torch.Tensor, f: int, band: bool = True) -> torch.Tensor:
    """unet.TransformerBlock.forward on x [(B F), C, H, W]; context_kv [B, T, context_dim] (not repeated per frame)."""
    bf, c, h, w = x.shape
    b, hw = bf // f, h * w
    t = m.norm_in(x)
    if m.spatial:
        t = m.proj_in(t.reshape(bf, c, hw).transpose(1, 2))  # [(B F), HW, C]
        t = t + attention(m.attn1, m.norm1(t))
        t = t.reshape(b, f, hw, c).transpose(1, 2)  # [B, HW, F, C]
    else:
        t = m.proj_in(t.reshape(b, f, c, hw).permute(0, 3, 1, 2))  # [B, HW, F, C]
    # Cross-attention is per token: any token order of a batch item will do.
    t = t + attention(m.attn2, m.norm2(t).reshape(b, hw * f, c), context=context_kv).reshape(b, hw, f, c)
    tt = t.reshape(b * hw, f, c)
    if band and not m.attend_first:
        tt = tt + band_attention(m, m.norm_temporal(tt))
    else:
        tt = tt + attention(m.attn_temporal, m.norm_temporal(tt), bias=temporal_bias(m, f, x.device))
    tt = tt + m.ff(m.norm3(tt))
    tt = m.proj_out(tt)
    return x + tt.reshape(b, hw, f, c).permute(0, 2, 3, 1).reshape(bf, c, h, w)


def prompt_frame(m: unet.PromptFrameConditioning, pos: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    b, f = context.shape[0], pos.shape[0]
    p = unet.sinusoidal(pos * 100.0, m.pos_dim)
    q = m.query(p)[None].expand(b, f, -1)
    pooled = attention(m.pool, q, context=context)
    h = torch.cat([pooled, p[None].expand(b, f, -1)], dim=-1)
    return m.out(h).reshape(b * f, -1)


class FastUNet(nn.Module):
    """unet.UNetPseudo3D's function, computed as described in the module doc. Same signature, same parameters;
    the temporal taps are restacked when it is built, so build it from the trained model (it does not follow
    later changes to the model's temporal weights)."""

    def __init__(self, model: unet.UNetPseudo3D, band: bool = True) -> None:
        super().__init__()
        self.model = model
        self.band = band
        self._taps: dict[int, str] = {}
        for name, mod in model.named_modules():
            if isinstance(mod, unet.Pseudo3DConv):
                buf = "taps_" + name.replace(".", "_")
                weight, bias = stacked_taps(mod)
                self.register_buffer(buf, weight, persistent=False)
                self.register_buffer(buf + "_bias", bias, persistent=False)
                self._taps[id(mod)] = buf

    def conv(self, m: unet.Pseudo3DConv, x: torch.Tensor, f: int) -> torch.Tensor:
        buf = self._taps[id(m)]
        return pseudo3d_conv(m, self.get_buffer(buf), self.get_buffer(buf + "_bias"), x, f)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        frame_stride: torch.Tensor | None = None,
    ) -> torch.Tensor:
        m = self.model
        b, _, f, _, _ = sample.shape
        c0 = m.cfg.channels[0]
        emb = m.time_embed(unet.sinusoidal(timestep, c0))
        if m.stride_embed is not None:
            if frame_stride is None:
                raise ValueError("this UNet is stride-conditioned: frame_stride is required")
            emb = emb + m.stride_embed(unet.sinusoidal(torch.log2(frame_stride) * 100.0, c0))
        emb = unet._per_frame(emb, f)
        if m.frame_embed is not None or m.prompt_frame is not None:
            pos = unet.frame_positions(f, sample.device)
            if m.frame_embed is not None:
                emb = (emb.reshape(b, f, -1) + m.frame_embed(unet.sinusoidal(pos * 100.0, c0))[None]).reshape(b * f, -1)
            if m.prompt_frame is not None:
                emb = emb + prompt_frame(m.prompt_frame, pos, encoder_hidden_states)
        ctx = encoder_hidden_states

        x = self.conv(m.conv_in, unet._frames_to_batch(sample), f)
        x = transformer_block(m.down0_attn, res_block(m.down0_res, self.conv, x, emb, f), ctx, f, self.band)
        s0 = x
        x = self.conv(m.down0, x, f)
        x = transformer_block(m.down1_attn, res_block(m.down1_res, self.conv, x, emb, f), ctx, f, self.band)
        s1 = x
        x = self.conv(m.down1, x, f)
        x = res_block(m.mid_res2, self.conv, transformer_block(m.mid_attn, res_block(m.mid_res1, self.conv, x, emb, f), ctx, f, self.band), emb, f)
        x = self.conv(m.up1_conv, F.interpolate(x, scale_factor=2.0, mode="nearest"), f)
        x = transformer_block(m.up1_attn, res_block(m.up1_res, self.conv, torch.cat([x, s1], dim=1), emb, f), ctx, f, self.band)
        x = self.conv(m.up0_conv, F.interpolate(x, scale_factor=2.0, mode="nearest"), f)
        x = transformer_block(m.up0_attn, res_block(m.up0_res, self.conv, torch.cat([x, s0], dim=1), emb, f), ctx, f, self.band)
        x = self.conv(m.conv_out, F.silu(m.norm_out(x)), f)
        return unet._batch_to_frames(x, b, f)
