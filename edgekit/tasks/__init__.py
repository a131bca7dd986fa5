"""What a model does, and so how it is judged: one module per task (``classify``, ``detect``,
``segment``, ``tensor``) and one row each in ``REGISTRY`` (ARCHITECTURE.md, "Tasks").

A row states how a variant's outputs are compared with FP32 (its agreement metric), which
metric applies with labels and which label formats it reads, and the figure that drives the
INT8 accuracy-aware fallback. ``determine`` is the one place a model's task is decided, in this
order: ``--task``; the artifact's own record (its manifest, or the contract inside the ONNX);
the ONNX's metadata (Ultralytics writes ``task``, ``names``, ``imgsz``, ``stride``); the source
(torchvision's detection and segmentation builders); the outputs (one ``[N, classes]`` output is
a classifier). Anything else is ``tensor``, said in one line: never guessed silently.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit import preprocessing
from edgekit.errors import ConfigError
from edgekit.tasks import classify, detect, detect_map, segment, segment_miou, tensor
from edgekit.tasks.tensor import EXPORT_TOLERANCE, Comparison, Tolerance

__all__ = ["EXPORT_TOLERANCE", "REGISTRY", "Comparison", "Metric", "TaskInfo", "TaskSpec",
           "Tolerance", "determine", "get", "register"]

DEFAULT_MIN_SQNR_DB = 20.0  # INT8 fallback target without a task metric: noise at 1 % of the power
DEFAULT_MIN_AGREEMENT = 0.95  # pick: a detector's F1 against FP32's detections


@dataclass(frozen=True, kw_only=True)
class Metric:
    key: str  # the verification record's field: top1, top1_agreement, sqnr_db, map50_95, miou
    label: str  # as shown: top-1, SQNR
    unit: str  # %, dB
    higher_is_better: bool = True


TOP1 = Metric(key="top1", label="top-1", unit="%")
TOP1_AGREEMENT = Metric(key="top1_agreement", label="top-1 agreement with FP32", unit="%")
SQNR = Metric(key="sqnr_db", label="SQNR vs FP32", unit="dB")
DETECTION_F1 = Metric(key="f1", label="detection F1 vs FP32", unit="")
PIXEL_AGREEMENT = Metric(key="pixel_agreement", label="pixel agreement with FP32", unit="")


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task: how it is compared and judged. ``labels_ready`` is False where the metric with
    labels is named but not measured yet (profile --data refuses it in one line)."""

    name: str
    what: str
    agreement: Metric  # a variant against its FP32 parent, without labels
    labelled: Metric | None  # with labels
    label_formats: tuple[str, ...] = ()
    labels_ready: bool = False
    compare: Callable[..., Comparison] = tensor.compare
    fits: Callable[[list[list[Any]]], bool] | None = None  # outputs that are this task's
    top1: bool = False  # the claim is a top-1 figure (published, lower bound)
    recipe: Callable[[int, int], Any] | None = None  # (H, W) -> the Preprocess its models take
    # with labels (profile --data), other than a classifier's folders: the labelled set's
    # reader (folder, --labels, class names, ignore index) and its scorer (set, recipe, infer)
    load_labels: Callable[..., Any] | None = None
    score_labels: Callable[..., dict[str, Any]] | None = None

    def cost(self, ver: dict[str, Any]) -> float:
        """What the INT8 accuracy-aware fallback lowers: top-1 points lost (the drop with
        labels, else 100 - agreement) for a top-1 task; 1 - F1 of the detection agreement
        where there is one; else minus the SQNR (dB)."""
        if self.top1:
            return (float(ver["top1_drop"]) if "top1_drop" in ver
                    else 100.0 - float(ver["top1_agreement"]))
        if ver.get("f1") is not None:
            return 1.0 - float(ver["f1"])
        if ver.get("pixel_agreement") is not None:
            return 1.0 - float(ver["pixel_agreement"])
        return -float(ver["sqnr_db"])


REGISTRY: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    REGISTRY[spec.name] = spec
    return spec


register(TaskSpec(name="classify", what="image classifier, one [N, classes] output",
                  agreement=TOP1_AGREEMENT, labelled=TOP1,
                  label_formats=("folder per class", "labels file (csv/txt)"), labels_ready=True,
                  compare=classify.compare, fits=classify.fits, top1=True))
