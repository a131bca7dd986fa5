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
    torchvision detector (``checkpoints.build_torchvision_task``); the published box mAP only
    for the exact pretrained weights."""
    from edgekit.checkpoints import build_torchvision_task, published_of

    model, record, enum, cats = build_torchvision_task(name, opts)
    published = published_of(enum, "COCO-val2017", {"box_map": "map50_95"})
    return wrap(model), record, preprocess(model), [NMS_NOTE], cats, published


def set_output_shape(model: Any, k: int) -> None:
    """The traced output's dims are symbolic; the padding makes them ``[1, K, 6]``."""
    dims = model.graph.output[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, k, len(COLUMNS)), strict=False):
        d.ClearField("dim_param")
        d.dim_value = v
