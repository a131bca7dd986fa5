"""Small ONNX helpers: load and check, input/output spec, MACs and parameters, CPU inference.

MACs are counted from the graph itself after shape inference at batch 1 (Conv, ConvTranspose,
Gemm, MatMul), so any artifact, whatever its source, gets the same measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._lazy import require
from edgekit.errors import ExportError, SourceError


def load_checked(path: Path, full: bool = True) -> Any:
    """Load an ONNX file and run ``onnx.checker``; bad files raise SourceError naming it."""
    onnx = require("onnx")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError, truncated files, PNGs...
        raise SourceError(f"not a readable ONNX model ({type(e).__name__})",
                          "re-export it, or pass the model spec instead", path=str(path)) from e
    if not model.graph.node:
        raise SourceError("ONNX model has no nodes", "re-export it", path=str(path))
    try:
        onnx.checker.check_model(model, full_check=full)
    except Exception as e:
        msg = str(e).strip().splitlines()[0][:200]
        raise SourceError(f"ONNX checker failed: {msg}", "re-export the model",
                          path=str(path)) from e
    return model


def _dims(value_info: Any) -> list[int | str]:
    return [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
            for d in value_info.type.tensor_type.shape.dim]


def io_spec(model: Any) -> dict[str, list[dict[str, Any]]]:
    """Graph inputs (initializers excluded) and outputs: name, shape (str = dynamic), dtype."""
    onnx = require("onnx")
    inits = {i.name for i in model.graph.initializer}

    def one(v: Any) -> dict[str, Any]:
        et = v.type.tensor_type.elem_type
        return {"name": v.name, "shape": _dims(v),
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(et).name if et else "unknown"}

    return {"inputs": [one(v) for v in model.graph.input if v.name not in inits],
            "outputs": [one(v) for v in model.graph.output]}


def size_symbolic_input(model: Any, name: str, hw: list[Any], size: tuple[int, int] | None, *,
                        nhwc: bool, known: bool, where: str) -> None:
    """A symbolic height/width: a stated --input-size fixes it in the graph (so verification,
    the manifest's input and the MAC count use that size); with no size stated and no recipe
    that knows one, one line names the symbolic dims."""
    if size:
        fix_input_size(model, *size, nhwc=nhwc)
    elif not known:
        require_size(name, hw, where, "state --input-size H,W (the size the model is used at)")


EXPORT_FIRST = "export it at its size first: edgekit export MODEL.onnx --input-size H,W"


def require_size(name: str, hw: Sequence[Any], where: str, fix: str = EXPORT_FIRST) -> None:
    """One line naming an input's symbolic height and/or width, where nothing states them."""
    which = " and ".join(n for n, d in zip(("height", "width"), hw, strict=True)
                         if not (isinstance(d, int) and d > 0))
    if which:
        raise SourceError(f"input {name} has a symbolic {which}", fix, path=where)


def inputs_line(inputs: list[dict[str, Any]], verb: str) -> str:
    """The refusal of a model with several inputs, naming each with its shape."""
    named = ", ".join(f"{i['name']} {i['shape']}" for i in inputs)
    return f"model has {len(inputs)} inputs ({named}); edgekit {verb} single-image-input models"


def fix_input_size(model: Any, height: int, width: int, nhwc: bool = False) -> None:
    """Give the (single) image input a static height and width, in place; a batch that is
    -1 or 0 becomes the symbolic ``batch``."""
    inits = {i.name for i in model.graph.initializer}
    v = next(i for i in model.graph.input if i.name not in inits)
    dims = v.type.tensor_type.shape.dim
    for at, size in zip((1, 2) if nhwc else (2, 3), (height, width), strict=True):
        dims[at].Clear()
        dims[at].dim_value = int(size)
    if not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
        dims[0].Clear()
        dims[0].dim_param = "batch"


def count_params(model: Any) -> int:
    return int(sum(math.prod(i.dims) for i in model.graph.initializer))


def _without_big_weights(model: Any) -> Any:
    """A copy of ``model`` whose large initializers keep their name, type and dims, no data."""
    onnx = require("onnx")
    m = onnx.ModelProto()
    m.ir_version = model.ir_version
    m.opset_import.extend(model.opset_import)
    g = m.graph
    g.name = model.graph.name
    g.node.extend(model.graph.node)
    g.input.extend(model.graph.input)
    g.output.extend(model.graph.output)
    for t in model.graph.initializer:
        if len(t.raw_data) > 4096 or len(t.float_data) > 1024:
            stub = g.initializer.add()
            stub.name, stub.data_type = t.name, t.data_type
            stub.dims.extend(t.dims)
        else:
            g.initializer.append(t)
    return m


def count_macs(model: Any) -> int | None:
    """Multiply-accumulates of one image (batch 1), or None where they cannot be known."""
    return macs(model)[0]


def macs(model: Any) -> tuple[int | None, str | None]:
    """Multiply-accumulates of one image (batch 1) from shape-inferred Conv/Gemm/MatMul, or
    None and why (a symbolic size no stated --input-size fixed; shape inference failed):
    never a figure computed from unknown (-1, 0) dims."""
    onnx = require("onnx")
    m = _without_big_weights(model)  # shapes need dims only; copying 50 MB of weights is slow
    for v in [*m.graph.input, *m.graph.output]:  # batch 1 (-1, 0 and names alike)
        dims = v.type.tensor_type.shape.dim
        if dims and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
            dims[0].Clear()
            dims[0].dim_value = 1
    try:
        m = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception as e:  # MAC counting is informative; never fail an export over it
        return None, f"ONNX shape inference failed ({type(e).__name__})"
    shapes: dict[str, list[int]] = {}
    for v in [*m.graph.value_info, *m.graph.input, *m.graph.output]:
        shapes[v.name] = [int(d) if isinstance(d, int) else 0 for d in _dims(v)]
    for i in m.graph.initializer:
        shapes[i.name] = list(i.dims)
    total = 0
    for n in m.graph.node:
        if n.op_type in ("Conv", "ConvTranspose") and len(n.input) > 1:
            w, out = shapes.get(n.input[1], []), shapes.get(n.output[0], [])
            src = out if n.op_type == "Conv" else shapes.get(n.input[0], [])
            used = (src, w[1:])
        elif n.op_type in ("Gemm", "MatMul"):
            a, out = shapes.get(n.input[0], []), shapes.get(n.output[0], [])
            used = (out, a[-1:])
        else:
            continue
        if not all(used) or min(min(u) for u in used) <= 0:
            return None, (f"the shape at {n.op_type} {n.name or n.output[0]} is not known (a "
                          "symbolic input size: state --input-size H,W)")
        total += math.prod(used[0]) * math.prod(used[1])
    return int(total), None


def ort_session(model: Any, threads: int = 0) -> Any:
    """A CPU ONNX Runtime session from a ModelProto or a path."""
    ort = require("onnxruntime")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    data = model if isinstance(model, str | Path) else model.SerializeToString()
    try:
        return ort.InferenceSession(str(data) if isinstance(data, Path) else data, so,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ExportError(f"ONNX Runtime cannot load the model ({str(e).splitlines()[0][:200]})",
                          "check it with onnx.checker; it may use an operator or opset this "
                          "ONNX Runtime does not support") from e


def ort_run(session: Any, x: np.ndarray) -> np.ndarray:
    return ort_run_all(session, x)[0]


def ort_run_all(session: Any, x: np.ndarray) -> list[np.ndarray]:
    """Every output of a one-input session on ``x`` (in chunks where its batch is fixed
    smaller than ``x``'s)."""
    inp = session.get_inputs()[0]
    step = inp.shape[0] if isinstance(inp.shape[0], int) and 0 < inp.shape[0] < len(x) else len(x)
    runs = [session.run(None, {inp.name: x[i:i + step]}) for i in range(0, len(x), step)]
    return [np.concatenate([np.asarray(r[k]) for r in runs]) for k in range(len(runs[0]))]
