"""INT8/FP16 on a real trained model (scikit-learn digits), accuracy measured, not assumed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgekit.device import cpu_info
from edgekit.errors import CalibrationError, EdgekitError, SourceError
from edgekit.precision import Precision
from edgekit.quantize import Method, QuantizerKind, QuantOptions, Target, int8_settings, quantize


def _q(model: Path, tmp: Path, **kw: object) -> dict:
    opts = QuantOptions(output=tmp / f"q{len(list(tmp.iterdir()))}.onnx", **kw)  # type: ignore[arg-type]
    return quantize(model, opts).manifest.to_dict()


def test_fp32_model_is_a_real_classifier(digits: dict[str, Path], tmp_path: Path) -> None:
    m = _q(digits["digits_cnn_plain"], tmp_path, precision=Precision.FP16, val=digits["test"])
    assert m["verification"]["fp32_top1"] >= 90.0  # the fixture's honest FP32 accuracy


def test_int8_keeps_accuracy_on_this_cpu(digits: dict[str, Path], tmp_path: Path) -> None:
    m = _q(digits["digits_cnn_plain"], tmp_path, calib=digits["train"], calib_size=128,
           val=digits["test"])
    v, q = m["verification"], m["quantization"]
    assert v["top1_drop"] <= 2.0, v
    assert q["cpu"]["flags"] == cpu_info()["flags"]  # every result records the CPU flags
    assert q["reduce_range"] is (not cpu_info()["vnni"])  # the rule, on this machine
    assert q["calibration"]["count"] == 128 and len(q["calibration"]["sha256"]) == 64
    model = onnx.load(str(tmp_path / m["artifact"]["path"]))
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)


def test_fp16_keeps_accuracy_and_io_types(digits: dict[str, Path], tmp_path: Path) -> None:
    m = _q(digits["digits_cnn_plain"], tmp_path, precision=Precision.FP16, val=digits["test"])
    assert m["verification"]["top1_drop"] <= 0.5
    model = onnx.load(str(tmp_path / m["artifact"]["path"]))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)


def test_outlier_layer_breaks_int8_and_the_report_points_at_it(
        digits: dict[str, Path], tmp_path: Path) -> None:
    m = _q(digits["digits_cnn"], tmp_path, calib=digits["train"], calib_size=128,
           val=digits["test"])
    assert m["verification"]["top1_drop"] > 10  # the layer built to quantize badly does
    worst = m["layer_report"][0]
    assert worst["node"].startswith("/act2/"), m["layer_report"][:3]


def test_accuracy_aware_fallback_meets_a_tight_budget(digits: dict[str, Path],
                                                      tmp_path: Path) -> None:
    m = _q(digits["digits_cnn"], tmp_path, calib=digits["train"], calib_size=128,
           val=digits["test"], max_accuracy_drop=1.0)
    aa = m["accuracy_aware"]
    assert aa["met"] and len(aa["fp32_nodes"]) >= 1
    assert any(n.startswith("/act2/") for n in aa["fp32_nodes"])
    assert m["verification"]["top1_drop"] <= 1.0
    assert aa["steps"][0]["drop"] > 10 and aa["steps"][-1]["drop"] <= 1.0
    lat = aa["latency"]  # the cost of the FP32 nodes, measured on this CPU
    assert set(lat["p50_ms"]) == {"fp32", "int8", "mixed"} and all(
        v > 0 for v in lat["p50_ms"].values())
    assert lat["mixed_vs_int8"] == pytest.approx(lat["p50_ms"]["mixed"] / lat["p50_ms"]["int8"],
                                                 rel=0.01)


def test_unmeetable_budget_keeps_the_best_under_its_own_name(digits: dict[str, Path],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "d.int8.onnx"
    with pytest.raises(EdgekitError, match="could not meet --max-accuracy-drop"):
        quantize(digits["digits_cnn"], QuantOptions(output=out, calib=digits["train"],
                                                    calib_size=64, val=digits["test"],
                                                    max_accuracy_drop=-5.0))  # unmeetable
    assert not out.exists()
    best = tmp_path / "d.int8.best.onnx"
    assert best.is_file() and json.loads(Path(str(best) + ".json").read_text())["accuracy_aware"]


@pytest.mark.slow
def test_every_calibration_method_keeps_accuracy_and_entropy_is_not_minmax(
        digits: dict[str, Path], tmp_path: Path) -> None:
    """Each method through the CLI (--json stays one object: ORT's histogram calibrators
    print() their progress), within 3 top-1 points; entropy's scales are not MinMax's (ORT's
    128-bin default gives equal ones)."""
    from onnx import numpy_helper
    from support import run_cli

    scales = {}
    for method in Method:
        out = tmp_path / f"{method.value}.int8.onnx"
        r = run_cli("quantize", str(digits["digits_cnn_plain"]), "-o", str(out), "--calib",
                    str(digits["train"]), "--calib-size", "64", "--calib-method", method.value,
                    "--val", str(digits["test"]), "--report", "0", "--json")
        assert r.returncode == 0, r.stderr
        m = json.loads(r.stdout)["manifest"]
        assert m["quantization"]["method"] == method.value
        assert m["verification"]["top1_drop"] <= 3.0
        model = onnx.load(str(out))
        names = {n.input[1] for n in model.graph.node if n.op_type == "QuantizeLinear"}
        scales[method] = [float(numpy_helper.to_array(i).ravel()[0])
                          for i in model.graph.initializer if i.name in names]
    assert scales[Method.ENTROPY] != scales[Method.MINMAX]


@pytest.mark.parametrize("quantizer", [QuantizerKind.ORT, QuantizerKind.MODELOPT])
def test_tensorrt_target_is_symmetric_int8(quantizer: QuantizerKind, digits: dict[str, Path],
                                           tmp_path: Path) -> None:
    m = _q(digits["digits_cnn_plain"], tmp_path, calib=digits["train"], calib_size=32,
           target=Target.TENSORRT, quantizer=quantizer)
    q = m["quantization"]
    assert q["quantizer"] == quantizer.value
    assert (q["activation_type"], q["weight_type"]) == ("QInt8", "QInt8")
    from onnx import numpy_helper

    model = onnx.load(str(tmp_path / m["artifact"]["path"]))
    zps = {n.input[2] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    vals = [numpy_helper.to_array(i) for i in model.graph.initializer if i.name in zps]
    assert vals and all(v.dtype == np.int8 and not v.any() for v in vals)  # zero points are 0


def test_settings_rule_per_cpu() -> None:
    no_vnni = {"machine": "x86_64", "vnni": False, "flags": ["avx2"]}
    vnni = {"machine": "x86_64", "vnni": True, "flags": ["avx2", "avx512_vnni"]}
    arm = {"machine": "aarch64", "vnni": False, "flags": ["asimd"]}
    assert int8_settings(Target.CPU, no_vnni)["reduce_range"] is True
    assert int8_settings(Target.CPU, vnni)["reduce_range"] is False
    assert int8_settings(Target.CPU, arm)["activation_type"] == "QInt8"
    assert int8_settings(Target.TENSORRT, no_vnni)["extra_options"]["ActivationSymmetric"]


def test_same_model_and_calibration_give_the_same_bytes(digits: dict[str, Path],
                                                        tmp_path: Path) -> None:
    a = _q(digits["digits_cnn_plain"], tmp_path, calib=digits["train"], calib_size=32)
    b = _q(digits["digits_cnn_plain"], tmp_path, calib=digits["train"], calib_size=32)
    assert a["artifact"]["sha256"] == b["artifact"]["sha256"]


def test_scratch_files_never_go_to_the_working_directory(
        digits: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    _q(digits["digits_cnn_plain"], tmp_path, calib_size=8, report=3)
    assert os.listdir(cwd) == []


def test_export_int8_whose_symbolic_shape_inference_fails_leaves_the_folder_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ORT's symbolic shape inference fails on this graph and saves its scratch model (and a
    uuid-named .data file) into the working directory: edgekit runs it in a temporary folder,
    so the folder holds only what was asked for."""
    import onnx
    from support import tiny_onnx
    from typer.testing import CliRunner

    from edgekit import cli, manifest, preprocessing

    src = tiny_onnx.write_symbolic_fails(tmp_path / "halves.onnx")
    # its contract states the 32x32 recipe, so the graph's H and W stay symbolic (a stated
    # --input-size would fix them, and symbolic inference would then succeed)
    model = onnx.load(str(src))
    manifest.embed(model, manifest.Manifest(kind="onnx", model=manifest.ModelInfo(name="halves"),
                                            preprocess=preprocessing.imagenet().resized(32, 32)))
    onnx.save(model, str(src))
    ort_q = pytest.importorskip("onnxruntime.quantization")
    probe = tmp_path / "probe"
    probe.mkdir()
    monkeypatch.chdir(probe)  # the premise: ORT itself drops its scratch files here
    with pytest.raises(Exception, match="symbolic shape inference"):
        ort_q.quant_pre_process(str(src), str(tmp_path / "pre.onnx"))
    assert {p.suffix for p in probe.iterdir()} == {".onnx", ".data"}
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    r = CliRunner().invoke(cli.app, ["export", str(src), "--int8", "--mean", "0.5,0.5,0.5",
                                     "--std", "0.5,0.5,0.5", "--quiet", "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(work)) == ["halves.opt.int8.onnx", "halves.opt.int8.onnx.json",
                                        "halves.opt.onnx", "halves.opt.onnx.json"]
    man = json.loads((work / "halves.opt.int8.onnx.json").read_text())
    note = json.dumps(man)
    assert "without symbolic shape inference" in note, note[:2000]


def test_bad_quantization_inputs(digits: dict[str, Path], tmp_path: Path) -> None:
    model = digits["digits_cnn_plain"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("not an image")
    with pytest.raises(CalibrationError, match="no images found"):
        _q(model, tmp_path, calib=empty)
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 3, 16, 16), np.float32))
    with pytest.raises(CalibrationError, match="does not fit"):
        _q(model, tmp_path, calib=tmp_path / "bad.npz")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "x.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(CalibrationError, match="cannot read image") as e:
        _q(model, tmp_path, calib=corrupt)
    assert "x.jpg" in e.value.line()
    with pytest.raises(CalibrationError, match="no node named") as e:
        _q(model, tmp_path, calib_size=8, exclude=("/fc/Gem",))
    assert "/fc/Gemm" in e.value.line()
    int8 = _q(model, tmp_path, calib_size=8)
    with pytest.raises(SourceError, match="already quantized"):
        _q(tmp_path / int8["artifact"]["path"], tmp_path, precision=Precision.FP16)


