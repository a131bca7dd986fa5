"""Run an ONNX model over a set of inputs (batched, static or dynamic batch) and score it:
each output's rows (the tasks score them: ``edgekit.tasks``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgekit import graph


def predict(model: Any, x: np.ndarray, batch: int = 32) -> np.ndarray:
    """Logits (the first output) for every row of ``x``, as rows."""
    return predict_all(model, x, batch)[0].reshape(len(x), -1)


def predict_all(model: Any, x: np.ndarray, batch: int = 32) -> list[np.ndarray]:
    """Every output for every row of ``x``, in its own shape; a static-batch model gets exactly
    its batch (padded)."""
    sess = model if hasattr(model, "run") else graph.ort_session(model)
    dim0 = sess.get_inputs()[0].shape[0]
    static = dim0 if isinstance(dim0, int) and dim0 > 0 else None
    name, step = sess.get_inputs()[0].name, static or batch
    chunks = []
    for i in range(0, len(x), step):
        chunk = x[i : i + step]
        n = len(chunk)
        if static is not None and n < step:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - n, axis=0)])
        chunks.append([np.asarray(o)[:n] for o in sess.run(None, {name: chunk})])
    return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]


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
