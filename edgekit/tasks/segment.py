"""The ``segment`` task: a class per pixel. A semantic segmenter's output is ``[N, classes, H,
W]`` logits (torchvision's segmenters as ``edgekit.tvsegment`` exports them); its mask is the
argmax per pixel. A variant is compared with FP32 by **pixel agreement** (the fraction of
pixels whose class is FP32's) and by the mIoU of its mask against FP32's; with labels it is
scored by mIoU and pixel accuracy from one confusion matrix over the whole set
(``tasks.segment_miou``), never averaged per image.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from edgekit.tasks import tensor

IGNORE_INDEX = 255  # the label value that is no class (VOC's border, Cityscapes' void)


def logits(shape: tuple[int, ...] | list[Any]) -> bool:
    """Whether an output is per-pixel class scores: [N, classes >= 2, H, W]."""
    return (len(shape) == 4 and all(isinstance(d, int) for d in shape[1:])
            and int(shape[1]) >= 2 and int(shape[2]) > 1 and int(shape[3]) > 1)


def masks(out: np.ndarray) -> np.ndarray:
    """The class per pixel: [N, classes, H, W] -> [N, H, W] (int64)."""
    return np.asarray(out).argmax(axis=1)


def confusion(truth: np.ndarray, pred: np.ndarray, classes: int,
              ignore: int | None = IGNORE_INDEX) -> np.ndarray:
    """``classes`` x ``classes`` counts (rows: truth, columns: prediction) over the pixels
    whose truth is a class (not ``ignore``, not out of range)."""
    t, p = np.asarray(truth).ravel().astype(np.int64), np.asarray(pred).ravel().astype(np.int64)
    keep = (t >= 0) & (t < classes) & (t != (ignore if ignore is not None else -1))
    p = np.clip(p[keep], 0, classes - 1)
    return np.bincount(t[keep] * classes + p, minlength=classes * classes).reshape(classes,
                                                                                   classes)


def scores(cm: np.ndarray) -> dict[str, Any]:
    """mIoU over the classes present (in the truth or the prediction) and pixel accuracy, in %,
    from one confusion matrix; the per-class IoU beside them."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    present = union > 0
    iou = np.where(present, tp / np.where(present, union, 1), np.nan)
    total = cm.sum()
    return {"miou": round(float(np.nanmean(iou)) * 100, 3) if present.any() else None,
            "pixel_accuracy": round(float(tp.sum() / total) * 100, 3) if total else None,
            "classes_present": int(present.sum()), "pixels": int(total),
            "iou": [None if np.isnan(v) else round(float(v) * 100, 3) for v in iou]}


def agreement(reference: np.ndarray, output: np.ndarray) -> dict[str, Any]:
    """The variant's masks against FP32's: pixel agreement (a fraction) and the mIoU of its
    masks with FP32's as the truth (%)."""
    ref, out = masks(reference), masks(output)
    classes = int(np.shape(reference)[1])
    got = scores(confusion(ref, out, classes, ignore=None))
    return {"pixel_agreement": round(float((ref == out).mean()), 6),
            "miou_vs_fp32": got["miou"], "classes_present": got["classes_present"],
            "images": int(len(ref)), "pixels": int(ref.size)}


def compare(reference: list[np.ndarray], output: list[np.ndarray],
            names: list[str] | None = None) -> tensor.Comparison:
    """The tensor comparison, with the pixel agreement where the first output is per-pixel
    class scores (else the tensor figures alone)."""
    base = tensor.compare(reference, output, names)
    if not logits(np.shape(reference[0])):
        return base
    return dataclasses.replace(base, segmentation=agreement(reference[0], output[0]))


def float_tail(model: Any) -> list[str]:
    """The nodes INT8 keeps float in a segmenter: the last Resize on each output path (the
    upsampling to the input's size) and everything after it, found by walking back from the
    outputs to it; a Shape's input is not walked. Empty where no Resize leads to an output."""
    producer = {o: n for n in model.graph.node for o in n.output}
    seen: set[str] = set()
    out: list[str] = []
    found = False
    stack = [(producer[o.name], [producer[o.name].name]) for o in model.graph.output
             if o.name in producer]
    while stack:
        n, path = stack.pop()
        if n.op_type == "Resize":
            found = True
            for name in path:
                if name not in seen:
                    seen.add(name)
                    out.append(name)
            continue
        if n.op_type == "Shape" or n.op_type == "Conv" or len(path) > 64:
            continue
        stack.extend((producer[i], [*path, producer[i].name]) for i in n.input
                     if i in producer and producer[i].name not in path)
    return sorted(out) if found else []
