"""The `onnx` case group of the real-size benchmark (`python -m longshot_models.real_size --cases onnx`): the graph a
user actually runs, not PyTorch eager.

A case builds the real-size UNet as `real_size.build` does (random weights, the same seed), sets the converter's
export attention on it (`convert.attention.set_export_attention`: plain attention everywhere, the band mask in the
temporal blocks), wraps it in the converter's `KeyframeGraph` / `InterpolationGraph` and exports it through
`convert.onnx_io.export_graph` with the pack contract of `convert.pack` (fp32; weights over the converter's threshold
go to one external data file, as in a converted pack). That is the export phase, one process of its own.

The session phase is a second fresh process that reads the exported file: an onnxruntime `InferenceSession` on the
CPU execution provider (intra-op threads as `--threads`, inter-op 1, memory arena and graph optimisations as ORT's
defaults) and one timed call with the case's inputs. Its peak resident memory is reported apart from the export's
(`peakMB` = session process; `exportPeakMB` = export process). The TypeScript engine runs the same onnxruntime on
the same graph, so this one measurement stands for it too.

Every process of a real-size case runs under an address-space limit (`RLIMIT_AS`, set by the parent right before it
starts: the memory the machine has available less `SAFETY_MB`), so a case that does not fit ends with an allocation
error instead of the kernel's out-of-memory killer, and the result says so.

The export traces the UNet on `EXPORT_FRAMES` frames at batch `EXPORT_BATCH` (1 x 1), where the converter traces on
5 frames at batch 2: frames and batch are dynamic axes of the contract, and both traces write the same graph, node for
node (`tests/test_real_size_onnx.py` checks it). The trace's memory grows with frames x batch (measured at half
scale: 7.85 GB traced on 1 x 2, 13.98 GB on 2 x 2, about 3 GB per frame x batch on 1.3 GB of weights: the plain
attention's score matrices), so the smallest trace is what lets the real-size export run on this machine.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import memory, real_size
from .real_size import CaseResult, CaseSpec

# Frames and batch of the example inputs the export traces with. Any sizes give the same graph (see above).
EXPORT_FRAMES = 1
EXPORT_BATCH = 1
# Memory kept free for the rest of the machine (a training run shares it): the address-space cap of every real-size
# process is what /proc/meminfo says is available, less this, read right before the process starts.
SAFETY_MB = 5120.0

# Plain score matrices per frame x batch assumed live at once before a session has been measured: the call's growth
# was 3.0 of them at half scale (the exported attention materialises zeros of the score's shape, beta times them, the
# scaled scores, their sum and the softmax, not all at once), plus a margin. The address-space cap is what keeps the
# machine safe; this only avoids starting a case that cannot fit.
ONNX_ACT_SCORES = 4.0

GRAPH_NAMES = {"keyframe": "keyframeUnet", "interpolation": "interpolationUnet"}


def contract(spec: CaseSpec) -> dict[str, Any]:
    """The pack contract of the case's graph (convert.pack), at the case's latent size."""
    from .convert.pack import _contracts

    s = real_size.latent_size(spec.scale)
    hidden = real_size.CROSS_DIM if spec.scale != "tiny" else 32
    return _contracts(hidden, real_size.LATENT_CHANNELS, s, s, 3, s * 8, s * 8)[GRAPH_NAMES[spec.kind]]


def export_model(spec: CaseSpec) -> torch.nn.Module:
    """The real-size model as the converter exports it: the same weights as `real_size.build(spec)`, plain spatial
    attention, band-mask temporal attention, wrapped in the converter's graph module."""
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    from .convert.attention import set_export_attention
    from .convert.graphs import InterpolationGraph, KeyframeGraph

    if spec.kind not in GRAPH_NAMES:
        raise ValueError(f"{spec.name}: the onnx group exports UNets only (kind keyframe or interpolation), got {spec.kind!r}")
    unet = real_size.build(spec)
    if set_export_attention(unet, (TransformerTemporalModel,), spec.window, False) == 0:
        raise RuntimeError(f"{spec.name}: the UNet has no temporal attention layers")
    return KeyframeGraph(unet) if spec.kind == "keyframe" else InterpolationGraph(unet)


def feeds(spec: CaseSpec) -> dict[str, np.ndarray]:
    """The case's inputs (`real_size.inputs`, the same values as the eager case) under the contract's names and
    dtypes; the interpolation graph also takes `frame_stride`, which the UNet ignores."""
    sample, t, text = real_size.inputs(spec)
    out = {"sample": sample.numpy(), "timestep": t.to(torch.float32).numpy(), "encoder_hidden_states": text.numpy()}
    if spec.kind == "interpolation":
        out["frame_stride"] = np.full((spec.batch,), 4.0, dtype=np.float32)
    return out


def graph_path(folder: Path, spec: CaseSpec) -> Path:
    return folder / f"{GRAPH_NAMES[spec.kind]}-w{spec.window}.onnx"