register(TaskSpec(name="detect", what="object detector (boxes and classes)",
                  agreement=DETECTION_F1,
                  labelled=Metric(key="map50_95", label="mAP@[.5:.95]", unit="%"),
                  label_formats=("coco json", "yolo txt"), compare=detect.compare,
                  labels_ready=True, load_labels=detect_map.load,  # what detect.decode reads
                  score_labels=detect_map.evaluate,
                  recipe=preprocessing.from_ultralytics))  # letterbox 114, /255, RGB
register(TaskSpec(name="segment", what="segmenter (a class per pixel)",
                  agreement=PIXEL_AGREEMENT, labelled=Metric(key="miou", label="mIoU", unit="%"),
                  label_formats=("index PNG masks",), labels_ready=True,
                  load_labels=segment_miou.load, score_labels=segment_miou.evaluate,
                  compare=segment.compare))
register(TaskSpec(name="tensor", what="any model: outputs compared with FP32", agreement=SQNR,
                  labelled=None, compare=tensor.compare))


def get(name: str | None) -> TaskSpec:
    """The row of a task name (None: ``tensor``); an unknown name is one line."""
    if name is None:
        return REGISTRY["tensor"]
    if name not in REGISTRY:
        raise ConfigError(f"--task {name}: unknown", f"use one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


@dataclass(kw_only=True)
class TaskInfo:
    """A model's task, where it was found, and its class names (where known)."""

    name: str
    source: str  # --task | manifest | onnx metadata (ultralytics) | source | outputs | default
    names: list[str] | None = None
    note: str | None = None  # said once: how the task was decided when nothing stated it
    metadata: dict[str, Any] = field(default_factory=dict)  # Ultralytics' imgsz, stride

    @property
    def spec(self) -> TaskSpec:
        return get(self.name)


ULTRALYTICS_TASKS = frozenset({"detect", "segment", "classify"})  # theirs that are rows here


def ultralytics(props: dict[str, str]) -> TaskInfo | None:
    """The task and class names Ultralytics writes into an ONNX's metadata_props (Python
    literals, read with ``ast.literal_eval`` as its AutoBackend does); None without them."""
    if "task" not in props:
        return None
    meta: dict[str, Any] = {}
    for k in ("names", "imgsz", "stride"):
        try:
            meta[k] = ast.literal_eval(props[k]) if k in props else None
        except (ValueError, SyntaxError):
            meta[k] = None
    names = meta.pop("names")
    listed = ([str(names[k]) for k in sorted(names)] if isinstance(names, dict)
              else [str(n) for n in names] if isinstance(names, list) else None)
    task = props["task"] if props["task"] in ULTRALYTICS_TASKS else None
    note = (None if task else f"Ultralytics task '{props['task']}' has no edgekit metric yet: "
            "compared with FP32 by SQNR")
    return TaskInfo(name=task or "tensor", source="onnx metadata (ultralytics)", names=listed,
                    note=note, metadata={k: v for k, v in meta.items() if v is not None})


def determine(stated: str | None = None, *, recorded: str | None = None,
              recorded_names: list[str] | None = None, recorded_source: str | None = None,
              props: dict[str, str] | None = None,
              source: str | None = None, outputs: list[list[Any]] | None = None) -> TaskInfo:
    """The model's task (module docstring for the order)."""
    found = ultralytics(props or {})
    names = recorded_names or (found.names if found else None)
    if stated is not None:
        return TaskInfo(name=get(stated).name, source="--task", names=names)
    if recorded is not None and recorded in REGISTRY:
        return TaskInfo(name=recorded, names=names, source="manifest" + (
            f": {recorded_source.removeprefix('manifest: ')}" if recorded_source else ""))
    if found is not None:
        return found
    if source is not None:
        return TaskInfo(name=get(source).name, source="source", names=names)
    for spec in REGISTRY.values():
        if spec.fits is not None and outputs is not None and spec.fits(outputs):
            return TaskInfo(name=spec.name, source="outputs", names=names)
    shapes = ", ".join(str(list(s)) for s in outputs or [])
    return TaskInfo(name="tensor", source="outputs", names=names,
                    note=f"outputs {shapes or '(unknown)'} are not one [N, classes]; no --task "
                         "stated: compared with FP32 by cosine and SQNR (say --task to judge "
                         "it as a classifier, detector or segmenter)")


def recorded(man: Any) -> TaskInfo | None:
    """An artifact's task as its manifest (``manifest.Manifest``) records it, else as its
    recorded outputs say; None without a manifest."""
    if man is None or (man.model.task is None and not man.outputs):
        return None
    return determine(recorded=man.model.task, recorded_names=man.model.names,
                     recorded_source=man.model.task_source,
                     outputs=[o["shape"] for o in man.outputs])


def compare(task: str | None, reference: list[np.ndarray], output: list[np.ndarray],
            names: list[str] | None = None) -> Comparison:
    """The task's own comparison of a model's outputs with a reference's."""
    return get(task).compare(reference, output, names)


def record(task: str | None, cmp: Comparison) -> dict[str, Any]:
    """A comparison as a verification record: the task, its agreement metric, the tensor
    figures and, for a top-1 task, the agreement in % (what every check writes)."""
    spec = get(task)
    out: dict[str, Any] = {"task": spec.name, "metric": spec.agreement.key, **cmp.to_dict()}
    if cmp.detection is not None and cmp.detection["f1"] is not None:
        out["f1"] = cmp.detection["f1"]
    elif spec.agreement is DETECTION_F1:  # not decoded, or no detections in either
        out["metric"] = SQNR.key
    if cmp.segmentation is not None:
        out["pixel_agreement"] = cmp.segmentation["pixel_agreement"]
    elif spec.agreement is PIXEL_AGREEMENT:  # not per-pixel class scores
        out["metric"] = SQNR.key
    if spec.top1 and cmp.top1_agreement is not None:
        out["top1_agreement"] = round(cmp.top1_agreement * 100, 4)
        out["decisive_top1_agreement"] = round((cmp.decisive_top1_agreement or 0) * 100, 4)
    else:
        out.pop("top1_agreement", None)
        out.pop("decisive_top1_agreement", None)
    return out


def describe(ver: dict[str, Any]) -> str:
    """One line for a verification record: its task's own figure (the top-1 agreement of a
    classifier, else the lowest SQNR over the outputs), then the cosine and the sample."""
    n = ver.get("images")
    sample = f" on {n} images" if n else ""
    cos = f", cosine >= {ver['cosine_min']:.5f}" if ver.get("cosine_min") is not None else ""
    if ver.get("top1_agreement") is not None and ver.get("metric", "top1_agreement") \
            == "top1_agreement":
        return f"top-1 agreement {float(ver['top1_agreement']):.1f} %{sample}{cos}"
    if ver.get("detection") and ver["detection"].get("f1") is not None:
        d = ver["detection"]
        iou = f", mean IoU {d['mean_iou']:.2f}" if d.get("mean_iou") is not None else ""
        return (f"detection agreement P {d['precision']:.3f} R {d['recall']:.3f} F1 "
                f"{d['f1']:.3f}{iou} ({d['fp32_boxes']} FP32 boxes at conf {d['conf']:g}"
                f"{sample})")
    if (ver.get("detection") or {}).get("tied_rows"):  # nothing confident, every row tied
        d = ver["detection"]
        return (f"detections: {d['tied_rows']} kept rows with tied scores (which of them NMS "
                f"keeps is arbitrary), sorted scores {'match' if d['scores_match'] else 'differ'}"
                f"{sample}")
    if ver.get("segmentation") and ver.get("pixel_agreement") is not None:
        g = ver["segmentation"]
        miou = f", mIoU vs FP32 {g['miou_vs_fp32']:.1f} %" if g.get("miou_vs_fp32") else ""
        return f"pixel agreement {float(ver['pixel_agreement']):.4f}{miou}{sample}{cos}"
    if ver.get("sqnr_db") is not None:
        outs = len(ver.get("outputs") or []) or 1
        return (f"SQNR {float(ver['sqnr_db']):.1f} dB (lowest of {outs} output"
                f"{'s' if outs > 1 else ''}){sample}{cos}")
    return f"compared{sample}{cos}"
