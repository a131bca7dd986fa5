"""A detector against labels: mAP@[.5:.95] and mAP@.5 on a labelled folder, as COCO scores it.

The folder holds images and their boxes in one of two formats:
- **YOLO txt**: ``class cx cy w h`` per line, normalised; the label of ``.../images/X/a.png`` is
  ``.../labels/X/a.txt`` (Ultralytics' rule), or ``a.txt`` beside the image. Class k is model
  class k.
- **COCO JSON**: ``--labels FILE.json``, or the one ``.json`` in the folder or its
  ``annotations/``; images matched by file name. Model class k is the category named as the
  model's class k where the model's names cover the categories' (torchvision's detectors),
  else the k-th category by id.

Each image goes through the model's own recipe (``images.preprocess_with_transform``), its raw
head is decoded at COCO's settings (confidence 0.001, at most 300 detections), and the boxes
are mapped back through the letterbox to the original image before scoring. Scoring is
faster-coco-eval's ``COCOeval_faster`` (C++, the results of pycocotools, several times faster;
``edgekit[detect]``), with pycocotools' standard ``maxDets`` (1, 10, 100): the output names both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._lazy import require
from edgekit.errors import ConfigError
from edgekit.images import list_images
from edgekit.tasks import detect

EVAL_CONF = 0.001  # COCO evaluation: keep (almost) every detection
EVAL_MAX_DET = 300
MAX_DETS = [1, 10, 100]  # pycocotools' default: mAP is read at 100


@dataclass(kw_only=True)
class DetectionSet:
    """Images and their ground truth as a COCO dataset dict (image ids from 1)."""

    folder: Path
    images: list[Path]
    coco: dict[str, Any]
    format: str  # yolo txt | coco json
    source: str  # where the labels came from

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "images": len(self.images), "format": self.format,
                "labels": self.source, "boxes": len(self.coco["annotations"]),
                "classes": len(self.coco["categories"])}


def load(folder: Path, labels: Path | None = None, names: list[str] | None = None,
         ignore_index: int | None = None) -> DetectionSet:
    """The labelled folder (module docstring); an empty or unlabelled one is one line.
    ``ignore_index`` is a segmenter's; boxes have none."""
    if not folder.is_dir():
        raise ConfigError("--data: folder not found", "check the path", path=str(folder))
    coco_file = labels or _one_json(folder)
    if coco_file is not None:
        return _coco(folder, coco_file, names)
    return _yolo(folder, names)


def _one_json(folder: Path) -> Path | None:
    found = sorted(folder.glob("*.json")) + sorted((folder / "annotations").glob("*.json"))
    return found[0] if len(found) == 1 else None


def _label_of(image: Path) -> Path | None:
    parts = list(image.parts)
    if "images" in parts:
        i = len(parts) - 1 - parts[::-1].index("images")
        p = Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
        if p.is_file():
            return p
    beside = image.with_suffix(".txt")
    return beside if beside.is_file() else None


def _yolo(folder: Path, names: list[str] | None) -> DetectionSet:
    from PIL import Image

    images = list_images(folder)[0]
    pairs = [(p, _label_of(p)) for p in images]
    if not images or not any(lab for _, lab in pairs):
        raise ConfigError("--data: no images with YOLO txt labels (.../labels/NAME.txt) or a "
                          "COCO .json found", "give a labelled detection folder, or --labels "
                          "FILE.json", path=str(folder))
    anns: list[dict[str, Any]] = []
    imgs: list[dict[str, Any]] = []
    top = -1
    for i, (p, lab) in enumerate(pairs, start=1):
        with Image.open(p) as im:
            w, h = im.size
        imgs.append({"id": i, "file_name": p.name, "width": w, "height": h})
        for line in (lab.read_text().split("\n") if lab else []):
            if not line.strip():
                continue
            c, cx, cy, bw, bh = line.split()[:5]
            x, y, bw_px, bh_px = ((float(cx) - float(bw) / 2) * w, (float(cy) - float(bh) / 2)
                                  * h, float(bw) * w, float(bh) * h)
            top = max(top, int(c))
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c) + 1,
                         "bbox": [x, y, bw_px, bh_px], "area": bw_px * bh_px, "iscrowd": 0})
    count = max(top + 1, len(names or []))
    cats = [{"id": k + 1, "name": (names[k] if names and k < len(names) else str(k))}
            for k in range(count)]
    return DetectionSet(folder=folder, images=images, format="yolo txt", source="labels/*.txt",
                        coco={"images": imgs, "annotations": anns, "categories": cats})


