"""Inflating UNets: extra input channels, zero-initialised (as the seed and SD-inpainting do)."""

from __future__ import annotations

import copy
from pathlib import Path

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


# --- a plain SD 1.x UNet (2-D) → pseudo-3D UNets -------------------------------------------------------------------

INFLATED_KEY = "longshot_inflated"
"""config.json key marking an interpolation UNet that was inflated and not trained; the converter refuses it
without --inflate-interpolation."""
BLOCKS_2D_TO_3D = {
    "CrossAttnDownBlock2D": "CrossAttnDownBlock3D",
    "DownBlock2D": "DownBlock3D",
    "CrossAttnUpBlock2D": "CrossAttnUpBlock3D",
    "UpBlock2D": "UpBlock3D",
}
# UNet2DConditionModel settings UNet3DConditionModel has no counterpart for: each must keep its SD 1.x value.
REQUIRED_2D = {
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "center_input_sample": False,
    "class_embed_type": None,
    "addition_embed_type": None,
    "encoder_hid_dim": None,
    "time_cond_proj_dim": None,
    "resnet_time_scale_shift": "default",
    "time_embedding_type": "positional",
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "num_attention_heads": None,
    "dual_cross_attention": False,
    "only_cross_attention": False,
    "transformer_layers_per_block": 1,
    "attention_type": "default",
}
TEMPORAL_PARTS = ("temp_convs.", "temp_attentions.", "transformer_in.")
SPATIAL_HEADS_KEY = "longshot_spatial_heads"
"""config.json key: the spatial attention heads of the 2-D UNet it was inflated from. diffusers' 3-D blocks build
their Transformer2DModels with heads and head width swapped (C // h heads of width h, where SD 1.x has h heads of
width C // h: at 320 channels, 40 heads of width 8 instead of 8 of width 40); `restore_spatial_heads` puts the 2-D
split back in the down, mid and up blocks, and the converter applies it whenever a UNet's config carries this key."""


