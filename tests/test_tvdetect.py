"""torchvision's detectors: wrapped with their NMS for ONNX, exported through torchvision's
download path, verified against torch at two input sizes, decoded by tasks.detect, INT8.

No weights are downloaded: the "pretrained" ones are served on 127.0.0.1 (test_weights'
server). Random weights make SSDlite's output the same for every image (its BatchNorm
statistics are the initial ones), so ``_detector_weights`` recalibrates them on the bundled
photos and scales the class logits: input-dependent boxes with distinct scores, the property
a verification needs (real COCO weights have it)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import torchvision.models as tvm
from test_weights import _cli, _Server, server  # noqa: F401 (the fixture)

from edgekit import graph, tasks, tvdetect
from edgekit.sources import Options, resolve
from edgekit.tasks import detect
from edgekit.tasks.tensor import EXPORT_TOLERANCE

SSDLITE = tvm.detection.SSDLite320_MobileNet_V3_Large_Weights.COCO_V1
NAME = "ssdlite320_mobilenet_v3_large"


@pytest.fixture(scope="module")
def detector_state() -> dict[str, torch.Tensor]:
    """SSDlite, random, its BatchNorm statistics recalibrated on the bundled photos."""
    import importlib.util

    from support import ROOT

    spec = importlib.util.spec_from_file_location("tvw", ROOT / "scripts" /
                                                  "tv_detector_weights.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.recalibrated(NAME)  # type: ignore[no-any-return]


def _serve(srv: _Server, monkeypatch: pytest.MonkeyPatch, state: dict[str, torch.Tensor]
           ) -> str:
    buf = io.BytesIO()
    torch.save(state, buf)
    body = buf.getvalue()
    name = f"{NAME}_coco-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    srv.files[f"/{name}"] = (body, {})
    monkeypatch.setattr(SSDLITE.value, "url", f"{srv.url}/{name}")
    return name


def test_detector_exports_with_nms_in_the_graph_verified_at_two_sizes_with_published_map(
        server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str], detector_state: dict[str, torch.Tensor]) -> None:
    name = _serve(server, monkeypatch, detector_state)
    out = tmp_path / "ssd.onnx"
    code, stdout, err = _cli(capsys, "export", f"torchvision:{NAME}", "-o", str(out), "--json")
    assert code == 0, err[-2000:]
    man = json.loads(stdout)["manifest"]
    assert server.gets == [f"/{name}"]
    rec = man["lineage"]["source"]["weights_record"]
    assert rec["kind"] == "pretrained" and rec["name"] == str(SSDLITE)
    # the published box mAP of exactly these weights, from torchvision's metadata
    assert man["model"]["published"] == {"map50_95": 21.3, "dataset": "COCO-val2017",
                                         "weights": str(SSDLITE),
                                         "source": "torchvision's weights metadata"}
    assert man["model"]["task"] == "detect" and len(man["model"]["names"]) == 91
    assert man["model"]["names"][1] == "person"
    assert man["input"]["shape"] == [1, 3, "height", "width"]
    assert man["outputs"][0]["shape"] == [1, 300, 6]
    assert man["detect"]["nms"] == "in the graph (NonMaxSuppression)"
    assert man["export"]["exporter"] == "torchscript" and man["export"]["batch"] == 1
    assert man["preprocess"]["resize_mode"] == "stretch" and man["preprocess"]["mean"] == [0, 0, 0]
    # verified by its detections, at the recipe's size and at a second, non-square one
    for ver in (man["verification"], man["export"]["second_size"]):
        det = ver["detection"]
        assert ver["passed"] and det["nms_in_graph"] and det["fp32_boxes"] >= 4
        assert det["f1"] == 1.0 and det["mean_iou"] >= 0.99
    assert man["export"]["second_size"]["input_size"] == [224, 320]
    # the ONNX's detections are torch's on an image of a third size
    m = tvm.get_model(NAME, weights=None, weights_backbone=None)
    m.load_state_dict(detector_state)
    x = np.random.default_rng(0).random((1, 3, 200, 280), np.float32)
    with torch.no_grad():
        ref = tvdetect.wrap(m.eval())(torch.from_numpy(x)).numpy()
    sess = graph.ort_session(out)
    got = graph.ort_run(sess, x)
    two = graph.ort_run_all(sess, np.concatenate([x, x]))[0]  # a batch-1 graph, run in chunks
    assert two.shape == (2, 300, 6) and np.array_equal(two[1], got[0])
    agree = detect.agreement(detect.decode(ref, conf=0.05), detect.decode(got, conf=0.05))
    assert agree["f1"] == 1.0, agree


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory,
             detector_state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """SSDlite exported from a --weights checkpoint with --int8 (the CLI's --json object)."""
    from support import run_cli

    tmp = tmp_path_factory.mktemp("ssd")
    torch.save(detector_state, tmp / "ssd.pth")
    r = run_cli("export", f"torchvision:{NAME}", "--weights", str(tmp / "ssd.pth"), "-o",
                str(tmp / "ssd.onnx"), "--int8", "--calib-size", "4", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    return {**json.loads(r.stdout), "tmp": tmp}


@pytest.mark.slow
def test_detector_int8_is_quantized_by_ort_and_judged_by_detection_agreement(
        exported: dict[str, Any]) -> None:
    q = exported["int8"]
    man = q["manifest"]
    ver = man["verification"]
    assert ver["metric"] == "f1" and "detection" in ver and ver["detection"]["fp32_boxes"] > 0
    assert 0.0 <= ver["detection"]["f1"] <= 1.0
    assert man["model"]["published"] is None  # a checkpoint: torchvision's figure is not its
    ops = {n.op_type for n in onnx.load(q["path"]).graph.node}
    assert "QuantizeLinear" in ops and "If" in ops  # the NMS (inside the If) stays float


@pytest.mark.slow
def test_detector_map_on_a_coco_json_whose_truth_is_its_own_detections(
        exported: dict[str, Any]) -> None:
    """Ground truth written from the FP32 ONNX's own detections (conf 0.3) in the original
    photos' pixels, categories by COCO id and name: profile --data must score it 100 %, which
    holds only if the stretch is undone, classes map by name and every row is decoded."""
    from support import run_cli

    from edgekit import manifest
    from edgekit.images import bundled_photos, load_rgb, preprocess_with_transform

    fp32, folder = Path(exported["path"]), exported["tmp"] / "val"
    folder.mkdir()
    man = manifest.for_artifact(fp32)
    assert man is not None and man.model.names is not None
    sess, names = graph.ort_session(fp32), man.model.names
    images, anns, cats = [], [], {}
    for i, photo in enumerate(bundled_photos()[:4], start=1):
        im = load_rgb(photo)
        im.save(folder / f"{photo.stem}.png")
        x, t = preprocess_with_transform(im, man.preprocess)  # type: ignore[arg-type]
        (d,) = detect.decode(graph.ort_run(sess, x[None]), conf=0.3)
        images.append({"id": i, "file_name": f"{photo.stem}.png", "width": im.width,
                       "height": im.height})
        for b, c in zip(t.to_original(d.boxes), d.classes, strict=True):
            cats[int(c)] = {"id": int(c), "name": names[int(c)]}
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c), "iscrowd": 0,
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                  float(b[3] - b[1])], "area": float((b[2:] - b[:2]).prod())})
    assert len(anns) >= 3
    (folder / "gt.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                "categories": list(cats.values())}))
    r = run_cli("profile", str(fp32), "--data", str(folder), "--no-store", "--iterations", "3",
                "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    acc = json.loads(r.stdout)["results"][0]["accuracy"]
    assert acc["map50_95"] == pytest.approx(100.0, abs=0.5) and acc["format"] == "coco json"
    assert acc["boxes"] == len(anns) and acc["evaluator"] == "faster-coco-eval"


def test_end_to_end_rows_decode_and_are_judged_by_detections_not_row_order() -> None:
    rows = np.zeros((1, 8, 6), np.float32)
    rows[0, 0] = [10, 10, 50, 50, 0.9, 3]
    rows[0, 1] = [60, 60, 90, 90, 0.6, 1]
    rows[0, 2] = [0, 0, 5, 5, 0.1, 2]  # below conf
    (d,) = detect.decode(rows)
    assert d.classes.tolist() == [3, 1] and d.scores.tolist() == pytest.approx([0.9, 0.6])
    swapped = rows[:, [1, 0, *range(2, 8)]]
    cmp = detect.compare([rows], [swapped])
    assert cmp.cosine_min < EXPORT_TOLERANCE.min_cosine and cmp.passes(EXPORT_TOLERANCE)
    moved = rows.copy()
    moved[0, 0, :4] += 30  # one box elsewhere: a different detection
    bad = detect.compare([rows], [moved])
    assert not bad.passes(EXPORT_TOLERANCE) and "detection F1 0.5" in bad.failure(EXPORT_TOLERANCE)
    flat = rows.copy()  # zero-width boxes (FCOS keeps them) agree with themselves, not others
    flat[0, :2, 2] = flat[0, :2, 0]
    same = detect.compare([flat], [flat[:, [1, 0, *range(2, 8)]]])
    assert same.detection is not None and same.detection["f1"] == 1.0
    other = flat.copy()
    other[0, 0, [0, 2]] += 5
    assert detect.compare([flat], [other]).detection["f1"] == 0.5  # type: ignore[index]
    low, low_moved = rows.copy(), moved.copy()  # nothing above conf 0.25: every kept row counts
    low[..., 4] *= 0.1
    low_moved[..., 4] *= 0.1
    faint = detect.compare([low], [low_moved])
    assert faint.detection is not None and faint.detection["conf"] == 0.0
    assert faint.detection["fp32_boxes"] == 3 and not faint.passes(EXPORT_TOLERANCE)
    tied = np.zeros((1, 8, 6), np.float32)  # random SSDlite: every score 1/91, boxes arbitrary
    tied[0, :, 4] = 1 / 91
    tied[0, :, :4] = np.arange(32).reshape(8, 4)
    other_pick = tied.copy()
    other_pick[0, :, :4] += 100  # NMS kept other tied boxes: nothing to hold against it
    ok = detect.compare([tied], [other_pick])
    assert ok.passes(EXPORT_TOLERANCE) and ok.detection is not None
    assert ok.detection["tied_rows"] == 8 and ok.detection["scores_match"]
    assert tasks.describe(tasks.record("detect", ok)).startswith(
        "detections: 8 kept rows with tied scores")  # not an SQNR of arbitrary rows
    other_pick[0, 0, 4] = 0.2  # but the scores themselves must still be the reference's
    assert not detect.compare([tied], [other_pick]).passes(EXPORT_TOLERANCE)


def test_recipes_follow_each_detectors_own_transform() -> None:
    ssd = tvdetect.preprocess(tvm.get_model("ssd300_vgg16", weights=None, weights_backbone=None))
    assert (ssd.height, ssd.width, ssd.resize_mode) == (300, 300, "stretch")
    frcnn = resolve("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
                    Options(random_weights=True))
    pp = frcnn.preprocess
    assert (pp.height, pp.width, pp.resize_mode, pp.pad_side) == (320, 320, "letterbox",
                                                                  "right-bottom")
    assert pp.pad_value == (123.7, 116.3, 103.5)  # ImageNet's mean colour, in pixels
    assert frcnn.task == "detect" and frcnn.batch == 1 and frcnn.published() is None
    assert tvdetect.max_detections(frcnn.model.detector) == 100
