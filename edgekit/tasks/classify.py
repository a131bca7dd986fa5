"""The ``classify`` task: one ``[N, classes]`` output. Compared with FP32 by top-1 agreement
(beside the tensor figures); judged against labels by top-1 (and top-5), from an image
folder (one sub-folder per class) or a labels file.

A top-1 flip counts against an export only where the reference's top-1/top-2 margin is wider
than 1e-4 of its largest logit (a near-tie flipping is noise, not an error).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgekit.tasks import tensor

TIE = 1e-4  # top-1/top-2 margin, relative to the image's largest |logit|, below which a flip is noise


def fits(outputs: list[list[int | str]]) -> bool:
    """One output of rank 2 ([N, classes]) with more than one class."""
    if len(outputs) != 1 or len(outputs[0]) != 2:
        return False
    c = outputs[0][1]
    return not isinstance(c, int) or c > 1


def compare(reference: list[np.ndarray], output: list[np.ndarray],
            names: list[str] | None = None) -> tensor.Comparison:
    """The tensor comparison, with the top-1 agreement of the (first) logits output."""
    base = tensor.compare(reference, output, names)
    ref = np.asarray(reference[0], np.float64).reshape(len(reference[0]), -1)
    out = np.asarray(output[0], np.float64).reshape(len(output[0]), -1)
    agree = ref.argmax(axis=1) == out.argmax(axis=1)
    if ref.shape[1] > 1:
        part = np.sort(ref, axis=1)
        decisive = (part[:, -1] - part[:, -2]) > TIE * np.abs(ref).max(axis=1)
    else:
        decisive = np.ones(len(ref), bool)
    dec = float(agree[decisive].mean()) if decisive.any() else 1.0
    return dataclasses.replace(base, top1_agreement=float(agree.mean()),
                               decisive_top1_agreement=dec)


def topk(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Top-1 and top-5 (%) of ``logits`` against integer labels ``y``."""
    order = np.argsort(-logits, axis=1)
    return {"top1": float((order[:, 0] == y).mean() * 100),
            "top5": float((order[:, :5] == y[:, None]).any(axis=1).mean() * 100)}


def agreement(logits: np.ndarray, parent: np.ndarray) -> float:
    """% of rows whose top-1 is the parent's."""
    return float((logits.argmax(1) == parent.argmax(1)).mean() * 100)
