"""The ``detect`` task: boxes and classes. An Ultralytics YOLO raw head (``[N, 4 + classes,
anchors]``: cx, cy, w, h in input pixels, then the class scores, already sigmoid; DFL applied
in the graph) is decoded here with numpy (``decode``: per-anchor best class over ``conf``,
class-aware greedy NMS, as Ultralytics' ``non_max_suppression`` does), and a variant is
compared with FP32 by **detection agreement** (``agreement``): its detections matched to
FP32's by class at IoU >= 0.5, giving precision, recall, F1 and the mean IoU of the matches.
A detector with its NMS in the graph that gives ``[N, K, 6]`` (x1, y1, x2, y2, score, class;
rows after the kept ones zero: torchvision's detectors as ``edgekit.tvdetect`` exports them,
Ultralytics' ``nms=True`` exports) is read by the same ``decode``: the rows above ``conf``.
mAP@0.5:0.95 with labels is the labelled metric."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.tasks import tensor

CONF = 0.25  # Ultralytics' predict default
NMS_IOU = 0.7  # Ultralytics' predict default
MATCH_IOU = 0.5
MAX_DET = 300
MAX_WH = 7680  # class offset for class-aware NMS in one pass (Ultralytics' max_wh)


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # (k, 4) x1, y1, x2, y2 in input pixels
    scores: np.ndarray  # (k,)
    classes: np.ndarray  # (k,) int

    def __len__(self) -> int:
        return len(self.scores)


def yolo_head(shape: tuple[int, ...] | list[Any], classes: int | None = None) -> bool:
    """Whether an output is a YOLO raw head: [N, 4 + classes, anchors], anchors the longer."""
    if len(shape) != 3 or not all(isinstance(d, int) for d in shape[1:]):
        return False
    ch, anchors = int(shape[1]), int(shape[2])
    return ch > 4 and anchors > ch and (classes is None or ch == 4 + classes)


def end_to_end(shape: tuple[int, ...] | list[Any]) -> bool:
    """Whether an output is detections after NMS: [N, K, 6] (x1, y1, x2, y2, score, class)."""
    return (len(shape) == 3 and shape[2] == 6 and isinstance(shape[1], int) and shape[1] > 0
            and not yolo_head(shape))


def decodes(task: str | None, shape: Any) -> bool:
    """A detector whose first output (its shape) ``decode`` reads: a YOLO raw head, or
    detections after an in-graph NMS (decode, agreement, float head, end-to-end latency and
    mAP all rest on it)."""
    return task == "detect" and (yolo_head(list(shape)) or end_to_end(list(shape)))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (m, 4) with every box in ``b`` (n, 4), xyxy. Two boxes with
    no area (a detector can keep zero-width boxes) have IoU 1 where they are the same box,
    else 0."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    same = np.all(np.isclose(a[:, None, :], b[None, :, :], rtol=0, atol=1e-3), axis=2)
    return np.where(union > 0, inter / np.where(union > 0, union, 1), same.astype(np.float64))


def nms(boxes: np.ndarray, scores: np.ndarray, thresh: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices kept, highest score first (torchvision.ops.nms)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        rest = order[1:]
        order = rest[iou(boxes[i : i + 1], boxes[rest])[0] <= thresh]
    return np.asarray(keep, dtype=np.int64)


def decode(raw: np.ndarray, conf: float = CONF, nms_iou: float = NMS_IOU,
           max_det: int = MAX_DET) -> list[Detections]:
    """A YOLO raw head's detections per image: the best class per anchor above ``conf``,
    class-aware NMS (boxes offset by class), at most ``max_det``. Detections after an
    in-graph NMS (``end_to_end``): the rows above ``conf``, best first, at most ``max_det``."""
    raw = np.asarray(raw, np.float32)
    if end_to_end(raw.shape):
        return [_rows(p, conf, max_det) for p in raw]
    out = []
    for p in raw:
        p = p.T  # (anchors, 4 + classes)
        cls_scores = p[:, 4:]
        cls = cls_scores.argmax(axis=1)
        score = cls_scores[np.arange(len(p)), cls]
        keep = score > conf
        xywh, score, cls = p[keep, :4], score[keep], cls[keep]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2],
                               axis=1)
        idx = nms(boxes + cls[:, None] * MAX_WH, score, nms_iou)[:max_det]
        out.append(Detections(boxes[idx], score[idx], cls[idx].astype(np.int64)))
    return out


def _rows(p: np.ndarray, conf: float, max_det: int) -> Detections:
    keep = p[p[:, 4] > conf]
    keep = keep[np.argsort(-keep[:, 4], kind="stable")][:max_det]
    return Detections(keep[:, :4], keep[:, 4], keep[:, 5].round().astype(np.int64))


def match(ref: Detections, out: Detections, thresh: float = MATCH_IOU) -> tuple[int, list[float]]:
    """Greedy matching of ``out`` to ``ref`` (highest score first), same class, IoU >= thresh:
    (matches, their IoUs)."""
    if not len(ref) or not len(out):
        return 0, []
    m = iou(out.boxes, ref.boxes)
    m[out.classes[:, None] != ref.classes[None, :]] = 0.0
    used = np.zeros(len(ref), bool)
    ious = []
    for i in np.argsort(-out.scores, kind="stable"):
        cand = np.where(~used & (m[i] >= thresh))[0]
        if len(cand):
            j = cand[m[i, cand].argmax()]
            used[j] = True
            ious.append(float(m[i, j]))
    return len(ious), ious


def agreement(ref: list[Detections], out: list[Detections], conf: float = CONF) -> dict[str, Any]:
    """The variant's detections against FP32's over the images: precision, recall, F1 (FP32's
    detections as the truth), the mean IoU of the matches, and the counts."""
    tp, ious = 0, list[float]()
    for r, o in zip(ref, out, strict=True):
        k, i = match(r, o)
        tp, ious = tp + k, ious + i
    n_ref, n_out = sum(len(r) for r in ref), sum(len(o) for o in out)
    if not n_ref and not n_out:  # nothing detected by either: nothing to agree on
        return {"precision": None, "recall": None, "f1": None, "mean_iou": None, "matched": 0,
                "fp32_boxes": 0, "boxes": 0, "images": len(ref), "conf": conf,
                "match_iou": MATCH_IOU, "nms_iou": NMS_IOU}
    precision = tp / n_out if n_out else 0.0
    recall = tp / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "mean_iou": round(float(np.mean(ious)), 4) if ious else None, "matched": tp,
            "fp32_boxes": n_ref, "boxes": n_out, "images": len(ref), "conf": conf,
            "match_iou": MATCH_IOU, "nms_iou": NMS_IOU}


def compare(reference: list[np.ndarray], output: list[np.ndarray],
            names: list[str] | None = None) -> tensor.Comparison:
    """The tensor comparison, with the detection agreement where ``decode`` reads the first
    output (else the tensor figures alone)."""
    base = tensor.compare(reference, output, names)
    if not decodes("detect", np.shape(reference[0])):
        return base
    if end_to_end(np.shape(reference[0])):  # rows in any order: judged by the detections
        det = _nms_rows(np.asarray(reference[0]), np.asarray(output[0]))
    else:
        det = agreement(decode(reference[0]), decode(output[0]))
    return dataclasses.replace(base, detection=det)


def _nms_rows(ref: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    """Detections after an in-graph NMS against the reference's: the rows above CONF, else
    every kept row whose score no other row of its image shares (which of several tied
    boxes NMS keeps is arbitrary: random weights tie every score), with each image's sorted
    scores required to match too (``scores_match``)."""
    if (ref[..., 4] > CONF).any():
        det = agreement(decode(ref, CONF), decode(out, CONF), CONF)
    else:
        kept = decode(ref, 0.0)
        det = agreement(_untied(kept), _untied(decode(out, 0.0)), 0.0)
        det["tied_rows"] = sum(len(d) for d in kept) - det["fp32_boxes"]
        det["scores_match"] = all(
            np.allclose(np.sort(r[:, 4]), np.sort(o[:, 4]), rtol=1e-3, atol=1e-5)
            for r, o in zip(ref, out, strict=True))
        if not det["scores_match"]:
            det.update(f1=0.0, mean_iou=0.0)
    det["nms_in_graph"] = True
    return det


def _untied(dets: list[Detections]) -> list[Detections]:
    out = []
    for d in dets:
        key = np.round(d.scores, 6)
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        keep = counts[inv] == 1
        out.append(Detections(d.boxes[keep], d.scores[keep], d.classes[keep]))
    return out


def float_head(model: Any) -> list[str]:
    """The nodes of a detector's decode, to keep in float when quantizing: everything
    downstream of the last Conv of each output path (the box/score Concat, the DFL's Softmax
    and its fixed Conv, the Sigmoid, the box arithmetic), found from the graph's structure:
    walking back from the outputs, a Conv ends the walk unless it is the DFL's (fed by a
    Softmax); a Shape's input is not walked (it reads only a shape). Names as in ``model``."""
    producer = {o: n for n in model.graph.node for o in n.output}
    seen: set[str] = set()
    out: list[str] = []
    stack = [producer[o.name] for o in model.graph.output if o.name in producer]
    while stack:
        n = stack.pop()
        if n.name in seen:
            continue
        seen.add(n.name)
        if n.op_type == "Conv" and not _dfl(n, producer):
            continue
        out.append(n.name)
        if n.op_type != "Shape":
            stack.extend(producer[i] for i in n.input if i in producer)
    return sorted(out)


