"""A tiny random diffusers text-to-video checkpoint folder, for tests and for trying the converter without a download:
`python -m longshot_models.convert.tiny DIR [--interpolation] [--lineage] [--seed N]`.

The components are built from their configs with random weights (seeded) and written with `save_pretrained`, as a
real checkpoint would be: UNet3DConditionModel (ModelScope layout, 2 levels), AutoencoderKL (one downsampling),
CLIPTextModel, a CLIP BPE tokenizer over a small vocabulary, DDIMScheduler.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

WORDS = ["a", "the", "red", "green", "blue", "circle", "square", "moving", "right", "left", "on", "dark", "light", "background", "cat", "dog", "running", "beach"]
MAX_TOKENS = 77


def tiny_tokenizer() -> object:
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    merges: list[tuple[str, str]] = []
    for w in WORDS:
        parts = [*w[:-1], w[-1] + "</w>"]
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(pair[0] + pair[1], len(vocab))
            parts = [pair[0] + pair[1], *parts[2:]]
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS)


def unet3d(in_channels: int, cross: int) -> object:
    from diffusers import UNet3DConditionModel

    return UNet3DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=cross,
        attention_head_dim=4,
    )


def build(folder: Path, interpolation: bool = False, seed: int = 0) -> Path:
    """Writes the checkpoint folder; returns it."""
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=MAX_TOKENS, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, hidden_act="gelu", projection_dim=32,
    ))
    unet = unet3d(4, 32)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"), up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4, sample_size=16, scaling_factor=0.18215,
    )
    # Random UNets are near-identity at init in places (zero-initialised temporal conv outputs): perturb every
    # weight so the temporal layers matter in the parity checks.
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.02 * torch.randn_like(p))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    text_encoder.save_pretrained(folder / "text_encoder")
    tokenizer.save_pretrained(folder / "tokenizer")  # type: ignore[attr-defined]
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    scheduler.save_pretrained(folder / "scheduler")
    index = {
        "_class_name": "TextToVideoSDPipeline",
        "_diffusers_version": "0.42.1",
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet3DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    if interpolation:
        interp = unet3d(9, 32)
        with torch.no_grad():
            for p in interp.parameters():
                p.add_(0.02 * torch.randn_like(p))
        interp.save_pretrained(folder / "interpolation_unet")
        index["interpolation_unet"] = ["diffusers", "UNet3DConditionModel"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--interpolation", action="store_true", help="also write a (random) 9-channel interpolation_unet")
    ap.add_argument("--lineage", action="store_true", help="UNets in the seed lineage's format (UNetPseudo3DConditionModel): unet/ with 4 and, with --interpolation, interpolation_unet/ with 9 input channels")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(build_lineage(a.folder, a.interpolation, a.seed) if a.lineage else build(a.folder, a.interpolation, a.seed))


def build_sd(folder: Path, seed: int = 0) -> Path:
    """A tiny random Stable Diffusion 1.x-layout folder (UNet2DConditionModel with conv projections in its
    transformers, as SD 1.x), for `python -m longshot_models.convert.inflate`."""
    from diffusers import UNet2DConditionModel

    build(folder, interpolation=False, seed=seed)
    import shutil

    shutil.rmtree(folder / "unet")
    torch.manual_seed(seed + 1)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=4, cross_attention_dim=32, attention_head_dim=2,
    )
    unet.save_pretrained(folder / "unet")
    index = json.loads((folder / "model_index.json").read_text())
    index.update({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    return folder


LINEAGE_TINY = {
    "sample_size": 8,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "cross_attention_dim": 32,
    "attention_head_dim": 2,
}
"""The tiny lineage UNet's config.json fields besides the channels (2 heads of width 8 and 16)."""


def lineage_config(in_channels: int) -> dict[str, object]:
    """A tiny lineage `config.json`, in the field names of make-a-stable-diffusion-video's UNetPseudo3DConditionModel."""
    from .lineage import LineageConfig, parse_config

    return parse_config({**LineageConfig().to_json(), **LINEAGE_TINY, "in_channels": in_channels}, "tiny").to_json()


def save_lineage_unet(folder: Path, in_channels: int, weights: str = "diffusion_pytorch_model.safetensors") -> Path:
    """A random lineage UNet folder (config.json + weights under the lineage's state-dict keys). Every weight is
    perturbed, the temporal convs too (they start as the identity), so the temporal layers matter in parity checks."""
    from .lineage import LineageUNet, parse_config

    config = lineage_config(in_channels)
    unet = LineageUNet(parse_config(config, "tiny"))
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.02 * torch.randn_like(p))
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.contiguous() for k, v in unet.state_dict().items()}
    if weights.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(folder / weights))
    else:
        torch.save(state, folder / weights)
    return folder


def build_lineage(folder: Path, interpolation: bool = True, seed: int = 0) -> Path:
    """The tiny checkpoint with its UNets in the seed lineage's format (the lineage's mixed folder: diffusers'
    AutoencoderKL, transformers' CLIP, the lineage's UNetPseudo3DConditionModel): unet/ with 4 input channels
    (weights in a .bin, as diffusers 0.12 saved them) and, with `interpolation`, interpolation_unet/ with 9
    (a .safetensors)."""
    import shutil

    build(folder, interpolation=False, seed=seed)
    shutil.rmtree(folder / "unet")
    torch.manual_seed(seed + 2)
    save_lineage_unet(folder / "unet", 4, "diffusion_pytorch_model.bin")
    index = json.loads((folder / "model_index.json").read_text())
    index.update({"_class_name": "StableDiffusionVideoPipeline", "unet": ["diffusers", "UNetPseudo3DConditionModel"]})
    if interpolation:
        save_lineage_unet(folder / "interpolation_unet", 9)
        index["interpolation_unet"] = ["diffusers", "UNetPseudo3DConditionModel"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    return folder


if __name__ == "__main__":
    main()
