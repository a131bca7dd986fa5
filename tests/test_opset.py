"""Old opsets brought up to what INT8 needs (edgekit.opset): an opset-11 graph quantizes
(ORT's per-channel Q/DQ needs 13), the conversion is verified and recorded, a conversion that
cannot be done is one line naming the op; symbolic input sizes are fixed by --input-size or
named in one line, and a MAC count is never negative."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from support import ppocr, run_cli

from edgekit import graph, opset
from edgekit.errors import ExportError


def _opset11(path: Path, h: Any = "H", w: Any = "W", batch: Any = -1) -> Path:
    """A small classifier as PaddlePaddle exports them: opset 11, batch -1, symbolic H and W,
    BatchNormalization and a Gemm head (per-channel Q/DQ on its weights needs opset 13)."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=(16, 3, 3, 3)).astype(np.float32) * .3, "w"),
             numpy_helper.from_array(rng.uniform(.5, 1.5, 16).astype(np.float32), "g"),
             numpy_helper.from_array(rng.normal(size=16).astype(np.float32) * .1, "b"),
             numpy_helper.from_array(rng.normal(size=16).astype(np.float32) * .1, "m"),
             numpy_helper.from_array(rng.uniform(.5, 1.5, 16).astype(np.float32), "v"),
             numpy_helper.from_array(rng.normal(size=(16, 2)).astype(np.float32), "fc"),
             numpy_helper.from_array(np.zeros(2, np.float32), "fcb")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"])]
    g = helper.make_graph(nodes, "paddle_like",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, h, w])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 2])],
                          inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.save(model, str(path))
    return path