def test_npz_calibration_is_used(digits: dict[str, Path], tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(6, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "c.npz", inputs=x)
    m = _q(digits["digits_cnn_plain"], tmp_path, calib=tmp_path / "c.npz")
    assert m["quantization"]["calibration"]["kind"] == "npz"
    assert m["quantization"]["calibration"]["count"] == 6


def test_interrupted_quantization_leaves_no_file(digits: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit.manifest

    def boom(*a: object, **k: object) -> dict:
        raise KeyboardInterrupt  # inside the write: the .onnx temp file is already written

    monkeypatch.setattr(edgekit.manifest, "versions", boom)
    before = set(tmp_path.iterdir())
    with pytest.raises(KeyboardInterrupt, match="^$"):  # ours, not one raised elsewhere
        _q(digits["digits_cnn_plain"], tmp_path, calib_size=8)
    assert set(tmp_path.iterdir()) == before


def test_streamed_sqnr_equals_sqnr_over_all_images_at_once(digits: dict[str, Path],
                                                          tmp_path: Path) -> None:
    """The per-layer pass adds sums of squares batch by batch; the figures must be those of
    every image's tensors concatenated (what ORT's collect_activations gave, held at once)."""
    import math

    from onnxruntime.quantization import qdq_loss_debug as dbg
    from support.digits import PREPROCESS

    from edgekit import calib, qdebug

    cs = calib.load(digits["train"], PREPROCESS, 24)
    q = qdebug.Quantizer(digits["digits_cnn"], tmp_path, cs, "minmax", int8_settings(Target.CPU))
    model = q.quantize(())
    streamed = q.sqnr(model)
    onnx.save(model, str(tmp_path / "i8.onnx"))
    acts = {}
    for name, path in (("f", q.pre), ("q", tmp_path / "i8.onnx")):
        dbg.modify_model_output_intermediate_tensors(str(path), str(tmp_path / f"{name}.aug.onnx"))
        acts[name] = dbg.collect_activations(str(tmp_path / f"{name}.aug.onnx"),
                                             calib.ort_reader(q.feeds[:qdebug.REPORT_IMAGES]))
    checked = 0
    for t, xs in acts["f"].items():
        ys = acts["q"].get(t + "_DequantizeLinear_Output", acts["q"].get(t))
        if ys is None or t not in streamed or streamed[t] >= 100:
            continue
        x = np.concatenate([np.ravel(v) for v in xs]).astype(np.float64)
        y = np.concatenate([np.ravel(v) for v in ys]).astype(np.float64)
        whole = 20 * math.log10(np.linalg.norm(x) / np.linalg.norm(x - y))
        assert streamed[t] == pytest.approx(whole, abs=1e-6)
        checked += 1
    assert checked >= 5


def test_report_0_skips_the_per_layer_pass(digits: dict[str, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit import qdebug

    def never(*a: object, **k: object) -> dict[str, float]:
        raise AssertionError("the per-layer pass ran")

    monkeypatch.setattr(qdebug.Quantizer, "sqnr", never)
    m = _q(digits["digits_cnn_plain"], tmp_path, calib_size=8, report=0)
    assert m["layer_report"] == [] and m["layer_report_skipped"] is None


def test_a_pass_over_the_memory_limit_is_skipped_in_one_line(
        digits: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgekit.cli import main

    main(["quantize", str(digits["digits_cnn_plain"]), "--calib-size", "8", "-o",
          str(tmp_path / "m.int8.onnx"), "--max-memory-gb", "0.0002", "--json"])
    doc = json.loads(capsys.readouterr().out)["manifest"]
    assert doc["layer_report"] == [] and "over --max-memory-gb 0.0002" in doc["layer_report_skipped"]
    m = _q(digits["digits_cnn_plain"], tmp_path, calib_size=8, max_memory_gb=0.000001)
    assert m["layer_report"] == [] and "needs ~" in m["layer_report_skipped"]
    with pytest.raises(CalibrationError, match="--max-accuracy-drop ranks nodes with the "
                                               "per-layer pass, and it needs"):
        _q(digits["digits_cnn"], tmp_path, calib=digits["train"], calib_size=32,
           val=digits["test"], max_accuracy_drop=0.5, max_memory_gb=0.000001)
