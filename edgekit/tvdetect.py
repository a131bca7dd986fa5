"""torchvision's detectors (SSD, SSDlite, Faster R-CNN, RetinaNet, FCOS) as export sources.

A torchvision detector takes a list of images and returns one dict per image (``boxes``,
``scores``, ``labels``) after its own postprocess: score threshold, per-class NMS, at most
``detections_per_img``. ``wrap`` makes it a module ONNX can hold with the NMS inside: one
``[1, 3, H, W]`` image in [0, 1] (the model normalises and resizes it itself) gives
``detections [1, K, 6]`` = x1, y1, x2, y2, score, class, padded with zero rows after the kept
ones: the end-to-end layout of Ultralytics' ``nms=True`` export, decoded by
``tasks.detect.decode``. The batch is 1 (torchvision's postprocess loops over the images in
Python, so a trace fixes the count); height and width stay symbolic.

torch.onnx's dynamo exporter fails on these models (pytorch#118884, vision#9306), so they
export with the TorchScript exporter only; its errors name the failing op.
"""

from __future__ import annotations

import functools
from typing import Any

from edgekit import weights
from edgekit._lazy import require
from edgekit.images import Preprocess
from edgekit.weights import WeightsRecord

COLUMNS = ("x1", "y1", "x2", "y2", "score", "class")
NMS_NOTE = ("NMS in the graph: torchvision's postprocess (score threshold, per-class NMS, top "
            "detections) exported as ONNX ops; output detections [1, K, 6] padded with zeros")


@functools.cache
def names() -> frozenset[str]:
    tvm = require("torchvision.models")
    return frozenset(tvm.list_models(module=tvm.detection))


def max_detections(model: Any) -> int:
    """K: the most detections the model returns per image."""
    heads = getattr(model, "roi_heads", None)  # the R-CNN family keeps it there
    return int(heads.detections_per_img if heads is not None else model.detections_per_img)


def wrap(model: Any) -> Any:
    """The detector as ``[1, 3, H, W] -> detections [1, K, 6]`` (module docstring)."""
    torch = require("torch")
    k = max_detections(model)

    class TorchvisionDetector(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self, detector: Any) -> None:
            super().__init__()
            self.detector = detector

        def forward(self, x: Any) -> Any:
            rows = []
            for d in self.detector(list(x)):
                r = torch.cat([d["boxes"], d["scores"][:, None],
                               d["labels"][:, None].to(d["boxes"].dtype)], 1)
                rows.append(torch.nn.functional.pad(r, (0, 0, 0, k - r.shape[0])))
            return torch.stack(rows)

    return TorchvisionDetector(model).eval()


def preprocess(model: Any) -> Preprocess:
    """The recipe before the graph: pixels / 255 (the model normalises inside). SSD resizes to
    its fixed size without keeping the aspect (``stretch``, as torchvision evaluates it); the
    others keep it, so edgekit letterboxes to a square of their ``min_size``, padding at the
    right and bottom with the mean colour (what their own batching pads with)."""
    from edgekit.preprocessing import detector_input

    t = model.transform
    fixed = getattr(t, "fixed_size", None)
    if fixed:
        return detector_input(int(fixed[0]), int(fixed[1]), "stretch", (0.0, 0.0, 0.0))
    side = int(t.min_size[0])
    pad = tuple(round(float(m) * 255, 1) for m in t.image_mean)
    return detector_input(side, side, "letterbox", pad)


def build(name: str, opts: Any) -> tuple[Any, WeightsRecord, Preprocess, list[str],
                                         list[str] | None, dict[str, Any] | None]:
    """(wrapped module, weights record, recipe, notes, class names, published figure) of a
    torchvision detector: its pretrained COCO weights through torchvision's download path, or
    random ones (``--random-weights``; the backbone's ImageNet weights are not fetched
    either). The published box mAP is kept only for the exact pretrained weights."""
    tvm = require("torchvision.models")
    from edgekit.checkpoints import _quiet_warnings, _random

    kw = {"num_classes": opts.num_classes} if opts.num_classes else {}
    enum = weights.torchvision_enum(tvm, name, None)
    cats = list(enum.meta.get("categories") or []) or None
    if opts.random_weights or opts.weights:
        with _quiet_warnings():
            model = tvm.get_model(name, weights=None, weights_backbone=None, **kw)
        record, published = _random(opts), None
        if opts.num_classes and cats and opts.num_classes != len(cats):
            cats = None
    else:
        if opts.num_classes:
            from edgekit.errors import SourceError

            raise SourceError(f"--num-classes cannot re-head torchvision's {name}",
                              "pass --random-weights with --num-classes, or --weights with "
                              "your own checkpoint", path=name)
        record = weights.fetch_torchvision(enum, opts.progress)
        with _quiet_warnings():  # cached now: torch.hub loads the file, no download
            model = tvm.get_model(name, weights=enum, weights_backbone=None)
        published = _published(enum)
    model = model.eval()
    return (wrap(model), record, preprocess(model), [NMS_NOTE], cats, published)


def _published(enum: Any) -> dict[str, Any] | None:
    metrics = (enum.meta.get("_metrics") or {}).get("COCO-val2017") or {}
    if metrics.get("box_map") is None:
        return None
    return {"map50_95": float(metrics["box_map"]), "dataset": "COCO-val2017",
            "weights": str(enum), "source": "torchvision's weights metadata"}


def set_output_shape(model: Any, k: int) -> None:
    """The traced output's dims are symbolic; the padding makes them ``[1, K, 6]``."""
    dims = model.graph.output[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, k, len(COLUMNS)), strict=False):
        d.ClearField("dim_param")
        d.dim_value = v
