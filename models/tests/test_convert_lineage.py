"""The seed lineage's checkpoint format (make-a-stable-diffusion-video's UNetPseudo3DConditionModel) in the converter:
a tiny mixed folder (diffusers VAE + transformers CLIP + lineage UNets in the lineage's key layout) → pack, the
exported UNets against the PyTorch module, the architecture against SD's 2-D UNet, and the errors for bad input."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from convert_support import NODE_SCRIPT, engine_built, run_node, validate_with_ts_schema
from safetensors.torch import load_file, save_file

from longshot_models.convert import ConvertError, Options, check_pack, convert
from longshot_models.convert import lineage
from longshot_models.convert import pack as pack_mod
from longshot_models.convert.__main__ import main as cli
from longshot_models.convert.graphs import HalfPrecisionGraph, InterpolationGraph, KeyframeGraph
from longshot_models.convert.onnx_io import export_graph
from longshot_models.convert.tiny import LINEAGE_TINY, build_lineage, lineage_config

TOLERANCE = 1e-4
WINDOW = 5
OPTIONS = dict(window=WINDOW, attend_first_frame=True, first_frame_interpolation=True)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lineage(tmp_path_factory.mktemp("lineage") / "tiny-lineage", interpolation=True, seed=4)


@pytest.fixture(scope="module")
def pack(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packs") / "tiny-lineage"
    convert(ckpt, out, Options(parity_frames=(), **OPTIONS))  # type: ignore[arg-type]
    return out


def test_mixed_lineage_folder_becomes_a_valid_pack(pack: Path) -> None:
    manifest = check_pack(pack)
    assert "UNetPseudo3DConditionModel (make-a-stable-diffusion-video)" in manifest["description"]
    assert "first-frame model, its mask channel set to 0" in manifest["description"]
    assert manifest["interpolation"]["attentionWindow"] == WINDOW and manifest["interpolation"]["attendFirstFrame"] is True
    assert manifest["graphs"]["keyframeUnet"]["inputs"][0]["shape"] == ["batch", 4, "frames", 8, 8]
    assert manifest["graphs"]["interpolationUnet"]["inputs"][0]["shape"] == ["batch", 9, "frames", 8, 8]
    if engine_built():
        assert validate_with_ts_schema(pack) == []
        assert run_node([str(NODE_SCRIPT), "--load", str(pack)]).strip() == "loaded"


def _torch_graph(ckpt: Path, graph: str, window: int, first: bool) -> torch.nn.Module:
    if graph == "keyframeUnet":
        unet = lineage.load_unet(ckpt / "unet", "unet")
        lineage.set_temporal_attention(unet, window, first)
        return KeyframeGraph(unet).eval()
    interp = lineage.MaskZeroed(lineage.load_unet(ckpt / "interpolation_unet", "interpolation_unet"), 4)
    lineage.set_temporal_attention(interp, window, first)
    return InterpolationGraph(interp).eval()


@pytest.mark.parametrize("graph", ["keyframeUnet", "interpolationUnet"])
def test_exported_unet_matches_the_pytorch_module(ckpt: Path, pack: Path, graph: str) -> None:
    manifest = json.loads((pack / "pack.json").read_text())
    contract = manifest["graphs"][graph]
    window = pack_mod.FULL if graph == "keyframeUnet" else WINDOW
    module = _torch_graph(ckpt, graph, window, True)
    for frames in (5, 17):
        for batch in (1, 2):
            err, _ = pack_mod.graph_parity(module, pack / contract["file"], graph, contract, frames, batch, tokens=77)
            assert err <= TOLERANCE, (frames, batch, err)
    if graph == "interpolationUnet":
        # The graph really is local attention: the same module with full temporal attention differs at 17 frames.
        full = _torch_graph(ckpt, graph, pack_mod.FULL, False)
        err, _ = pack_mod.graph_parity(full, pack / contract["file"], graph, contract, 17, 1, tokens=77)
        assert err > 1e-3


def _sd_unet_with_lineage_weights(unet: lineage.LineageUNet) -> torch.nn.Module:
    """diffusers' 2-D SD UNet holding the lineage UNet's spatial weights (`x.spatial_conv.w` → `x.w`); the
    lineage's temporal layers have no place in it."""
    from diffusers import UNet2DConditionModel

    sd = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, down_block_types=tuple(LINEAGE_TINY["down_block_types"]),  # type: ignore[arg-type]
        up_block_types=tuple(LINEAGE_TINY["up_block_types"]), block_out_channels=(16, 32), layers_per_block=1,  # type: ignore[arg-type]
        norm_num_groups=4, cross_attention_dim=32, attention_head_dim=2,
    ).eval()
    spatial = {k.replace(".spatial_conv.", "."): v for k, v in unet.state_dict().items() if not any(t in k for t in lineage.TEMPORAL_PARTS)}
    sd.load_state_dict(spatial, strict=True)
    return sd


