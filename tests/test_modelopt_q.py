"""NVIDIA ModelOpt as the INT8 quantizer for --target tensorrt: accuracy on the trained digits
CNN, TensorRT's Q/DQ placement on a residual block, the manifest facts, and the choice of
quantizer (``modelopt`` is in the dev extra, so these run in CI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnx
import pytest

from edgekit import qdq
from edgekit.errors import BackendUnavailable, ConfigError, EdgekitError
from edgekit.quantize import Method, QuantizerKind, QuantOptions, Target, choose_quantizer, quantize

FIX = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def residual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgekit.export import ExportOptions, export

    out = tmp_path_factory.mktemp("residual") / "residual.onnx"
    return export(f"{FIX / 'residual_model.py'}:residual_toy", ExportOptions(output=out)).path


def _q(model: Path, tmp: Path, **kw: Any) -> tuple[dict[str, Any], onnx.ModelProto]:
    kw.setdefault("target", Target.TENSORRT)
    out = tmp / f"q{len(list(tmp.iterdir()))}.int8.onnx"
    m = quantize(model, QuantOptions(output=out, **kw)).manifest.to_dict()
    return m, onnx.load(str(out))


@pytest.mark.slow
def test_modelopt_int8_keeps_digits_accuracy_and_records_what_made_it(
        digits: dict[str, Path], tmp_path: Path) -> None:
    m, model = _q(digits["digits_cnn_plain"], tmp_path, calib=digits["train"], calib_size=128,
                  val=digits["test"], quantizer=QuantizerKind.MODELOPT, report=3)
    assert m["verification"]["top1_drop"] <= 2.0, m["verification"]
    q = m["quantization"]
    assert q["quantizer"] == "modelopt" and q["quantizer_version"].startswith("0.47")
    assert q["onnxruntime_version"] and q["calibration_eps"] == ["cpu"]
    assert (q["method"], q["modelopt_method"], q["fp16_rest"]) == ("minmax", "max", True)
    assert q["qdq"]["activation_qdq_pairs"] >= 3 and q["qdq"]["logits_float"]
    assert m["layer_report"] and m["layer_report"][0]["sqnr_db"] < 100  # the same per-layer pass
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)


def test_residual_add_is_quantized_on_the_skip_input_only(residual: Path, tmp_path: Path) -> None:
    m, model = _q(residual, tmp_path, calib_size=8, quantizer=QuantizerKind.MODELOPT, report=0)
    producer = {o: n for n in model.graph.node for o in n.output}
    add = next(n for n in model.graph.node if n.op_type == "Add")
    srcs = {}
    for i in add.input:
        p = _through_casts(producer, i)
        if p.op_type == "DequantizeLinear":  # DQ <- Q <- the tensor that was quantized
            srcs["quantized"] = _through_casts(producer, producer[p.input[0]].input[0])
        else:
            srcs["float"] = p
    assert srcs["float"].op_type == "Conv"  # the branch TensorRT fuses the Add into
    assert srcs["quantized"].op_type == "Relu" and srcs["quantized"].name.startswith("/stem/")
    assert m["quantization"]["qdq"]["adds"] == {"0": 0, "1": 1, "2": 0}
    assert not any(n.op_type == "Relu" and n.input[0] in producer
                   and producer[n.input[0]].op_type == "DequantizeLinear"
                   for n in model.graph.node)  # no Q/DQ around Relu


def _through_casts(producer: dict[str, Any], t: str) -> Any:
    n = producer[t]
    while n.op_type == "Cast":
        n = producer[n.input[0]]
    return n


def test_the_logits_stay_float_with_modelopt_and_not_with_ort(residual: Path,
                                                             tmp_path: Path) -> None:
    mo, model = _q(residual, tmp_path, calib_size=8, quantizer=QuantizerKind.MODELOPT, report=0)
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert mo["quantization"]["qdq"]["logits_float"]
    ort, _ = _q(residual, tmp_path, calib_size=8, quantizer=QuantizerKind.ORT, report=0)
    s = ort["quantization"]["qdq"]  # the summary over ORT's graph: both Add inputs, logits Q/DQ
    assert s["adds"]["2"] == 1 and not s["logits_float"]
    assert s["activation_qdq_pairs"] > mo["quantization"]["qdq"]["activation_qdq_pairs"]
    assert ort["quantization"]["quantizer"] == "ort" and ort["quantization"]["fp16_rest"] is False


def test_exclude_names_nodes_and_fp32_rest(residual: Path, tmp_path: Path) -> None:
    conv = "/conv1/conv1.0/conv1.0.0/Conv"
    m, model = _q(residual, tmp_path, calib_size=8, quantizer=QuantizerKind.MODELOPT, report=0,
                  exclude=(conv,), fp16_rest=False, method=Method.ENTROPY)
    q = m["quantization"]
    assert q["exclude"] == [conv] and q["qdq"]["quantized_inputs_by_op"]["Conv"] == 2
    assert (q["fp16_rest"], q["high_precision_dtype"], q["modelopt_method"]) == (
        False, "fp32", "entropy")
    assert not any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)


@pytest.mark.slow
def test_accuracy_aware_fallback_runs_through_modelopt(digits: dict[str, Path],
                                                       tmp_path: Path) -> None:
    out = tmp_path / "d.int8.onnx"
    with pytest.raises(EdgekitError, match="could not meet --max-accuracy-drop"):
        quantize(digits["digits_cnn"], QuantOptions(
            output=out, calib=digits["train"], calib_size=32, val=digits["test"],
            target=Target.TENSORRT, quantizer=QuantizerKind.MODELOPT, max_accuracy_drop=-1.0))
    doc = json.loads(Path(str(tmp_path / "d.int8.best.onnx") + ".json").read_text())
    aa = doc["accuracy_aware"]
    assert len(aa["steps"]) >= 2 and aa["fp32_nodes"]
    assert doc["quantization"]["quantizer"] == "modelopt"


def test_modelopt_leaves_onnxruntimes_quantizer_as_it_was(residual: Path, tmp_path: Path) -> None:
    """ModelOpt patches ORT's quantization package while it runs; edgekit puts it back, so the
    ORT quantizer gives the same bytes before and after a ModelOpt run in one process."""
    from onnxruntime.quantization import calibrate, registry

    before = (dict(registry.QDQRegistry), calibrate.CalibraterBase.select_tensors_to_calibrate)
    a, _ = _q(residual, tmp_path, calib_size=8, quantizer=QuantizerKind.ORT, report=0)
    _q(residual, tmp_path, calib_size=8, quantizer=QuantizerKind.MODELOPT, report=0)
    b, _ = _q(residual, tmp_path, calib_size=8, quantizer=QuantizerKind.ORT, report=0)
    assert (dict(registry.QDQRegistry), calibrate.CalibraterBase.select_tensors_to_calibrate) \
        == before
    assert a["artifact"]["sha256"] == b["artifact"]["sha256"]


def test_the_choice_of_quantizer(monkeypatch: pytest.MonkeyPatch) -> None:
    def opts(**kw: Any) -> QuantOptions:
        return QuantOptions(**kw)

    assert choose_quantizer(opts(target=Target.TENSORRT))[:2] == (QuantizerKind.MODELOPT, True)
    assert choose_quantizer(opts())[:2] == (QuantizerKind.ORT, False)  # cpu: always ORT
    assert choose_quantizer(opts(target=Target.TENSORRT, quantizer=QuantizerKind.ORT))[0] is \
        QuantizerKind.ORT
    with pytest.raises(ConfigError, match="--quantizer modelopt --target cpu: ModelOpt places "
                                          "Q/DQ for TensorRT"):
        choose_quantizer(opts(quantizer=QuantizerKind.MODELOPT))
    with pytest.raises(ConfigError, match="--fp16-rest needs the ModelOpt quantizer"):
        choose_quantizer(opts(target=Target.TENSORRT, quantizer=QuantizerKind.ORT,
                              fp16_rest=True))
    with pytest.raises(ConfigError, match="percentile: ModelOpt calibrates with minmax"):
        choose_quantizer(opts(target=Target.TENSORRT, method=Method.PERCENTILE))
    monkeypatch.setitem(sys.modules, "modelopt", None)  # as if the extra were not installed
    kind, fp16, note = choose_quantizer(opts(target=Target.TENSORRT))
    assert (kind, fp16) == (QuantizerKind.ORT, False)
    assert note and "ONNX Runtime's quantizer" in note and "edgekit[modelopt]" in note
    with pytest.raises(BackendUnavailable, match=r"needs the modelopt extra \(modelopt is not"):
        choose_quantizer(opts(target=Target.TENSORRT, quantizer=QuantizerKind.MODELOPT))


def test_cli_without_the_extra_is_one_line_naming_it(
        digits: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from edgekit.cli import main

    monkeypatch.setitem(sys.modules, "modelopt", None)
    with pytest.raises(SystemExit, match="^2$"):
        main(["quantize", str(digits["digits_cnn_plain"]), "--target", "tensorrt",
              "--quantizer", "modelopt", "-o", str(tmp_path / "m.int8.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'edgekit[modelopt]'" in err[0], err
    with pytest.raises(SystemExit, match="^2$"):
        main(["quantize", str(digits["digits_cnn_plain"]), "--quantizer", "modelopt",
              "-o", str(tmp_path / "m.int8.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--target cpu" in err[0] and "slower than FP32" in err[0], err
    assert not (tmp_path / "m.int8.onnx").exists()


@pytest.mark.slow
def test_cli_json_stays_one_object_while_modelopt_logs(residual: Path, tmp_path: Path) -> None:
    """ModelOpt's logger prints on stdout; with --json stdout must still parse."""
    r = subprocess.run([sys.executable, "-m", "edgekit", "quantize", str(residual), "--target",
                        "tensorrt", "--calib-size", "4", "--report", "0", "-o",
                        str(tmp_path / "r.int8.onnx"), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["manifest"]["quantization"]["quantizer"] == "modelopt"


@pytest.mark.slow
def test_the_extra_leaves_the_cpu_onnxruntime_working() -> None:
    """``edgekit[modelopt]`` must not bring onnxruntime-gpu into onnxruntime's folder (what
    ``nvidia-modelopt[onnx]`` does): ``import onnxruntime`` is still the CPU build."""
    import importlib.metadata as md

    code = ("import modelopt.onnx.quantization, onnxruntime, json; print(json.dumps("
            "[onnxruntime.__version__, onnxruntime.get_available_providers()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    version, providers = json.loads(out.stdout.strip().splitlines()[-1])
    assert "CPUExecutionProvider" in providers
    assert version == md.version("onnxruntime")
    with pytest.raises(md.PackageNotFoundError, match="onnxruntime"):
        md.version("onnxruntime-gpu")


def test_qdq_summary_of_a_hand_built_graph() -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    s, z = numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(
        np.array(0, np.int8), "z")
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             helper.make_node("QuantizeLinear", ["w", "s", "z"], ["wq"]),
             helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["wd"]),
             helper.make_node("MatMul", ["xd", "wd"], ["y"]),
             helper.make_node("Add", ["y", "xd"], ["a"]),
             helper.make_node("QuantizeLinear", ["a", "s", "z"], ["aq"]),
             helper.make_node("DequantizeLinear", ["aq", "s", "z"], ["out"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4])],
                          [s, z, w])
    got = qdq.summary(helper.make_model(g))
    assert got == {"activation_qdq_pairs": 2, "weight_dq": 1,
                   "quantized_inputs_by_op": {"Add": 1, "MatMul": 1},
                   "adds": {"0": 0, "1": 1, "2": 0}, "logits_float": False}


