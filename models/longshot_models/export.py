"""Export the trained weights as the bundled ONNX pack: `python -m longshot_models.export [--out DIR]`.

Writes DIR/pack.json (the contract the TypeScript side loads; see docs/model-pack.md), the four ONNX graphs and
the tokenizer files, then checks every graph against PyTorch (`parity`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from . import diffusion, graph, text, train, unet, vae, world

PACK_NAME = "shapes-mini"
PACK_VERSION = "1.9.0"
# Interpolation passes start from the blended known frames at this strength (pack defaults.interpolation.strength);
# chosen by evaluation (docs/models.md).
INTERP_STRENGTH = 0.7
# Classifier-free guidance of the keyframe stage (pack defaults.keyframe.guidance): at 5 it extrapolates a square's or a
# triangle's difference from the unconditional blob into pinched, star-like outlines; chosen by measurement
# (docs/models.md, "Keyframe guidance").
KEYFRAME_GUIDANCE = 2.0
DEFAULT_OUT = train.ROOT / "packs" / PACK_NAME
OPSET = 17
LATENT = 16


class KeyframeGraph(nn.Module):
    """The keyframe UNet as exported. `fast` (the default) computes it as graph.FastUNet does (the layout and the
    fused attention onnxruntime runs fastest); fast=False is the training module's own forward."""

    def __init__(self, model: unet.UNetPseudo3D, fast: bool = True) -> None:
        super().__init__()
        self.model = model
        self.net: nn.Module = graph.FastUNet(model) if fast else model

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        return self.net(sample, timestep, encoder_hidden_states)


class InterpolationGraph(nn.Module):
    """The interpolation UNet as exported; `fast` as for KeyframeGraph."""

    def __init__(self, model: unet.UNetPseudo3D, fast: bool = True) -> None:
        super().__init__()
        self.model = model
        self.net: nn.Module = graph.FastUNet(model) if fast else model

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor, frame_stride: torch.Tensor) -> torch.Tensor:
        return self.net(sample, timestep, encoder_hidden_states, frame_stride)


def _io(name: str, dtype: str, shape: list[object]) -> dict[str, object]:
    return {"name": name, "dtype": dtype, "shape": shape}


def graph_contracts() -> dict[str, dict[str, object]]:
    h = w = LATENT
    return {
        "textEncoder": {
            "file": "text_encoder.onnx",
            "inputs": [_io("input_ids", "int64", ["batch", "tokens"]), _io("attention_mask", "int64", ["batch", "tokens"])],
            "outputs": [_io("last_hidden_state", "float32", ["batch", "tokens", text.HIDDEN])],
        },
        "keyframeUnet": {
            "file": "keyframe_unet.onnx",
            "inputs": [
                _io("sample", "float32", ["batch", 4, "frames", h, w]),
                _io("timestep", "float32", ["batch"]),
                _io("encoder_hidden_states", "float32", ["batch", "tokens", text.HIDDEN]),
            ],
            "outputs": [_io("noise_pred", "float32", ["batch", 4, "frames", h, w])],
        },
        "interpolationUnet": {
            "file": "interpolation_unet.onnx",
            "inputs": [
                _io("sample", "float32", ["batch", 9, "frames", h, w]),
                _io("timestep", "float32", ["batch"]),
                _io("encoder_hidden_states", "float32", ["batch", "tokens", text.HIDDEN]),
                _io("frame_stride", "float32", ["batch"]),
            ],
            "outputs": [_io("noise_pred", "float32", ["batch", 4, "frames", h, w])],
        },
        "vaeDecoder": {
            "file": "vae_decoder.onnx",
            "inputs": [_io("latent", "float32", ["batch", 4, h, w])],
            "outputs": [_io("image", "float32", ["batch", 3, world.SIZE, world.SIZE])],
        },
    }


def _dynamic_axes(contract: dict[str, object]) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for spec in [*contract["inputs"], *contract["outputs"]]:  # type: ignore[misc]
        dims = {i: d for i, d in enumerate(spec["shape"]) if isinstance(d, str)}
        if dims:
            axes[spec["name"]] = dims
    return axes


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, contract: dict[str, object]) -> None:
    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=[i["name"] for i in contract["inputs"]],  # type: ignore[index,union-attr]
            output_names=[o["name"] for o in contract["outputs"]],  # type: ignore[index,union-attr]
            dynamic_axes=_dynamic_axes(contract),
            opset_version=OPSET,
            custom_opsets={graph.MS_DOMAIN: 1},
            dynamo=False,
        )
    _pin_static_dims(path, contract)


