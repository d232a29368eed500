"""The checkpoint converter (longshot_models.convert): every exported graph against its PyTorch original, local
temporal attention, inflation, external data, and the errors for bad input (nothing half-written left behind)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from convert_support import NODE_SCRIPT, engine_built, run_node, validate_with_ts_schema

from longshot_models.convert import ConvertError, Options, check_pack, convert
from longshot_models.convert import pack as pack_mod
from longshot_models.convert.attention import FULL, LocalTemporalAttnProcessor, band_bias, set_export_attention
from longshot_models.convert.graphs import InterpolationGraph, KeyframeGraph, TextEncoderGraph, VaeDecoderGraph
from longshot_models.convert.inflate import inflate_interpolation
from longshot_models.convert.tiny import build

TOLERANCE = 1e-4
WINDOW = 5


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("ckpt") / "tiny-t2v", interpolation=True, seed=3)


@pytest.fixture(scope="module")
def pack(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packs") / "tiny"
    convert(ckpt, out, Options(window=WINDOW, attend_first_frame=True, parity_frames=()))
    return out


def torch_graphs(ckpt: Path, window: int, first: bool) -> dict[str, torch.nn.Module]:
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
    from transformers import CLIPTextModel, CLIPTokenizer

    unet = UNet3DConditionModel.from_pretrained(ckpt / "unet").eval()
    interp = UNet3DConditionModel.from_pretrained(ckpt / "interpolation_unet").eval()
    set_export_attention(unet, (TransformerTemporalModel,), FULL, first)
    set_export_attention(interp, (TransformerTemporalModel,), window, first)
    pad = CLIPTokenizer.from_pretrained(ckpt / "tokenizer").pad_token_id
    return {
        "textEncoder": TextEncoderGraph(CLIPTextModel.from_pretrained(ckpt / "text_encoder").eval(), pad),
        "keyframeUnet": KeyframeGraph(unet),
        "interpolationUnet": InterpolationGraph(interp),
        "vaeDecoder": VaeDecoderGraph(AutoencoderKL.from_pretrained(ckpt / "vae").eval()),
    }


def test_band_mask_semantics() -> None:
    allowed = band_bias(6, 3, False, torch.float32) == 0
    assert allowed.tolist() == [[abs(i - j) <= 1 for j in range(6)] for i in range(6)]
    first = band_bias(6, 3, True, torch.float32) == 0
    assert first.tolist() == [[abs(i - j) <= 1 or j == 0 for j in range(6)] for i in range(6)]
    assert bool((band_bias(6, FULL, False, torch.float32) == 0).all())


def test_full_window_equals_diffusers_attention_and_a_band_does_not(ckpt: Path) -> None:
    from diffusers import UNet3DConditionModel
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    g = torch.Generator().manual_seed(0)
    x, t, ctx = torch.randn(2, 4, 9, 8, 8, generator=g), torch.tensor([900.0, 20.0]), torch.randn(2, 77, 32, generator=g)
    ref = UNet3DConditionModel.from_pretrained(ckpt / "unet").eval()
    with torch.no_grad():
        want = ref(x, t, ctx).sample
        for window, same in ((FULL, True), (17, True), (3, False)):
            m = UNet3DConditionModel.from_pretrained(ckpt / "unet").eval()
            n = set_export_attention(m, (TransformerTemporalModel,), window, False)
            assert n > 0
            err = float((m(x, t, ctx).sample - want).abs().max())
            assert (err <= 1e-5) == same, (window, err)


@pytest.mark.parametrize("graph", ["textEncoder", "keyframeUnet", "interpolationUnet", "vaeDecoder"])
def test_every_graph_matches_pytorch(pack: Path, ckpt: Path, graph: str) -> None:
    manifest = json.loads((pack / "pack.json").read_text())
    module = torch_graphs(ckpt, WINDOW, True)[graph]
    contract = manifest["graphs"][graph]
    frames = (1,) if graph == "textEncoder" else (5, 17, 65)
    for f in frames:
        for batch in (1, 2):
            err, scale = pack_mod.graph_parity(module, pack / contract["file"], graph, contract, f, batch, manifest["text"]["maxTokens"])
            assert err <= TOLERANCE * max(1.0, scale), (graph, f, batch, err)
            assert scale > 0


def test_manifest_passes_both_checks(pack: Path) -> None:
    manifest = check_pack(pack)
    assert manifest["interpolation"]["attentionWindow"] == WINDOW
    assert manifest["interpolation"]["attendFirstFrame"] is True
    assert manifest["latent"]["scalingFactor"] == pytest.approx(0.18215)
    assert manifest["text"]["maxTokens"] == 77
    tokenizer = json.loads((pack / "tokenizer" / "tokenizer.json").read_text())
    assert tokenizer["padding"] is None and tokenizer["truncation"] is None
    if engine_built():
        assert validate_with_ts_schema(pack) == []


def test_a_lying_manifest_is_refused(pack: Path, tmp_path: Path) -> None:
    liar = tmp_path / "liar"
    shutil.copytree(pack, liar)
    manifest = json.loads((liar / "pack.json").read_text())
    manifest["graphs"]["interpolationUnet"]["inputs"][0]["shape"][1] = 8
    (liar / "pack.json").write_text(json.dumps(manifest))
    with pytest.raises(ConvertError, match=r"graphs\.interpolationUnet\.inputs sample: pack.json says shape \['batch', 8"):
        check_pack(liar)
    if engine_built():
        out = run_node([str(NODE_SCRIPT), "--load", str(liar)])
        assert out.startswith("refused") and "sample" in out, out
    (liar / "tokenizer" / "tokenizer.json").write_text("{}")
    with pytest.raises(ConvertError, match="tokenizer/tokenizer.json has 2 bytes"):
        check_pack(liar)


def test_inflated_interpolation_ignores_mask_and_hint(ckpt: Path) -> None:
    from diffusers import UNet3DConditionModel

    unet = UNet3DConditionModel.from_pretrained(ckpt / "unet").eval()
    wide = inflate_interpolation(unet).eval()
    assert wide.config.in_channels == 9 and wide.conv_in.in_channels == 9
    g = torch.Generator().manual_seed(1)
    x, t, ctx = torch.randn(1, 4, 5, 8, 8, generator=g), torch.tensor([500.0]), torch.randn(1, 77, 32, generator=g)
    extra = torch.randn(1, 5, 5, 8, 8, generator=g)
    with torch.no_grad():
        assert torch.allclose(wide(torch.cat([x, extra], 1), t, ctx).sample, unet(x, t, ctx).sample, atol=1e-6)


def test_inflate_with_external_data(ckpt: Path, tmp_path: Path) -> None:
    plain = tmp_path / "no-interp"
    shutil.copytree(ckpt, plain)
    shutil.rmtree(plain / "interpolation_unet")
    index = json.loads((plain / "model_index.json").read_text())
    del index["interpolation_unet"]
    (plain / "model_index.json").write_text(json.dumps(index))
    out = tmp_path / "pack"
    with pytest.raises(ConvertError, match=r"no separately trained interpolation UNet: expected a folder interpolation_unet/.*--inflate-interpolation"):
        convert(plain, out, Options(parity_frames=()))
    assert not out.exists()
    result = convert(plain, out, Options(inflate_interpolation=True, external_threshold=0, parity_frames=(5,)))
    assert result.warnings and "not meaningful until it is fine-tuned" in result.warnings[0]
    assert "not meaningful until it is fine-tuned" in result.manifest["description"]
    listed = {f["path"] for f in result.manifest["files"]}
    for g in result.manifest["graphs"].values():
        assert g["file"] + ".data" in listed, g["file"]
        model = onnx.load(str(out / g["file"]), load_external_data=False)
        assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert max(result.parity.values()) <= TOLERANCE
    check_pack(out)
    if engine_built():
        assert run_node([str(NODE_SCRIPT), "--load", str(out)]).strip() == "loaded"
    data = out / "keyframe_unet.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(ConvertError, match="keyframe_unet.onnx.data sha256"):
        check_pack(out)


def _edit_config(folder: Path, component: str, **changes: object) -> None:
    path = folder / component / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no-vae", r"model_index.json lists no 'vae' component"),
        ("vae-folder", r"component 'vae' is listed in model_index.json but the folder .*vae is missing"),
        ("unet-weights", r"unet: no weights in"),
        ("channels", r"unet/config.json: unexpected in_channels 5; expected 4"),
        ("interp-channels", r"interpolation_unet/config.json: unexpected in_channels 4; expected 9"),
        ("temporal", r"unet/config.json: down_block_types\[0\] 'CrossAttnDownBlockMotion' has temporal layers the exporter does not know"),
        ("unet-class", r"unet/config.json: class 'UNetMotionModel' is not supported"),
        ("cross-dim", r"unet/config.json: cross_attention_dim 64 does not match text_encoder hidden_size 32"),
        ("scheduler", r"scheduler/scheduler_config.json: unknown scheduler class 'NoSuchScheduler'"),
    ],
)
def test_bad_checkpoints_are_refused_naming_the_problem(ckpt: Path, tmp_path: Path, breakage: str, message: str) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(ckpt, bad)
    if breakage == "no-vae":
        index = json.loads((bad / "model_index.json").read_text())
        del index["vae"]
        (bad / "model_index.json").write_text(json.dumps(index))
    elif breakage == "vae-folder":
        shutil.rmtree(bad / "vae")
    elif breakage == "unet-weights":
        (bad / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    elif breakage == "channels":
        _edit_config(bad, "unet", in_channels=5)
    elif breakage == "interp-channels":
        _edit_config(bad, "interpolation_unet", in_channels=4)
    elif breakage == "temporal":
        _edit_config(bad, "unet", down_block_types=["CrossAttnDownBlockMotion", "DownBlock3D"])
    elif breakage == "unet-class":
        _edit_config(bad, "unet", _class_name="UNetMotionModel")
    elif breakage == "cross-dim":
        _edit_config(bad, "unet", cross_attention_dim=64)
    elif breakage == "scheduler":
        (bad / "scheduler" / "scheduler_config.json").write_text(json.dumps({"_class_name": "NoSuchScheduler"}))
    out = tmp_path / "out"
    with pytest.raises(ConvertError, match=message):
        convert(bad, out, Options(parity_frames=()))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad"], "nothing half-written next to the destination"


def test_an_unknown_temporal_module_is_refused(ckpt: Path) -> None:
    from diffusers import UNet3DConditionModel

    class MotionAdapterLayer(torch.nn.Module):
        pass

    unet = UNet3DConditionModel.from_pretrained(ckpt / "unet")
    unet.down_blocks[0].add_module("motion_modules", MotionAdapterLayer())
    with pytest.raises(ConvertError, match=r"unet: temporal layer down_blocks.0.motion_modules \(MotionAdapterLayer\) is not one the exporter knows"):
        pack_mod.check_temporal_layers(unet, "unet")


def test_a_failure_after_export_leaves_nothing_behind(ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(folder: Path) -> dict[str, object]:
        raise ConvertError(f"{folder}: simulated check failure")

    monkeypatch.setattr(pack_mod, "check_pack", broken)
    out = tmp_path / "out"
    with pytest.raises(ConvertError, match="simulated"):
        convert(ckpt, out, Options(parity_frames=()))
    assert list(tmp_path.iterdir()) == []


def test_existing_destination_needs_force(pack: Path, ckpt: Path) -> None:
    with pytest.raises(ConvertError, match="already exists"):
        convert(ckpt, pack, Options())


def test_bad_window_is_refused(ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(ConvertError, match="--window must be an odd number"):
        convert(ckpt, tmp_path / "x", Options(window=4))


def test_fp16_variant(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "fp16"
    result = convert(ckpt, out, Options(fp16=True, parity_frames=(5, 17)))
    unet_errors = [v for k, v in result.parity.items() if not k.startswith("textEncoder")]
    # Within the stated fp16 bound, and not fp32-exact (the weights really are half precision).
    assert max(unet_errors) <= pack_mod.FP16_TOLERANCE
    assert min(unet_errors) > 1e-5
    model = onnx.load(str(out / "keyframe_unet.onnx"))
    types = {t.data_type for t in model.graph.initializer if len(t.dims) > 1}
    assert types == {onnx.TensorProto.FLOAT16}
    assert {v.type.tensor_type.elem_type for v in model.graph.input} == {onnx.TensorProto.FLOAT}
    check_pack(out)
    if engine_built():
        assert run_node([str(NODE_SCRIPT), "--load", str(out)]).strip() == "loaded"


def test_a_vocab_and_merges_tokenizer_folder_is_carried_as_tokenizer_json(tmp_path: Path) -> None:
    """SD 1.x checkpoints ship vocab.json + merges.txt (no tokenizer.json); the pack gets an equivalent tokenizer.json."""
    from tokenizers import Tokenizer
    from transformers import CLIPTokenizer

    from longshot_models.convert.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    model = json.loads(tok.backend_tokenizer.to_str())["model"]
    src = tmp_path / "tokenizer"
    src.mkdir()
    (src / "vocab.json").write_text(json.dumps(model["vocab"]))
    (src / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) if isinstance(m, list) else m for m in model["merges"]) + "\n")
    (src / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}))
    pack_mod._write_tokenizer(CLIPTokenizer.from_pretrained(src), tmp_path / "out", 77)
    carried = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))
    for prompt in ["a red circle moving right", "A Dog, running!!", "zebra café"]:
        assert carried.encode(prompt).ids == tok(prompt).input_ids
    assert json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())["model_max_length"] == 77
