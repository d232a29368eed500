"""The real-size benchmark's `onnx` group (`python -m longshot_models.real_size --cases onnx`) at a tiny size: the
graph the converter exports, run in onnxruntime, gives the eager case's output, and the group's cases report the
export and the session apart, each from a process of its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from longshot_models import real_size, real_size_onnx
from longshot_models.real_size import CaseSpec


@pytest.mark.parametrize(
    "spec",
    [
        CaseSpec("kf", "keyframe", 5, 2, 0, threads=1, scale="tiny", seed=3, runtime="onnx"),
        CaseSpec("interp", "interpolation", 17, 1, 5, threads=1, scale="tiny", seed=3, runtime="onnx"),
    ],
    ids=["keyframe-5x2", "interpolation-17-window5"],
)
def test_the_exported_graph_gives_the_eager_output(spec: CaseSpec, tmp_path: Path) -> None:
    # Exported from a trace on EXPORT_FRAMES frames, called on the case's own frame count.
    assert spec.frames != real_size_onnx.EXPORT_FRAMES
    exported = real_size_onnx.export_case(spec, tmp_path)
    assert exported["files"] == {real_size_onnx.graph_path(tmp_path, spec).name: real_size_onnx.graph_path(tmp_path, spec).stat().st_size}
    measured, got = real_size_onnx.session_case(spec, real_size_onnx.graph_path(tmp_path, spec))
    torch.set_num_threads(1)
    with torch.inference_mode():
        want = real_size.call(real_size.build(spec), spec, real_size.inputs(spec)).numpy()
    assert got.shape == want.shape == (spec.batch, 4, spec.frames, 8, 8)
    assert np.abs(want).max() > 0.1  # a real output, not zeros on both sides
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert measured["seconds"] > 0 and measured["peakMB"] >= measured["rssBeforeMB"] > 0


def test_the_graph_does_not_depend_on_the_traced_frames_and_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The export traces on EXPORT_FRAMES x EXPORT_BATCH (small: the trace holds the plain attention's score
    matrices); the pack traces on 5 frames x batch 2. Both must write the same graph, node for node."""
    spec = CaseSpec("interp", "interpolation", 5, 2, 5, threads=1, scale="tiny", seed=3, runtime="onnx")
    graphs = []
    for frames, batch in ((real_size_onnx.EXPORT_FRAMES, real_size_onnx.EXPORT_BATCH), (5, 2)):
        monkeypatch.setattr(real_size_onnx, "EXPORT_FRAMES", frames)
        monkeypatch.setattr(real_size_onnx, "EXPORT_BATCH", batch)
        real_size_onnx.export_case(spec, tmp_path / f"{frames}x{batch}")
        graphs.append(onnx.load(str(real_size_onnx.graph_path(tmp_path / f"{frames}x{batch}", spec))).graph)
    small, pack = graphs
    assert len(small.node) > 100
    assert [n.SerializeToString() for n in small.node] == [n.SerializeToString() for n in pack.node]
    assert [v.SerializeToString() for v in small.input] == [v.SerializeToString() for v in pack.input]


def test_a_different_seed_gives_a_different_output(tmp_path: Path) -> None:
    """The parity above compares like with like: another seed's weights move the output by far more than 1e-4."""
    a = CaseSpec("a", "keyframe", 3, 1, 0, threads=1, scale="tiny", seed=3, runtime="onnx")
    b = CaseSpec("b", "keyframe", 3, 1, 0, threads=1, scale="tiny", seed=4, runtime="onnx")
    real_size_onnx.export_case(b, tmp_path)
    _, got = real_size_onnx.session_case(a, real_size_onnx.graph_path(tmp_path, a))
    with torch.inference_mode():
        want = real_size.call(real_size.build(a), a, real_size.inputs(a)).numpy()
    assert np.abs(got - want).max() > 1e-2