@pytest.mark.parametrize("version", ["10.13.0.35", "11.4.0.106"])
def test_build_of_a_modelopt_file_is_strongly_typed_and_says_so(
        use: Any, version: str, residual: Path, tmp_path: Path) -> None:
    """``edgekit build`` against the strict TensorRT fakes (tests/support/trt.py): no precision
    flags, a strongly typed network, and the engine manifest names the quantizer."""
    from support.trt import build

    m, _ = _q(residual, tmp_path, calib_size=8, report=0)  # auto: ModelOpt for tensorrt
    trt = use(version)  # after quantizing: ModelOpt would parse with a TensorRT it finds
    onnx_path = tmp_path / m["artifact"]["path"]
    doc = build(onnx_path)
    assert doc["strongly_typed"] is True and doc["precision"] == "int8"
    assert ("create_network", 2 if version.startswith("10.") else 0) in trt.calls
    assert not any(c[0] == "set_flag" for c in trt.calls)  # precision from the ONNX only
    q = doc["quantized_by"]
    assert q["quantizer"] == "modelopt" and q["fp16_rest"] is True
    assert q["qdq"] == m["quantization"]["qdq"] and doc["qdq_nodes"] > 0


def test_fp16_rest_warns_when_the_fp32_logits_are_below_fp16s_range() -> None:
    import numpy as np

    from edgekit.modelopt_q import ModelOptQuantizer

    q = object.__new__(ModelOptQuantizer)  # caveat() reads only fp16_rest
    q.fp16_rest = True
    tiny = np.full((4, 10), 3e-9, np.float32)  # what random-weight MobileNetV3 logits look like
    assert "below FP16's range" in (q.caveat(tiny) or "")
    assert q.caveat(np.full((4, 10), 2.5, np.float32)) is None
    q.fp16_rest = False
    assert q.caveat(tiny) is None
