"""Checkpoint folder → longshot pack (docs/model-pack.md, "From a checkpoint folder").

Everything is written to a temporary folder next to the destination, checked (every graph against its PyTorch
original, every file against the manifest), and only then renamed into place: a failed conversion leaves nothing
behind.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from . import lineage
from .attention import FULL, set_export_attention
from .checkpoint import INTERPOLATION, Checkpoint, read_checkpoint
from .errors import ConvertError
from .graphs import HalfPrecisionGraph, InterpolationGraph, KeyframeGraph, TextEncoderGraph, VaeDecoderGraph
from .onnx_io import EXTERNAL_THRESHOLD, Contract, export_graph, io, sha256_file

PACK_FORMAT = "longshot.pack/v1"
KEYFRAMES = 5
FACTOR = 4
FRAMES = [17, 65, 257]
STRIDES = {"17": 4, "65": 1, "257": 0.25}
SAMPLERS = {"DDIMScheduler": "ddim", "EulerDiscreteScheduler": "euler", "EulerAncestralDiscreteScheduler": "euler-a", "DPMSolverMultistepScheduler": "dpm++2m"}
# What the pack schema (libs/pack/src/manifest.ts) accepts in a scheduler config.
SCHEDULER_ENUMS = {
    "beta_schedule": ("linear", "scaled_linear", "squaredcos_cap_v2"),
    "prediction_type": ("epsilon", "v_prediction", "sample"),
    "timestep_spacing": ("leading", "trailing", "linspace"),
}
PARITY_TOLERANCE = 1e-4
# fp16 graphs against the fp32 PyTorch original: 1e-2 of max(1, largest output) (measured on the tiny checkpoint:
# about 2e-3).
FP16_TOLERANCE = 1e-2
INFLATED_WARNING = "the interpolation UNet is the keyframe UNet inflated to 9 input channels (mask and hint channels zero-initialised): its output is not meaningful until it is fine-tuned"
FIRST_FRAME_NOTE = "interpolation UNet: the seed lineage's first-frame model, its mask channel set to 0 (the lineage's 'keep the hint frame'), the hint as the engine builds it"


@dataclass
class Options:
    name: str | None = None
    version: str = "0.1.0"
    window: int = 17
    """Interpolation UNet temporal attention window (|i - j| <= window // 2); 0 = full."""
    keyframe_window: int = FULL
    """Keyframe UNet temporal attention window; 0 = full (every keyframe sees every other)."""
    attend_first_frame: bool = False
    inflate_interpolation: bool = False
    fps: int = 8
    height: int | None = None
    width: int | None = None
    trained_window: int = 17
    keyframe_steps: int = 50
    keyframe_guidance: float = 9.0
    interpolation_steps: int = 25
    interpolation_guidance: float = 1.0
    external_threshold: int = EXTERNAL_THRESHOLD
    parity_frames: tuple[int, ...] = (5, 17)
    fp16: bool = False
    """UNets and VAE decoder with fp16 weights and compute (float32 inputs and outputs); the text encoder stays fp32."""
    force: bool = False
    first_frame_interpolation: bool = False
    """Use a 9-channel lineage UNet (make-a-stable-diffusion-video's first-frame model) as the interpolation UNet,
    with its mask channel set to 0 (docs/model-pack.md, "From a make-a-stable-diffusion-video (lineage) checkpoint")."""


@dataclass
class Result:
    out: Path
    manifest: dict[str, Any]
    parity: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Loaded:
    text_encoder: nn.Module
    tokenizer: Any
    unet: nn.Module
    interpolation: nn.Module
    vae: nn.Module
    scheduler: dict[str, Any]
    inflated: bool


def _load(ckpt: Checkpoint, opts: Options) -> Loaded:
    import diffusers
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from .inflate import INFLATED_KEY, SPATIAL_HEADS_KEY, inflate_interpolation, restore_spatial_heads

    def load(what: str, fn: Any) -> Any:
        try:
            return fn()
        except ConvertError:
            raise
        except Exception as err:  # the libraries' own errors name the file; keep them, say which component
            raise ConvertError(f"{what}: cannot load {ckpt.component(what)}: {err}") from err

    text_encoder = load("text_encoder", lambda: CLIPTextModel.from_pretrained(ckpt.component("text_encoder"), attn_implementation="eager"))
    tokenizer = load("tokenizer", lambda: CLIPTokenizer.from_pretrained(ckpt.component("tokenizer")))
    def load_unet(what: str) -> Any:
        if ckpt.config(what).get("_class_name") == lineage.LINEAGE_CLASS:
            unet = lineage.load_unet(ckpt.component(what), what)
            if what == INTERPOLATION:
                if not opts.first_frame_interpolation:
                    raise ConvertError(
                        f"{INTERPOLATION}/config.json: a 9-channel {lineage.LINEAGE_CLASS} is the seed lineage's first-frame model, trained with "
                        "mask 0 on every frame and the first frame's latents as the hint of every frame, where the pack's interpolation "
                        "inputs have mask 1 on the frames to fill and each frame's preceding keyframe as its hint; pass "
                        "--first-frame-interpolation to use it anyway, with its mask channel set to 0 (docs/model-pack.md)"
                    )
                return lineage.MaskZeroed(unet, unet.config.out_channels)
            return unet
        unet = load(what, lambda: UNet3DConditionModel.from_pretrained(ckpt.component(what)))
        heads = ckpt.config(what).get(SPATIAL_HEADS_KEY)
        if heads is not None:
            restore_spatial_heads(unet, int(heads))
        return unet

    unet = load_unet("unet")
    vae = load("vae", lambda: AutoencoderKL.from_pretrained(ckpt.component("vae")))
    if ckpt.has_interpolation:
        inflated = bool(ckpt.config(INTERPOLATION).get(INFLATED_KEY))
        if inflated and not opts.inflate_interpolation:
            raise ConvertError(
                f"{INTERPOLATION}/config.json says {INFLATED_KEY}: this interpolation UNet was inflated from a keyframe UNet and "
                "not trained; fine-tune it first, or pass --inflate-interpolation to export it anyway (its output is not meaningful)"
            )
        interp = load_unet(INTERPOLATION)
    elif opts.inflate_interpolation:
        interp = lineage.inflate_interpolation(unet) if lineage.is_lineage(unet) else inflate_interpolation(unet)
        inflated = True
    else:
        raise ConvertError(
            f"{ckpt.root} has no separately trained interpolation UNet: expected a folder {INTERPOLATION}/ holding a "
            f"UNet3DConditionModel with in_channels = 2 * latent channels + 1 = cat[noisy, mask, hint] (config.json + "
            "diffusion_pytorch_model.safetensors). Pass --inflate-interpolation to use the keyframe UNet inflated to 9 "
            "input channels instead (zero-initialised extra channels: its output is not meaningful until fine-tuned)"
        )
    if opts.first_frame_interpolation and not isinstance(interp, lineage.MaskZeroed):
        raise ConvertError(f"--first-frame-interpolation applies to a 9-channel {lineage.LINEAGE_CLASS} in {INTERPOLATION}/ only; {ckpt.root} has none")
    sched_cfg = json.loads((ckpt.component("scheduler") / "scheduler_config.json").read_text())
    cls_name = sched_cfg.get("_class_name")
    cls = getattr(diffusers, str(cls_name), None)
    if cls is None or not hasattr(cls, "from_config"):
        raise ConvertError(f"scheduler/scheduler_config.json: unknown scheduler class {cls_name!r}")
    scheduler = {"_class_name": cls_name, **{k: v for k, v in dict(cls.from_config(sched_cfg).config).items() if not k.startswith("_")}}
    for key, allowed in SCHEDULER_ENUMS.items():
        if scheduler.get(key) not in allowed:
            raise ConvertError(f"scheduler/scheduler_config.json: {key} {scheduler.get(key)!r} is not supported by the engine (supported: {', '.join(allowed)})")
    if scheduler.get("trained_betas") is not None:
        raise ConvertError("scheduler/scheduler_config.json: trained_betas is not supported by the engine (use beta_start/beta_end/beta_schedule)")
    return Loaded(text_encoder.eval(), tokenizer, unet.eval(), interp.eval(), vae.eval(), scheduler, inflated)


def check_temporal_layers(unet: nn.Module, what: str) -> None:
    """Refuses temporal layers the exporter does not know (it would export them with full attention, silently)."""
    from diffusers.models.resnet import TemporalConvLayer
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    known = (TransformerTemporalModel, TemporalConvLayer)
    inside: list[str] = []
    for name, module in unet.named_modules():
        if isinstance(module, known):
            inside.append(name + ".")
            continue
        if any(name.startswith(p) for p in inside):
            continue
        cls = type(module).__name__
        if re.search(r"temporal|motion", cls, re.IGNORECASE):
            raise ConvertError(f"{what}: temporal layer {name} ({cls}) is not one the exporter knows (known: TransformerTemporalModel, TemporalConvLayer)")


def _contracts(hidden: int, lc: int, lh: int, lw: int, channels: int, height: int, width: int) -> dict[str, Contract]:
    return {
        "textEncoder": {
            "file": "text_encoder.onnx",
            "inputs": [io("input_ids", "int64", ["batch", "tokens"]), io("attention_mask", "int64", ["batch", "tokens"])],
            "outputs": [io("last_hidden_state", "float32", ["batch", "tokens", hidden])],
        },
        "keyframeUnet": {
            "file": "keyframe_unet.onnx",
            "inputs": [io("sample", "float32", ["batch", lc, "frames", lh, lw]), io("timestep", "float32", ["batch"]), io("encoder_hidden_states", "float32", ["batch", "tokens", hidden])],
            "outputs": [io("noise_pred", "float32", ["batch", lc, "frames", lh, lw])],
        },
        "interpolationUnet": {
            "file": "interpolation_unet.onnx",
            "inputs": [
                io("sample", "float32", ["batch", 2 * lc + 1, "frames", lh, lw]),
                io("timestep", "float32", ["batch"]),
                io("encoder_hidden_states", "float32", ["batch", "tokens", hidden]),
                io("frame_stride", "float32", ["batch"]),
            ],
            "outputs": [io("noise_pred", "float32", ["batch", lc, "frames", lh, lw])],
        },
        "vaeDecoder": {
            "file": "vae_decoder.onnx",
            "inputs": [io("latent", "float32", ["batch", lc, lh, lw])],
            "outputs": [io("image", "float32", ["batch", channels, height, width])],
        },
    }


def example_inputs(graph: str, contract: Contract, frames: int, batch: int, tokens: int, seed: int = 0, vocab: int = 400) -> dict[str, torch.Tensor]:
    """Random inputs of the contract's shapes (`frames`, `batch`, `tokens` for the dynamic axes; token ids below
    `vocab`)."""
    g = torch.Generator().manual_seed(seed)
    sizes = {"batch": batch, "frames": frames, "tokens": tokens}
    out: dict[str, torch.Tensor] = {}
    for spec in contract["inputs"]:
        shape = [sizes[d] if isinstance(d, str) else d for d in spec["shape"]]
        if graph == "vaeDecoder":
            shape[0] = batch * frames
        if spec["name"] == "input_ids":
            out[spec["name"]] = torch.randint(0, vocab, shape, generator=g)
        elif spec["name"] == "attention_mask":
            lengths = torch.randint(2, tokens + 1, (shape[0],), generator=g)
            out[spec["name"]] = (torch.arange(tokens)[None, :] < lengths[:, None]).long()
        elif spec["name"] == "timestep":
            out[spec["name"]] = torch.tensor([981.0, 1.0, 500.0, 250.0][:batch] + [500.0] * max(0, batch - 4))
        elif spec["name"] == "frame_stride":
            out[spec["name"]] = torch.full((batch,), 4.0)
        else:
            out[spec["name"]] = torch.randn(*shape, generator=g)
    return out


def graph_parity(module: nn.Module, onnx_path: Path, graph: str, contract: Contract, frames: int, batch: int, tokens: int, vocab: int = 400) -> tuple[float, float]:
    """Max |ORT - torch| of one graph on random inputs, and max |torch| (the scale the error is judged against)."""
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    inputs = example_inputs(graph, contract, frames, batch, tokens, seed=frames * 10 + batch, vocab=vocab)
    with torch.no_grad():
        ref = module(*inputs.values()).numpy()
    (got,) = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
    if got.shape != ref.shape:
        raise ConvertError(f"{graph}: ONNX output shape {got.shape} differs from PyTorch {ref.shape}")
    return float(np.abs(got - ref).max()), float(np.abs(ref).max())


_ONNX_TYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16", onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32"}


