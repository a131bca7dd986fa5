"""A quantized or FP16 variant checked against its FP32 parent, by the model's task
(``edgekit.tasks``): what it is checked on, the verification record, the figure the INT8
accuracy-aware fallback lowers and its budget, and what the fallback cost in latency."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import calib, evaluate, graph, images, tasks
from edgekit.device import cpu_info
from edgekit.errors import ConfigError
from edgekit.images import LabelledSet, Preprocess, mirrored
from edgekit.tasks import TaskInfo, classify, detect


def decodes(task: TaskInfo, model: Any) -> bool:
    """A detector whose first output, as the graph declares it, is a YOLO raw head."""
    outs = graph.io_spec(model)["outputs"]
    return bool(outs) and detect.decodes(task.name, outs[0]["shape"])


def segments(task: TaskInfo, model: Any) -> bool:
    """A segmenter whose first output, as the graph declares it, is N x C x H x W (its dims
    may be symbolic: an upsampling to the input's size leaves them unnamed by the exporter)."""
    outs = graph.io_spec(model)["outputs"]
    return task.name == "segment" and bool(outs) and len(outs[0]["shape"]) == 4


def task_of(man: Any, model: Any, stated: str | None = None) -> TaskInfo:
    """The parent's task: --task, its manifest's, the ONNX's metadata, else its outputs."""
    return tasks.determine(stated, recorded=man.model.task, recorded_names=man.model.names,
                           recorded_source=man.model.task_source,
                           props={p.key: p.value for p in model.metadata_props},
                           outputs=[o["shape"] for o in graph.io_spec(model)["outputs"]])


@dataclass(frozen=True, kw_only=True)
class Budget:
    """The fallback's target in the task's own terms: top-1 points lost (a classifier), else
    the lowest SQNR against FP32 over the outputs (dB). ``limit`` is in ``TaskSpec.cost``'s
    units (lower is better)."""

    limit: float
    stated: float  # as the flag gave it: points, or dB
    text: str  # as stated: "--max-accuracy-drop 1", "--min-sqnr-db 20"


def budget(task: TaskInfo, max_drop: float | None, min_sqnr_db: float | None,
           where: str, min_agreement: float | None = None, decodes: bool = False
           ) -> Budget | None:
    """The fallback budget the options state for this task (None: no fallback); a budget in
    another task's terms is one line. ``decodes``: the model's detections can be decoded (a
    YOLO head or NMS rows; a segmenter's class scores), so its budget is an agreement with FP32
    (detection F1, pixel agreement)."""
    spec, why = task.spec, f"this model's task is {task.name} ({task.source})"
    flags = {"--max-accuracy-drop": max_drop, "--min-sqnr-db": min_sqnr_db,
             "--min-agreement": min_agreement}
    own = ("--max-accuracy-drop" if spec.top1 else "--min-agreement" if decodes else
           "--min-sqnr-db")
    wrong = next((f for f, v in flags.items() if v is not None and f != own), None)
    if wrong is not None:
        raise ConfigError(f"{wrong} does not judge this model: {why}, judged by {own}",
                          f"use {own}, or state --task", path=where)
    v = flags[own]
    if v is None:
        return None
    limit = {"--max-accuracy-drop": v, "--min-agreement": 1.0 - v, "--min-sqnr-db": -v}[own]
    return Budget(limit=limit, stated=v, text=f"{own} {v:g}")


_FIGURE_TEXT = {"drop": "drop {:.2f} points", "f1": "F1 {:.3f}", "sqnr_db": "SQNR {:.1f} dB",
                "pixel_agreement": "pixel agreement {:.4f}"}


def figure_text(task: TaskInfo, ver: dict[str, Any]) -> str:
    """``step_figure`` in words: 'drop 0.50 points', 'F1 0.912', 'SQNR 12.3 dB'."""
    ((key, value),) = step_figure(task, ver).items()
    return _FIGURE_TEXT[key].format(value)


def step_figure(task: TaskInfo, ver: dict[str, Any]) -> dict[str, float]:
    """A fallback step's figure: the top-1 drop (points), the F1, or the SQNR (dB)."""
    cost = task.spec.cost(ver)
    return ({"drop": round(cost, 3)} if task.spec.top1 else
            {"f1": round(1 - cost, 4)} if ver.get("f1") is not None else
            {"pixel_agreement": round(1 - cost, 5)} if ver.get("pixel_agreement") is not None
            else {"sqnr_db": round(-cost, 3)})


def held_out(cs: calib.CalibSet, val: LabelledSet | None, agreement: Path | None,
             pp: Preprocess) -> tuple[np.ndarray, str]:
    """What the variant is checked against FP32 on: --val, else --agreement-data, else the
    calibration images mirrored."""
    if val is not None:
        return val.x, f"--val {val.folder}"
    if agreement is not None:
        return images.load_unlabelled(agreement, pp), f"--agreement-data {agreement}"
    return mirrored(cs.data, pp), "horizontally flipped calibration images"


def verify(task: TaskInfo, parent_outs: list[np.ndarray], model: Any, x: np.ndarray, what: str,
           val: LabelledSet | None) -> dict[str, Any]:
    """The variant's outputs against the parent's, by the task's comparison; with labels, a
    classifier's top-1/top-5 of both."""
    outs, names = evaluate.predict_all(model, x), [o.name for o in model.graph.output]
    cmp = tasks.compare(task.name, parent_outs, outs, names)
    out: dict[str, Any] = {"held_out": what, "images": len(x), **tasks.record(task.name, cmp)}
    if val is not None:
        fp32, q = classify.topk(parent_outs[0], val.y), classify.topk(outs[0], val.y)
        out.update(fp32_top1=fp32["top1"], fp32_top5=fp32["top5"], top1=q["top1"], top5=q["top5"],
                   top1_drop=fp32["top1"] - q["top1"], top5_drop=fp32["top5"] - q["top5"])
    return out


def latency_cost(parent: Any, int8: Any, mixed: Any, x: np.ndarray) -> dict[str, Any]:
    """What keeping nodes in FP32 costs: batch-1 p50 of FP32, all-INT8 and the mixed model on
    this CPU (ONNX Runtime, timed one model after the other)."""
    from edgekit import timing

    sessions = {"fp32": graph.ort_session(parent), "int8": graph.ort_session(int8),
                "mixed": graph.ort_session(mixed)}
    name = sessions["fp32"].get_inputs()[0].name
    dim0 = sessions["fp32"].get_inputs()[0].shape[0]
    n = dim0 if isinstance(dim0, int) and dim0 > 0 else 1
    feed = {name: np.ascontiguousarray(np.resize(x[:n], (n, *x.shape[1:])), dtype=x.dtype)}
    p50 = timing.blocked_p50({k: partial(s.run, None, feed) for k, s in sessions.items()})
    return {"batch": n, "p50_ms": {k: round(v, 4) for k, v in p50.items()},
            "mixed_vs_int8": round(p50["mixed"] / p50["int8"], 3),
            "mixed_vs_fp32": round(p50["mixed"] / p50["fp32"], 3),
            "how": "ONNX Runtime CPU, one model after the other: 5 warm-up runs, median of 50",
            "cpu": cpu_info()["model"]}
