"""A detector's latency end to end: the network, then its decode and NMS at ``--conf``
(``tasks.detect.decode``) on the outputs of real images, as an application runs it. The
network alone is the profile's own latency; Ultralytics' benchmark reports only the network
("speed['inference']"), so the two are recorded side by side, never mixed."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit import timing
from edgekit.tasks import detect


def _first(out: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(next(iter(out.values())))


def measure(r: Any, feeds: dict[str, np.ndarray], raw: np.ndarray, conf: float, *, warmup: int,
            iterations: int | None, duration_s: float | None) -> dict[str, Any]:
    """p50/p90 of network + decode + NMS on ``feeds`` (real photos), and of the decode alone
    on ``raw``, the network's output for them; the detections per image at ``conf``."""
    def both() -> None:
        detect.decode(_first(r.infer(feeds)), conf)

    ms = timing.sample(both, warmup=warmup, iterations=iterations, duration_s=duration_s,
                       sync=r.sync)
    dec = timing.sample(lambda: detect.decode(raw, conf), warmup=warmup, iterations=iterations,
                        duration_s=duration_s)
    dets = detect.decode(raw, conf)
    return {"p50_ms": round(float(np.median(ms)), 4),
            "p90_ms": round(float(np.percentile(ms, 90)), 4), "runs": len(ms),
            "decode_p50_ms": round(float(np.median(dec)), 4), "conf": conf,
            "detections_per_image": round(sum(len(d) for d in dets) / max(1, len(dets)), 2),
            **({"nms": "in the graph", "how": "network (NMS in the graph) + reading the rows "
                "above conf per call, on the bundled photos"} if detect.end_to_end(raw.shape)
               else {"nms_iou": detect.NMS_IOU, "how": "network + numpy decode/NMS per call, "
                     "on the bundled photos"}), "images": len(raw)}


def for_runner(r: Any, feeds: dict[str, np.ndarray], task: str | None, conf: float, rep: Any,
               batch: int, **timing_opts: Any) -> dict[str, Any] | None:
    """``measure`` as a profile stage, where the runner's first output is a YOLO head (any
    other model: None, and no inference spent finding out)."""
    if task != "detect":
        return None
    raw = _first(r.infer(feeds))
    if not detect.decodes(task, raw.shape):
        return None
    with rep.stage(f"end to end, batch {batch}") as st:
        out = measure(r, feeds, raw, conf, **timing_opts)
        st["note"] = f"p50 {out['p50_ms']:.3f} ms with decode + NMS"
    return out
