"""qcheck: a variant checked against FP32 by its task's own figure, never a classifier's top-1
on something that is not a classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from support import import_ultralytics, int8_floors, run_cli, tiny_onnx

from edgekit import accuracy, manifest, pareto
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
    for man in (doc["manifest"], doc["int8"]["manifest"]):  # where NMS lives, per artifact
        assert man["detect"]["nms"].startswith("outside the graph: edgekit's decode")
        assert man["detect"]["head"] == "yolo raw head" and man["detect"]["shape"] == [1, 6, 16]
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
def test_a_detectors_variants_are_judged_by_detection_agreement_in_every_command(
        tmp_path: Path, digits: dict[str, Path]) -> None:
    """profile shows the INT8 detector's agreement verdict (its detections against FP32's) and
    refuses --data (top-1 labels); pick admits it by --min-agreement; pareto plots no top-1 for
    it; budget's min_top1 says why it has none, and min_agreement checks its F1."""
    code, doc, err = _export(tiny_onnx.write_detector(tmp_path / "yolo.onnx"), tmp_path)
    assert code == 0, err
    fp32, int8 = tmp_path / doc["path"], tmp_path / doc["int8"]["path"]
    store = tmp_path / "results"
    r = run_cli("profile", str(fp32), "--data", str(digits["test"]), "--no-store")
    assert r.returncode == 2 and "no images with YOLO txt labels" in r.stderr  # a class folder
    for art in (fp32, int8):
        r = run_cli("profile", str(art), "--iterations", "20", "--store", str(store), "--json")
        assert r.returncode == 0, r.stderr
    (claim,) = json.loads(r.stdout)["claims"]
    f1 = doc["int8"]["manifest"]["verification"]["f1"]
    assert (claim["kind"], claim["metric"], claim["value"]) == ("agreement", "f1", f1)
    assert claim["top1"] is None and claim["task"] == "detect" and 0 < f1 <= 1
    r = run_cli("profile", str(int8), "--iterations", "20", "--no-store",
                env={"COLUMNS": "200"})
    assert "verdict (agreement)" in r.stdout and "detection agreement" in r.stdout
    assert "top-1" not in r.stdout
    for floor, admitted in ((f1 - 0.01, True), (min(1.0, f1 + 0.01), False)):
        r = run_cli("pick", str(store), "--min-agreement", str(floor), "--json")
        (m,) = json.loads(r.stdout)["models"]
        seen = [v for v in [m["pick"], *m["rejected"]] if v and v["precision"] == "int8"]
        assert not seen or seen[0]["eligible"] is admitted
        assert admitted or not seen or "under the agreement floor" in seen[0]["why"]
    r = run_cli("pareto", str(store), "-o", str(tmp_path / "p.png"))
    assert r.returncode == 2 and "detect models have no top-1" in r.stderr
    assert "--y map50_95" in r.stderr  # one task a plot: a detector's axis is its mAP
    points, _ = pareto.select(open_store(str(store)).query(full=True), "latency_p50_ms",
                              "map50_95")
    pts = {p.precision: p for p in points}
    assert pts["int8"].accuracy_kind == "agreement" and pts["int8"].y is None  # no labels
    assert "detection agreement" in pts["int8"].accuracy_text and pts["int8"].task == "detect"
    (tmp_path / "b.yaml").write_text("budgets:\n  - model: yolo\n    precision: int8\n"
                                     "    min_top1: 50\n  - model: yolo\n    precision: int8\n"
                                     f"    min_agreement: {f1}\n")
    r = run_cli("budget", "check", str(tmp_path / "b.yaml"), "--store", str(store), "--json")
    top1, agree = json.loads(r.stdout)["outcomes"]
    assert r.returncode == 3 and top1["status"] == "fail" and agree["status"] == "pass"
    assert "no top-1 figure" in top1["message"] and "detection agreement" in top1["message"]
    assert agree["checks"][0]["value"] == f1


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


