"""``--tune``: search ONNX Runtime session settings on this machine and keep the fastest.

Coordinate search from ORT's defaults: graph optimisation level, then intra-op threads, then
execution mode; each candidate is a fresh session timed on its own (blocked, never
alternated). The defaults are always a candidate, so the choice is never slower than them
beyond the timing noise, and every trial is recorded with the result.
"""

from __future__ import annotations

import dataclasses
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import timing
from edgekit.backends import OrtSettings, RunnerOptions

LEVELS = ("basic", "extended", "all")
MODES = ("sequential", "parallel")


def thread_counts(cores: int | None = None) -> list[int]:
    cores = cores or os.cpu_count() or 1
    return sorted({1, max(1, cores // 2), cores})


def search(path: Path, base: RunnerOptions, feeds: dict[str, np.ndarray],
           seconds_per_trial: float = 0.5) -> tuple[OrtSettings, list[dict[str, Any]]]:
    from edgekit.backends.ort import OrtRunner

    trials: list[dict[str, Any]] = []
    seen: dict[OrtSettings, float] = {}

    def measure(s: OrtSettings) -> float:
        if s not in seen:
            with OrtRunner(path, dataclasses.replace(base, ort=s)) as r:
                ms = timing.sample(partial(r.infer, feeds), warmup=3, duration_s=seconds_per_trial,
                                   min_iterations=5)
            seen[s] = float(np.median(ms))
            trials.append({**s.to_dict(), "p50_ms": round(seen[s], 4)})
        return seen[s]

    best = OrtSettings(intra_threads=base.threads)  # ORT's defaults (and the user's --threads)
    best_ms = measure(best)
    axes: list[tuple[str, list[Any]]] = [("graph_optimization", list(LEVELS)),
                                         ("intra_threads", thread_counts()),
                                         ("execution_mode", list(MODES))]
    for name, values in axes:
        for v in values:
            cand = dataclasses.replace(best, **{name: v})
            ms = measure(cand)
            if ms < best_ms:
                best, best_ms = cand, ms
    return best, trials
