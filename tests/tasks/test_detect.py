"""tasks.detect: a YOLO raw head decoded with numpy (as Ultralytics' own post-processing
does), detections matched to FP32's, and the decode nodes found from the graph's structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import import_ultralytics, tiny_onnx

from edgekit.tasks import detect


def _raw(anchors: list[tuple[float, float, float, float, list[float]]]) -> np.ndarray:
    """[1, 4 + classes, anchors] from (cx, cy, w, h, class scores) rows."""
    return np.array([[*a[:4], *a[4]] for a in anchors], np.float32).T[None]


def test_decode_keeps_the_best_box_per_class_and_drops_low_scores() -> None:
    raw = _raw([(50, 50, 20, 20, [0.9, 0.1]),   # kept
                (52, 51, 20, 20, [0.8, 0.0]),   # the same object, same class: suppressed
                (51, 50, 20, 20, [0.0, 0.7]),   # the same place, another class: kept
                (150, 150, 10, 10, [0.2, 0.1]),  # under conf 0.25
                *[(0, 0, 1, 1, [0.0, 0.0])] * 6])
    (d,) = detect.decode(raw)
    assert d.classes.tolist() == [0, 1] and d.scores.tolist() == pytest.approx([0.9, 0.7])
    assert d.boxes[0].tolist() == pytest.approx([40, 40, 60, 60])


def test_agreement_matches_by_class_at_iou_half() -> None:
    ref = detect.decode(_raw([(50, 50, 20, 20, [0.9, 0.0]), (120, 120, 30, 30, [0.0, 0.8]),
                              *[(0, 0, 1, 1, [0.0, 0.0])] * 8]))
    same = detect.agreement(ref, ref)
    assert (same["precision"], same["recall"], same["f1"], same["mean_iou"]) == (1, 1, 1, 1)
    moved = detect.decode(_raw([(53, 50, 20, 20, [0.9, 0.0]),  # IoU 0.74: a match
                                (120, 120, 30, 30, [0.8, 0.0]),  # the wrong class: no match
                                *[(0, 0, 1, 1, [0.0, 0.0])] * 8]))
    a = detect.agreement(ref, moved)
    assert (a["matched"], a["precision"], a["recall"], a["f1"]) == (1, 0.5, 0.5, 0.5)
    assert a["mean_iou"] == pytest.approx(17 * 20 / (23 * 20), abs=1e-4)
    empty = detect.decode(np.zeros((1, 6, 10), np.float32))
    assert detect.agreement(ref, empty)["f1"] == 0.0
    assert detect.agreement(empty, empty)["f1"] is None  # nothing to agree on


def test_decode_matches_ultralytics_post_processing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same raw outputs through Ultralytics' non_max_suppression (torch): the same boxes,
    scores and classes."""
    nms = import_ultralytics("ultralytics.utils.nms", monkeypatch)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    n, classes, anchors = 3, 5, 400
    xy = rng.uniform(0, 320, (n, 2, anchors))
    wh = rng.uniform(8, 80, (n, 2, anchors))
    scores = rng.uniform(0, 1, (n, classes, anchors)) ** 4  # few over 0.25, as a trained head
    raw = np.concatenate([xy, wh, scores], axis=1).astype(np.float32)
    theirs = nms.non_max_suppression(torch.from_numpy(raw), conf_thres=0.25, iou_thres=0.7)
    ours = detect.decode(raw)
    for t, o in zip(theirs, ours, strict=True):
        t = t.numpy()
        assert len(t) == len(o) > 0
        order = np.argsort(-t[:, 4], kind="stable")
        assert np.allclose(t[order, :4], o.boxes, atol=1e-3)
        assert np.allclose(t[order, 4], o.scores, atol=1e-6)
        assert (t[order, 5].astype(int) == o.classes).all()


def test_the_float_head_is_found_from_the_graph(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(tiny_onnx.write_detector(tmp_path / "yolo.onnx")))
    assert detect.float_head(model) == ["/model.22/Reshape", "/model.22/Sigmoid"]  # not the Conv
    assert detect.yolo_head([1, 6, 16]) and not detect.yolo_head([1, 16, 6])
    assert not detect.yolo_head([1, 1000]) and detect.yolo_head([1, 84, 8400], classes=80)