def test_identity_temporal_layers_make_it_sd_unet_on_identical_frames() -> None:
    torch.manual_seed(0)
    unet = lineage.LineageUNet(lineage.parse_config(lineage_config(4), "tiny")).eval()
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "temporal_conv" not in name:  # the temporal convs keep their identity initialisation
                p.add_(0.05 * torch.randn_like(p))
        for module in unet.modules():  # temporal attention off: its output projection zero (it is residual)
            if isinstance(module, lineage.LineageAttention) and module.temporal:
                module.to_out[0].weight.zero_()
                module.to_out[0].bias.zero_()
    sd = _sd_unet_with_lineage_weights(unet)
    t, text = torch.tensor([700.0, 30.0]), torch.randn(2, 7, 32)
    frame = torch.randn(2, 4, 1, 8, 8)
    with torch.no_grad():
        got = unet(frame.expand(2, 4, 5, 8, 8).contiguous(), t, text)[0]
        want = sd(frame[:, :, 0], t, text).sample
        assert (got - want[:, :, None]).abs().max() <= 1e-5
        # Different frames are not independent: the resnets' GroupNorm takes its statistics over all frames.
        video = torch.randn(2, 4, 5, 8, 8)
        got = unet(video, t, text)[0]
        per_frame = torch.stack([sd(video[:, :, f], t, text).sample for f in range(5)], dim=2)
        assert (got - per_frame).abs().max() > 1e-2


def test_first_frame_model_sees_mask_zero(ckpt: Path) -> None:
    unet = lineage.load_unet(ckpt / "interpolation_unet", "interpolation_unet")
    wrapped = lineage.MaskZeroed(unet, 4)
    x, t, text = torch.randn(1, 9, 5, 8, 8), torch.tensor([400.0]), torch.randn(1, 7, 32)
    ones, zeros = x.clone(), x.clone()
    ones[:, 4], zeros[:, 4] = 1.0, 0.0
    with torch.no_grad():
        assert torch.equal(wrapped(ones, t, text)[0], unet(zeros, t, text)[0])
        assert (unet(ones, t, text)[0] - unet(zeros, t, text)[0]).abs().max() > 1e-3  # the mask channel matters to the UNet


def test_inflated_lineage_unet_ignores_mask_and_hint(ckpt: Path) -> None:
    unet = lineage.load_unet(ckpt / "unet", "unet")
    inflated = lineage.inflate_interpolation(unet)
    assert inflated.config.in_channels == 9
    x, t, text = torch.randn(1, 4, 5, 8, 8), torch.tensor([400.0]), torch.randn(1, 7, 32)
    with torch.no_grad():
        got = inflated(torch.cat([x, torch.randn(1, 5, 5, 8, 8)], dim=1), t, text)[0]
        assert (got - unet(x, t, text)[0]).abs().max() <= 1e-6


