"""The real-size budget: the seed's architecture at real size with random weights, one denoising step per stage,
seconds and peak memory, each case in a fresh process.

`python -m longshot_models.real_size [--cases kf,interp,scaling,vae,onnx] [--frames 5,9,17] [--threads 2]
[--budget-gb 12] [--scale real|half|tiny] [--json FILE]` (what `npm run bench -- real-size` runs; `case SPEC_JSON` is
internal: one case, one process).

The `onnx` group measures what a user runs instead of PyTorch eager: the graph the converter exports, in onnxruntime
(`real_size_onnx`: export and session each in a fresh process, under an address-space cap). `--scale half` halves the
UNet's channels and keeps everything the attention depends on (heads, 64x64 latents, frames), so it measures the
attention's memory on a quarter of the weights.

What is built (never saved): diffusers' `UNet3DConditionModel` with the SD 1.x channel layout (320/640/1280/1280,
2 layers per block, 8 heads, cross-attention dim 768; the ModelScope text-to-video UNet, pseudo-3D: temporal
convolutions and temporal attention after every spatial layer), 4 input channels for the keyframe UNet and 9 for
the interpolation UNet (noisy latents, the two anchor keyframes' latents and a mask channel, as the seed), on 64x64
latents (512x512 frames); and the SD 1.x `AutoencoderKL` (128/256/512/512), whose decoder is timed. Every attention
layer of the UNet's blocks has SD's 8 heads of width C / 8 (`sd_heads`: diffusers' 3-D blocks would build C / 8 heads
of width 8). Weights are random (normal, scaled by 1/sqrt(fan-in); norms 1, biases 0): the numbers depend on
shapes, not on values.

Attention is what the converter exports (`convert.attention`): temporal attention through its
`LocalTemporalAttnProcessor`, a band mask of `window` frames (0 = full, the same processor with no mask, so local and
full attention are the same weights and the same code); spatial attention through PyTorch's
`scaled_dot_product_attention` (diffusers' default, identical results to the plain attention the exported graphs
use, without materialising the [frames x heads, 4096, 4096] score matrix; `plainScoreMB` in each result says what
that matrix weighs).

Each case runs in a fresh interpreter (`torch.set_num_threads(threads)`, OMP_WAIT_POLICY=PASSIVE), builds its model,
and reports: parameters, weight bytes in fp32 and fp16, resident memory before the step, the process's peak
resident memory (VmHWM, which covers the step) and the step's own growth above what the process held before it
(VmHWM reset through /proc/self/clear_refs), and the step's seconds (one call, inference mode). Before a case starts
its peak is estimated (weights plus activations per frame): a case whose estimate exceeds the budget, or the memory
the machine has available, is skipped and the result says why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import memory

# SD 1.x layout.
BLOCK_OUT = (320, 640, 1280, 1280)
VAE_BLOCK_OUT = (128, 256, 512, 512)
HEADS = 8
CROSS_DIM = 768
TOKENS = 77
LATENT = 64
LATENT_CHANNELS = 4
KEYFRAME_IN = 4
INTERPOLATION_IN = 9  # noisy latents (4) + anchor keyframe latents (4) + mask (1)

# Estimates of a step's activation peak per frame (x batch), fp32, at 64x64 latents, used only to skip a case that
# would not fit before starting it; deliberately above what was measured.
UNET_ACT_MB_PER_FRAME = 700.0
VAE_ACT_MB_PER_FRAME = 2500.0
# Memory left to the rest of the machine when deciding whether a case may start.
RESERVE_MB = 4096.0

KINDS = ("keyframe", "interpolation", "vae")


@dataclass(frozen=True)
class CaseSpec:
    """One measured call."""

    name: str
    kind: str  # keyframe | interpolation | vae
    frames: int
    batch: int
    window: int  # temporal attention window in frames; 0 = full (UNets only)
    threads: int = 2
    scale: str = "real"  # real | half (half the channels: calibrates the real size) | tiny (tests)
    seed: int = 0
    runtime: str = "torch"  # torch (PyTorch eager) | onnx (the converter's exported graph in onnxruntime)


@dataclass
class CaseResult:
    """What one case measured (or why it was skipped)."""

    spec: CaseSpec
    status: str  # measured | skipped | failed
    reason: str | None = None
    parameters: int | None = None
    weightMB: dict[str, float] = field(default_factory=dict)
    estimatedPeakMB: float | None = None
    availableMB: float | None = None
    rssBeforeMB: float | None = None
    peakMB: float | None = None
    stepMB: float | None = None
    seconds: float | None = None
    buildSeconds: float | None = None
    plainScoreMB: float | None = None
    # onnx cases only (real_size_onnx): the export phase and the session phase run in separate processes.
    exportSeconds: float | None = None
    exportPeakMB: float | None = None
    sessionSeconds: float | None = None
    files: dict[str, int] = field(default_factory=dict)
    addressSpaceCapMB: float | None = None


def unet_config(in_channels: int, scale: str) -> dict[str, object]:
    if scale == "tiny":
        return {
            "sample_size": 8, "in_channels": in_channels, "out_channels": LATENT_CHANNELS,
            "down_block_types": ("CrossAttnDownBlock3D", "DownBlock3D"), "up_block_types": ("UpBlock3D", "CrossAttnUpBlock3D"),
            "block_out_channels": (16, 32), "layers_per_block": 1, "norm_num_groups": 4, "cross_attention_dim": 32,
            "attention_head_dim": 4,
        }
    blocks = BLOCK_OUT if scale == "real" else tuple(c // 2 for c in BLOCK_OUT)
    return {
        "sample_size": LATENT, "in_channels": in_channels, "out_channels": LATENT_CHANNELS,
        "down_block_types": ("CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"),
        "up_block_types": ("UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"),
        "block_out_channels": blocks, "layers_per_block": 2, "norm_num_groups": 32, "cross_attention_dim": CROSS_DIM,
        # diffusers' 3-D blocks read this as the heads' width (C // 8 heads of width 8); `sd_heads` restores SD 1.x's
        # 8 heads of width C // 8 after building.
        "attention_head_dim": HEADS,
    }


def vae_config(scale: str) -> dict[str, object]:
    blocks = (8, 16) if scale == "tiny" else VAE_BLOCK_OUT  # half: the real VAE
    return {
        "in_channels": 3, "out_channels": 3, "latent_channels": LATENT_CHANNELS, "block_out_channels": blocks,
        "down_block_types": ("DownEncoderBlock2D",) * len(blocks), "up_block_types": ("UpDecoderBlock2D",) * len(blocks),
        "layers_per_block": 1 if scale == "tiny" else 2, "norm_num_groups": 4 if scale == "tiny" else 32,
        "sample_size": 16 if scale == "tiny" else 512, "scaling_factor": 0.18215,
    }


def heads(scale: str) -> int:
    """Attention heads per layer: SD 1.x's 8 (tiny: 4)."""
    return 4 if scale == "tiny" else HEADS


