"""Where the UNet graphs' time goes: ONNX Runtime against PyTorch eager on the same modules, at equal threads.

`python -m longshot_models.perf [--pack DIR] [--threads 2] [--blocks 3] [--per-block 8] [--profile] [--json FILE]`

For each case (the engine's shapes: keyframe UNet batch 2 at 5 frames, interpolation UNet batch 1 at 17 and 65
frames) it times the pack's ONNX graph in onnxruntime and the same weights in PyTorch eager (`export.torch_modules`,
the modules the graphs were exported from) in alternating blocks, so that both see the same load on a shared
machine: block 1 ORT, block 1 torch, block 2 ORT, ... each block starting with one untimed call. It counts each
call's FLOPs with torch's FlopCounterMode (matmuls and convolutions, 2 per multiply-add) and measures the machine's
fp32 peak in the same run (a 2048² MatMul in torch at the same threads), so that a step's speed reads as GFLOP/s
and as a fraction of that peak. `--profile` adds onnxruntime's own profile (SessionOptions.enable_profiling)
summed by op type: where inside the graph the time goes.

Both runtimes get `threads` intra-op threads. Idle threads that spin (onnxruntime's by default, PyTorch's OpenMP
threads unless OMP_WAIT_POLICY=PASSIVE) slow whatever runs next on the same cores; that is why the calls are timed
in blocks, never interleaved call by call. On a machine shared with other work, compare without spinning on either
side: `OMP_WAIT_POLICY=PASSIVE python -m longshot_models.perf --no-spinning` (what `npm run bench -- torch` runs).

`pipeline` times a whole generation in PyTorch eager (for `npm run bench -- torch`); `scaling` is the
local-vs-full temporal attention study. `--help` of each lists its options.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import memory


@dataclass(frozen=True)
class Case:
    """One UNet call at the engine's shapes."""

    name: str
    graph: str  # pack graph name: keyframeUnet | interpolationUnet
    batch: int
    frames: int


# The calls the engine makes: keyframes with classifier-free guidance (batch 2), interpolation at guidance 1 (batch 1).
CASES: tuple[Case, ...] = (
    Case("keyframe UNet, batch 2, 5 frames", "keyframeUnet", 2, 5),
    Case("interpolation UNet, 17 frames", "interpolationUnet", 1, 17),
    Case("interpolation UNet, 65 frames", "interpolationUnet", 1, 65),
)


@dataclass
class SessionSettings:
    """The onnxruntime SessionOptions a graph is run with."""

    threads: int = 2
    level: str = "all"  # disable | basic | extended | all
    spinning: bool = True
    profile_prefix: str | None = None

    def options(self) -> ort.SessionOptions:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = LEVELS[self.level]
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        if self.profile_prefix is not None:
            so.enable_profiling = True
            so.profile_file_prefix = self.profile_prefix
        return so


LEVELS: dict[str, ort.GraphOptimizationLevel] = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session(path: Path, settings: SessionSettings) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), settings.options(), providers=["CPUExecutionProvider"])


def count_flops(module: nn.Module, args: Sequence[torch.Tensor]) -> int:
    """FLOPs of one forward call as torch's FlopCounterMode counts them (2 per multiply-add of matmuls and convs)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*args)
    return int(counter.get_total_flops())


def matmul_peak(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """The machine's fp32 FLOP/s on an n x n MatMul in torch at `threads` threads (best of `repeats`)."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def timed_blocks(calls: Mapping[str, Callable[[], object]], blocks: int, per_block: int) -> dict[str, list[float]]:
    """Seconds per call of each callable, timed in alternating blocks (one untimed call opens every block)."""
    if blocks < 1 or per_block < 1:
        raise ValueError(f"blocks and per_block must be >= 1, got {blocks} and {per_block}")
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(blocks):
        for name, fn in calls.items():
            fn()
            for _ in range(per_block):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return times