def _dfl(conv: Any, producer: dict[str, Any]) -> bool:
    """A Conv that is the DFL's fixed 1x1 (its input a Softmax, maybe through a Transpose)."""
    p = producer.get(conv.input[0])
    if p is not None and p.op_type in ("Transpose", "Reshape"):
        p = producer.get(p.input[0])
    return p is not None and p.op_type == "Softmax"


def _nodes(g: Any) -> Any:
    """Every node of a graph and of its subgraphs (an If's branches, a Loop's body)."""
    for n in g.node:
        yield n
        for a in n.attribute:
            for sub in [a.g] if a.HasField("g") else list(a.graphs):
                yield from _nodes(sub)


def layout(model: Any) -> dict[str, Any]:
    """Where a detector's NMS lives and what its first output is, for its manifest."""
    out = model.graph.output[0]
    shape = [d.dim_value or d.dim_param for d in out.type.tensor_type.shape.dim]
    in_graph = any(n.op_type == "NonMaxSuppression" for n in _nodes(model.graph))
    head = ("yolo raw head" if yolo_head(shape) else "detections after NMS [N, K, 6]: x1, y1, "
            "x2, y2, score, class" if end_to_end(shape) else "other")
    return {"output": out.name, "shape": shape, "head": head,
            "nms": "in the graph (NonMaxSuppression)" if in_graph else
                   "outside the graph: edgekit's decode (tasks.detect)" if head != "other" else
                   "outside the graph; edgekit has no decode for this output yet"}