def sd_heads(model: nn.Module, n: int) -> int:
    """Gives every attention layer of the UNet's blocks `n` heads of width C // n, as SD 1.x's UNet (and the seed
    lineage) has. diffusers' UNet3DConditionModel builds its down, mid and up blocks' spatial and temporal
    transformers with the split swapped (C // n heads of width n: 40 heads of width 8 at 320 channels for
    attention_head_dim 8). Same weights either way; the split decides the attention score matrices: [frames x batch x
    heads, tokens, tokens]. `transformer_in` (8 heads of width attention_head_dim) is left as built. Returns the
    number of layers changed."""
    from diffusers.models.attention_processor import Attention

    changed = 0
    for name, module in model.named_modules():
        if isinstance(module, Attention) and not name.startswith("transformer_in.") and module.heads != n:
            if module.inner_dim % n:
                raise ValueError(f"{name}: width {module.inner_dim} does not split into {n} heads")
            module.heads = n
            module.scale = (module.inner_dim // n) ** -0.5
            module.sliceable_head_dim = n
            changed += 1
    return changed


def latent_size(scale: str) -> int:
    return 8 if scale == "tiny" else LATENT


def randomise(model: nn.Module, seed: int) -> None:
    """Fills weights made on the meta device: normal / sqrt(fan-in) for matrices and kernels, 1 for norm scales,
    0 for biases (no uninitialised memory, whose NaNs or denormals would change the timing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.normal_(0.0, 1.0 / fan_in**0.5, generator=g)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()
        for b in model.buffers():
            if b.is_floating_point():
                b.zero_()


def build(spec: CaseSpec) -> nn.Module:
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    from .convert.attention import LocalTemporalAttnProcessor, temporal_attention_modules

    with torch.device("meta"):
        if spec.kind == "vae":
            vae = AutoencoderKL(**vae_config(spec.scale))
            model: nn.Module = nn.Sequential(vae.post_quant_conv, vae.decoder)  # the decode stage
        else:
            model = UNet3DConditionModel(**unet_config(KEYFRAME_IN if spec.kind == "keyframe" else INTERPOLATION_IN, spec.scale))
    model = model.to_empty(device="cpu")
    randomise(model, spec.seed)
    model.eval()
    if spec.kind != "vae":
        from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

        sd_heads(model, heads(spec.scale))
        temporal = temporal_attention_modules(model, (TransformerTemporalModel,))
        if not temporal:
            raise RuntimeError("the UNet has no temporal attention layers")
        for name, module in model.named_modules():
            if isinstance(module, Attention):
                module.set_processor(LocalTemporalAttnProcessor(spec.window, False) if name in temporal else AttnProcessor2_0())
    return model


def inputs(spec: CaseSpec) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(spec.seed + 1)
    s = latent_size(spec.scale)
    if spec.kind == "vae":
        return (torch.randn(spec.frames * spec.batch, LATENT_CHANNELS, s, s, generator=g),)
    channels = KEYFRAME_IN if spec.kind == "keyframe" else INTERPOLATION_IN
    cross = 32 if spec.scale == "tiny" else CROSS_DIM
    sample = torch.randn(spec.batch, channels, spec.frames, s, s, generator=g)
    text = torch.randn(spec.batch, TOKENS, cross, generator=g)
    return sample, torch.full((spec.batch,), 500, dtype=torch.long), text


def call(model: nn.Module, spec: CaseSpec, args: tuple[torch.Tensor, ...]) -> torch.Tensor:
    if spec.kind == "vae":
        return model(*args)
    sample, t, text = args
    return model(sample, t, encoder_hidden_states=text, return_dict=False)[0]


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return float(line.split()[1]) / 1024
    raise RuntimeError("/proc/meminfo has no MemAvailable")


def parameter_count(spec: CaseSpec) -> int:
    """Parameters of the case's model, counted on the meta device (no memory)."""
    from diffusers import AutoencoderKL, UNet3DConditionModel

    with torch.device("meta"):
        if spec.kind == "vae":
            vae = AutoencoderKL(**vae_config(spec.scale))
            return sum(p.numel() for p in vae.decoder.parameters()) + sum(p.numel() for p in vae.post_quant_conv.parameters())
        unet = UNet3DConditionModel(**unet_config(KEYFRAME_IN if spec.kind == "keyframe" else INTERPOLATION_IN, spec.scale))
        return sum(p.numel() for p in unet.parameters())


def estimate_mb(spec: CaseSpec, parameters: int, measured_per_frame: float | None = None) -> float:
    """Weights (fp32) + interpreter and libraries + activations per frame (x batch). The per-frame activations are
    the largest measured so far in this run for the same kind of model (UNet or VAE) times 1.25, else a deliberate
    overestimate."""
    per_frame = VAE_ACT_MB_PER_FRAME if spec.kind == "vae" else UNET_ACT_MB_PER_FRAME
    if measured_per_frame is not None:
        per_frame = measured_per_frame * 1.25
    if spec.scale == "tiny":
        per_frame = 1.0
    return parameters * 4 / 2**20 + 600.0 + per_frame * spec.frames * spec.batch


def plain_score_mb(spec: CaseSpec) -> float:
    """What one spatial self-attention score matrix at full resolution weighs in fp32 when materialised (the plain
    attention of the exported graphs): [frames x batch x heads, tokens, tokens]."""
    tokens = latent_size(spec.scale) ** 2
    n = 1 if spec.kind == "vae" else heads(spec.scale)
    return spec.frames * spec.batch * n * tokens * tokens * 4 / 2**20


def run_case(spec: CaseSpec) -> CaseResult:
    """Builds, calls once, measures. Call in a fresh process (the peak covers everything the process did)."""
    torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    t0 = time.perf_counter()
    model = build(spec)
    build_seconds = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    args = inputs(spec)
    before_kb = memory.reset_peak_rss_kb()
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = call(model, spec, args)
        seconds = time.perf_counter() - t0
    if not torch.isfinite(out).all():
        raise RuntimeError(f"{spec.name}: the step produced non-finite values")
    peak_kb = memory.peak_rss_since_reset_kb(before_kb)
    return CaseResult(
        spec=spec, status="measured", parameters=params,
        weightMB={"fp32": params * 4 / 2**20, "fp16": params * 2 / 2**20},
        rssBeforeMB=before_kb / 1024, peakMB=memory.process_peak_rss_kb(peak_kb) / 1024,
        stepMB=(peak_kb - before_kb) / 1024, seconds=seconds, buildSeconds=build_seconds, plainScoreMB=plain_score_mb(spec),
    )


def plan(cases: Sequence[str], frames: Sequence[int], threads: int, scale: str, window: int) -> list[CaseSpec]:
    """The cases in the order of `cases`: kf = keyframe UNet (5 frames, batch 2, full attention), interp = the
    interpolation UNet on one 17-frame window, local then full attention, scaling = the interpolation UNet at each of
    `frames`, local then full, vae = the VAE decoder at 1 and 4 frames, onnx = the converter's exported graphs in
    onnxruntime (`real_size_onnx`): the keyframe UNet at batch 1 at each of `frames` and at 5 frames batch 1 and 2
    (one export), then the interpolation UNet on one 17-frame window with local attention. Put the small cases first: each measured case calibrates the memory
    estimate of the next (see `estimate_mb`)."""
    out: list[CaseSpec] = []
    for c in cases:
        if c == "kf":
            out.append(CaseSpec("keyframe UNet, 5 frames, batch 2", "keyframe", 5, 2, 0, threads, scale))
        elif c == "interp":
            for w in (window, 0):
                out.append(CaseSpec(f"interpolation UNet, 17 frames, {'window ' + str(w) if w else 'full attention'}", "interpolation", 17, 1, w, threads, scale))
        elif c == "scaling":
            for f in frames:
                for w in (window, 0):
                    out.append(CaseSpec(f"interpolation UNet, {f} frames, {'window ' + str(w) if w else 'full attention'}", "interpolation", f, 1, w, threads, scale))
        elif c == "vae":
            for f in (1, 4):
                out.append(CaseSpec(f"VAE decoder, {f} frame{'s' if f > 1 else ''}", "vae", f, 1, 0, threads, scale))
        elif c == "onnx":
            for f, b in sorted({(f, 1) for f in frames} | {(5, 1), (5, 2)}, key=lambda fb: (fb[0] * fb[1], fb[1])):
                out.append(CaseSpec(f"ONNX keyframe UNet, {f} frame{'s' if f > 1 else ''}, batch {b}", "keyframe", f, b, 0, threads, scale, runtime="onnx"))
            out.append(CaseSpec(f"ONNX interpolation UNet, 17 frames, window {window}", "interpolation", 17, 1, window, threads, scale, runtime="onnx"))
        else:
            raise ValueError(f"unknown case group {c!r}: expected kf, interp, scaling, vae or onnx")
    return out


def run_all(specs: Sequence[CaseSpec], budget_mb: float, log: Callable[[str], None] = print) -> list[CaseResult]:
    """Each case in a fresh interpreter, one at a time; skipped when its estimate exceeds the budget or what the
    machine has available (less a reserve). onnx cases export into a temporary folder, removed at the end."""
    import shutil
    import tempfile

    results: list[CaseResult] = []
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(specs[0].threads if specs else 2)}
    per_frame: dict[str, float] = {}  # "unet" | "vae" -> largest measured step MB per frame x batch
    onnx_dir: Path | None = None
    exported: dict[Path, dict[str, object]] = {}
    loaded: dict[str, float] = {}  # kind -> measured resident memory of a loaded onnx session
    onnx_steps: list[tuple[int, float]] = []  # measured onnx calls: frames x batch, step MB
    try:
        for spec in specs:
            if spec.runtime == "onnx":
                from . import real_size_onnx

                est = real_size_onnx.estimate_session_mb(spec, parameter_count(spec), onnx_steps, loaded.get(spec.kind))
                avail = available_mb()
                spare = avail - real_size_onnx.SAFETY_MB
                if est > min(budget_mb, spare):
                    why = (f"estimated session peak {est:.0f} MB exceeds the budget {budget_mb:.0f} MB" if est > budget_mb else
                           f"estimated session peak {est:.0f} MB exceeds the memory this machine can spare ({avail:.0f} MB available, less {real_size_onnx.SAFETY_MB:.0f} MB kept)")
                    log(f"{spec.name}: skipped: {why}")
                    results.append(CaseResult(spec=spec, status="skipped", reason=why, estimatedPeakMB=est, availableMB=avail, plainScoreMB=plain_score_mb(spec)))
                    continue
                if onnx_dir is None:
                    onnx_dir = Path(tempfile.mkdtemp(prefix="longshot-real-size-onnx-"))
                res = real_size_onnx.run_onnx_case(spec, onnx_dir, exported, env, log)
                res.estimatedPeakMB = est
                results.append(res)
                if res.stepMB is not None and res.rssBeforeMB is not None:
                    onnx_steps.append((spec.frames * spec.batch, res.stepMB))
                    loaded[spec.kind] = max(loaded.get(spec.kind, 0.0), res.rssBeforeMB)
                continue
            _run_torch_case(spec, budget_mb, env, per_frame, results, log)
    finally:
        if onnx_dir is not None:
            shutil.rmtree(onnx_dir, ignore_errors=True)
    return results