def summarise_profile(path: Path, runs: int) -> dict[str, dict[str, float]]:
    """onnxruntime's profile JSON -> {op type: {ms per run, share, nodes}}, largest first (kernel time only)."""
    events = json.loads(path.read_text())
    by_op: dict[str, float] = {}
    nodes: dict[str, set[str]] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        op = str(e.get("args", {}).get("op_name", "?"))
        by_op[op] = by_op.get(op, 0.0) + float(e["dur"]) / 1000.0
        nodes.setdefault(op, set()).add(str(e["name"]))
    total = sum(by_op.values()) or 1.0
    return {
        op: {"ms_per_run": ms / runs, "share": ms / total, "nodes": float(len(nodes[op]))}
        for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])
    }


def profile_graph(path: Path, feeds: Mapping[str, np.ndarray], settings: SessionSettings, runs: int = 4) -> dict[str, dict[str, float]]:
    """Runs the graph `runs` times (after one warm-up) with onnxruntime's profiler on; returns summarise_profile."""
    with tempfile.TemporaryDirectory() as tmp:
        s = session(path, SessionSettings(settings.threads, settings.level, settings.spinning, str(Path(tmp) / "ort")))
        s.run(None, dict(feeds))  # the first run includes allocations; it is in the profile too, so run it apart
        prof_file = Path(s.end_profiling())
        s = session(path, SessionSettings(settings.threads, settings.level, settings.spinning, str(Path(tmp) / "ort2")))
        s.run(None, dict(feeds))
        for _ in range(runs):
            s.run(None, dict(feeds))
        prof_file = Path(s.end_profiling())
        summary = summarise_profile(prof_file, runs + 1)
    return summary


@dataclass
class CaseResult:
    case: Case
    gflop: float  # of the exported function (graph.FastUNet), the work the step needs
    module_gflop: float  # of the training module's forward (it projects cross-attention keys once per frame)
    torch_ms: float
    ort_ms: float
    ratio: float  # ORT / torch, medians
    ort_gflops: float
    torch_gflops: float
    ort_peak_fraction: float
    max_abs_diff: float
    baseline_ms: float | None = None  # the --baseline pack's graph, timed in the same blocks
    speedup_vs_baseline: float | None = None
    torch_ms_all: list[float] = field(default_factory=list)
    ort_ms_all: list[float] = field(default_factory=list)
    profile: dict[str, dict[str, float]] | None = None


def run_case(
    case: Case,
    module: nn.Module,
    fast_module: nn.Module,
    graph_file: Path,
    settings: SessionSettings,
    peak: float,
    blocks: int,
    per_block: int,
    profile: bool,
    baseline_file: Path | None = None,
) -> CaseResult:
    from . import export

    inputs = export.example_inputs(case.graph, frames=case.frames, batch=case.batch, seed=0)
    args = tuple(inputs.values())
    feeds = {k: v.numpy() for k, v in inputs.items()}
    flops = count_flops(fast_module, args)
    module_flops = count_flops(module, args)
    sess = session(graph_file, settings)
    torch.set_num_threads(settings.threads)

    def torch_call() -> torch.Tensor:
        with torch.no_grad():
            return module(*args)

    def ort_call() -> list[np.ndarray]:
        return sess.run(None, feeds)  # type: ignore[return-value]

    diff = float(np.abs(ort_call()[0] - torch_call().numpy()).max())
    calls: dict[str, Callable[[], object]] = {"ort": ort_call, "torch": torch_call}
    if baseline_file is not None:
        base = session(baseline_file, settings)
        calls["baseline"] = lambda: base.run(None, feeds)
    times = timed_blocks(calls, blocks, per_block)
    ort_s, torch_s = statistics.median(times["ort"]), statistics.median(times["torch"])
    base_s = statistics.median(times["baseline"]) if baseline_file is not None else None
    return CaseResult(
        case=case,
        gflop=flops / 1e9,
        module_gflop=module_flops / 1e9,
        torch_ms=torch_s * 1e3,
        ort_ms=ort_s * 1e3,
        ratio=ort_s / torch_s,
        ort_gflops=flops / ort_s / 1e9,
        torch_gflops=flops / torch_s / 1e9,
        ort_peak_fraction=flops / ort_s / peak,
        max_abs_diff=diff,
        baseline_ms=None if base_s is None else base_s * 1e3,
        speedup_vs_baseline=None if base_s is None else base_s / ort_s,
        torch_ms_all=[round(t * 1e3, 3) for t in times["torch"]],
        ort_ms_all=[round(t * 1e3, 3) for t in times["ort"]],
        profile=profile_graph(graph_file, feeds, settings) if profile else None,
    )


