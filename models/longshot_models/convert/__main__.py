"""`python -m longshot_models.convert CHECKPOINT PACK [options]`: a diffusers-format checkpoint folder → a pack."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import ConvertError
from .pack import Options, check_pack, convert


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m longshot_models.convert",
        description="Convert a diffusers-format checkpoint folder (model_index.json; text_encoder = CLIPTextModel, tokenizer, "
        "unet = UNet3DConditionModel, vae = AutoencoderKL, scheduler; optionally interpolation_unet with 9 input channels; either UNet may be "
        "make-a-stable-diffusion-video's UNetPseudo3DConditionModel) "
        "into a longshot pack (docs/model-pack.md).",
    )
    ap.add_argument("checkpoint", type=Path, help="the checkpoint folder")
    ap.add_argument("pack", type=Path, help="the pack folder to write (written to a temporary folder and renamed at the end)")
    ap.add_argument("--check", action="store_true", help="only check an existing pack (PACK) against its manifest; CHECKPOINT is ignored")
    ap.add_argument("--name", help="pack name (default: the checkpoint folder's name)")
    ap.add_argument("--version", default="0.1.0", help="pack version (semantic, default 0.1.0)")
    ap.add_argument("--window", type=int, default=17, help="interpolation UNet temporal attention window in frames, odd: frame i sees |i - j| <= window // 2; 0 = full attention (default 17)")
    ap.add_argument("--keyframe-window", type=int, default=0, help="keyframe UNet temporal attention window, odd; 0 = full attention (default 0)")
    ap.add_argument("--attend-first-frame", action="store_true", help="every frame also attends to frame 0 (the seed lineage's first-frame option)")
    ap.add_argument("--first-frame-interpolation", action="store_true", help="use a 9-channel UNetPseudo3DConditionModel in interpolation_unet/ (make-a-stable-diffusion-video's first-frame model) as the interpolation UNet, its mask channel set to 0 (docs/model-pack.md)")
    ap.add_argument("--inflate-interpolation", action="store_true", help="without a trained interpolation_unet, inflate the keyframe UNet to 9 input channels (zero-initialised; not meaningful until fine-tuned)")
    ap.add_argument("--height", type=int, help="video height in pixels (default: unet sample_size x VAE downsampling)")
    ap.add_argument("--width", type=int, help="video width in pixels (default: as height)")
    ap.add_argument("--fps", type=int, default=8)
    ap.add_argument("--trained-window", type=int, default=17, help="frames per window the interpolation UNet was trained on (pack interpolation.trainedWindow)")
    ap.add_argument("--keyframe-steps", type=int, default=50)
    ap.add_argument("--keyframe-guidance", type=float, default=9.0)
    ap.add_argument("--interpolation-steps", type=int, default=25)
    ap.add_argument("--interpolation-guidance", type=float, default=1.0)
    ap.add_argument("--external-data-threshold", type=int, default=None, help="bytes of weights above which a graph keeps them in an external data file (default ~1.9e9)")
    ap.add_argument("--parity-frames", default="5,17", help="frame counts the export is checked at against PyTorch (comma-separated)")
    ap.add_argument("--fp16", action="store_true", help="UNets and VAE decoder with fp16 weights and compute (float32 inputs and outputs; checked against fp32 PyTorch within 1e-2)")
    ap.add_argument("--force", action="store_true", help="replace PACK if it exists")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    try:
        if a.check:
            manifest = check_pack(a.pack)
            print(f"{a.pack}: {manifest['name']} {manifest['version']}: every file and graph signature matches pack.json")
            return 0
        opts = Options(
            name=a.name, version=a.version, window=a.window, keyframe_window=a.keyframe_window, attend_first_frame=a.attend_first_frame,
            inflate_interpolation=a.inflate_interpolation, fps=a.fps, height=a.height, width=a.width or a.height, trained_window=a.trained_window,
            keyframe_steps=a.keyframe_steps, keyframe_guidance=a.keyframe_guidance, interpolation_steps=a.interpolation_steps,
            interpolation_guidance=a.interpolation_guidance, parity_frames=tuple(int(f) for f in a.parity_frames.split(",") if f), fp16=a.fp16, force=a.force,
            first_frame_interpolation=a.first_frame_interpolation,
        )
        if a.external_data_threshold is not None:
            opts.external_threshold = a.external_data_threshold
        result = convert(a.checkpoint, a.pack, opts)
    except ConvertError as err:
        print(f"convert: error: {err}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(f"convert: warning: {w}", file=sys.stderr)
    total = sum(f["bytes"] for f in result.manifest["files"])
    print(f"pack {result.manifest['name']} {result.manifest['version']} written to {result.out} ({total / 1e6:.1f} MB)")
    print(json.dumps({"parity_max_abs": result.parity}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
