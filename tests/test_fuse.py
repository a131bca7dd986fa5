"""Issue 13, ``--fuse-preprocess``: the ONNX takes resized/cropped uint8 N x H x W x 3 pixels
and normalises inside the graph. The digits CNN fused and unfused with the same stated recipe
(same accuracy, INT8 of it, the contract without the sidecar), fused vs unfused logits on real
photos (BGR, mean/std 0.5), an ONNX as SPEC, TensorRT (fake) and OpenVINO fed uint8, and the
misuses as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from support import FIX, digits_spec, run_cli
from support.trt import V10, build

from edgekit import calib, evaluate, fuse, graph, manifest, preprocessing, reproduce
from edgekit import profile as pf
from edgekit.backends import Device, RunnerOptions
from edgekit.errors import CalibrationError, ConfigError
from edgekit.export import ExportOptions, export
from edgekit.images import Preprocess, Stated, bundled_photos, photo_batch
from edgekit.precision import Precision
from edgekit.quantize import QuantOptions, quantize
from edgekit.sources import Options

STATED = ("--input-size", "32", "--resize", "32", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5")
RECIPE = Stated(resize=32, mean=(0.5,) * 3, std=(0.5,) * 3)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The trained digits CNN exported with the same stated recipe, fused (through the CLI,
    with --int8) and unfused."""
    root = tmp_path_factory.mktemp("fuse")
    fused = root / "fused.onnx"
    r = run_cli("export", digits_spec(), "--weights", str(FIX / "digits_cnn.pth"), *STATED,
                "--fuse-preprocess", "--int8", "-o", str(fused), "--json")
    assert r.returncode == 0, r.stderr
    (root / "doc.json").write_text(r.stdout)
    plain = export(digits_spec(), ExportOptions(output=root / "plain.onnx", input_size=(32, 32),
                                                preprocess=RECIPE),
                   Options(weights=FIX / "digits_cnn.pth")).path
    return {"fused": fused, "int8": root / "fused.int8.onnx", "plain": plain,
            "doc": root / "doc.json"}


def _top1(target: Path, test: Path, **kw: Any) -> float:
    opts = pf.ProfileOptions(warmup=1, iterations=2, batches=(8,), data=test, **kw)
    acc = pf.profile(str(target), opts).results[0].accuracy
    assert acc is not None
    return float(acc["top1"])


def test_digits_fused_equals_unfused_and_its_int8_works(pair: dict[str, Path],
                                                        digits: dict[str, Path]) -> None:
    model = onnx.load(str(pair["fused"]))
    (inp,) = graph.io_spec(model)["inputs"]
    assert inp == {"name": "pixels", "shape": ["batch", 32, 32, 3], "dtype": "uint8"}
    doc = json.loads(pair["doc"].read_text())
    pp = doc["manifest"]["preprocess"]
    assert pp["fused"] is True and pp["layout"] == "NHWC" and pp["mean"] == [0.5] * 3
    assert doc["manifest"]["input"]["dtype"] == "uint8"
    assert doc["manifest"]["verification"]["passed"] is True  # fused (uint8) vs torch (float)
    assert doc["manifest"]["export"]["fuse_preprocess"]["nodes"] == [
        fuse.PREFIX + n for n in ("cast", "to_nchw", "scale", "normalise")]
    contract = json.loads(next(p.value for p in model.metadata_props
                               if p.key == manifest.CONTRACT_KEY))
    assert contract["preprocess"]["fused"] is True and contract["input"]["dtype"] == "uint8"

    plain, fused = _top1(pair["plain"], digits["test"]), _top1(pair["fused"], digits["test"])
    print(f"digits top-1: unfused {plain:.2f}, fused {fused:.2f}")
    assert abs(plain - fused) <= 0.5 and plain >= 90.0

    int8 = doc["int8"]["manifest"]
    assert int8["precision"] == "int8" and int8["preprocess"]["fused"] is True
    assert int8["verification"]["top1_agreement"] >= 90.0
    assert int8["layer_report"] and not any(  # charged to no node, as the unfused input's
        r["node"].startswith(fuse.PREFIX) for r in int8["layer_report"])
    q = onnx.load(str(pair["int8"]))  # the pixels and the folded scale/bias stay in float
    quantized = {i for n in q.graph.node if n.op_type == "QuantizeLinear" for i in n.input}
    assert not quantized & {"pixels", fuse.PREFIX + "float", fuse.PREFIX + "nchw",
                            fuse.PREFIX + "scaled"}
    q8 = _top1(pair["int8"], digits["test"])
    print(f"digits top-1: fused INT8 {q8:.2f}")
    assert abs(q8 - fused) <= 2.0

    row = {"result": {"artifact": {"kind": "onnx", "path": "f.int8.onnx"}, "manifest": int8}}
    first, _ = reproduce.artifact_commands(row)  # the stored result says how to remake it
    assert "--input-size 32,32 --fuse-preprocess" in first