def eager_modules() -> dict[str, tuple[nn.Module, nn.Module]]:
    """Per UNet graph: (the training module's own forward, what a PyTorch user runs; graph.FastUNet on the same
    weights, what the pack's graph computes), both from models/weights."""
    from . import export, train

    kf, it = train.load_unet("keyframe").eval(), train.load_unet("interpolation").eval()
    return {
        "keyframeUnet": (export.KeyframeGraph(kf, fast=False).eval(), export.KeyframeGraph(kf).eval()),
        "interpolationUnet": (export.InterpolationGraph(it, fast=False).eval(), export.InterpolationGraph(it).eval()),
    }


def measure(
    pack: Path,
    cases: Sequence[Case] = CASES,
    settings: SessionSettings | None = None,
    blocks: int = 3,
    per_block: int = 8,
    profile: bool = False,
    baseline: Path | None = None,
) -> dict[str, object]:
    """Every case of `cases` on the pack's graphs and on the torch modules of models/weights; see the module doc."""
    from . import export

    settings = settings or SessionSettings()
    modules = eager_modules()
    contracts = export.graph_contracts()
    peak_before = matmul_peak(settings.threads)
    results = [
        run_case(c, modules[c.graph][0], modules[c.graph][1], pack / str(contracts[c.graph]["file"]), settings, peak_before, blocks, per_block, profile,
                 None if baseline is None else baseline / str(contracts[c.graph]["file"]))
        for c in cases
    ]
    peak_after = matmul_peak(settings.threads)
    return {
        "pack": str(pack),
        "baseline": None if baseline is None else str(baseline),
        "threads": settings.threads,
        "session": {"level": settings.level, "spinning": settings.spinning},
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "peak_gflops": {"before": peak_before / 1e9, "after": peak_after / 1e9},
        "load_average": list(os.getloadavg()),
        "cases": [asdict(r) for r in results],
    }


def format_report(report: Mapping[str, object]) -> str:
    peak = report["peak_gflops"]  # type: ignore[index]
    lines = [
        f"pack {report['pack']}, {report['threads']} threads, session {report['session']}, onnxruntime {report['onnxruntime']}, torch {report['torch']}",
        f"fp32 peak (2048² MatMul): {peak['before']:.1f} GFLOP/s before, {peak['after']:.1f} after; load average {report['load_average']}",  # type: ignore[index]
        "",
        "| case | GFLOP (module) | PyTorch eager ms | ONNX Runtime ms | ORT / PyTorch | ORT GFLOP/s | ORT % of peak | max abs diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["cases"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {r['case']['name']} | {r['gflop']:.2f} ({r['module_gflop']:.2f}) | {r['torch_ms']:.1f} | {r['ort_ms']:.1f} | {r['ratio']:.2f} | "
            f"{r['ort_gflops']:.1f} | {100 * r['ort_peak_fraction']:.1f} % | {r['max_abs_diff']:.1e} |"
        )
    if report.get("baseline"):
        lines += ["", f"against the baseline pack {report['baseline']} (same blocks):", "| case | baseline ORT ms | ORT ms | speedup |", "|---|---|---|---|"]
        for r in report["cases"]:  # type: ignore[attr-defined]
            lines.append(f"| {r['case']['name']} | {r['baseline_ms']:.1f} | {r['ort_ms']:.1f} | {r['speedup_vs_baseline']:.2f} |")
    for r in report["cases"]:  # type: ignore[attr-defined]
        if r.get("profile"):
            lines += ["", f"onnxruntime profile, {r['case']['name']} (kernel ms per run by op type):"]
            for op, v in list(r["profile"].items())[:12]:
                lines.append(f"  {op:<28} {v['ms_per_run']:8.2f} ms  {100 * v['share']:5.1f} %  ({int(v['nodes'])} nodes)")
    return "\n".join(lines)


