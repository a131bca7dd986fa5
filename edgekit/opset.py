"""A graph below the opset a step needs, brought up to it (onnx.version_converter), verified.

ONNX Runtime's quantizer writes per-channel QuantizeLinear/DequantizeLinear (their ``axis``
attribute), which exist from opset 13: into an opset-11 graph, as PaddlePaddle, older PyTorch
and TensorFlow exports are, they make a graph ORT refuses to load. ``for_int8`` converts such
a parent to opset 13, the lowest that works, checks the converted graph against the original
on real photos with the export tolerance, and says what it did for the manifest
(``opset_converted: "11 -> 13"``). Where the converter cannot, one line names the op.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgekit import graph
from edgekit._lazy import require
from edgekit.errors import ExportError
from edgekit.images import Preprocess, photo_batch
from edgekit.tasks import EXPORT_TOLERANCE, tensor

INT8_OPSET = 13  # per-channel Q/DQ (the axis attribute of QuantizeLinear/DequantizeLinear)


def default_opset(model: Any) -> int:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def convert(model: Any, to: int, where: str) -> Any:
    """``model`` at opset ``to`` (ONNX's version converter), checked; one line naming the op
    the converter stopped at where it cannot."""
    onnx = require("onnx")
    have = default_opset(model)
    try:
        out = onnx.version_converter.convert_version(model, to)
        onnx.checker.check_model(out)
    except Exception as e:
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        op = re.search(r"(?:op|Op|node|Node)[^A-Za-z]+([A-Z][A-Za-z0-9]+)", text)
        raise ExportError(f"opset {have} cannot be converted to {to}"
                          + (f" at {op.group(1)}" if op else "") + f" ({text})",
                          f"re-export the model at opset {to} or later from its framework, or "
                          "quantize with --fp16 instead", path=where) from e
    return out


def for_int8(path: Path, tmp: Path, pp: Preprocess) -> tuple[Path, dict[str, Any]]:
    """The parent to quantize: ``path`` itself at opset >= 13, else its opset-13 conversion
    in ``tmp``, verified against it on the bundled photos; and the manifest's sections."""
    onnx = require("onnx")
    model = onnx.load(str(path))
    have = default_opset(model)
    if have >= INT8_OPSET:
        return path, {}
    converted = convert(model, INT8_OPSET, str(path))
    x = photo_batch(pp, 5)
    cmp = tensor.compare(graph.ort_run_all(graph.ort_session(model), x),  # every output
                         graph.ort_run_all(graph.ort_session(converted), x))
    if not cmp.passes(EXPORT_TOLERANCE):
        raise ExportError(f"the opset {have} -> {INT8_OPSET} conversion changes the outputs: "
                          + cmp.failure(EXPORT_TOLERANCE),
                          f"re-export the model at opset {INT8_OPSET} or later from its framework",
                          path=str(path))
    out = tmp / f"opset{INT8_OPSET}.onnx"
    onnx.save(converted, str(out))
    return out, {"opset_converted": f"{have} -> {INT8_OPSET}",
                 "opset_conversion": {"tool": "onnx.version_converter", "from": have,
                                      "to": INT8_OPSET, "verification": vars(cmp)}}
