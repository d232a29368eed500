"""Inflating UNets: extra input channels, zero-initialised (as the seed and SD-inpainting do)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def widen_conv_in(conv: nn.Conv2d | nn.Conv3d, in_channels: int) -> nn.Module:
    """A copy of `conv` taking `in_channels` inputs: the first `conv.in_channels` keep their weights, the new ones
    are zero, so the output is unchanged for any values on the new channels."""
    if in_channels < conv.in_channels:
        raise ValueError(f"cannot narrow conv_in from {conv.in_channels} to {in_channels} channels")
    wider = type(conv)(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)  # type: ignore[arg-type]
    with torch.no_grad():
        wider.weight.zero_()
        wider.weight[:, : conv.in_channels] = conv.weight
        if conv.bias is not None:
            wider.bias.copy_(conv.bias)  # type: ignore[union-attr]
    return wider


def inflate_interpolation(unet: nn.Module) -> nn.Module:
    """The keyframe UNet with `2 * C + 1` input channels (cat[noisy, mask, hint]); the mask and hint channels start
    at zero, so until fine-tuned the result is the keyframe UNet ignoring them (not an interpolation model)."""
    inflated = copy.deepcopy(unet)
    channels = int(unet.config.in_channels)
    inflated.conv_in = widen_conv_in(unet.conv_in, 2 * channels + 1)
    inflated.register_to_config(in_channels=2 * channels + 1)
    return inflated