def _run_torch_case(spec: CaseSpec, budget_mb: float, env: dict[str, str], per_frame: dict[str, float], results: list[CaseResult], log: Callable[[str], None]) -> None:
    """One PyTorch eager case in a fresh interpreter (appends its result; calibrates `per_frame`)."""
    family = "vae" if spec.kind == "vae" else "unet"
    params = parameter_count(spec)
    est = estimate_mb(spec, params, per_frame.get(family))
    avail = available_mb()
    limit = min(budget_mb, avail - RESERVE_MB)
    if est > limit:
        why = f"estimated peak {est:.0f} MB exceeds the budget {budget_mb:.0f} MB" if est > budget_mb else f"estimated peak {est:.0f} MB exceeds the memory available ({avail:.0f} MB, less {RESERVE_MB:.0f} MB kept for the machine)"
        log(f"{spec.name}: skipped: {why}")
        results.append(CaseResult(spec=spec, status="skipped", reason=why, parameters=params, estimatedPeakMB=est, availableMB=avail,
                                  weightMB={"fp32": params * 4 / 2**20, "fp16": params * 2 / 2**20}, plainScoreMB=plain_score_mb(spec)))
        return
    log(f"{spec.name}: running (estimate {est:.0f} MB, available {avail:.0f} MB)")
    proc = subprocess.run([sys.executable, "-m", "longshot_models.real_size", "case", json.dumps(asdict(spec))], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        why = f"exited with {proc.returncode}: {proc.stderr.strip()[-800:]}"
        log(f"{spec.name}: failed: {why}")
        results.append(CaseResult(spec=spec, status="failed", reason=why, parameters=params, estimatedPeakMB=est, availableMB=avail))
        return
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    res = CaseResult(**{**r, "spec": spec, "estimatedPeakMB": est, "availableMB": avail})
    log(f"{spec.name}: {res.seconds:.1f} s, peak {res.peakMB:.0f} MB (before the step {res.rssBeforeMB:.0f} MB, step +{res.stepMB:.0f} MB)")
    results.append(res)
    if res.stepMB is not None:
        per_frame[family] = max(per_frame.get(family, 0.0), res.stepMB / (spec.frames * spec.batch))


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["case"]:
        if len(argv) != 2:
            print("usage: python -m longshot_models.real_size case SPEC_JSON (internal)", file=sys.stderr)
            return 2
        res = run_case(CaseSpec(**json.loads(argv[1])))
        d = asdict(res)
        d.pop("spec")
        print(json.dumps(d))
        return 0
    ap = argparse.ArgumentParser(prog="python -m longshot_models.real_size", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="scaling,kf,interp,vae", help="case groups in order: kf, interp, scaling, vae, onnx (default scaling,kf,interp,vae: small cases first; onnx: the exported graphs in onnxruntime)")
    ap.add_argument("--frames", default="5,9", help="frame counts of the scaling group, local and full each (default 5,9; 17 comes from interp)")
    ap.add_argument("--window", type=int, default=5, help="local temporal attention window of the interpolation UNet (default 5)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget-gb", type=float, default=12.0, help="skip a case whose estimated peak exceeds this (default 12)")
    ap.add_argument("--scale", choices=("real", "half", "tiny"), default="real", help="half: half the UNet channels (same heads, latents and attention matrices; calibrates the real size); tiny: a small model, for tests")
    ap.add_argument("--json", type=Path, help="write the results here")
    a = ap.parse_args(argv)
    try:
        frames = [int(x) for x in a.frames.split(",") if x.strip()]
        if any(f < 1 for f in frames):
            raise ValueError
    except ValueError:
        ap.error(f"--frames must be positive integers separated by commas, got {a.frames!r}")
    if a.window < 0:
        ap.error(f"--window must be >= 0 (0 = full attention), got {a.window}")
    if a.threads < 1:
        ap.error(f"--threads must be >= 1, got {a.threads}")
    try:
        specs = plan([c.strip() for c in a.cases.split(",") if c.strip()], frames, a.threads, a.scale, a.window)
    except ValueError as e:
        ap.error(str(e))
    results = run_all(specs, a.budget_gb * 1024, log=lambda s: print(s, file=sys.stderr, flush=True))
    doc = {
        "format": "longshot-real-size/1",
        "torch": torch.__version__,
        **({"onnxruntime": _ort_version()} if any(sp.runtime == "onnx" for sp in specs) else {}),
        "threads": a.threads,
        "window": a.window,
        # Heads of every attention layer of the UNets' blocks (`sd_heads`); files without it were measured with
        # diffusers' split (C / 8 heads of width 8).
        "attentionHeads": heads(a.scale),
        "budgetMB": a.budget_gb * 1024,
        "scale": a.scale,
        "cases": [{**asdict(r), "spec": asdict(r.spec)} for r in results],
    }
    text = json.dumps(doc, indent=2)
    if a.json is not None:
        a.json.write_text(text + "\n")
    else:
        print(text)
    return 0 if all(r.status != "failed" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