def test_the_onnx_group_reports_export_and_session_apart(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert real_size.main(["--scale", "tiny", "--cases", "onnx", "--frames", "2", "--threads", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert "onnxruntime" in doc
    cases = doc["cases"]
    assert [c["spec"]["name"] for c in cases] == [
        "ONNX keyframe UNet, 2 frames, batch 1",
        "ONNX keyframe UNet, 5 frames, batch 1",
        "ONNX keyframe UNet, 5 frames, batch 2",
        "ONNX interpolation UNet, 17 frames, window 5",
    ]
    for c in cases:
        assert c["status"] == "measured", c
        assert c["spec"]["runtime"] == "onnx"
        assert c["exportSeconds"] > 0 and c["exportPeakMB"] > 0 and c["sessionSeconds"] > 0
        assert c["peakMB"] >= c["rssBeforeMB"] > 0 and c["seconds"] > 0
        ((name, size),) = c["files"].items()  # tiny weights stay inside the graph file
        assert name.endswith(".onnx") and size > 4 * c["parameters"]
    kf2x1, kf1, kf2, interp = cases
    # The keyframe cases run the one exported keyframe graph; the interpolation UNet is a graph of its own.
    assert kf2x1["files"] == kf1["files"] == kf2["files"] and kf1["exportSeconds"] == kf2["exportSeconds"]
    assert list(interp["files"]) == ["interpolationUnet-w5.onnx"]
    assert kf2["plainScoreMB"] == pytest.approx(2 * kf1["plainScoreMB"])


def test_a_session_over_its_address_space_cap_fails_with_the_reason(tmp_path: Path) -> None:
    spec = CaseSpec("kf", "keyframe", 2, 1, 0, threads=1, scale="tiny", runtime="onnx")
    real_size_onnx.export_case(spec, tmp_path)
    proc = real_size_onnx.run_child(["session", json.dumps(spec.__dict__), str(real_size_onnx.graph_path(tmp_path, spec))], {}, 200.0)
    assert proc.returncode != 0
    assert real_size_onnx._failure(proc, 200.0).startswith("out of memory under the address-space cap of 200 MB")


def test_a_call_that_fails_after_loading_keeps_what_was_measured(tmp_path: Path) -> None:
    """A call that fails once the session is loaded (under the cap: an allocation; here: a keyframe graph fed the
    interpolation UNet's inputs) still reports the loaded session and the peak until the failure."""
    kf = CaseSpec("kf", "keyframe", 2, 1, 0, threads=1, scale="tiny", runtime="onnx")
    real_size_onnx.export_case(kf, tmp_path)
    interp = CaseSpec("i", "interpolation", 2, 1, 0, threads=1, scale="tiny", runtime="onnx")
    shutil.copy(real_size_onnx.graph_path(tmp_path, kf), real_size_onnx.graph_path(tmp_path, interp))
    exported = {real_size_onnx.graph_path(tmp_path, interp): {"exportSeconds": 1.0, "exportPeakMB": 1.0, "buildSeconds": 1.0, "files": {}}}
    res = real_size_onnx.run_onnx_case(interp, tmp_path, exported, {}, lambda _: None)
    assert res.status == "failed" and res.reason is not None and res.reason.startswith("session exited with 1")
    assert res.rssBeforeMB is not None and res.peakMB is not None and res.peakMB >= res.rssBeforeMB > 0
    assert res.stepMB is None and res.seconds is None


def test_the_onnx_group_takes_unets_only() -> None:
    with pytest.raises(ValueError, match="exports UNets only"):
        real_size_onnx.export_model(CaseSpec("v", "vae", 1, 1, 0, scale="tiny", runtime="onnx"))


def test_the_session_estimate_follows_the_measured_calls() -> None:
    spec5 = CaseSpec("kf", "keyframe", 5, 1, 0, runtime="onnx")
    params = 1_000_000_000
    # Nothing measured: the weights twice, the runtime, ONNX_ACT_SCORES score matrices, times 1.25 for the call.
    first = real_size_onnx.estimate_session_mb(spec5, params, [], None)
    assert first == pytest.approx(2 * params * 4 / 2**20 + 600 + 1.25 * real_size_onnx.ONNX_ACT_SCORES * real_size.plain_score_mb(spec5))
    # Two sizes measured: 2000 MB at zero plus 1000 MB per frame x batch -> 7000 MB at 5, times 1.25, on the loaded session.
    assert real_size_onnx.estimate_session_mb(spec5, params, [(1, 3000.0), (2, 4000.0)], 4500.0) == pytest.approx(4500 + 1.25 * 7000)
    # One size: through zero and that call (3000 MB per frame x batch).
    assert real_size_onnx.estimate_session_mb(spec5, params, [(1, 3000.0)], 4500.0) == pytest.approx(4500 + 1.25 * 15000)
