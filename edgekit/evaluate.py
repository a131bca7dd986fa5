"""Run an ONNX model over a set of inputs (batched, static or dynamic batch) and score it:
top-1/top-5 against labels, or agreement with a parent model's predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgekit import graph


def predict(model: Any, x: np.ndarray, batch: int = 32) -> np.ndarray:
    """Logits for every row of ``x``; a static-batch model gets exactly its batch (padded)."""
    sess = model if hasattr(model, "run") else graph.ort_session(model)
    dim0 = sess.get_inputs()[0].shape[0]
    static = dim0 if isinstance(dim0, int) and dim0 > 0 else None
    name = sess.get_inputs()[0].name
    return predict_with(lambda chunk: np.asarray(sess.run(None, {name: chunk})[0]), x,
                        static or batch, pad=static is not None)


def predict_with(infer: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: int,
                 pad: bool) -> np.ndarray:
    """Run ``infer`` over ``x`` in chunks of ``step`` rows; ``pad`` fills the last chunk up to
    ``step`` (for a static batch) and drops the padding's outputs."""
    outs = []
    for i in range(0, len(x), step):
        chunk = x[i : i + step]
        n = len(chunk)
        if pad and n < step:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - n, axis=0)])
        outs.append(np.asarray(infer(chunk))[:n])
    return np.concatenate(outs).reshape(len(x), -1)


def topk(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    order = np.argsort(-logits, axis=1)
    return {"top1": float((order[:, 0] == y).mean() * 100),
            "top5": float((order[:, :5] == y[:, None]).any(axis=1).mean() * 100)}


def agreement(logits: np.ndarray, parent: np.ndarray) -> float:
    return float((logits.argmax(1) == parent.argmax(1)).mean() * 100)

