"""The pack's four graphs around diffusers/transformers modules, with the pack contract's inputs and outputs."""

from __future__ import annotations

import torch
from torch import nn


class TextEncoderGraph(nn.Module):
    """CLIP text encoder as diffusers' text-to-video pipelines call it: token ids only (no attention mask; CLIP's
    causal mask does the rest), padded with the tokenizer's own pad token. The engine pads with id 0 and sends the
    mask; this graph puts the checkpoint's pad id wherever the mask is 0, so the hidden states equal diffusers'."""

    def __init__(self, model: nn.Module, pad_id: int) -> None:
        super().__init__()
        self.model = model
        self.pad_id = pad_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        ids = torch.where(attention_mask > 0, input_ids, torch.full_like(input_ids, self.pad_id))
        return self.model(input_ids=ids).last_hidden_state


class KeyframeGraph(nn.Module):
    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class InterpolationGraph(nn.Module):
    """`frame_stride` is part of the contract; diffusers' UNet3DConditionModel has no such conditioning and
    ignores it (the exported graph keeps the input)."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor, frame_stride: torch.Tensor) -> torch.Tensor:
        del frame_stride
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class VaeDecoderGraph(nn.Module):
    """Unscaled latents `[batch, C, h, w]` → image in [-1, 1]; the engine divides by `scalingFactor` first."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent, return_dict=False)[0]


class HalfPrecisionGraph(nn.Module):
    """A graph with fp16 weights and compute behind the contract's float32 inputs and outputs (the engine feeds and
    reads float32 either way): float inputs are cast to half on the way in, except `timestep`, which stays float32
    for the sinusoidal embedding (diffusers casts the embedding to the model's dtype itself), and the output is cast
    back to float32."""

    def __init__(self, graph: nn.Module, keep_float32: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.graph = graph.half()
        self.keep_float32 = keep_float32

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        cast = [x if i in self.keep_float32 or not x.is_floating_point() else x.half() for i, x in enumerate(inputs)]
        return self.graph(*cast).float()
