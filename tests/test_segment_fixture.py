"""The trained segmentation fixture (``tests/fixtures/seg_digits.onnx``, made by
``scripts/train_seg_fixture.py``): mIoU with its validation masks, INT8 that keeps the masks
(its last Resize float), and a sweep that reports mIoU and plots it apart."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from support import FIX, ROOT, int8_floors, run_cli

from edgekit import accuracy
from edgekit.store import open_store

FIXTURE = FIX / "seg_digits.onnx"
TRAIN = 600  # the training split's size: the validation images are drawn after it


@pytest.fixture(scope="module")
def seg(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fixture's 60 validation images and masks (never trained on), and its INT8."""
    spec = importlib.util.spec_from_file_location("detset", ROOT / "scripts" /
                                                  "make_detection_set.py")
    assert spec is not None and spec.loader is not None
    detset = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(detset)
    tmp = tmp_path_factory.mktemp("seg")
    data = detset.write(tmp / "set", train=TRAIN, only="val", masks=True)
    r = run_cli("quantize", str(FIXTURE), "-o", str(tmp / "seg.int8.onnx"), "--report", "0",
                "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    return {"val": Path(data["folder"]) / "images" / "val", "tmp": tmp,
            "int8": json.loads(r.stdout)}


def test_profile_measures_miou_from_the_masks(seg: dict[str, Any]) -> None:
    r = run_cli("profile", str(FIXTURE), "--data", str(seg["val"]), "--no-store",
                "--iterations", "3", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)["results"][0]
    acc = res["accuracy"]
    assert acc["images"] == 60 and acc["format"] == "index masks" and acc["ignore_index"] == 255
    assert acc["miou"] > 60 and acc["pixel_accuracy"] > acc["miou"]
    assert len(acc["iou"]) == 5 and all(v is not None for v in acc["iou"])
    claim = accuracy.judge(res)
    assert (claim.kind, claim.metric, claim.value) == ("measured", "miou", acc["miou"])
    assert "top-1" not in claim.text and "pixel accuracy" in claim.text
    # ignoring the background (0) as if it were the void class: fewer pixels, other figures
    r = run_cli("profile", str(FIXTURE), "--data", str(seg["val"]), "--no-store",
                "--iterations", "3", "--ignore-index", "0", "--json")
    bg = json.loads(r.stdout)["results"][0]["accuracy"]
    assert bg["pixels"] < acc["pixels"] / 4 and bg["miou"] != acc["miou"]


def test_int8_keeps_the_last_resize_float_and_the_masks(seg: dict[str, Any]) -> None:
    man = seg["int8"]["manifest"]
    head = man["quantization"]["float_head"]
    resize = [n.name for n in onnx.load(FIXTURE).graph.node if n.op_type == "Resize"]
    assert head["nodes"] == [resize[-1]] and "Resize" in head["why"]
    q = onnx.load(seg["int8"]["path"])
    producer = {o: n for n in q.graph.node for o in n.output}
    (tail,) = [n for n in q.graph.node if n.name == resize[-1]]
    assert tail.op_type == "Resize" and tail.output[0] in producer  # it runs in float, and
    assert "QuantizeLinear" not in {n.op_type for n in q.graph.node  # its output (the scores
                                    if tail.output[0] in n.input}  # the argmax reads) unquantized
    ver = man["verification"]
    assert ver["metric"] == "pixel_agreement" and ver["pixel_agreement"] >= 0.98
    r = run_cli("quantize", str(FIXTURE), "-o", str(seg["tmp"] / "again.int8.onnx"),
                "--report", "0", "--min-sqnr-db", "10")  # a budget in another task's unit
    assert r.returncode == 2 and "judged by --min-agreement" in r.stderr
    r = run_cli("quantize", str(FIXTURE), "-o", str(seg["tmp"] / "goal.int8.onnx"), "--report",
                "0", "--min-agreement", "0.999", "--json")
    assert r.returncode in (0, 1), r.stderr[-2000:]  # met, or the best it found, said so


def test_modelopt_keeps_the_same_float_tail_for_tensorrt(seg: dict[str, Any]) -> None:
    out = seg["tmp"] / "seg.trt.int8.onnx"
    r = run_cli("quantize", str(FIXTURE), "-o", str(out), "--target", "tensorrt",
                "--quantizer", "modelopt", "--calib-size", "8", "--report", "0", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    man = json.loads(r.stdout)["manifest"]
    assert man["quantization"]["quantizer"] == "modelopt"
    resize = [n for n in onnx.load(FIXTURE).graph.node if n.op_type == "Resize"][-1]
    assert man["quantization"]["float_head"]["nodes"] == [resize.name]
    q = onnx.load(out)
    producer = {o: n for n in q.graph.node for o in n.output}
    (tail,) = [n for n in q.graph.node if n.name == resize.name]
    assert producer[tail.input[0]].op_type != "DequantizeLinear"  # its input stays float
    assert man["verification"]["pixel_agreement"] >= 0.95


@pytest.mark.slow
def test_a_sweep_over_a_segmenter_reports_miou_and_plots_it_apart(seg: dict[str, Any]) -> None:
    tmp = seg["tmp"] / "sweep"
    tmp.mkdir()
    r = run_cli("sweep", str(FIXTURE), "--precisions", "fp32,int8", "--backends", "ort",
                "--data", str(seg["val"]), "--duration", "0.1", "--store",
                str(tmp / "results"), "--out", str(tmp / "report"), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    table = {t["precision"]: t for t in doc["table"]}
    assert {t["accuracy_metric"] for t in table.values()} == {"mIoU"}
    assert table["int8"]["agreement_metric"] == "pixel agreement"
    assert abs(table["fp32"]["accuracy"] - table["int8"]["accuracy"]) < 5
    assert Path(doc["files"]["pareto-segment.png"]).stat().st_size > 10_000
    assert "pareto.png" not in doc["files"] and "pareto-detect.png" not in doc["files"]
    rows = open_store(str(tmp / "results")).query(full=True)
    claims = accuracy.claims(rows)
    (int8,) = [r for r in rows if r["precision"] == "int8"]
    assert (claims[int8["id"]].kind, claims[int8["id"]].drop_kind) == ("measured", "measured")
    drop = claims[int8["id"]].drop  # pick takes mIoU points for a measured segmenter
    assert drop is not None
    for budget, admitted in ((drop + 0.5, True), (max(0.0, drop - 0.5), drop <= 0.5)):
        r = run_cli("pick", str(tmp / "results"), "--max-accuracy-drop", str(budget), "--json")
        (m,) = json.loads(r.stdout)["models"]
        (seen,) = [v for v in [m["pick"], *m["rejected"]] if v and v["precision"] == "int8"]
        assert seen["eligible"] is admitted, seen
    miou8 = int8["result"]["accuracy"]["miou"]
    met, missed, code = int8_floors(tmp, tmp / "results", "seg_digits", "min_miou",
                                    round(miou8 - 1, 2), round(miou8 + 1, 2))
    assert code == 3 and (met["status"], missed["status"]) == ("pass", "fail")
