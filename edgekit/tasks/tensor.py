"""The ``tensor`` task: any model. Its outputs are compared with a reference's (torch, or the
FP32 parent) output by output, by cosine similarity and SQNR (dB); there is no metric against
labels. It is every other task's fallback, and ``detect``/``segment`` use its agreement until
their own metrics land.

Random-weight models can have outputs of 1e-10 (torchvision MobileNetV3), so the checks are
scale-free: cosine per image, the max abs diff relative to the reference's largest value, and
SQNR = 10 log10(sum ref^2 / sum (ref - out)^2), capped at 100 dB where they are equal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

SQNR_CAP_DB = 100.0


@dataclass(frozen=True)
class Tolerance:
    min_cosine: float = 0.9999
    max_rel_diff: float = 1e-3
    min_top1_agreement: float = 1.0  # classify: of the images whose top-1 is not a near-tie
    # detect, NMS in the graph: the rows' order is no contract, so the detections must match
    min_detection_f1: float = 0.99
    min_detection_iou: float = 0.99


EXPORT_TOLERANCE = Tolerance()


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """One model's outputs against a reference's: the worst output's figures, each output's
    own (``outputs``), and for a classifier the top-1 agreement (else None)."""

    images: int
    max_abs_diff: float
    mean_abs_diff: float
    rel_diff: float
    cosine_min: float
    cosine_mean: float
    sqnr_db: float  # the lowest over the outputs
    outputs: list[dict[str, Any]] = field(default_factory=list)  # name, sqnr_db, cosine_min
    top1_agreement: float | None = None  # classify: fraction of images
    decisive_top1_agreement: float | None = None  # classify: of the images that are no near-tie
    detection: dict[str, Any] | None = None  # detect: agreement with the reference's detections
    segmentation: dict[str, Any] | None = None  # segment: pixel agreement with the reference's

    def passes(self, tol: Tolerance) -> bool:
        if self.by_detections:
            d = self.detection or {}
            return d.get("f1") is None or (d["f1"] >= tol.min_detection_f1
                                           and (d.get("mean_iou") or 0) >= tol.min_detection_iou)
        return (self.cosine_min >= tol.min_cosine and self.rel_diff <= tol.max_rel_diff
                and (self.decisive_top1_agreement is None
                     or self.decisive_top1_agreement >= tol.min_top1_agreement))

    @property
    def by_detections(self) -> bool:
        """Judged by its detections (``tasks.detect``: NMS in the graph), not its tensors."""
        return bool((self.detection or {}).get("nms_in_graph"))

    def failure(self, tol: Tolerance) -> str:
        if self.by_detections:
            d = self.detection or {}
            return (f"detection F1 {d.get('f1')} (min {tol.min_detection_f1}), mean IoU "
                    f"{d.get('mean_iou')} (min {tol.min_detection_iou}) against the reference's "
                    f"{d.get('fp32_boxes')} boxes")
        top1 = ("" if self.decisive_top1_agreement is None else
                f", top-1 agreement {self.decisive_top1_agreement:.1%}")
        return (f"cosine {self.cosine_min:.6f} (min {tol.min_cosine}), relative max diff "
                f"{self.rel_diff:.2e} (max {tol.max_rel_diff:.0e}), SQNR {self.sqnr_db:.1f} dB"
                + top1)

    def note(self) -> str:
        return f"cosine {self.cosine_min:.6f}, rel diff {self.rel_diff:.1e}, SQNR {self.sqnr_db:.1f} dB"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - out)^2), capped at 100 dB (equal outputs)."""
    noise = float(np.square(ref - out).sum())
    if noise == 0:
        return SQNR_CAP_DB
    return min(SQNR_CAP_DB, 10 * math.log10(max(float(np.square(ref).sum()), 1e-60) / noise))


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a.reshape(len(a), -1)


def cosines(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Per-image cosine similarity of two (N, ...) arrays (1 where both are zero)."""
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    return np.where(norms > 0, (ref * out).sum(axis=1) / np.where(norms > 0, norms, 1.0), 1.0)


def compare(reference: list[np.ndarray], output: list[np.ndarray],
            names: list[str] | None = None) -> Comparison:
    """Every output against the reference's, in order (the same count, each the same shape)."""
    if len(reference) != len(output):
        raise ValueError(f"{len(output)} outputs, the reference has {len(reference)}")
    per: list[dict[str, Any]] = []
    means: list[float] = []
    cos_means: list[float] = []
    sqnrs: list[float] = []
    worst_rel, max_abs, cos_min = 0.0, 0.0, 1.0
    for i, (ref_i, out_i) in enumerate(zip(reference, output, strict=True)):
        ref, out = _rows(ref_i), _rows(out_i)
        if ref.shape != out.shape:
            raise ValueError(f"output shape {out.shape} differs from the reference's {ref.shape}")
        diff = np.abs(ref - out)
        m = float(diff.max()) if diff.size else 0.0
        cos = cosines(ref, out)
        rel = m / (float(np.abs(ref).max()) or 1.0) if ref.size else 0.0
        sqnrs.append(round(sqnr_db(ref, out), 3))
        per.append({"name": names[i] if names and i < len(names) else f"output{i}",
                    "sqnr_db": sqnrs[-1], "cosine_min": float(cos.min()), "rel_diff": rel})
        max_abs, worst_rel = max(max_abs, m), max(worst_rel, rel)
        means.append(float(diff.mean()) if diff.size else 0.0)
        cos_min = min(cos_min, float(cos.min()))
        cos_means.append(float(cos.mean()))
    return Comparison(images=len(reference[0]) if reference else 0, max_abs_diff=max_abs,
                      mean_abs_diff=float(np.mean(means)) if means else 0.0, rel_diff=worst_rel,
                      cosine_min=cos_min, cosine_mean=float(np.mean(cos_means)) if cos_means
                      else 1.0, sqnr_db=min(sqnrs, default=SQNR_CAP_DB),
                      outputs=per)
