"""Exporting one torch module to an ONNX graph that says exactly what its pack.json entry says.

TorchScript exporter at opset 17 (the dynamo exporter fails at run time for batch >= 2 on diffusers' 3-D UNet's
`repeat_interleave`; see docs/model-pack.md). Inputs the module does not read (an interpolation UNet without frame
stride conditioning ignores `frame_stride`) stay in the graph's signature, so every pack has the same contract.
Graphs whose weights exceed `external_threshold` bytes keep their weights in one ONNX external data file next to
the graph (`<graph>.onnx.data`), which the manifest lists and hashes like every other file.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from ..export import sha256_file

OPSET = 17
# The protobuf limit of one ONNX file is 2 GiB; keep a margin for the graph itself.
EXTERNAL_THRESHOLD = 1_900_000_000
_DTYPES = {"float32": onnx.TensorProto.FLOAT, "float16": onnx.TensorProto.FLOAT16, "int64": onnx.TensorProto.INT64, "int32": onnx.TensorProto.INT32}

Contract = dict[str, Any]


def io(name: str, dtype: str, shape: list[int | str]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape}


def dynamic_axes(contract: Contract) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for spec in [*contract["inputs"], *contract["outputs"]]:
        dims = {i: d for i, d in enumerate(spec["shape"]) if isinstance(d, str)}
        if dims:
            axes[spec["name"]] = dims
    return axes


def _weight_bytes(model: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) if t.HasField("raw_data") else t.ByteSize() for t in model.graph.initializer)


def _conform(model: onnx.ModelProto, contract: Contract, path: Path) -> None:
    """Adds contract inputs the exporter dropped (unused), pins fixed sizes and names dynamic axes as the contract
    does, and orders inputs as the contract lists them."""
    inputs = {v.name: v for v in model.graph.input}
    ordered = []
    for spec in contract["inputs"]:
        value = inputs.pop(spec["name"], None)
        if value is None:
            value = onnx.helper.make_tensor_value_info(spec["name"], _DTYPES[spec["dtype"]], spec["shape"])
        ordered.append(value)
    if inputs:
        raise RuntimeError(f"{path.name}: the exported graph has inputs the contract does not name: {sorted(inputs)}")
    del model.graph.input[:]
    model.graph.input.extend(ordered)
    specs = {s["name"]: s for s in [*contract["inputs"], *contract["outputs"]]}
    outs = [o.name for o in model.graph.output]
    if outs != [s["name"] for s in contract["outputs"]]:
        raise RuntimeError(f"{path.name}: outputs {outs}, the contract says {[s['name'] for s in contract['outputs']]}")
    for value in [*model.graph.input, *model.graph.output]:
        spec = specs[value.name]
        if value.type.tensor_type.elem_type != _DTYPES[spec["dtype"]]:
            raise RuntimeError(f"{path.name}: {value.name} has ONNX type {value.type.tensor_type.elem_type}, the contract says {spec['dtype']}")
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(spec["shape"]):
            raise RuntimeError(f"{path.name}: {value.name} has rank {len(dims)}, the contract says {spec['shape']}")
        for dim, want in zip(dims, spec["shape"]):
            if isinstance(want, int):
                dim.ClearField("dim_param")
                dim.dim_value = want
            else:
                dim.ClearField("dim_value")
                dim.dim_param = want


def export_graph(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, contract: Contract, external_threshold: int = EXTERNAL_THRESHOLD) -> list[Path]:
    """Writes `path` (and `path.data` when the weights are over the threshold); returns the files written."""
    module.eval()
    with tempfile.TemporaryDirectory(prefix="longshot-export-") as tmp:
        raw = Path(tmp) / "graph.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # Shape checks in diffusers become constants in the trace; the parity checks cover what matters.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                args,
                str(raw),
                input_names=[i["name"] for i in contract["inputs"]],
                output_names=[o["name"] for o in contract["outputs"]],
                dynamic_axes=dynamic_axes(contract),
                opset_version=OPSET,
                dynamo=False,
            )
        model = onnx.load(str(raw), load_external_data=True)
    _conform(model, contract, path)
    files = [path]
    if _weight_bytes(model) > external_threshold:
        data = path.with_name(path.name + ".data")
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=data.name, size_threshold=1024)
        files.append(data)
    else:
        onnx.save_model(model, str(path))
    onnx.checker.check_model(str(path))
    return files


