"""qcheck: a variant checked against FP32 by its task's own figure, never a classifier's top-1
on something that is not a classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
from support import run_cli, tiny_onnx

from edgekit import manifest


def _export(model: Path, tmp_path: Path, *flags: str) -> tuple[int, dict[str, Any], str]:
    r = run_cli("export", str(model), "-o", str(tmp_path / "out.onnx"), "--int8", "--report",
                "0", "--json", *flags, cwd=tmp_path)
    return r.returncode, json.loads(r.stdout) if r.returncode == 0 else {}, r.stderr


def test_an_ultralytics_detector_records_its_task_and_names_and_shows_no_top1(
        tmp_path: Path) -> None:
    code, doc, err = _export(tiny_onnx.write_detector(tmp_path / "yolo.onnx"), tmp_path)
    assert code == 0, err
    for man in (doc["manifest"], doc["int8"]["manifest"]):
        assert man["model"]["task"] == "detect"
        assert man["model"]["task_source"] == "onnx metadata (ultralytics)"
        assert man["model"]["names"] == ["digit", "face"] and man["model"]["num_classes"] == 2
        ver = man["verification"]
        assert ver["task"] == "detect" and ver["metric"] == "sqnr_db" and ver["sqnr_db"] > 20
        assert "top1_agreement" not in ver and "top1" not in json.dumps(ver)
    inside = manifest.embedded(tmp_path / doc["int8"]["path"])  # the contract in the ONNX
    assert inside is not None and inside.model.task == "detect"
    assert inside.model.names == ["digit", "face"]
    assert "top-1" not in err


def test_a_multi_output_model_is_tensor_compared_output_by_output(tmp_path: Path) -> None:
    code, doc, err = _export(tiny_onnx.write_two_outputs(tmp_path / "two.onnx"), tmp_path)
    assert code == 0, err
    assert "not one [N, classes]" in err and err.count("compared with FP32 by cosine") == 1
    ver = doc["int8"]["manifest"]["verification"]
    assert doc["manifest"]["model"]["task"] == "tensor"
    assert [o["name"] for o in ver["outputs"]] == ["features", "pooled"]
    assert ver["sqnr_db"] == min(o["sqnr_db"] for o in ver["outputs"])
    assert "top1_agreement" not in ver and doc["manifest"]["model"]["num_classes"] is None


def test_the_fallback_of_a_non_classifier_is_driven_by_sqnr(tmp_path: Path) -> None:
    det = tiny_onnx.write_detector(tmp_path / "yolo.onnx")
    code, _, err = _export(det, tmp_path, "--max-accuracy-drop", "1")
    assert code == 2 and "--max-accuracy-drop is in top-1 points" in err and "--min-sqnr-db" in err
    assert "(manifest: onnx metadata (ultralytics))" in err
    assert [ln for ln in err.splitlines() if ln.startswith("error")] == err.splitlines()[-1:]
    assert not (tmp_path / "out.onnx").exists()  # export --int8 is all or nothing
    code, doc, err = _export(det, tmp_path)
    assert code == 0, err
    first = doc["int8"]["manifest"]["verification"]["sqnr_db"]
    goal = round(first + 0.5, 1)  # above all-INT8: the head's Conv goes back to FP32
    code, doc, err = _export(det, tmp_path, "--min-sqnr-db", str(goal))
    assert code == 0, err
    aa = doc["int8"]["manifest"]["accuracy_aware"]
    assert aa["budget"] == goal and aa["budget_text"] == f"--min-sqnr-db {goal:g}"
    assert all("sqnr_db" in s and "drop" not in s for s in aa["steps"])
    assert aa["steps"][0]["sqnr_db"] == round(first, 3) and aa["fp32_nodes"]
    assert aa["met"] and aa["steps"][-1]["sqnr_db"] >= goal


def test_labels_or_an_sqnr_budget_on_the_wrong_task_are_one_line(tmp_path: Path,
                                                                 digits: dict[str, Path]) -> None:
    det = tiny_onnx.write_detector(tmp_path / "yolo.onnx")
    code, _, err = _export(det, tmp_path, "--val", str(digits["test"]))
    assert code == 2 and "--val measures top-1" in err and "detect" in err
    code, _, err = _export(tiny_onnx.write(tmp_path / "tiny.onnx"), tmp_path, "--min-sqnr-db", "20")
    assert code == 2 and "--min-sqnr-db is for models judged by SQNR" in err
    model = onnx.load(str(det))
    assert len(model.metadata_props) == 5  # the input is never touched