def restore_spatial_heads(unet3d: nn.Module, heads: int) -> None:
    """Sets every spatial attention layer of the down, mid and up blocks to `heads` heads (same weights, the 2-D
    UNet's split); the temporal layers (`temp_attentions`, `transformer_in`) keep theirs."""
    from diffusers.models.attention_processor import Attention

    for name, module in unet3d.named_modules():
        if isinstance(module, Attention) and ".attentions." in f".{name}" and name.split(".")[0] in ("down_blocks", "mid_block", "up_blocks"):
            module.heads = heads
            module.scale = (module.inner_dim // heads) ** -0.5
            module.sliceable_head_dim = heads


def inflate_unet2d(unet2d: nn.Module) -> nn.Module:
    """A UNet3DConditionModel holding the 2-D UNet's weights, with identity temporal layers: the last conv of every
    TemporalConvLayer and the output projection of every TransformerTemporalModel are zero (both are residual), so
    its output equals the 2-D UNet applied to each frame until the temporal layers are trained."""
    from diffusers import UNet3DConditionModel
    from diffusers.models.resnet import TemporalConvLayer
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    from .errors import ConvertError

    cfg = dict(unet2d.config)
    for key, want in REQUIRED_2D.items():
        got = cfg.get(key, want)
        if got != want and not (isinstance(got, (list, tuple)) and all(g == want for g in got)):
            raise ConvertError(f"unet/config.json: {key} = {got!r}; inflation supports SD 1.x UNets ({key} = {want!r})")
    for key in ("down_block_types", "up_block_types"):
        for i, block in enumerate(cfg[key]):
            if block not in BLOCKS_2D_TO_3D:
                raise ConvertError(f"unet/config.json: {key}[{i}] {block!r} cannot be inflated (supported: {', '.join(BLOCKS_2D_TO_3D)})")
    unet3d = UNet3DConditionModel(
        sample_size=cfg["sample_size"],
        in_channels=cfg["in_channels"],
        out_channels=cfg["out_channels"],
        down_block_types=tuple(BLOCKS_2D_TO_3D[b] for b in cfg["down_block_types"]),
        up_block_types=tuple(BLOCKS_2D_TO_3D[b] for b in cfg["up_block_types"]),
        block_out_channels=tuple(cfg["block_out_channels"]),
        layers_per_block=cfg["layers_per_block"],
        downsample_padding=cfg["downsample_padding"],
        mid_block_scale_factor=cfg["mid_block_scale_factor"],
        act_fn=cfg["act_fn"],
        norm_num_groups=cfg["norm_num_groups"],
        norm_eps=cfg["norm_eps"],
        cross_attention_dim=cfg["cross_attention_dim"],
        attention_head_dim=cfg["attention_head_dim"],
    )
    target = unet3d.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, value in unet2d.state_dict().items():
        want = target.get(key)
        if want is None:
            raise ConvertError(f"unet: weight {key} has no place in the pseudo-3D UNet")
        # SD 1.x projects in and out of its transformers with 1x1 convs; diffusers' 3-D blocks use linear layers.
        mapped[key] = value.reshape(want.shape) if value.shape != want.shape and value.numel() == want.numel() else value
        if mapped[key].shape != want.shape:
            raise ConvertError(f"unet: weight {key} has shape {tuple(value.shape)}, the pseudo-3D UNet needs {tuple(want.shape)}")
    missing, unexpected = unet3d.load_state_dict(mapped, strict=False)
    not_temporal = [k for k in missing if not any(part in k for part in TEMPORAL_PARTS)]
    if unexpected or not_temporal:
        raise ConvertError(f"unet: inflation left non-temporal weights unset ({', '.join(not_temporal[:5])}) or unused ({', '.join(unexpected[:5])})")
    with torch.no_grad():
        for module in unet3d.modules():
            if isinstance(module, TemporalConvLayer):
                last = module.conv4[-1]
                last.weight.zero_()
                last.bias.zero_()
            elif isinstance(module, TransformerTemporalModel):
                module.proj_out.weight.zero_()
                module.proj_out.bias.zero_()
    heads = cfg["attention_head_dim"]
    heads = int(heads[-1] if isinstance(heads, (list, tuple)) else heads)
    restore_spatial_heads(unet3d, heads)
    unet3d.register_to_config(**{SPATIAL_HEADS_KEY: heads})
    return unet3d


def inflate_checkpoint(sd: Path, out: Path) -> Path:
    """An SD 1.x checkpoint folder (StableDiffusionPipeline layout) → a text-to-video checkpoint folder the converter
    reads: unet = the pseudo-3D UNet with identity temporal layers, interpolation_unet = the same with 9 input
    channels (zero-initialised mask and hint channels, marked as inflated), text_encoder, tokenizer, vae and
    scheduler copied. Written to a temporary folder and renamed at the end."""
    import json
    import shutil
    import tempfile

    from diffusers import UNet2DConditionModel

    from .errors import ConvertError

    index_path = sd / "model_index.json"
    if not index_path.is_file():
        raise ConvertError(f"{index_path} is missing (expected a diffusers Stable Diffusion folder)")
    if out.exists():
        raise ConvertError(f"{out} already exists")
    for name in ("text_encoder", "tokenizer", "unet", "vae", "scheduler"):
        if not (sd / name).is_dir():
            raise ConvertError(f"component {name!r}: the folder {sd / name} is missing")
    config = json.loads((sd / "unet" / "config.json").read_text())
    if config.get("_class_name") != "UNet2DConditionModel":
        raise ConvertError(f"unet/config.json: class {config.get('_class_name')!r}; inflation takes a UNet2DConditionModel")
    unet3d = inflate_unet2d(UNet2DConditionModel.from_pretrained(sd / "unet"))
    interp = inflate_interpolation(unet3d)
    interp.register_to_config(**{INFLATED_KEY: True})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for name in ("text_encoder", "tokenizer", "vae", "scheduler"):
            shutil.copytree(sd / name, tmp / name)
        unet3d.save_pretrained(tmp / "unet")
        interp.save_pretrained(tmp / "interpolation_unet")
        index = json.loads(index_path.read_text())
        index = {k: v for k, v in index.items() if k in ("_diffusers_version", "text_encoder", "tokenizer", "vae", "scheduler")}
        index.update({"_class_name": "TextToVideoSDPipeline", "unet": ["diffusers", "UNet3DConditionModel"], "interpolation_unet": ["diffusers", "UNet3DConditionModel"]})
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from .errors import ConvertError

    ap = argparse.ArgumentParser(
        prog="python -m longshot_models.convert.inflate",
        description="Inflate a Stable Diffusion 1.x checkpoint folder into a pseudo-3D text-to-video checkpoint folder "
        "(identity temporal layers; a 9-channel interpolation UNet with zero-initialised extra channels) to fine-tune "
        "from. Neither UNet makes video until fine-tuned.",
    )
    ap.add_argument("sd", type=Path, help="a diffusers Stable Diffusion 1.x folder (model_index.json, unet/, vae/, ...)")
    ap.add_argument("out", type=Path, help="the checkpoint folder to write")
    a = ap.parse_args(argv)
    try:
        print(inflate_checkpoint(a.sd, a.out))
    except ConvertError as err:
        print(f"inflate: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
