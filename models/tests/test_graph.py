"""graph.FastUNet (the exported UNet graph) computes what unet.UNetPseudo3D computes, in torch and in onnxruntime."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from longshot_models import export, graph, perf, unet


def _trained_like(cfg: unet.UNetConfig, seed: int = 0) -> unet.UNetPseudo3D:
    """Random weights everywhere, including the zero-initialised ones (temporal taps, frame order), as training
    would leave them: an identity temporal conv or a zero bias would hide a wrong tap order or offset sign."""
    torch.manual_seed(seed)
    model = unet.UNetPseudo3D(cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    for name, p in model.named_parameters():
        if "temporal" in name or "prompt_frame.out" in name or "frame_embed" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.2
    return model


CONFIGS = {
    "keyframe": unet.keyframe_config(),
    "interpolation": unet.interpolation_config(),
    "interpolation+first": unet.interpolation_config(attend_first_frame=True),
    "interpolation window 9": unet.interpolation_config(window=9),
}


def _inputs(cfg: unet.UNetConfig, frames: int, batch: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(frames)
    x = torch.randn(batch, cfg.in_channels, frames, 16, 16, generator=g)
    t = torch.tensor([900.0, 20.0][:batch])
    ctx = torch.randn(batch, 32, 384, generator=g)
    if cfg.stride_conditioning:
        return x, t, ctx, torch.tensor([4.0, 0.25][:batch])
    return x, t, ctx


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("frames", [1, 5, 17])
def test_fast_unet_equals_the_module_in_torch(name: str, frames: int) -> None:
    cfg = CONFIGS[name]
    model = _trained_like(cfg)
    args = _inputs(cfg, frames, 2)
    with torch.no_grad():
        want = model(*args)
        for band in (True, False):
            got = graph.FastUNet(model, band=band)(*args)
            assert (got - want).abs().max().item() <= 1e-5, (name, frames, band)


def test_the_stacked_taps_keep_the_tap_order() -> None:
    conv = unet.Pseudo3DConv(3, 2)
    torch.nn.init.normal_(conv.temporal.weight)
    torch.nn.init.normal_(conv.temporal.bias)
    taps, bias = graph.stacked_taps(conv)
    for k in range(3):
        assert torch.equal(taps[2 * k : 2 * (k + 1), :, 0, 0], conv.temporal.weight[:, :, k])
    assert torch.equal(bias, torch.cat([torch.zeros(2), conv.temporal.bias.detach(), torch.zeros(2)]))


def _export_and_run(model: unet.UNetPseudo3D, path: Path, frames: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    name = "interpolationUnet" if model.cfg.stride_conditioning else "keyframeUnet"
    wrapper = export.InterpolationGraph(model) if name == "interpolationUnet" else export.KeyframeGraph(model)
    contract = export.graph_contracts()[name]
    export._export(wrapper, _inputs(model.cfg, 5, 2), path, contract)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    out = []
    for f in frames:
        args = _inputs(model.cfg, f, 2)
        with torch.no_grad():
            want = model(*args).numpy()
        (got,) = sess.run(None, {n: a.numpy() for n, a in zip(names, args)})
        out.append((got, want))
    return out


@pytest.mark.parametrize("name", ["keyframe", "interpolation"])
def test_the_exported_graph_matches_the_module_within_1e_4(name: str, tmp_path: Path) -> None:
    model = _trained_like(CONFIGS[name])
    for got, want in _export_and_run(model, tmp_path / "unet.onnx", (5, 17)):
        assert np.abs(got - want).max() <= 1e-4
    # The graph as onnxruntime runs it, after constant folding (weight transposes are folded away).
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(tmp_path / "unet.onnx"), so, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]
    # fused attention for the spatial and cross attention; the frame layout changes only at the block edges
    # 3 blocks with spatial and cross attention, 2 with cross attention only; the keyframe UNet pools the prompt per frame
    assert ops.count("MultiHeadAttention") == 3 * 2 + 2 * 1 + (1 if name == "keyframe" else 0)
    assert ops.count("Transpose") <= 3 * 3 + 2 * 2 + 2, ops.count("Transpose")  # per block 3 (spatial) or 2, and the graph's input and output


def test_full_attention_graph_is_the_same_weights_with_a_wider_window(tmp_path: Path) -> None:
    model = _trained_like(unet.interpolation_config())
    wide = _trained_like(unet.interpolation_config())
    for block in wide.modules():
        if isinstance(block, unet.TransformerBlock):
            block.window = 1025
    args = _inputs(model.cfg, 17, 1)
    with torch.no_grad():
        local, full = model(*args), wide(*args)
        fused = graph.FastUNet(wide, band=False)(*args)
    assert (fused - full).abs().max().item() <= 1e-5
    assert (local - full).abs().max().item() > 1e-3  # a wider window is a different function of the same weights


def test_flop_count_and_timed_blocks() -> None:
    lin = torch.nn.Linear(8, 4, bias=False)
    assert perf.count_flops(lin, (torch.randn(3, 8),)) == 2 * 3 * 8 * 4
    order: list[str] = []
    times = perf.timed_blocks({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, blocks=2, per_block=2)
    assert order == ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3  # one untimed call opens each block
    assert [len(v) for v in times.values()] == [4, 4]
    with pytest.raises(ValueError, match="blocks"):
        perf.timed_blocks({"a": lambda: None}, blocks=0, per_block=1)


def test_profile_summary_by_op_type(tmp_path: Path) -> None:
    model = _trained_like(replace(unet.interpolation_config(), channels=(16, 32)))
    path = tmp_path / "unet.onnx"
    export._export(export.InterpolationGraph(model), _inputs(model.cfg, 5, 1), path, export.graph_contracts()["interpolationUnet"])
    feeds = {k: v.numpy() for k, v in export.example_inputs("interpolationUnet", frames=5, batch=1).items()}
    summary = perf.profile_graph(path, feeds, perf.SessionSettings(threads=1), runs=2)
    assert "Conv" in summary and "MultiHeadAttention" in summary
    assert abs(sum(v["share"] for v in summary.values()) - 1.0) < 1e-6
    assert list(summary) == sorted(summary, key=lambda op: -summary[op]["ms_per_run"])