def check_pack(pack: Path) -> dict[str, Any]:
    """Checks a pack folder against its own manifest: every listed file's size and sha256, no unlisted file, and
    every graph's ONNX signature (names, dtypes, fixed sizes, dynamic axes) against the manifest. Raises
    ConvertError naming the first file or tensor that disagrees; returns the manifest."""
    try:
        manifest = json.loads((pack / "pack.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConvertError(f"{pack}/pack.json: cannot read it: {err}") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list) or not isinstance(manifest.get("graphs"), dict):
        raise ConvertError(f"{pack}/pack.json: expected an object with a files list and a graphs object (docs/model-pack.md)")
    listed = {f["path"]: f for f in manifest["files"]}
    for path, entry in listed.items():
        p = pack / path
        if not p.is_file():
            raise ConvertError(f"{pack}: pack.json lists {path}, which is missing")
        if p.stat().st_size != entry["bytes"]:
            raise ConvertError(f"{pack}: {path} has {p.stat().st_size} bytes, pack.json says {entry['bytes']}")
        if sha256_file(p) != entry["sha256"]:
            raise ConvertError(f"{pack}: {path} sha256 {sha256_file(p)} differs from pack.json's {entry['sha256']}")
    unlisted = sorted(p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file() and p.name != "pack.json" and p.relative_to(pack).as_posix() not in listed)
    if unlisted:
        raise ConvertError(f"{pack}: files not listed in pack.json: {', '.join(unlisted)}")
    for name, spec in manifest["graphs"].items():
        model = onnx.load(str(pack / spec["file"]), load_external_data=False)
        for path_ in (t.external_data for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL):
            location = next((kv.value for kv in path_ if kv.key == "location"), None)
            rel = (Path(spec["file"]).parent / str(location)).as_posix()
            if rel not in listed:
                raise ConvertError(f"{pack}: {spec['file']} keeps weights in {location}, which pack.json does not list")
        actual = {v.name: v for v in [*model.graph.input, *model.graph.output]}
        for side in ("inputs", "outputs"):
            for want in spec[side]:
                value = actual.get(want["name"])
                if value is None:
                    raise ConvertError(f"{pack}: graphs.{name}.{side}: {spec['file']} has no {want['name']!r}")
                dtype = _ONNX_TYPES.get(value.type.tensor_type.elem_type, f"ONNX type {value.type.tensor_type.elem_type}")
                if dtype != want["dtype"]:
                    raise ConvertError(f"{pack}: graphs.{name}.{side} {want['name']}: pack.json says {want['dtype']}, {spec['file']} has {dtype}")
                dims = [d.dim_param if d.dim_param else d.dim_value for d in value.type.tensor_type.shape.dim]
                if dims != want["shape"]:
                    raise ConvertError(f"{pack}: graphs.{name}.{side} {want['name']}: pack.json says shape {want['shape']}, {spec['file']} has {dims}")
    return manifest


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (s or "pack")[:128]


def convert(checkpoint: Path, out: Path, opts: Options | None = None) -> Result:
    """Converts `checkpoint` into a pack at `out` (see the module comment)."""
    opts = opts or Options()
    for what, w in (("--window", opts.window), ("--keyframe-window", opts.keyframe_window)):
        if w < 0 or (w != FULL and w % 2 == 0):
            raise ConvertError(f"{what} must be an odd number of frames (|i - j| <= window // 2) or 0 for full attention, got {w}")
    if out.exists() and not opts.force:
        raise ConvertError(f"{out} already exists (pass --force to replace it)")
    ckpt = read_checkpoint(checkpoint)
    m = _load(ckpt, opts)
    check_temporal_layers(m.unet, "unet")
    check_temporal_layers(m.interpolation, INTERPOLATION if not m.inflated else "inflated interpolation UNet")
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    for model, window in ((m.unet, opts.keyframe_window), (m.interpolation, opts.window)):
        if lineage.is_lineage(model):
            lineage.set_temporal_attention(model, window, opts.attend_first_frame)
        else:
            set_export_attention(model, (TransformerTemporalModel,), window, opts.attend_first_frame)
    set_export_attention(m.vae, (), FULL, False)

    vae_cfg = m.vae.config
    lc = int(vae_cfg.latent_channels)
    downsample = 2 ** (len(vae_cfg.block_out_channels) - 1)
    if m.unet.config.sample_size is None and not opts.height:
        raise ConvertError("unet/config.json has no sample_size: pass --height (and --width) in pixels")
    sample = int(m.unet.config.sample_size) if isinstance(m.unet.config.sample_size, int) else int((m.unet.config.sample_size or [0])[0])
    height = opts.height or sample * downsample
    width = opts.width or sample * downsample
    if height % downsample or width % downsample:
        raise ConvertError(f"--height/--width must be multiples of the VAE's downsampling factor {downsample}, got {height}x{width}")
    lh, lw = height // downsample, width // downsample
    unet_down = 2 ** (len(m.unet.config.block_out_channels) - 1)
    if lh % unet_down or lw % unet_down:
        raise ConvertError(f"latent size {lh}x{lw} must be a multiple of {unet_down} (the UNet downsamples {len(m.unet.config.block_out_channels) - 1} times)")
    hidden = int(m.text_encoder.config.hidden_size)
    max_tokens = min(int(m.tokenizer.model_max_length), int(m.text_encoder.config.max_position_embeddings))
    vocab = min(400, int(m.text_encoder.config.vocab_size))
    pad_id = m.tokenizer.pad_token_id
    if pad_id is None:
        raise ConvertError("tokenizer: no pad token (diffusers pads prompts with it)")
    contracts = _contracts(hidden, lc, lh, lw, int(vae_cfg.out_channels), height, width)
    modules: dict[str, nn.Module] = {
        "textEncoder": TextEncoderGraph(m.text_encoder, int(pad_id)),
        "keyframeUnet": KeyframeGraph(m.unet),
        "interpolationUnet": InterpolationGraph(m.interpolation),
        "vaeDecoder": VaeDecoderGraph(m.vae),
    }

    exported: dict[str, nn.Module] = dict(modules)
    if opts.fp16:
        import copy

        for name in ("keyframeUnet", "interpolationUnet", "vaeDecoder"):
            timestep = [i for i, spec in enumerate(contracts[name]["inputs"]) if spec["name"] == "timestep"]
            exported[name] = HalfPrecisionGraph(copy.deepcopy(modules[name]), tuple(timestep))

    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        result = Result(out, {}, warnings=[INFLATED_WARNING] if m.inflated else [])
        for name, module in exported.items():
            args = tuple(example_inputs(name, contracts[name], KEYFRAMES, 2, max_tokens, vocab=vocab).values())
            export_graph(module, args, tmp / contracts[name]["file"], contracts[name], opts.external_threshold)
        _write_tokenizer(m.tokenizer, tmp / "tokenizer", max_tokens)
        for name, module in modules.items():
            for f in opts.parity_frames if name != "textEncoder" else (1,):
                for batch in (1, 2):
                    err, scale = graph_parity(module, tmp / contracts[name]["file"], name, contracts[name], f, batch, max_tokens, vocab)
                    result.parity[f"{name}@F{f}B{batch}" if name != "textEncoder" else f"{name}@B{batch}"] = err
                    # 1e-4 absolute, or relative to the largest output where it exceeds 1 (CLIP's hidden states reach ~30).
                    tol = (FP16_TOLERANCE if exported[name] is not module else PARITY_TOLERANCE) * max(1.0, scale)
                    if not err <= tol:
                        raise ConvertError(f"{name}: the exported graph differs from PyTorch by {err:.3g} at frames {f}, batch {batch} (tolerance {tol:g})")
        manifest = _manifest(ckpt, opts, m, tmp, contracts, lc, lh, lw, downsample, height, width, max_tokens, hidden)
        (tmp / "pack.json").write_text(json.dumps(manifest, indent=2) + "\n")
        check_pack(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / "pack")
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
        result.manifest = manifest
        return result
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_tokenizer(tokenizer: Any, folder: Path, max_tokens: int) -> None:
    """tokenizer.json without padding or truncation (the engine pads and truncates to `text.maxTokens` itself), and
    a tokenizer_config.json with the model's maximum length."""
    folder.mkdir()
    with tempfile.TemporaryDirectory() as t:
        tokenizer.save_pretrained(t)
        tj = json.loads((Path(t) / "tokenizer.json").read_text())
        cfg = json.loads((Path(t) / "tokenizer_config.json").read_text())
    tj["padding"] = None
    tj["truncation"] = None
    cfg["model_max_length"] = max_tokens
    (folder / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def _manifest(ckpt: Checkpoint, opts: Options, m: Loaded, folder: Path, contracts: dict[str, Contract], lc: int, lh: int, lw: int, downsample: int, height: int, width: int, max_tokens: int, hidden: int) -> dict[str, Any]:
    name = opts.name or _slug(ckpt.root.name)
    kw = "full" if opts.keyframe_window == FULL else f"window {opts.keyframe_window}"
    iw = "full" if opts.window == FULL else f"window {opts.window}"
    description = (
        f"Converted from the diffusers checkpoint {ckpt.root.name} (unet {getattr(m.unet, 'source_class', type(m.unet).__name__)}); temporal attention: "
        f"keyframe UNet {kw}, interpolation UNet {iw}{', first frame always attended' if opts.attend_first_frame else ''}."
    )
    if opts.fp16:
        description += " UNets and VAE decoder in fp16 (float32 inputs and outputs)."
    if isinstance(m.interpolation, lineage.MaskZeroed):
        description += f" The {FIRST_FRAME_NOTE}."
    if m.inflated:
        description += f" Warning: {INFLATED_WARNING}."
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "pack.json")
    sampler = SAMPLERS.get(m.scheduler["_class_name"], "ddim")
    return {
        "format": PACK_FORMAT,
        "name": name,
        "version": opts.version,
        "description": description,
        "video": {"width": width, "height": height, "channels": int(m.vae.config.out_channels), "fps": opts.fps, "keyframes": KEYFRAMES, "keyframeStride": (FRAMES[1] - 1) // (KEYFRAMES - 1), "interpolationFactor": FACTOR, "frames": FRAMES, "defaultFrames": FRAMES[1]},
        "latent": {"channels": lc, "height": lh, "width": lw, "downsample": downsample, "scalingFactor": float(m.vae.config.scaling_factor), "layout": "BCFHW"},
        "text": {"tokenizer": "tokenizer/tokenizer.json", "tokenizerConfig": "tokenizer/tokenizer_config.json", "maxTokens": max_tokens, "hiddenSize": hidden},
        "scheduler": m.scheduler,
        "defaults": {
            "sampler": sampler,
            "mode": "pinned",
            "keyframe": {"steps": opts.keyframe_steps, "guidance": opts.keyframe_guidance},
            "interpolation": {"steps": opts.interpolation_steps, "guidance": opts.interpolation_guidance},
        },
        "interpolation": {"attentionWindow": opts.window if opts.window != FULL else 2 * opts.trained_window - 1, "attendFirstFrame": opts.attend_first_frame, "strides": STRIDES, "trainedWindow": opts.trained_window},
        "graphs": contracts,
        "files": [{"path": p.relative_to(folder).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files],
    }