@pytest.fixture(scope="module")
def yolo_digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The trained YOLO fixture exported, and the validation images of its data set (labels
    unused): scripts/make_detection_set.py, seed 0, as it was trained."""
    import importlib.util

    from support import FIX, ROOT

    tmp = tmp_path_factory.mktemp("yolo")
    spec = importlib.util.spec_from_file_location("detset", ROOT / "scripts" /
                                                  "make_detection_set.py")
    assert spec is not None and spec.loader is not None
    detset = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(detset)
    data = detset.write(tmp / "set", only="val")  # never trained on
    r = run_cli("export", str(FIX / "yolo_digits.onnx"), "-o", str(tmp / "d.onnx"), "--quiet")
    assert r.returncode == 0, r.stderr
    return {"fp32": tmp / "d.onnx", "val": Path(data["folder"]) / "images" / "val", "tmp": tmp}


@pytest.mark.slow
def test_int8_keeps_the_trained_detector_detecting_only_with_its_decode_float(
        yolo_digits: dict[str, Path]) -> None:
    """On the trained fixture: quantizing every op (ORT's default) loses every detection;
    the default, the decode found from the graph kept float, agrees with FP32's detections."""
    f1 = {}
    for name, flags in (("default", []), ("head quantized", ["--quantize-head"])):
        r = run_cli("quantize", str(yolo_digits["fp32"]), "-o",
                    str(yolo_digits["tmp"] / f"{len(f1)}.int8.onnx"), "--agreement-data",
                    str(yolo_digits["val"]), "--report", "0", "--json", *flags)
        assert r.returncode == 0, r.stderr
        man = json.loads(r.stdout)["manifest"]
        det = man["verification"]["detection"]
        assert det["images"] == 60 and det["fp32_boxes"] > 100  # the digits FP32 finds
        f1[name] = det["f1"]
        head = man["quantization"]["float_head"]["nodes"]
        assert bool(head) is (name == "default")
        assert not head or any("dfl" in n for n in head) and any("Sigmoid" in n for n in head)
    assert f1["head quantized"] < 0.5 <= 0.9 <= f1["default"], f1


@pytest.mark.slow
def test_profile_times_a_detector_network_only_and_end_to_end(
        yolo_digits: dict[str, Path]) -> None:
    r = run_cli("profile", str(yolo_digits["fp32"]), "--iterations", "20", "--no-store",
                "--json", "--conf", "0.1")
    assert r.returncode == 0, r.stderr
    lat = json.loads(r.stdout)["results"][0]["latency"]
    e2e = lat["end_to_end"]
    assert e2e["conf"] == 0.1 and e2e["runs"] == 20 and e2e["decode_p50_ms"] > 0
    assert e2e["p50_ms"] > e2e["decode_p50_ms"] and lat["p50_ms"] > 0
    r = run_cli("profile", str(yolo_digits["fp32"]), "--iterations", "5", "--no-store",
                env={"COLUMNS": "200"})
    assert "end to end, batch 1" in r.stdout and "decode/NMS" in r.stdout


def _quantized_after(model: onnx.ModelProto, nodes: list[str]) -> list[str]:
    """The named nodes whose output feeds a QuantizeLinear (so it was quantized)."""
    q_inputs = {i for n in model.graph.node if n.op_type == "QuantizeLinear" for i in n.input}
    return [n.name for n in model.graph.node if n.name in nodes
            and any(o in q_inputs for o in n.output)]


@pytest.mark.parametrize("target", ["cpu", "tensorrt"])
def test_the_decode_stays_float_with_either_quantizer(tmp_path: Path, target: str) -> None:
    """ORT's quantizer (--target cpu) and ModelOpt (--target tensorrt) leave the decode nodes
    float: nothing after them is quantized; with --quantize-head the same nodes are."""
    det = tiny_onnx.write_detector(tmp_path / "yolo.onnx")
    flags = ["--target", target, *(["--quantizer", "modelopt"] if target == "tensorrt" else [])]
    code, doc, err = _export(det, tmp_path, *flags)
    assert code == 0, err
    head = doc["int8"]["manifest"]["quantization"]["float_head"]["nodes"]
    assert head == ["/model.22/Reshape", "/model.22/Sigmoid"]
    int8 = onnx.load(str(tmp_path / doc["int8"]["path"]))
    assert _quantized_after(int8, head) == []
    if target == "cpu":
        code, doc, err = _export(det, tmp_path, "--quantize-head")
        assert code == 0, err
        assert _quantized_after(onnx.load(str(tmp_path / doc["int8"]["path"])), head) == head


@pytest.mark.slow
def test_a_sweep_over_a_detector_reports_map_and_plots_it_apart(
        yolo_digits: dict[str, Path], digits: dict[str, Path]) -> None:
    """sweep --data over the YOLO fixture (its validation folder, YOLO txt labels): mAP@[.5:.95]
    and mAP@.5 by faster-coco-eval; the INT8 verdict is measured, with its drop in mAP points
    against FP32 on the same images; budgets take mAP; the report's rows carry mAP with its
    metric's name and the detector gets its own Pareto plot; with a classifier's rows in the
    same store, the report draws one plot per task."""
    from support import FIX

    from edgekit import report

    tmp = yolo_digits["tmp"] / "sweep"
    tmp.mkdir()
    r = run_cli("sweep", str(FIX / "yolo_digits.onnx"), "--precisions", "fp32,int8",
                "--backends", "ort", "--data", str(yolo_digits["val"]), "--duration", "0.1",
                "--store", str(tmp / "results"), "--out", str(tmp / "report"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    table = {t["precision"]: t for t in doc["table"]}
    assert {t["accuracy_metric"] for t in table.values()} == {"mAP@[.5:.95]"}
    assert table["fp32"]["accuracy"] > table["int8"]["accuracy"] - 5 > 30
    assert table["int8"]["agreement_metric"] == "detection F1"
    assert Path(doc["files"]["pareto-detect.png"]).stat().st_size > 10_000
    assert "pareto.png" not in doc["files"]  # no classifier here
    rows = open_store(str(tmp / "results")).query(full=True)
    (fp32,) = [r for r in rows if r["precision"] == "fp32"]
    (int8,) = [r for r in rows if r["precision"] == "int8"]
    acc, acc8 = fp32["result"]["accuracy"], int8["result"]["accuracy"]
    assert acc["evaluator"] == "faster-coco-eval" and acc["max_dets"] == 100
    assert acc["images"] == 60 and acc["boxes"] == 143 and acc["format"] == "yolo txt"
    assert acc["map50"] >= 70 and acc["map50"] > acc["map50_95"] > 40
    claims = accuracy.claims(rows)
    claim, claim8 = claims[fp32["id"]], claims[int8["id"]]
    assert (claim.kind, claim.metric, claim.drop) == ("measured", "map50_95", 0.0)
    assert claim8.kind == "measured" and claim8.drop_kind == "measured"
    assert claim8.drop == pytest.approx(acc["map50_95"] - acc8["map50_95"])
    assert "top-1" not in claim.text + claim8.text
    floor = round(acc8["map50_95"] - 1, 2)  # budgets take the detector's own unit
    met, missed, code = int8_floors(tmp, tmp / "results", "yolo_digits", "min_map50_95", floor,
                                    floor + 50)
    assert code == 3 and (met["status"], missed["status"]) == ("pass", "fail")
    assert met["checks"][0]["value"] == round(acc8["map50_95"], 3)
    r = run_cli("profile", str(digits["digits_cnn_plain"]), "--data", str(digits["test"]),
                "--iterations", "5", "--store", str(tmp / "results"))
    assert r.returncode == 0, r.stderr
    both = report._plots(open_store(str(tmp / "results")).query(full=True), tmp)
    assert {"pareto.png", "pareto-detect.png"} <= set(both)