class _TorchSession:
    """An onnxruntime session look-alike over a torch module (run(None, feeds) -> [output]) that records how long
    each call took: what reference.ReferencePipeline needs to run PyTorch eager instead of ONNX Runtime."""

    def __init__(self, module: nn.Module, inputs: Sequence[str]) -> None:
        self.module = module.eval()
        self.inputs = list(inputs)
        self.calls: list[float] = []

    def run(self, _outputs: object, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.inputs]
        t = time.perf_counter()
        with torch.no_grad():
            out = self.module(*args).numpy()
        self.calls.append(time.perf_counter() - t)
        return [out]


def eager_pipeline(pack: Path, threads: int) -> object:
    """reference.ReferencePipeline (the same sampler, conditioning and stages as the TypeScript engine) with every
    graph replaced by its PyTorch eager module: the fp32 text encoder (text.TextEncoderGraph), the UNets' training
    modules (unet.py's forward) and the VAE decoder, all from models/weights. What a PyTorch user would run."""
    from tokenizers import Tokenizer

    from . import reference, text, train, vae

    torch.set_num_threads(threads)
    pipe = reference.ReferencePipeline.__new__(reference.ReferencePipeline)
    pipe.pack = pack
    pipe.manifest = json.loads((pack / "pack.json").read_text())
    modules = eager_modules()
    vae_model, _ = train.load_vae()
    pipe.text = _TorchSession(text.TextEncoderGraph(), ["input_ids", "attention_mask"])
    pipe.kf = _TorchSession(modules["keyframeUnet"][0], ["sample", "timestep", "encoder_hidden_states"])
    pipe.interp = _TorchSession(modules["interpolationUnet"][0], ["sample", "timestep", "encoder_hidden_states", "frame_stride"])
    pipe.dec = _TorchSession(vae.VaeDecoderGraph(vae_model), ["latent"])
    pipe.scale = float(pipe.manifest["latent"]["scalingFactor"])
    pipe.sched = reference.Ddim(pipe.manifest["scheduler"])
    pipe.tok = Tokenizer.from_file(str(pack / pipe.manifest["text"]["tokenizer"]))
    pipe.tok.enable_truncation(pipe.manifest["text"]["maxTokens"])
    pipe.tok.enable_padding(length=pipe.manifest["text"]["maxTokens"], pad_id=0, pad_token="[PAD]")
    return pipe


