"""Reading a diffusers-format checkpoint folder: model_index.json, one sub-folder per component.

Supported: text_encoder = CLIPTextModel, tokenizer = CLIPTokenizer (a `tokenizer.json`, or vocab.json + merges.txt),
unet = UNet3DConditionModel (ModelScope text-to-video; 4 input channels), vae = AutoencoderKL, scheduler = any
diffusers scheduler config; optionally interpolation_unet = UNet3DConditionModel with 9 input channels
(cat[noisy(4), mask(1), hint(4)]), trained separately. Either UNet may instead be the seed lineage's
UNetPseudo3DConditionModel (make-a-stable-diffusion-video; `lineage.py`). Every check names the component and the
file it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConvertError, read_json_object
from .lineage import LINEAGE_CLASS
from .lineage import check_config as check_lineage_config

REQUIRED = ("text_encoder", "tokenizer", "unet", "vae", "scheduler")
INTERPOLATION = "interpolation_unet"
SUPPORTED_CLASSES = {
    "text_encoder": ("CLIPTextModel",),
    "tokenizer": ("CLIPTokenizer", "CLIPTokenizerFast"),
    "unet": ("UNet3DConditionModel", LINEAGE_CLASS),
    INTERPOLATION: ("UNet3DConditionModel", LINEAGE_CLASS),
    "vae": ("AutoencoderKL",),
}
# Blocks whose temporal layers (TemporalConvLayer, TransformerTemporalModel) the exporter knows.
KNOWN_BLOCKS = {
    "down_block_types": ("CrossAttnDownBlock3D", "DownBlock3D"),
    "up_block_types": ("CrossAttnUpBlock3D", "UpBlock3D"),
    "mid_block_type": ("UNetMidBlock3DCrossAttn",),
}
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.bin", "pytorch_model.bin")


@dataclass(frozen=True)
class Checkpoint:
    root: Path
    index: dict[str, Any]
    has_interpolation: bool

    def component(self, name: str) -> Path:
        return self.root / name

    def config(self, name: str) -> dict[str, Any]:
        return read_json_object(self.root / name / "config.json", f"{name}/config.json")


def _class_of(index: dict[str, Any], name: str) -> str | None:
    entry = index.get(name)
    if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str):
        return entry[1]
    return None


def _check_weights(root: Path, name: str) -> None:
    folder = root / name
    if not any((folder / f).is_file() for f in WEIGHT_FILES) and not any(folder.glob("*.safetensors")):
        raise ConvertError(f"{name}: no weights in {folder} (expected one of {', '.join(WEIGHT_FILES)})")


def _check_unet_config(name: str, config: dict[str, Any], in_channels: int, latent_channels: int) -> None:
    cls = config.get("_class_name")
    if cls not in SUPPORTED_CLASSES[name]:
        raise ConvertError(f"{name}/config.json: class {cls!r} is not supported (supported: {', '.join(SUPPORTED_CLASSES[name])})")
    if cls == LINEAGE_CLASS:
        check_lineage_config(name, config, in_channels, latent_channels)
        return
    for key, known in KNOWN_BLOCKS.items():
        value = config.get(key)
        for i, block in enumerate(value if isinstance(value, list) else [value]):
            if block is not None and block not in known:
                where = f"{key}[{i}]" if isinstance(value, list) else key
                raise ConvertError(f"{name}/config.json: {where} {block!r} has temporal layers the exporter does not know (known: {', '.join(known)})")
    got_in, got_out = config.get("in_channels"), config.get("out_channels")
    if got_in != in_channels:
        raise ConvertError(f"{name}/config.json: unexpected in_channels {got_in}; expected {in_channels} ({'cat[noisy, mask, hint] = 2 * latent channels + 1' if name == INTERPOLATION else 'the VAE latent channels'}, latent channels {latent_channels})")
    if got_out != latent_channels:
        raise ConvertError(f"{name}/config.json: unexpected out_channels {got_out}; expected {latent_channels} (the VAE latent channels)")


def read_checkpoint(root: Path) -> Checkpoint:
    """Checks the folder's layout and the components' configs against each other, before any weight is loaded."""
    if not root.is_dir():
        raise ConvertError(f"checkpoint folder {root} does not exist")
    index = read_json_object(root / "model_index.json", "model_index.json")
    for name in REQUIRED:
        if name not in index:
            raise ConvertError(f"model_index.json lists no {name!r} component (a pack needs {', '.join(REQUIRED)})")
        if not (root / name).is_dir():
            raise ConvertError(f"component {name!r} is listed in model_index.json but the folder {root / name} is missing")
        cls = _class_of(index, name)
        if name in SUPPORTED_CLASSES and cls not in SUPPORTED_CLASSES[name]:
            raise ConvertError(f"model_index.json: {name} is {cls!r}; supported: {', '.join(SUPPORTED_CLASSES[name])}")
    for name in ("text_encoder", "unet", "vae"):
        _check_weights(root, name)
    tok = root / "tokenizer"
    if not (tok / "tokenizer.json").is_file() and not ((tok / "vocab.json").is_file() and (tok / "merges.txt").is_file()):
        raise ConvertError(f"tokenizer: {tok} has neither tokenizer.json nor vocab.json + merges.txt")
    if not (root / "scheduler" / "scheduler_config.json").is_file():
        raise ConvertError(f"scheduler: {root / 'scheduler' / 'scheduler_config.json'} is missing")

    has_interp = (root / INTERPOLATION).is_dir()
    if INTERPOLATION in index and not has_interp:
        raise ConvertError(f"component {INTERPOLATION!r} is listed in model_index.json but the folder {root / INTERPOLATION} is missing")
    ckpt = Checkpoint(root, index, has_interp)
    vae = ckpt.config("vae")
    latent = vae.get("latent_channels")
    if not isinstance(latent, int) or latent < 1:
        raise ConvertError(f"vae/config.json: latent_channels must be a positive integer, got {latent!r}")
    _check_unet_config("unet", ckpt.config("unet"), latent, latent)
    if has_interp:
        _check_weights(root, INTERPOLATION)
        _check_unet_config(INTERPOLATION, ckpt.config(INTERPOLATION), 2 * latent + 1, latent)
    hidden = ckpt.config("text_encoder").get("hidden_size")
    for name in ("unet", INTERPOLATION) if has_interp else ("unet",):
        cross = ckpt.config(name).get("cross_attention_dim")
        if cross != hidden:
            raise ConvertError(f"{name}/config.json: cross_attention_dim {cross} does not match text_encoder hidden_size {hidden}")
    return ckpt
