"""qcheck: a variant checked against FP32 by its task's own figure, never a classifier's top-1
on something that is not a classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from support import import_ultralytics, run_cli, tiny_onnx

from edgekit import manifest, pareto
from edgekit.store import open_store


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
        ver = man["verification"]  # its raw head decoded: detections against the reference's
        assert ver["task"] == "detect" and ver["metric"] == "f1" and ver["detection"]["f1"] > 0
        assert ver["detection"]["fp32_boxes"] > 0 and ver["sqnr_db"] > 20
        assert "top1_agreement" not in ver and "top1" not in json.dumps(ver)
    head = doc["int8"]["manifest"]["quantization"]["float_head"]
    assert head["nodes"] == ["/model.22/Reshape", "/model.22/Sigmoid"]  # the decode, in float
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
    assert code == 2 and "--max-accuracy-drop does not judge this model" in err
    assert "judged by --min-agreement" in err and "(manifest: onnx metadata (ultralytics))" in err
    assert [ln for ln in err.splitlines() if ln.startswith("error")] == err.splitlines()[-1:]
    assert not (tmp_path / "out.onnx").exists()  # export --int8 is all or nothing
    code, doc, err = _export(det, tmp_path, "--task", "segment")  # not decoded: SQNR
    assert code == 0, err
    first = doc["int8"]["manifest"]["verification"]["sqnr_db"]
    goal = round(first + 0.5, 1)  # above all-INT8: the head's Conv goes back to FP32
    code, doc, err = _export(det, tmp_path, "--min-sqnr-db", str(goal), "--task", "segment")
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
    assert code == 2 and "--min-sqnr-db does not judge this model" in err
    assert "judged by --max-accuracy-drop" in err
    model = onnx.load(str(det))
    assert len(model.metadata_props) == 5  # the input is never touched


@pytest.mark.slow
def test_a_detectors_variants_are_judged_by_sqnr_in_every_command(tmp_path: Path,
                                                                 digits: dict[str, Path]) -> None:
    """profile shows the INT8 detector's SQNR verdict and refuses --data (top-1 labels); pick
    admits it by --min-sqnr-db; pareto plots no top-1 for it; budget's min_top1 says why it
    has none."""
    code, doc, err = _export(tiny_onnx.write_detector(tmp_path / "yolo.onnx"), tmp_path)
    assert code == 0, err
    fp32, int8 = tmp_path / doc["path"], tmp_path / doc["int8"]["path"]
    store = tmp_path / "results"
    r = run_cli("profile", str(fp32), "--data", str(digits["test"]), "--no-store")
    assert r.returncode == 2 and "--data measures top-1 with class labels" in r.stderr
    assert "detect" in r.stderr
    for art in (fp32, int8):
        r = run_cli("profile", str(art), "--iterations", "20", "--store", str(store), "--json")
        assert r.returncode == 0, r.stderr
    (claim,) = json.loads(r.stdout)["claims"]
    sqnr = doc["int8"]["manifest"]["verification"]["sqnr_db"]
    assert (claim["kind"], claim["metric"], claim["unit"]) == ("agreement", "sqnr_db", "dB")
    assert claim["value"] == sqnr and claim["top1"] is None and claim["task"] == "detect"
    r = run_cli("profile", str(int8), "--iterations", "20", "--no-store",
                env={"COLUMNS": "200"})
    assert "verdict (agreement)" in r.stdout and "SQNR" in r.stdout and "top-1" not in r.stdout
    for floor, admitted in ((sqnr - 1, True), (sqnr + 1, False)):
        r = run_cli("pick", str(store), "--min-sqnr-db", str(floor), "--json")
        (m,) = json.loads(r.stdout)["models"]
        seen = [v for v in [m["pick"], *m["rejected"]] if v and v["precision"] == "int8"]
        assert not seen or seen[0]["eligible"] is admitted
        assert admitted or not seen or "under the SQNR floor" in seen[0]["why"]
    r = run_cli("pareto", str(store), "-o", str(tmp_path / "p.png"))
    assert r.returncode == 2 and "detect models have no top-1" in r.stderr
    points, _ = pareto.select(open_store(str(store)).query(full=True), "latency_p50_ms", "top1")
    pts = {p.precision: p for p in points}
    assert pts["int8"].accuracy_kind == "agreement" and pts["int8"].y is None
    assert "SQNR" in pts["int8"].accuracy_text and pts["int8"].task == "detect"
    (tmp_path / "b.yaml").write_text("budgets:\n  - model: yolo\n    precision: int8\n"
                                     "    min_top1: 50\n")
    r = run_cli("budget", "check", str(tmp_path / "b.yaml"), "--store", str(store), "--json")
    assert r.returncode == 3 and "no top-1 figure" in r.stdout and "SQNR" in r.stdout


@pytest.mark.slow
def test_a_real_ultralytics_export_is_a_detector_with_its_names(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """Ultralytics' own ONNX export (an untrained yolov8n from its yaml: no download), offline:
    export --int8 records task detect and its 80 class names from the metadata, and no top-1."""
    for k, v in {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0",
                 "YOLO_CONFIG_DIR": str(tmp_path / "cfg")}.items():
        monkeypatch.setenv(k, v)
    ul = import_ultralytics("ultralytics", monkeypatch)
    monkeypatch.chdir(tmp_path)
    onnx_path = Path(ul.YOLO("yolov8n.yaml").export(format="onnx", imgsz=160, opset=17,
                                                     simplify=False, dynamic=False))
    code, doc, err = _export(onnx_path, tmp_path)
    assert code == 0, err
    for man in (doc["manifest"], doc["int8"]["manifest"]):
        assert man["model"]["task"] == "detect" and len(man["model"]["names"]) == 80
        assert man["verification"]["metric"] == "sqnr_db"
        assert "top1_agreement" not in man["verification"]
    assert "top-1" not in err
