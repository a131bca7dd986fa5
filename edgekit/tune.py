"""``--tune``: search a runtime's settings on this machine and keep the fastest.

The runner says what to search (``RunnerBase.tune_space()``: ONNX Runtime's graph
optimisation level, intra-op threads and execution mode; OpenVINO's performance hint, threads
and streams). Coordinate search from the runtime's defaults along each axis in turn; each
candidate is a fresh runner timed on its own (blocked, never alternated). The defaults are
always a candidate, so the choice is never slower than them beyond the timing noise, and every
trial is recorded with the result.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from edgekit import backends, timing
from edgekit.backends import BackendSpec, RunnerOptions, TuneSpace

LEVELS = ("basic", "extended", "all")  # ONNX Runtime graph optimisation levels
MODES = ("sequential", "parallel")  # ONNX Runtime execution modes
HINTS = ("latency", "throughput")  # OpenVINO performance hints


def thread_counts(cores: int | None = None) -> list[int]:
    cores = cores or os.cpu_count() or 1
    return sorted({1, max(1, cores // 2), cores})


def search(spec: BackendSpec, target: Any, base: RunnerOptions, space: TuneSpace,
           feeds: dict[str, np.ndarray], seconds_per_trial: float = 0.5
           ) -> tuple[Any, list[dict[str, Any]]]:
    """The fastest settings record of ``space`` for ``target`` on ``spec``'s runner, and
    every trial (its settings and p50 ms)."""
    trials: list[dict[str, Any]] = []
    seen: dict[Any, float] = {}

    def measure(s: Any) -> float:
        if s not in seen:
            opts = dataclasses.replace(base, **{space.field: s})
            with backends.runner(spec, target, opts) as r:
                ms = timing.sample(r.bind(feeds), warmup=3, duration_s=seconds_per_trial,
                                   min_iterations=5)
            seen[s] = float(np.median(ms))
            trials.append({**s.to_dict(), "p50_ms": round(seen[s], 4)})
        return seen[s]

    best = space.start
    best_ms = measure(best)
    for name, values in space.axes:
        for v in values:
            cand = dataclasses.replace(best, **{name: v})
            ms = measure(cand)
            if ms < best_ms:
                best, best_ms = cand, ms
    return best, trials
