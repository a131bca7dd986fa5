"""tasks.detect_map: a detector's mAP on a labelled folder (YOLO txt or COCO JSON), boxes mapped
back through the letterbox, scored by faster-coco-eval, which agrees with pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgekit.errors import ConfigError
from edgekit.tasks import detect_map


def _set(folder: Path, size: tuple[int, int] = (120, 90)) -> Path:
    """Three images with YOLO txt labels (Ultralytics' images/ -> labels/ rule)."""
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).save(
            folder / "images" / f"im{i}.png")
        (folder / "labels" / f"im{i}.txt").write_text(
            f"{i % 2} 0.5 0.5 0.4 0.3\n1 0.2 0.25 0.1 0.2\n")
    return folder


def _gt_dets(ds: detect_map.DetectionSet, jitter: float) -> list[dict[str, object]]:
    """Detections at the ground truth's boxes, moved by ``jitter`` px, with falling scores."""
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9 - 0.1 * k,
             "bbox": [a["bbox"][0] + jitter, a["bbox"][1], a["bbox"][2], a["bbox"][3]]}
            for k, a in enumerate(ds.coco["annotations"])]


def test_yolo_txt_labels_become_coco_ground_truth_in_pixels(tmp_path: Path) -> None:
    ds = detect_map.load(_set(tmp_path / "d"), names=["a", "b"])
    assert (ds.format, len(ds.images), len(ds.coco["annotations"])) == ("yolo txt", 3, 6)
    first = ds.coco["annotations"][0]
    assert first["bbox"] == pytest.approx([36, 31.5, 48, 27]) and first["category_id"] == 1
    assert [c["name"] for c in ds.coco["categories"]] == ["a", "b"]
    (tmp_path / "d" / "gt.json").write_text(json.dumps({k: v for k, v in ds.coco.items()}))
    coco = detect_map.load(tmp_path / "d")  # the one .json in the folder
    assert coco.format == "coco json" and coco.coco["annotations"][0]["bbox"] == first["bbox"]


def test_coco_categories_map_to_model_classes_by_name_where_the_names_cover_them(
        tmp_path: Path) -> None:
    folder = _set(tmp_path / "d")
    gt = {**detect_map.load(folder).coco}  # categories 1 "0", 2 "1"
    gt["categories"] = [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}]
    gt["annotations"] = [{**a, "category_id": 18 if a["category_id"] == 2 else 1}
                         for a in gt["annotations"]]
    (folder / "gt.json").write_text(json.dumps(gt))
    tv = ["__background__", "person", *["N/A"] * 16, "dog"]  # torchvision: class = COCO id
    by_name = detect_map.load(folder, names=tv).coco
    assert {c["name"]: c["id"] for c in by_name["categories"]} == {"person": 2, "dog": 19}
    assert {a["category_id"] for a in by_name["annotations"]} == {2, 19}
    by_order = detect_map.load(folder, names=["x", "y"]).coco  # names do not cover them
    assert {c["name"]: c["id"] for c in by_order["categories"]} == {"person": 1, "dog": 2}


def test_faster_coco_eval_agrees_with_pycocotools(tmp_path: Path) -> None:
    ds = detect_map.load(_set(tmp_path / "d"))
    for jitter in (0.0, 3.0, 9.0):
        dets = _gt_dets(ds, jitter)
        fast = detect_map.score(ds.coco, dets)
        ref = detect_map.score(ds.coco, dets, evaluator="pycocotools")
        assert fast["map50_95"] == pytest.approx(ref["map50_95"], abs=1e-6)
        assert fast["map50"] == pytest.approx(ref["map50"], abs=1e-6)
        assert (fast["evaluator"], fast["max_dets"]) == ("faster-coco-eval", 100)
    assert detect_map.score(ds.coco, _gt_dets(ds, 0.0))["map50_95"] == pytest.approx(100.0)


def test_boxes_are_mapped_back_through_the_letterbox(tmp_path: Path) -> None:
    """A fake detector that finds the labelled boxes in the letterboxed input: after the
    mapping back they are the labels, so mAP is 100 on a non-square image."""
    from edgekit import preprocessing

    ds = detect_map.load(_set(tmp_path / "d", size=(200, 90)))
    pp = preprocessing.from_ultralytics(64, 64)
    calls = iter(ds.images)

    def infer(x: np.ndarray) -> np.ndarray:
        from edgekit.images import preprocess_with_transform

        path = next(calls)
        with Image.open(path) as im:
            _, t = preprocess_with_transform(im.convert("RGB"), pp)
        image_id = ds.images.index(path) + 1
        anns = [a for a in ds.coco["annotations"] if a["image_id"] == image_id]
        xyxy = t.to_model([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                            a["bbox"][1] + a["bbox"][3]] for a in anns])
        raw = np.zeros((1, 4 + 2, 64), np.float32)
        for k, (b, a) in enumerate(zip(xyxy, anns, strict=True)):
            raw[0, :4, k] = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]]
            raw[0, 4 + a["category_id"] - 1, k] = 0.9
        return raw

    got = detect_map.evaluate(ds, pp, infer)
    assert got["map50_95"] == pytest.approx(100.0) and got["detections"] == 6


def test_a_folder_without_labels_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "e" / "a.png")
    with pytest.raises(ConfigError, match="no images with YOLO txt labels"):
        detect_map.load(tmp_path / "e")
    with pytest.raises(ConfigError, match="not a COCO detection file"):
        (tmp_path / "e" / "x.json").write_text("{}")
        detect_map.load(tmp_path / "e")