def _pin_static_dims(path: Path, contract: dict[str, object]) -> None:
    """The exporter names some output axes it could not infer (e.g. after a Transpose); write the contract's
    fixed sizes into the graph's signature so it says exactly what pack.json says."""
    import onnx

    model = onnx.load(str(path))
    specs = {io["name"]: io["shape"] for io in [*contract["inputs"], *contract["outputs"]]}  # type: ignore[misc]
    for value in [*model.graph.input, *model.graph.output]:
        for dim, want in zip(value.type.tensor_type.shape.dim, specs[value.name]):
            if isinstance(want, int):
                dim.ClearField("dim_param")
                dim.dim_value = want
            else:
                dim.dim_param = want
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def example_inputs(graph: str, frames: int = 5, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    if graph == "keyframeUnet":
        return {"sample": r(batch, 4, frames, LATENT, LATENT), "timestep": torch.tensor([981.0, 1.0][:batch] + [500.0] * max(0, batch - 2)), "encoder_hidden_states": r(batch, text.MAX_TOKENS, text.HIDDEN)}
    if graph == "interpolationUnet":
        return {
            "sample": r(batch, 9, frames, LATENT, LATENT),
            "timestep": torch.tensor([981.0, 1.0][:batch] + [500.0] * max(0, batch - 2)),
            "encoder_hidden_states": r(batch, text.MAX_TOKENS, text.HIDDEN),
            "frame_stride": torch.tensor([4.0, 0.25][:batch] + [1.0] * max(0, batch - 2)),
        }
    if graph == "vaeDecoder":
        return {"latent": r(batch * frames, 4, LATENT, LATENT)}
    raise KeyError(graph)


def export_interpolation_graph(path: Path, window: int | None = None) -> None:
    """The interpolation UNet of models/weights alone, as `python -m longshot_models.export` writes it; with
    `window`, its temporal attention sees |i - j| <= window // 2 instead of the trained band (same weights; e.g.
    a window of 2 F + 1 or more is full temporal attention over F frames, run as one fused attention over the
    masked F x F logits): the scaling study's full-attention graph (docs/benchmarks.md)."""
    model = train.load_unet("interpolation")
    if window is not None:
        for block in model.modules():
            if isinstance(block, unet.TransformerBlock):
                block.window = window
    module = InterpolationGraph(model)
    if window is not None and window > model.cfg.temporal_window:
        module.net.band = False  # type: ignore[union-attr]
    contract = graph_contracts()["interpolationUnet"]
    _export(module, tuple(example_inputs("interpolationUnet").values()), path, contract)


def torch_modules() -> tuple[dict[str, nn.Module], float]:
    vae_model, scale = train.load_vae()
    return {
        "keyframeUnet": KeyframeGraph(train.load_unet("keyframe")),
        "interpolationUnet": InterpolationGraph(train.load_unet("interpolation")),
        "vaeDecoder": vae.VaeDecoderGraph(vae_model),
    }, scale


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# A word: a run of letters or digits (the CLI splits a prompt the same way).
WORD = re.compile(r"[^\W_]+")


def vocabulary() -> list[str]:
    """Every word of the world's training prompts (world.all_prompts), lower case, sorted: pack.json
    `text.vocabulary`, which the CLI checks a prompt against to warn about words the pack never saw."""
    return sorted({w for p in world.all_prompts() for w in WORD.findall(p.lower())})


def build_manifest(out: Path, scale: float, contracts: dict[str, dict[str, object]], preview_rgb: dict[str, object] | None = None) -> dict[str, object]:
    """pack.json for the files in `out`. `preview_rgb` is `latent.previewRgb` (preview.fit_preview, fitted when None)."""
    if preview_rgb is None:
        from . import preview

        preview_rgb = preview.fit_preview()[0].to_manifest()
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "pack.json")
    return {
        "format": "longshot.pack/v1",
        "name": PACK_NAME,
        "version": PACK_VERSION,
        "description": "Miniature pseudo-3D latent video diffusion trained on longshot's synthetic shapes world (64x64, 16 fps).",
        "video": {"width": world.SIZE, "height": world.SIZE, "channels": 3, "fps": 16, "keyframes": 5, "keyframeStride": 16, "interpolationFactor": 4, "frames": [17, 65, 257], "defaultFrames": 65},
        "latent": {"channels": 4, "height": LATENT, "width": LATENT, "downsample": world.SIZE // LATENT, "scalingFactor": scale, "layout": "BCFHW", "previewRgb": preview_rgb},
        "text": {"tokenizer": "tokenizer/tokenizer.json", "tokenizerConfig": "tokenizer/tokenizer_config.json", "maxTokens": text.MAX_TOKENS, "hiddenSize": text.HIDDEN, "vocabulary": vocabulary()},
        "scheduler": diffusion.SCHEDULER_CONFIG,
        "defaults": {"sampler": "ddim", "mode": "pinned", "keyframe": {"steps": 25, "guidance": KEYFRAME_GUIDANCE}, "interpolation": {"steps": 10, "guidance": 1.0, "strength": INTERP_STRENGTH}},
        "interpolation": {"attentionWindow": 5, "attendFirstFrame": False, "strides": {"17": 4, "65": 1, "257": 0.25}, "trainedWindow": train.INTERP_WINDOW, "hint": train.weights_config("interpolation").interpolation_hint},
        "graphs": contracts,
        "files": [{"path": p.relative_to(out).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files],
    }


def write_manifest_only(out: Path) -> tuple[dict[str, object], list[str]]:
    """Rewrites `out`/pack.json from build_manifest without exporting any graph (the files on disk are hashed as
    they are). Returns the manifest and the dotted paths of the fields that changed, for the caller to check."""
    path = out / "pack.json"
    if not path.is_file():
        raise SystemExit(f"--manifest-only: {path} does not exist (export the pack first)")
    before = json.loads(path.read_text())
    _, scale = train.load_vae()
    manifest = build_manifest(out, scale, graph_contracts())
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest, _changed(before, json.loads(path.read_text()))


def _changed(a: object, b: object, at: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [c for k in sorted(set(a) | set(b), key=str) for c in _changed(a.get(k, _MISSING), b.get(k, _MISSING), f"{at}.{k}" if at else str(k))]
    return [] if a == b else [at or "(root)"]


_MISSING = object()


def parity(pack: Path, frames: tuple[int, ...] = (5, 17, 65, 257)) -> dict[str, float]:
    """Max |ORT - torch| for every UNet/VAE graph at each frame count (random inputs, batch 2; batch 1 at 257). The
    UNet graphs compute graph.FastUNet; they are compared with the training module's forward (unet.py)."""
    modules, _ = torch_modules()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    worst: dict[str, float] = {}
    for name, module in modules.items():
        if isinstance(module, (KeyframeGraph, InterpolationGraph)):  # against the training module's own forward
            module = type(module)(module.model, fast=False)
        sess = ort.InferenceSession(str(pack / graph_contracts()[name]["file"]), so, providers=["CPUExecutionProvider"])  # type: ignore[operator]
        for f in frames if name != "vaeDecoder" else (1, 5):
            inputs = example_inputs(name, frames=f, batch=1 if f > 65 else 2)
            with torch.no_grad():
                ref = module(*inputs.values()).numpy()
            (got,) = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
            worst[f"{name}@{f}"] = float(np.abs(got - ref).max())
    return worst


def text_parity(pack: Path, export_fp32: bool = False) -> dict[str, float]:
    """The fp32 text graph must match PyTorch to 1e-4 of the largest hidden state (they reach |x| ~ 10, and six
    transformer layers accumulate float rounding); the shipped quantized graph is compared by cosine similarity."""
    model = text.TextEncoderGraph()
    prompts = world.all_prompts()[::37] + [""]
    ids, mask = text.tokenize(prompts)
    with torch.no_grad():
        ref = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    fp32 = text.CACHE / "text_encoder.fp32.onnx"
    if export_fp32 and not fp32.exists():
        text.export_fp32(fp32)
    out: dict[str, float] = {}
    if fp32.exists():
        (a,) = ort.InferenceSession(str(fp32), so, providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids, "attention_mask": mask})
        out["fp32_max_abs"] = float(np.abs(a - ref).max())
        out["fp32_max_rel"] = out["fp32_max_abs"] / float(np.abs(ref).max())
    (q,) = ort.InferenceSession(str(pack / "text_encoder.onnx"), so, providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids, "attention_mask": mask})
    m = mask.astype(bool)
    a_, b_ = ref[m], q[m]
    cos = np.sum(a_ * b_, -1) / (np.linalg.norm(a_, axis=-1) * np.linalg.norm(b_, axis=-1))
    out["quantized_token_cosine_min"] = float(cos.min())
    out["quantized_token_cosine_mean"] = float(cos.mean())
    return out


def export_pack(out: Path = DEFAULT_OUT) -> dict[str, object]:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    contracts = graph_contracts()
    modules, scale = torch_modules()
    for name, module in modules.items():
        _export(module, tuple(example_inputs(name).values()), out / contracts[name]["file"], contracts[name])  # type: ignore[operator]
    # The text encoder and tokenizer: the exact files the UNets were trained against.
    src = train.prepare_text()
    shutil.copy(src, out / "text_encoder.onnx")
    shutil.copytree(src.parent / "tokenizer", out / "tokenizer")
    manifest = build_manifest(out, scale, contracts)
    (out / "pack.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--skip-parity", action="store_true")
    ap.add_argument("--manifest-only", action="store_true", help="rewrite DIR/pack.json from the files already in DIR (no graph export, no parity); prints the fields that changed")
    args = ap.parse_args(argv)
    if args.manifest_only:
        manifest, changed = write_manifest_only(args.out)
        print(f"pack.json of {manifest['name']} {manifest['version']} rewritten in {args.out}; changed: {', '.join(changed) or 'nothing'}")
        return
    manifest = export_pack(args.out)
    total = sum(f["bytes"] for f in manifest["files"])  # type: ignore[index,union-attr]
    print(f"pack {manifest['name']} {manifest['version']} written to {args.out} ({total / 1e6:.1f} MB)")
    if not args.skip_parity:
        print(json.dumps({"parity_max_abs": parity(args.out), "text": text_parity(args.out)}, indent=2))


if __name__ == "__main__":
    main()
