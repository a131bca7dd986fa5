"""Latency sampling and statistics (edgekit.timing): counts, units, percentiles, blocked medians."""

import time

import numpy as np
import pytest

from edgekit import timing


def test_iterations_and_warmup_are_counted_exactly() -> None:
    calls = []
    ms = timing.sample(lambda: calls.append(1), warmup=4, iterations=25)
    assert len(ms) == 25 and len(calls) == 29


def test_samples_are_milliseconds() -> None:
    ms = timing.sample(lambda: time.sleep(0.002), warmup=0, iterations=5)
    assert np.all(ms >= 1.9) and np.all(ms < 200)


def test_duration_mode_runs_at_least_the_minimum_and_stops() -> None:
    ms = timing.sample(lambda: time.sleep(0.001), warmup=0, duration_s=0.05, min_iterations=3)
    assert 3 <= len(ms) < 60
    one = timing.sample(lambda: None, warmup=0, duration_s=0.0, min_iterations=7)
    assert len(one) == 7


def test_sync_is_called_after_every_timed_call() -> None:
    order: list[str] = []
    timing.sample(lambda: order.append("run"), warmup=1, iterations=3,
                  sync=lambda: order.append("sync"))
    assert order == ["run", "sync", "run", "sync", "run", "sync", "run", "sync"]


def test_stats_match_numpy_percentiles() -> None:
    ms = np.arange(1, 101, dtype=float)
    s = timing.stats(ms)
    assert s["n"] == 100 and s["min_ms"] == 1 and s["max_ms"] == 100
    assert s["p50_ms"] == pytest.approx(50.5) and s["p99_ms"] == pytest.approx(99.01)
    assert s["mean_ms"] == pytest.approx(50.5) and s["std_ms"] == pytest.approx(np.std(ms, ddof=1),
                                                                                rel=1e-4)
    assert timing.stats(np.array([3.0]))["std_ms"] == 0.0
    with pytest.raises(ValueError, match="no latency samples"):
        timing.stats(np.array([]))


def test_blocked_medians_rank_a_slower_callable_slower() -> None:
    calls: list[str] = []
    p50 = timing.blocked_p50({"fast": lambda: calls.append("f"),
                              "slow": lambda: (calls.append("s"), time.sleep(0.001))},
                             warmup=1, iterations=3)
    assert p50["slow"] > 0.9 and p50["fast"] < p50["slow"]
    assert calls == ["f"] * 4 + ["s"] * 4  # one callable at a time, never alternated