STATED = ["--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]


def test_an_opset_11_model_quantizes_through_a_verified_conversion(tmp_path: Path) -> None:
    src = _opset11(tmp_path / "cls.v2.0.onnx")
    r = run_cli("export", str(src), "--input-size", "48,96", *STATED, "--int8", "--json",
                "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert Path(doc["path"]).name == "cls.v2.0.opt.onnx"  # the stem's dots are kept
    int8 = doc["int8"]["manifest"]
    assert int8["opset_converted"] == "11 -> 13"
    conv = int8["opset_conversion"]
    assert conv["tool"] == "onnx.version_converter" and conv["verification"]["cosine_min"] > .9999
    q = onnx.load(str(tmp_path / doc["int8"]["path"]))
    assert opset.default_opset(q) >= 13 and any(n.op_type == "DequantizeLinear" for n in q.graph.node)
    graph.ort_session(q)  # ORT loads it (it refused the per-channel Q/DQ in an opset-11 graph)
    fp32 = doc["manifest"]
    assert fp32["input"]["shape"] == ["batch", 3, 48, 96] and fp32["model"]["gmacs"] > 0
    assert int8["verification"]["cosine_min"] > 0.9


def test_a_model_at_opset_13_is_not_converted(tmp_path: Path, digits: dict[str, Path]) -> None:
    from edgekit.images import Preprocess

    path, sections = opset.for_int8(digits["digits_cnn_plain"], tmp_path, Preprocess())
    assert path == digits["digits_cnn_plain"] and sections == {}


def test_a_conversion_that_cannot_be_done_names_the_op(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(model: Any, to: int) -> Any:
        raise RuntimeError("No adapter for op GridSample from version 16 to 13")

    monkeypatch.setattr(onnx.version_converter, "convert_version", refuse)
    with pytest.raises(ExportError, match="cannot be converted") as e:
        opset.convert(onnx.load(str(_opset11(tmp_path / "m.onnx"))), 13, "m.onnx")
    line = e.value.line()
    assert "opset 11 cannot be converted to 13 at GridSample" in line and "\n" not in line
    assert "--exporter" not in line and "--opset" not in line


def test_an_unstated_symbolic_size_is_one_line(tmp_path: Path) -> None:
    src = _opset11(tmp_path / "m.onnx")
    r = run_cli("export", str(src), *STATED, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "input x has a symbolic height and width; state --input-size H,W" in r.stderr
    src = _opset11(tmp_path / "w.onnx", h=48)
    r = run_cli("export", str(src), *STATED, cwd=tmp_path)
    assert r.returncode == 2 and "input x has a symbolic width;" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "w.onnx"]


def test_a_mac_count_is_never_negative() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        model = onnx.load(str(_opset11(Path(d) / "m.onnx")))
    n, why = graph.macs(model)
    assert n is None and "state --input-size" in str(why)
    graph.fix_input_size(model, 48, 96)
    n, why = graph.macs(model)
    assert why is None and n == 24 * 48 * 16 * 27 + 16 * 2  # conv at stride 2, then the head
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim
            ] == ["batch", 3, 48, 96]


@pytest.mark.slow
@pytest.mark.parametrize("model", list(ppocr.MODELS))
def test_ppocr_models_export_quantize_profile_and_build(model: str, tmp_path: Path,
                                                         use: Any) -> None:
    """The three real opset-11 PP-OCR models with symbolic inputs: export at their size, INT8
    (through the opset conversion), profile both with a positive MAC count, and the TensorRT
    build of the FP32 ONNX on the fakes with that input shape."""
    from support.trt import V10, build

    name, size, flags, _ = ppocr.MODELS[model]
    r = run_cli("export", str(ppocr.path(name)), "--input-size", size, *flags, "--int8", "--json",
                "--report", "0", "--calib-size", "4", "--quiet",  # (no per-layer pass, 4
                cwd=tmp_path)  # calibration images: seconds; accuracy is the next test's)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    h, w = (int(v) for v in size.split(","))
    assert doc["manifest"]["input"]["shape"] == ["batch", 3, h, w]
    assert doc["int8"]["manifest"]["opset_converted"] == "11 -> 13"
    for man in (doc["manifest"], doc["int8"]["manifest"]):  # each judged by its own task
        ver = man["verification"]
        if model == "cls":  # [N, 2]: a classifier
            assert man["model"]["task"] == "classify" and ver["top1_agreement"] >= 0
        else:  # a probability map, CTC logits over time: tensor, never a top-1
            assert man["model"]["task"] == "tensor" and "top1_agreement" not in ver
            assert ver["metric"] == "sqnr_db" and ver["sqnr_db"] > 0
    for art in (doc["path"], doc["int8"]["path"]):
        r = run_cli("profile", str(tmp_path / art), "--iterations", "3", "--no-store", "--json")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)["results"][0]
        assert res["model"]["gmacs"] > 0 and res["gflops"] > 0 and res["latency"]["p50_ms"] > 0
    use(V10)
    eng = build(tmp_path / doc["path"], output=tmp_path / f"{model}.engine")
    assert eng["input"]["shape"][1:] == [3, h, w]


@pytest.mark.slow
def test_the_direction_classifier_keeps_its_accuracy_in_int8(tmp_path: Path) -> None:
    """PP-OCR's 2-class direction classifier on rendered text lines (scripts/make_text_lines.py:
    upright vs rotated 180 degrees), calibrated on other lines: INT8 within 1 top-1 point."""
    import importlib.util

    from support import ROOT

    spec = importlib.util.spec_from_file_location("lines", ROOT / "scripts" / "make_text_lines.py")
    assert spec is not None and spec.loader is not None
    lines = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lines)
    test, n = lines.write(tmp_path / "lines", per_class=100, seed=0)
    calib, _ = lines.write(tmp_path / "calib", per_class=32, seed=1)
    name, size, flags, _ = ppocr.MODELS["cls"]
    r = run_cli("export", str(ppocr.path(name)), "--input-size", size, *flags, "--int8", "--calib",
                str(calib), "--json", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    top1 = []
    for art in (doc["path"], doc["int8"]["path"]):
        r = run_cli("profile", str(tmp_path / art), "--data", str(test), "--iterations", "2",
                    "--no-store", "--json")
        assert r.returncode == 0, r.stderr
        acc = json.loads(r.stdout)["results"][0]["accuracy"]
        assert acc["images"] == n == 200
        top1.append(acc["top1"])
    assert top1[0] >= 90, top1  # it reads the lines' direction
    assert top1[1] >= top1[0] - 1.0, top1


def test_a_model_with_several_inputs_is_refused_naming_them(tmp_path: Path) -> None:
    from support import tiny_onnx

    two = tiny_onnx.write_two_inputs(tmp_path / "two.onnx")
    for cmd in (["export", str(two), "--input-size", "8"], ["quantize", str(two)]):
        r = run_cli(*cmd, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "model has 2 inputs (image ['n', 3, 8, 8], bias ['n', 3, 8, 8])" in r.stderr
        assert "--input IMAGE_INPUT" in r.stderr


def test_profile_and_quantize_of_an_unsized_foreign_onnx_say_so(tmp_path: Path) -> None:
    """Nothing states the symbolic size of a foreign ONNX: profile and quantize do not guess
    224x224, they name the dims and the export that fixes them."""
    src = _opset11(tmp_path / "m.onnx")
    for cmd in (["profile", str(src), "--no-store", "--iterations", "1"],
                ["quantize", str(src)]):
        r = run_cli(*cmd, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "input x has a symbolic height and width; export it at its size first: " \
               "edgekit export MODEL.onnx --input-size H,W" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_symbolic_opset_11_model_fuses_at_the_stated_non_square_size(tmp_path: Path) -> None:
    src = _opset11(tmp_path / "m.onnx")
    r = run_cli("export", str(src), "--input-size", "48,96", "--fuse-preprocess", *STATED,
                "--int8", "--report", "0", "--json", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for m in (doc["manifest"], doc["int8"]["manifest"]):
        assert m["input"]["shape"] == ["batch", 48, 96, 3] and m["input"]["dtype"] == "uint8"
    assert doc["int8"]["manifest"]["opset_converted"] == "11 -> 13"
