import hashlib
import json
from pathlib import Path

import onnx
import pytest

from longshot_models import export


def test_manifest_lists_every_file_with_its_hash(pack_dir: Path) -> None:
    manifest = json.loads((pack_dir / "pack.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(pack_dir).as_posix() for p in pack_dir.rglob("*") if p.is_file() and p.name != "pack.json"}
    assert listed == on_disk
    for f in manifest["files"]:
        data = (pack_dir / f["path"]).read_bytes()
        assert len(data) == f["bytes"], f["path"]
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    assert sum(f["bytes"] for f in manifest["files"]) <= 50 * 1024 * 1024


def test_graphs_match_their_contract(pack_dir: Path) -> None:
    manifest = json.loads((pack_dir / "pack.json").read_text())
    assert manifest["format"] == "longshot.pack/v1"
    for name, g in manifest["graphs"].items():
        model = onnx.load(str(pack_dir / g["file"]), load_external_data=False)
        assert model.opset_import[0].version >= 17, name
        for side, specs in (("inputs", model.graph.input), ("outputs", model.graph.output)):
            got = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in specs}
            want = {io["name"]: io["shape"] for io in g[side]}
            assert set(got) == set(want), (name, side)
            for io_name, shape in want.items():
                for w, d in zip(shape, got[io_name]):
                    assert isinstance(d, str) if isinstance(w, str) else d == w, (name, io_name, shape, got[io_name])


def test_pack_declares_the_seed_frame_rule(pack_dir: Path) -> None:
    m = json.loads((pack_dir / "pack.json").read_text())
    assert m["video"]["keyframes"] == 5
    for f in m["video"]["frames"]:
        n = f
        while n > 5:
            assert (n - 1) % 4 == 0
            n = (n - 1) // 4 + 1
        assert n == 5
    assert m["latent"]["scalingFactor"] > 0
    assert m["interpolation"]["attentionWindow"] == 5


@pytest.mark.parametrize("frames", [5, 17, 65, 257])
def test_onnx_matches_pytorch(pack_dir: Path, frames: int) -> None:
    worst = export.parity(pack_dir, frames=(frames,))
    for name, err in worst.items():
        assert err <= 1e-4, (name, err)


def test_text_encoder_parity(pack_dir: Path) -> None:
    res = export.text_parity(pack_dir, export_fp32=True)
    assert res["fp32_max_rel"] <= 1e-4, res
    # The shipped graph is quantized (uint8 weights per channel); the UNets were trained on its outputs.
    assert res["quantized_token_cosine_mean"] >= 0.98, res
    assert res["quantized_token_cosine_min"] >= 0.95, res