def _coco(folder: Path, path: Path, names: list[str] | None = None) -> DetectionSet:
    try:
        d = json.loads(path.read_text())
        by_name = {p.name: p for p in list_images(folder)[0]}
        images = [by_name[im["file_name"].split("/")[-1]] for im in d["images"]]
        cats = sorted(d["categories"], key=lambda c: c["id"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--labels: not a COCO detection file for this folder ({type(e).__name__}"
                          f": {str(e)[:80]})", "give the instances JSON of these images",
                          path=str(path)) from e
    remap = _classes(cats, names)
    anns = [{**a, "id": i, "category_id": remap[a["category_id"]],
             "area": a.get("area", a["bbox"][2] * a["bbox"][3]), "iscrowd": a.get("iscrowd", 0)}
            for i, a in enumerate(d.get("annotations", []), start=1)]
    imgs = [{"id": im["id"], "file_name": im["file_name"], "width": im["width"],
             "height": im["height"]} for im in d["images"]]
    return DetectionSet(folder=folder, images=images, format="coco json", source=str(path),
                        coco={"images": imgs, "annotations": anns,
                              "categories": [{"id": remap[c["id"]], "name": c.get("name")}
                                             for c in cats]})


def _classes(cats: list[dict[str, Any]], names: list[str] | None) -> dict[int, int]:
    """COCO category id -> model class + 1: by name where the model's class names hold every
    category's (torchvision's detectors: class = COCO id, 'N/A' gaps), else the k-th category
    by id is model class k (a YOLO model trained on these categories)."""
    if names and all(c.get("name") in names for c in cats):
        return {c["id"]: names.index(c["name"]) + 1 for c in cats}
    return {c["id"]: k + 1 for k, c in enumerate(cats)}


def evaluate(ds: DetectionSet, pp: Any, infer: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """mAP of ``infer`` (one preprocessed image batch -> the raw head) on the set."""
    from PIL import Image

    from edgekit.images import preprocess_with_transform

    ids = [im["id"] for im in ds.coco["images"]]  # in the order of ds.images
    dets: list[dict[str, Any]] = []
    for image_id, path in zip(ids, ds.images, strict=True):
        with Image.open(path) as im:
            x, t = preprocess_with_transform(im.convert("RGB"), pp)
        raw = np.asarray(infer(x[None]))
        if not detect.decodes("detect", raw.shape):
            raise ConfigError(f"--data measures mAP from a YOLO raw head or detections after "
                              f"NMS, not an output of {list(raw.shape)}", "drop --data",
                              path=str(path))
        (d,) = detect.decode(raw, conf=EVAL_CONF, max_det=EVAL_MAX_DET)
        boxes = t.to_original(d.boxes)
        w, h = t.original
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        dets += [{"image_id": image_id, "category_id": int(c) + 1, "score": float(s),
                  "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
                 for b, s, c in zip(boxes, d.scores, d.classes, strict=True)]
    return {**score(ds.coco, dets), **ds.to_dict(), "detections": len(dets)}


def score(gt: dict[str, Any], dets: list[dict[str, Any]], evaluator: str = "faster-coco-eval"
          ) -> dict[str, Any]:
    """COCO bbox mAP of ``dets`` against ``gt`` (a COCO dataset dict): by faster-coco-eval,
    or pycocotools (``evaluator``, for the cross-check)."""
    if evaluator == "pycocotools":
        coco_mod, eval_mod = require("pycocotools.coco"), require("pycocotools.cocoeval")
        truth = coco_mod.COCO()
        truth.dataset = json.loads(json.dumps(gt))
        truth.createIndex()
        make = eval_mod.COCOeval
    else:
        fce = require("faster_coco_eval")
        truth, make = fce.COCO(json.loads(json.dumps(gt))), fce.COCOeval_faster
    if not dets:
        return {"map50_95": 0.0, "map50": 0.0, "evaluator": evaluator, "max_dets": MAX_DETS[-1],
                "conf": EVAL_CONF}
    found = truth.loadRes(dets)
    e = make(truth, found, "bbox")
    e.params.maxDets = list(MAX_DETS)
    _quiet(e.evaluate, e.accumulate, e.summarize)
    return {"map50_95": round(float(e.stats[0]) * 100, 3), "map50": round(float(e.stats[1]) * 100, 3),
            "evaluator": evaluator, "max_dets": MAX_DETS[-1], "conf": EVAL_CONF,
            "decode_max_det": EVAL_MAX_DET}


def _quiet(*steps: Callable[[], Any]) -> None:
    """pycocotools prints its progress and table on stdout: kept off the command's output."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        for step in steps:
            step()