def export_case(spec: CaseSpec, folder: Path) -> dict[str, Any]:
    """Export phase (call in a fresh process): builds the model, exports it, frees it. Returns exportSeconds,
    exportPeakMB (the process's peak resident memory), buildSeconds and the files written with their bytes."""
    from .convert.pack import example_inputs
    from .convert.onnx_io import export_graph

    torch.set_num_threads(spec.threads)
    t0 = time.perf_counter()
    module = export_model(spec)
    build_seconds = time.perf_counter() - t0
    c = contract(spec)
    tokens = real_size.TOKENS
    args = tuple(example_inputs(GRAPH_NAMES[spec.kind], c, EXPORT_FRAMES, EXPORT_BATCH, tokens).values())
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    files = export_graph(module, args, graph_path(folder, spec), c)
    seconds = time.perf_counter() - t0
    del module, args
    return {
        "exportSeconds": seconds, "buildSeconds": build_seconds,
        "exportPeakMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "files": {p.name: p.stat().st_size for p in files},
    }


def session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class SessionFailed(RuntimeError):
    """The call failed (an allocation under the address-space cap, typically) after the session loaded: what was
    measured until then."""

    def __init__(self, message: str, measured: dict[str, Any]) -> None:
        super().__init__(message)
        self.measured = measured


def session_case(spec: CaseSpec, path: Path) -> tuple[dict[str, Any], np.ndarray]:
    """Session phase (call in a fresh process): loads the exported graph, calls it once. Returns the measurements
    (rssBeforeMB after loading, peakMB, stepMB, seconds, sessionSeconds) and the output; raises SessionFailed with
    the loaded memory and the peak so far when the call fails."""
    if not path.is_file():
        raise FileNotFoundError(f"{spec.name}: no exported graph at {path}")
    x = feeds(spec)
    t0 = time.perf_counter()
    sess = session(path, spec.threads)
    load_seconds = time.perf_counter() - t0
    before_kb = memory.reset_peak_rss_kb()
    t0 = time.perf_counter()
    try:
        (out,) = sess.run(None, x)
    except Exception as err:
        raise SessionFailed(str(err), {"rssBeforeMB": before_kb / 1024, "peakMB": memory.process_peak_rss_kb(before_kb) / 1024,
                                       "sessionSeconds": load_seconds}) from err
    seconds = time.perf_counter() - t0
    step_peak_kb = memory.peak_rss_since_reset_kb(before_kb)
    if not np.isfinite(out).all():
        raise RuntimeError(f"{spec.name}: the ONNX graph produced non-finite values")
    return {
        "rssBeforeMB": before_kb / 1024, "peakMB": memory.process_peak_rss_kb(step_peak_kb) / 1024,
        "stepMB": (step_peak_kb - before_kb) / 1024, "seconds": seconds, "sessionSeconds": load_seconds,
    }, out


def estimate_session_mb(spec: CaseSpec, parameters: int, measured: list[tuple[int, float]], measured_loaded: float | None) -> float:
    """A session's peak before running it: the loaded session (measured earlier in the run, else the fp32 weights
    twice over plus the runtime) plus the call's growth, times 1.25: on the least-squares line through the calls
    measured so far (`measured`: frames x batch, step MB) when they cover two sizes, through zero and the largest
    per frame x batch with one, else ONNX_ACT_SCORES plain score matrices per frame x batch."""
    loaded = measured_loaded if measured_loaded is not None else 2 * parameters * 4 / 2**20 + 600.0
    n = spec.frames * spec.batch
    sizes = {m for m, _ in measured}
    if len(sizes) >= 2:
        mx = sum(m for m, _ in measured) / len(measured)
        my = sum(y for _, y in measured) / len(measured)
        b = sum((m - mx) * (y - my) for m, y in measured) / sum((m - mx) ** 2 for m, _ in measured)
        step = max(my + b * (n - mx), max(y for _, y in measured))
    elif measured:
        step = max(y / m for m, y in measured) * n
    else:
        step = ONNX_ACT_SCORES * real_size.plain_score_mb(spec)
    return loaded + 1.25 * step


def address_space_cap_mb() -> float:
    """The address-space limit of the next real-size process: available memory now, less SAFETY_MB."""
    return real_size.available_mb() - SAFETY_MB


def _limit(cap_mb: float) -> None:
    b = int(cap_mb * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (b, b))


def run_child(args: list[str], env: dict[str, str], cap_mb: float | None) -> subprocess.CompletedProcess[str]:
    """`python -m longshot_models.real_size_onnx ARGS` in a fresh process, under RLIMIT_AS = cap_mb when given."""
    return subprocess.run(
        [sys.executable, "-m", "longshot_models.real_size_onnx", *args], env=env, capture_output=True, text=True, check=False,
        preexec_fn=(lambda: _limit(cap_mb)) if cap_mb is not None else None,
    )


