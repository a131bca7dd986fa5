"""Latency sampling and its statistics: one definition for profile, quantize and bench/.

Every sample is one call timed with ``perf_counter_ns`` (after ``sync`` when a device is
asynchronous), with Python's garbage collector paused during the loop, as ``timeit`` does.
Percentiles are numpy's linear interpolation, like trtexec's report.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def sample(run: Callable[[], Any], *, warmup: int = 10, iterations: int | None = None,
           duration_s: float | None = None, sync: Callable[[], Any] | None = None,
           min_iterations: int = 10, max_iterations: int = 100_000) -> np.ndarray:
    """Milliseconds per call of ``run``: ``iterations`` calls, or as many as fit ``duration_s``
    (at least ``min_iterations``), after ``warmup`` untimed calls."""
    if iterations is None and duration_s is None:
        iterations = 100
    was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection pass inside a timed call is not the model's
    try:
        return _sample(run, warmup, iterations, duration_s, sync, min_iterations, max_iterations)
    finally:
        if was_enabled:
            gc.enable()


def _sample(run: Callable[[], Any], warmup: int, iterations: int | None, duration_s: float | None,
            sync: Callable[[], Any] | None, min_iterations: int, max_iterations: int) -> np.ndarray:
    for _ in range(warmup):
        run()
    if sync:
        sync()
    out: list[int] = []
    stop = time.perf_counter_ns() + int((duration_s or 0) * 1e9)
    while True:
        t0 = time.perf_counter_ns()
        run()
        if sync:
            sync()
        out.append(time.perf_counter_ns() - t0)
        n = len(out)
        if iterations is not None and n >= iterations or n >= max_iterations:
            break
        if iterations is None and n >= min_iterations and time.perf_counter_ns() >= stop:
            break
    return np.asarray(out, dtype=np.float64) / 1e6


def stats(ms: np.ndarray) -> dict[str, float]:
    """min, mean, std, p50/p90/p95/p99, max (ms) and the count."""
    ms = np.asarray(ms, dtype=np.float64)
    if ms.size == 0:
        raise ValueError("no latency samples")
    out = {"n": int(ms.size), "min_ms": float(ms.min()), "mean_ms": float(ms.mean()),
           "std_ms": float(ms.std(ddof=1)) if ms.size > 1 else 0.0}
    for p, v in zip(PERCENTILES, np.percentile(ms, PERCENTILES), strict=True):
        out[f"p{p}_ms"] = float(v)
    out["max_ms"] = float(ms.max())
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def blocked_p50(runs: dict[str, Callable[[], Any]], warmup: int = 5,
                iterations: int = 50) -> dict[str, float]:
    """Median ms of several callables, timed one after the other (blocked). Alternating them
    call by call makes their thread pools fight over the cores and inflates every figure
    1.5-4x on a 2-core machine (ARCHITECTURE.md, rule 15)."""
    return {k: float(np.median(sample(r, warmup=warmup, iterations=iterations)))
            for k, r in runs.items()}