def run_pipeline(pack: Path, prompt: str, seed: int, frames: int, threads: int, noise_file: Path | None = None, steps: int | None = None) -> dict[str, object]:
    """One text-to-video generation in PyTorch eager with the pack's defaults (reference.Settings.pack_defaults),
    timed per stage and per UNet call, with each stage's FLOPs per UNet call and the machine's fp32 peak measured
    in the same process. The initial noise is reference.make_noise(seed); `noise_file` receives it (safetensors,
    streams keyframes, interp1, ...) so that another pipeline can start from the same noise."""
    from safetensors.numpy import save_file

    from . import reference

    pipe = eager_pipeline(pack, threads)
    overrides: dict[str, object] = {"frames": frames}
    if steps is not None:
        overrides.update(keyframe_steps=steps, interp_steps=steps)
    st = reference.Settings.pack_defaults(pipe.manifest, **overrides)  # type: ignore[attr-defined]
    noise = reference.make_noise(pipe.noise_shapes(frames), seed)  # type: ignore[attr-defined]
    if noise_file is not None:
        save_file({k: np.ascontiguousarray(v) for k, v in noise.items()}, str(noise_file))
    peak = matmul_peak(threads, repeats=10)  # best of 10 before and 10 after: other work on the machine only lowers it
    seconds: dict[str, float] = {}
    step_ms: dict[str, list[float]] = {}
    flops: dict[str, int] = {}
    fast = {k: v[1] for k, v in eager_modules().items()}
    t0 = time.perf_counter()
    t = time.perf_counter()
    ctx = pipe.encode_prompt(prompt)  # type: ignore[attr-defined]
    seconds["encode"] = time.perf_counter() - t
    t = time.perf_counter()
    lat = pipe.keyframes(ctx, noise["keyframes"], st)  # type: ignore[attr-defined]
    seconds["keyframes"] = time.perf_counter() - t
    step_ms["keyframes"] = [c * 1e3 for c in pipe.kf.calls]  # type: ignore[attr-defined]
    kf_batch = 1 if st.keyframe_guidance == 1.0 else 2
    flops["keyframes"] = count_flops(fast["keyframeUnet"], _shape_inputs("keyframeUnet", kf_batch, lat.shape[2]))
    level = 1
    strides = pipe.manifest["interpolation"]["strides"]  # type: ignore[attr-defined]
    while lat.shape[2] < st.frames:
        fout = (lat.shape[2] - 1) * 4 + 1
        pipe.interp.calls.clear()  # type: ignore[attr-defined]
        t = time.perf_counter()
        lat = pipe.interpolate(ctx, lat, noise[f"interp{level}"], float(strides[str(fout)]), st)  # type: ignore[attr-defined]
        seconds[f"interp{level}"] = time.perf_counter() - t
        step_ms[f"interp{level}"] = [c * 1e3 for c in pipe.interp.calls]  # type: ignore[attr-defined]
        batch = 1 if st.interp_guidance == 1.0 else 2
        flops[f"interp{level}"] = count_flops(fast["interpolationUnet"], _shape_inputs("interpolationUnet", batch, fout))
        level += 1
    t = time.perf_counter()
    pipe.decode(lat)  # type: ignore[attr-defined]
    seconds["decode"] = time.perf_counter() - t
    seconds["total"] = sum(seconds.values())  # the stages only: FLOP counting ran between them, untimed
    peak = max(peak, matmul_peak(threads, repeats=10))
    return {
        "runtime": "pytorch-eager",
        "torch": torch.__version__,
        "threads": threads,
        "pack": str(pack),
        "prompt": prompt,
        "seed": seed,
        "frames": frames,
        "settings": dict(st.__dict__),
        "peakGflops": peak / 1e9,
        "seconds": seconds,
        "stepMs": step_ms,
        "flopsPerCall": flops,
        "wallSeconds": time.perf_counter() - t0,
    }


def scaling_case(graph_file: Path, frames: int, threads: int, runs: int) -> dict[str, float]:
    """One interpolation-UNet call (batch 1) at `frames` frames: median seconds over `runs` calls after a warm-up,
    and the process's peak resident memory during those calls above what it held before them (Linux: VmHWM is
    reset through /proc/self/clear_refs). Run it in a fresh process per case (`scaling` does)."""
    from . import export

    feeds = {k: v.numpy() for k, v in export.example_inputs("interpolationUnet", frames=frames, batch=1).items()}
    sess = session(graph_file, SessionSettings(threads, "all", False))
    sess.run(None, feeds)
    base = memory.reset_peak_rss_kb()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t)
    peak = memory.peak_rss_since_reset_kb(base)
    return {"frames": frames, "seconds": statistics.median(times), "baseMB": base / 1024, "peakMB": peak / 1024, "runMB": (peak - base) / 1024}