def _last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(proc.stdout.strip().splitlines()[-1])


_ORT_ALLOC = re.compile(r"running (\w+) node\. Name:'([^']*)'.*Failed to allocate memory for requested buffer of size (\d+)")


def _failure(proc: subprocess.CompletedProcess[str], cap_mb: float | None) -> str:
    """Why a phase's process failed, in one line: out of memory (and under which cap) or the exit code, then the
    error (onnxruntime's allocation errors shortened to the node and the size it asked for)."""
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    last = lines[-1] if lines else "(no error output)"
    signs = ("MemoryError", "bad_alloc", "Failed to allocate", "failed to allocate", "Cannot allocate memory", "failed to map segment", "not enough memory")
    oom = any(sign in proc.stderr for sign in signs)
    m = _ORT_ALLOC.search(proc.stderr)
    if m:
        last = f"onnxruntime could not allocate {int(m.group(3)) / 2**20:.0f} MB for {m.group(1)} {m.group(2)}"
    capped = f" under the address-space cap of {cap_mb:.0f} MB" if cap_mb is not None else ""
    return f"{'out of memory' if oom else 'exited with ' + str(proc.returncode)}{capped}: {last[-400:]}"


def run_onnx_case(spec: CaseSpec, folder: Path, exported: dict[Path, dict[str, Any]], env: dict[str, str], log: Any) -> CaseResult:
    """Export (once per graph: cases of the same graph share it), then the session, each in a fresh process under
    the address-space cap. `exported` remembers what was exported into `folder`."""
    params = real_size.parameter_count(spec)
    base = {"spec": spec, "parameters": params, "weightMB": {"fp32": params * 4 / 2**20, "fp16": params * 2 / 2**20},
            "plainScoreMB": real_size.plain_score_mb(spec)}
    path = graph_path(folder, spec)
    capped = spec.scale != "tiny"
    if path not in exported:
        cap = address_space_cap_mb() if capped else None
        if cap is not None and cap <= 0:
            return CaseResult(**base, status="skipped", reason=f"export: no memory to spare ({real_size.available_mb():.0f} MB available, {SAFETY_MB:.0f} MB kept)")
        log(f"{spec.name}: exporting {path.name}" + (f" (address-space cap {cap:.0f} MB)" if cap else ""))
        proc = run_child(["export", json.dumps(asdict(spec)), str(folder)], env, cap)
        if proc.returncode != 0:
            why = "export " + _failure(proc, cap)
            log(f"{spec.name}: failed: {why}")
            return CaseResult(**base, status="failed", reason=why, availableMB=real_size.available_mb())
        exported[path] = _last_json(proc)
        e = exported[path]
        log(f"{spec.name}: exported in {e['exportSeconds']:.0f} s, peak {e['exportPeakMB']:.0f} MB, files {e['files']}")
    e = exported[path]
    avail = real_size.available_mb()
    cap = avail - SAFETY_MB if capped else None
    log(f"{spec.name}: session" + (f" (address-space cap {cap:.0f} MB)" if cap else ""))
    proc = run_child(["session", json.dumps(asdict(spec)), str(path)], env, cap)
    common = {**base, "availableMB": avail, "exportSeconds": e["exportSeconds"], "exportPeakMB": e["exportPeakMB"],
              "buildSeconds": e["buildSeconds"], "files": e["files"], "addressSpaceCapMB": cap}
    if proc.returncode != 0:
        why = "session " + _failure(proc, cap)
        try:
            partial = _last_json(proc)  # loaded memory and the peak before the failure, when the session loaded
        except (ValueError, IndexError):
            partial = {}
        log(f"{spec.name}: failed: {why}")
        return CaseResult(**common, status="failed", reason=why, **partial)
    r = _last_json(proc)
    res = CaseResult(**common, status="measured", **r)
    log(f"{spec.name}: {res.seconds:.1f} s, session peak {res.peakMB:.0f} MB (loaded {res.rssBeforeMB:.0f} MB, step +{res.stepMB:.0f} MB); export peak {res.exportPeakMB:.0f} MB")
    return res


def main(argv: list[str] | None = None) -> int:
    """Internal: `export SPEC_JSON FOLDER` or `session SPEC_JSON GRAPH` (one phase, one process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 3 or argv[0] not in ("export", "session"):
        print("usage: python -m longshot_models.real_size_onnx export SPEC_JSON FOLDER | session SPEC_JSON GRAPH (internal)", file=sys.stderr)
        return 2
    spec = CaseSpec(**json.loads(argv[1]))
    if argv[0] == "export":
        print(json.dumps(export_case(spec, Path(argv[2]))))
    else:
        try:
            print(json.dumps(session_case(spec, Path(argv[2]))[0]))
        except SessionFailed as err:
            print(str(err), file=sys.stderr)
            print(json.dumps(err.measured))  # the parent keeps what was measured before the failure
            return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    raise SystemExit(main())
