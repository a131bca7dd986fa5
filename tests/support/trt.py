"""Shared by the TensorRT tests: the fake-installing fixture and ONNX copies to build from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from edgekit.trt import cuda_rt, engine
from support.fakes import cudart
from support.fakes import tensorrt as fake_trt

V8, V10_JP6, V10, V11 = "8.6.1.6", "10.3.0.26", "10.13.0.35", "11.4.0.106"


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a fake tensorrt (version and behaviour as asked) and the fake CUDA runtime."""
    cudart.reset()
    monkeypatch.setattr(cuda_rt, "load", lambda: cudart)

    def install(version: str = V10, **kw: Any) -> Any:
        trt = fake_trt.make(version, **kw)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        return trt

    return install


def onnx_copy(digits: dict[str, Path], tmp: Path, name: str = "digits_cnn_plain") -> Path:
    """A copy of an edgekit ONNX with its manifest (dynamic batch, 3x32x32)."""
    src = digits[name]
    dst = tmp / src.name
    dst.write_bytes(src.read_bytes())
    Path(str(dst) + ".json").write_bytes(Path(str(src) + ".json").read_bytes())
    return dst


def onnx_variant(digits: dict[str, Path], tmp: Path, kind: str) -> Path:
    """The digits ONNX as an FP16 (``fp16``: an FP16 initializer), Q/DQ (``qdq``: a
    QuantizeLinear/DequantizeLinear pair on the input) or ``softmax`` (one more, DLA-less,
    layer) model, without a manifest."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(digits["digits_cnn_plain"]))
    g = m.graph
    if kind == "fp16":
        g.initializer.append(numpy_helper.from_array(np.ones(3, np.float16), "half_scale"))
    elif kind == "softmax":  # one layer DLA cannot run (the fake's can_run_on_DLA)
        g.node.append(helper.make_node("Softmax", ["input"], ["input_softmax"]))
    else:
        for node in g.node:
            node.input[:] = ["input_dq" if i == "input" else i for i in node.input]
        g.initializer.extend([numpy_helper.from_array(np.array(0.05, np.float32), "s"),
                              numpy_helper.from_array(np.array(0, np.int8), "z")])
        g.node.insert(0, helper.make_node("DequantizeLinear", ["input_q", "s", "z"],
                                          ["input_dq"]))
        g.node.insert(0, helper.make_node("QuantizeLinear", ["input", "s", "z"], ["input_q"]))
    out = tmp / f"digits.{kind}.onnx"
    onnx.save(m, str(out))
    return out


def build(path: Path, **kw: Any) -> dict[str, Any]:
    return engine.build(path, engine.BuildOptions(**kw))