def scaling(pack: Path, frames: Sequence[int] = (17, 65, 257), threads: int = 2, runs: int = 3) -> dict[str, object]:
    """The scaling study: the interpolation UNet at each frame count with its local temporal attention (the
    pack's graph) and with full temporal attention (the same weights exported with a window covering every frame,
    export.export_interpolation_graph), each case in a fresh process, local and full alternating."""
    import subprocess
    import sys

    from . import export

    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "interpolation_unet_full.onnx"
        export.export_interpolation_graph(full, window=2 * max(frames) + 1)
        graphs = {"local": pack / str(export.graph_contracts()["interpolationUnet"]["file"]), "full": full}
        rows: dict[str, list[dict[str, float]]] = {"local": [], "full": []}
        for f in frames:
            for name, g in graphs.items():
                cmd = [sys.executable, "-m", "longshot_models.perf", "scaling-case", str(g), str(f), str(threads), str(runs)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
                rows[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"threads": threads, "runs": runs, "window": 5, "local": rows["local"], "full": rows["full"]}


def _shape_inputs(graph: str, batch: int, frames: int) -> tuple[torch.Tensor, ...]:
    from . import export

    return tuple(export.example_inputs(graph, frames=frames, batch=batch).values())


def pipeline_main(argv: list[str]) -> None:
    from . import export

    ap = argparse.ArgumentParser(prog="python -m longshot_models.perf pipeline", description=run_pipeline.__doc__)
    ap.add_argument("--pack", type=Path, default=export.DEFAULT_OUT)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--frames", type=int, default=65)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--noise-out", type=Path)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.frames not in (5, 17, 65, 257):
        ap.error(f"--frames must be 5, 17, 65 or 257, got {args.frames}")
    rec = run_pipeline(args.pack, args.prompt, args.seed, args.frames, args.threads, args.noise_out, args.steps)
    args.json.write_text(json.dumps(rec, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    from . import export

    argv = list(argv if argv is not None else __import__("sys").argv[1:])
    if argv[:1] == ["pipeline"]:
        pipeline_main(argv[1:])
        return
    if argv[:1] == ["scaling-case"]:
        graph_file, frames, threads, runs = argv[1:5]
        print(json.dumps(scaling_case(Path(graph_file), int(frames), int(threads), int(runs))))
        return
    if argv[:1] == ["scaling"]:
        sp = argparse.ArgumentParser(prog="python -m longshot_models.perf scaling", description=scaling.__doc__)
        sp.add_argument("--pack", type=Path, default=export.DEFAULT_OUT)
        sp.add_argument("--frames", default="17,65,257")
        sp.add_argument("--threads", type=int, default=2)
        sp.add_argument("--runs", type=int, default=3)
        sp.add_argument("--json", type=Path)
        a = sp.parse_args(argv[1:])
        res = scaling(a.pack, [int(x) for x in a.frames.split(",")], a.threads, a.runs)
        for name in ("local", "full"):
            for r in res[name]:  # type: ignore[attr-defined]
                print(f"{name:5s} {r['frames']:4d} frames: {r['seconds'] * 1e3:8.1f} ms ({r['seconds'] * 1e3 / r['frames']:.2f} ms/frame), +{r['runMB']:.0f} MB ({r['runMB'] / r['frames']:.2f} MB/frame)")
        if a.json:
            a.json.write_text(json.dumps(res, indent=2) + "\n")
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", type=Path, default=export.DEFAULT_OUT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--per-block", type=int, default=8)
    ap.add_argument("--level", choices=list(LEVELS), default="all")
    ap.add_argument("--no-spinning", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--baseline", type=Path, help="another pack whose UNet graphs are timed in the same blocks (e.g. the previous export)")
    ap.add_argument("--cases", default="", help="comma-separated case indices (default all): 0 keyframe, 1 interp 17, 2 interp 65")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    cases = [CASES[int(i)] for i in args.cases.split(",")] if args.cases else list(CASES)
    settings = SessionSettings(args.threads, args.level, not args.no_spinning)
    report = measure(args.pack, cases, settings, args.blocks, args.per_block, args.profile, args.baseline)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