def test_without_the_sidecar_the_contract_keeps_it_fused(pair: dict[str, Path],
                                                         digits: dict[str, Path],
                                                         tmp_path: Path) -> None:
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(pair["fused"].read_bytes())
    man = manifest.for_artifact(bare)
    assert man is not None and man.preprocess is not None and man.preprocess.fused
    assert _top1(bare, digits["test"]) == _top1(pair["fused"], digits["test"])
    r = run_cli("quantize", str(bare), "--report", "0", "-o", str(tmp_path / "b8.onnx"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["manifest"]["preprocess"]["fused"] is True
    f16 = quantize(bare, QuantOptions(precision=Precision.FP16, output=tmp_path / "b16.onnx"))
    assert f16.manifest.preprocess is not None and f16.manifest.preprocess.fused
    ver = f16.manifest.verification
    assert ver is not None and ver.top1_agreement == 100.0  # the preprocessing stays in FP32
    assert _top1(f16.path, digits["test"]) == pytest.approx(_top1(bare, digits["test"]), abs=0.5)


def test_a_foreign_uint8_onnx_is_fed_pixels(pair: dict[str, Path], digits: dict[str, Path],
                                            tmp_path: Path) -> None:
    """No sidecar, no contract: a uint8 N x H x W x 3 input is read as a graph that normalises
    itself; with its resize stated, the same top-1 as the fused export."""
    model = onnx.load(str(pair["fused"]))
    del model.metadata_props[:]
    bare = tmp_path / "foreign.onnx"
    onnx.save(model, str(bare))
    assert manifest.for_artifact(bare) is None
    pp = preprocessing.resolve(input_shape=["batch", 32, 32, 3], input_dtype="uint8").preprocess
    assert pp.fused and pp.assumed and (pp.height, pp.width) == (32, 32)
    got = _top1(bare, digits["test"], preprocess=Stated(resize=32))
    assert got == _top1(pair["fused"], digits["test"])


@pytest.mark.parametrize("kw", [
    {"mean": (0.5,) * 3, "std": (0.5,) * 3},
    {"channel_order": "bgr", "mean": (0.406, 0.456, 0.485), "std": (0.225, 0.224, 0.229)},
    {"resize": 96, "interpolation": "bicubic"},  # ImageNet mean/std, no crop
])
def test_fused_matches_unfused_on_real_photos(kw: dict[str, Any], tmp_path: Path) -> None:
    """The same network at 96 px (it ends in global pooling): the fused ONNX on the photos as
    uint8 pixels vs the unfused ONNX on them normalised, logits within 1e-4 of their scale."""
    outs = {}
    for fused in (False, True):
        res = export(digits_spec(), ExportOptions(output=tmp_path / f"{fused}.onnx",
                                                  input_size=(96, 96), preprocess=Stated(**kw),
                                                  fuse_preprocess=fused),
                     Options(weights=FIX / "digits_cnn.pth"))
        pp = res.manifest.preprocess
        assert pp is not None and pp.fused is fused and pp.channel_order == kw.get(
            "channel_order", "rgb")
        x = photo_batch(pp, count=len(bundled_photos()))
        assert x.dtype == (np.uint8 if fused else np.float32)
        outs[fused] = evaluate.predict(graph.ort_session(onnx.load(str(res.path))), x)
    scale = float(np.abs(outs[False]).max())
    assert np.abs(outs[True] - outs[False]).max() <= 1e-4 * scale
    assert (outs[True].argmax(1) == outs[False].argmax(1)).all()


def test_fold_is_the_unfused_arithmetic() -> None:
    pp = Preprocess(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    scale, bias = fuse.fold(pp)
    px = np.arange(256, dtype=np.float32).reshape(1, 1, 1, -1).repeat(3, axis=1)
    ref = (px / 255 - np.asarray(pp.mean, np.float32).reshape(1, 3, 1, 1)) / np.asarray(
        pp.std, np.float32).reshape(1, 3, 1, 1)
    assert scale.dtype == bias.dtype == np.float32
    assert np.abs(px * scale + bias - ref).max() < 1e-5


def test_an_onnx_spec_fuses_with_its_contract(pair: dict[str, Path], digits: dict[str, Path],
                                              tmp_path: Path) -> None:
    out = tmp_path / "from_onnx.onnx"
    r = run_cli("export", str(pair["plain"]), "--fuse-preprocess", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["manifest"]
    assert m["input"]["dtype"] == "uint8" and m["preprocess"]["fused"] is True
    assert m["verification"]["reference"] == "onnxruntime (the input ONNX)"
    assert m["verification"]["passed"] is True
    assert _top1(out, digits["test"]) == _top1(pair["plain"], digits["test"])
    r = run_cli("export", str(out), "-o", str(tmp_path / "again.onnx"), "--json")  # re-export
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["manifest"]["preprocess"]["fused"] is True


def _gray(path: Path) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["input", "w"], ["logits"])], "gray",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                         ["batch", 1, 16, 16])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                         ["batch", 4, 14, 14])],
                          [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


@pytest.mark.parametrize("case,message", [
    ("gray", "--fuse-preprocess needs a float32 N x 3 x H x W image input; 'input' is float32 "
             "['batch', 1, 16, 16]"),
    ("fused", "--fuse-preprocess: the model already takes uint8 pixels"),
    ("profile-mean", "--mean: the model's preprocessing is fused into its graph (mean 0.5,0.5,0.5)"),
    ("profile-order", "--channel-order: the model's preprocessing is fused into its graph"),
])
def test_misuse_is_one_line_exit_2(case: str, message: str, pair: dict[str, Path],
                                   tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    args = {"gray": ("export", str(_gray(tmp_path / "gray.onnx")), "--fuse-preprocess", "-o",
                     str(out)),
            "fused": ("export", str(pair["fused"]), "--fuse-preprocess", "-o", str(out)),
            "profile-mean": ("profile", str(pair["fused"]), "--mean", "0.4,0.4,0.4"),
            "profile-order": ("profile", str(pair["fused"]), "--channel-order", "bgr")}[case]
    r = run_cli(*args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_stating_what_the_graph_holds_is_fine_and_calibration_npz_is_pixels(
        tmp_path: Path) -> None:
    pp = Preprocess(height=32, width=32, resize=32, mean=(0.5,) * 3, std=(0.5,) * 3).fused_form()
    same = Stated(mean=(0.5,) * 3, std=(0.5,) * 3, channel_order="rgb", resize=36)
    assert same.apply(pp).resize == 36 and same.apply(pp).fused  # resize is outside the graph
    with pytest.raises(ConfigError, match="--std: the model's preprocessing is fused"):
        Stated(std=(0.2,) * 3).apply(pp)
    x = photo_batch(pp, count=3)
    np.savez(tmp_path / "px.npz", inputs=x)
    cs = calib.load(tmp_path / "px.npz", pp)
    assert cs.data.dtype == np.uint8 and cs.data.shape == (3, 32, 32, 3)
    np.savez(tmp_path / "f.npz", inputs=x.astype(np.float32))
    with pytest.raises(CalibrationError, match="must be uint8 pixels for a model with fused"):
        calib.load(tmp_path / "f.npz", pp)


def test_tensorrt_builds_calibrates_and_runs_a_uint8_input(use: Any, pair: dict[str, Path],
                                                           digits: dict[str, Path],
                                                           tmp_path: Path) -> None:
    from support.fakes import cudart

    from edgekit.backends.trt import TrtRunner
    from edgekit.trt import engine

    src = tmp_path / "fused.onnx"  # no sidecar: the build reads the contract inside it
    src.write_bytes(pair["fused"].read_bytes())
    trt = use(V10)
    shapes = engine.parse_shapes(["pixels:1x32x32x3,8x32x32x3,32x32x32x3"])
    m = build(src, precision="int8", calib=digits["test"], shapes=shapes)  # legacy calibration
    (cal,) = [v for k, v in trt.calls if k == "config.int8_calibrator"]
    assert cal.batches[0].dtype == np.uint8 and cal.batches[0].shape == (8, 32, 32, 3)
    assert ("calibrated_batches", 57) in trt.calls
    doc = json.loads(manifest.sidecar(Path(m["path"])).read_text())
    assert doc["preprocess"]["fused"] is True and doc["input"]["dtype"] == "uint8"
    x = photo_batch(manifest.read(Path(m["path"])).preprocess or Preprocess(), count=4)
    with TrtRunner(Path(m["path"]), RunnerOptions(device=Device.CUDA)) as r:
        assert [s.to_dict() for s in r.input_spec()] == [
            {"name": "pixels", "shape": ["batch", 32, 32, 3], "dtype": "uint8"}]
        y = r.infer({"pixels": x})["logits"]  # the fake's per-channel mean of what arrived
        np.testing.assert_allclose(y, x.reshape(4, -1, 3).mean(1), rtol=1e-6)
    rep = pf.profile(m["path"], pf.ProfileOptions(runner=RunnerOptions(device=Device.CUDA),
                                                  warmup=1, iterations=2, data=digits["test"]))
    acc = rep.results[0].accuracy
    assert acc is not None and acc["images"] == 450
    assert cudart.MEM == {}


def test_openvino_takes_the_uint8_input(pair: dict[str, Path], digits: dict[str, Path]) -> None:
    ort = _top1(pair["fused"], digits["test"])
    assert _top1(pair["fused"], digits["test"], backend="openvino") == pytest.approx(ort, abs=0.5)