@pytest.mark.parametrize("graph", ["keyframeUnet", "interpolationUnet"])
def test_fp16_export_of_the_lineage_unets(ckpt: Path, pack: Path, tmp_path: Path, graph: str) -> None:
    import onnx

    contract = json.loads((pack / "pack.json").read_text())["graphs"][graph]
    module = _torch_graph(ckpt, graph, WINDOW, True)
    half = HalfPrecisionGraph(copy.deepcopy(module), (1,))  # timestep (input 1) stays float32
    args = tuple(pack_mod.example_inputs(graph, contract, 5, 2, 77).values())
    export_graph(half, args, tmp_path / contract["file"], contract)
    initializers = onnx.load(str(tmp_path / contract["file"])).graph.initializer
    assert {t.data_type for t in initializers if len(t.dims) > 1} == {onnx.TensorProto.FLOAT16}
    for frames in (5, 17):
        err, scale = pack_mod.graph_parity(module, tmp_path / contract["file"], graph, contract, frames, 2, tokens=77)
        assert 1e-5 < err <= pack_mod.FP16_TOLERANCE * max(1.0, scale), (frames, err)


def _edit_config(folder: Path, component: str, **changes: object) -> None:
    path = folder / component / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("unexpected-key", r"unet/diffusion_pytorch_model.bin: unexpected key 'down_blocks.0.resnets.0.conv1.extra.weight': not a parameter of a UNetPseudo3DConditionModel"),
        ("missing-key", r"interpolation_unet/diffusion_pytorch_model.safetensors: missing key 'mid_block.attentions.0.transformer_blocks.0.attn_temporal.to_q.weight'"),
        ("shape", r"unet/diffusion_pytorch_model.bin: key 'conv_in.temporal_conv.weight' has shape \(16, 16, 5\); config.json implies \(16, 16, 3\)"),
        ("first-frame-as-keyframe", r"unet/config.json: in_channels 9: this is the lineage's first-frame model .* Put it in interpolation_unet/"),
        ("interp-channels", r"interpolation_unet/config.json: unexpected in_channels 4; expected 9"),
        ("block", r"unet/config.json: down_block_types\[1\] 'DownBlockMotion' is not a block type of UNetPseudo3DConditionModel"),
        ("field", r"unet/config.json: field 'use_linear_projection' is not one of UNetPseudo3DConditionModel's"),
        ("no-flag", r"interpolation_unet/config.json: a 9-channel UNetPseudo3DConditionModel is the seed lineage's first-frame model.*pass --first-frame-interpolation"),
    ],
)
def test_bad_lineage_folders_are_refused_naming_the_problem(ckpt: Path, tmp_path: Path, breakage: str, message: str) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(ckpt, bad)
    opts = Options(parity_frames=(), **OPTIONS)  # type: ignore[arg-type]
    unet_bin = bad / "unet" / "diffusion_pytorch_model.bin"
    if breakage == "unexpected-key":
        state = torch.load(unet_bin, weights_only=True)
        state["down_blocks.0.resnets.0.conv1.extra.weight"] = torch.zeros(1)
        torch.save(state, unet_bin)
    elif breakage == "missing-key":
        path = bad / "interpolation_unet" / "diffusion_pytorch_model.safetensors"
        state = load_file(str(path))
        del state["mid_block.attentions.0.transformer_blocks.0.attn_temporal.to_q.weight"]
        save_file(state, str(path))
    elif breakage == "shape":
        state = torch.load(unet_bin, weights_only=True)
        state["conv_in.temporal_conv.weight"] = torch.zeros(16, 16, 5)
        torch.save(state, unet_bin)
    elif breakage == "first-frame-as-keyframe":
        shutil.rmtree(bad / "unet")
        shutil.copytree(bad / "interpolation_unet", bad / "unet")
    elif breakage == "interp-channels":
        _edit_config(bad, "interpolation_unet", in_channels=4)
    elif breakage == "block":
        _edit_config(bad, "unet", down_block_types=["CrossAttnDownBlock2D", "DownBlockMotion"])
    elif breakage == "field":
        _edit_config(bad, "unet", use_linear_projection=True)
    elif breakage == "no-flag":
        opts.first_frame_interpolation = False
    out = tmp_path / "out"
    with pytest.raises(ConvertError, match=message):
        convert(bad, out, opts)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad"], "nothing half-written next to the destination"


def test_cli_names_the_flag_for_a_first_frame_model(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([str(ckpt), str(tmp_path / "out"), "--parity-frames", ""]) == 2
    assert "pass --first-frame-interpolation" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
