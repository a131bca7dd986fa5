"""Numerical comparison of a model's outputs with a reference's (torch, or an FP32 parent).

Random-weight models can have logits of 1e-10 (torchvision MobileNetV3), so the checks are
scale-free: cosine similarity per image and the max abs diff relative to the reference's
largest logit. A top-1 flip counts against a model only where the reference's top-1/top-2
margin is wider than 1e-4 of its largest logit (a near-tie flipping is noise, not an error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    min_cosine: float = 0.9999
    max_rel_diff: float = 1e-3
    min_top1_agreement: float = 1.0  # of the images whose top-1 is not a near-tie


EXPORT_TOLERANCE = Tolerance()
TIE = 1e-4  # top-1/top-2 margin, relative to the image's largest |logit|, below which a flip is noise


@dataclass(frozen=True, kw_only=True)
class Comparison:
    images: int
    max_abs_diff: float
    mean_abs_diff: float
    rel_diff: float
    cosine_min: float
    top1_agreement: float
    decisive_top1_agreement: float

    def passes(self, tol: Tolerance) -> bool:
        return (self.cosine_min >= tol.min_cosine and self.rel_diff <= tol.max_rel_diff
                and self.decisive_top1_agreement >= tol.min_top1_agreement)

    def failure(self, tol: Tolerance) -> str:
        return (f"cosine {self.cosine_min:.6f} (min {tol.min_cosine}), relative max diff "
                f"{self.rel_diff:.2e} (max {tol.max_rel_diff:.0e}), top-1 agreement "
                f"{self.decisive_top1_agreement:.1%}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(reference: np.ndarray, output: np.ndarray) -> Comparison:
    ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
    out = np.asarray(output, np.float64).reshape(len(output), -1)
    if ref.shape != out.shape:
        raise ValueError(f"output shape {out.shape} differs from the reference's {ref.shape}")
    diff = np.abs(ref - out)
    max_abs = float(diff.max())
    scale = float(np.abs(ref).max()) or 1.0
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    cos = np.where(norms > 0, (ref * out).sum(axis=1) / np.where(norms > 0, norms, 1.0), 1.0)
    top_ref, top_out = ref.argmax(axis=1), out.argmax(axis=1)
    agree = top_ref == top_out
    if ref.shape[1] > 1:
        part = np.sort(ref, axis=1)
        decisive = (part[:, -1] - part[:, -2]) > TIE * np.abs(ref).max(axis=1)
    else:
        decisive = np.ones(len(ref), bool)
    dec_agree = float(agree[decisive].mean()) if decisive.any() else 1.0
    return Comparison(images=len(ref), max_abs_diff=max_abs, mean_abs_diff=float(diff.mean()),
                      rel_diff=max_abs / scale, cosine_min=float(cos.min()),
                      top1_agreement=float(agree.mean()), decisive_top1_agreement=dec_agree)
