"""Profiling overhead: edgekit's timed loop vs a bare ``session.run`` loop (goal <= 1.02).

    .venv/bin/python bench/profile_overhead.py [--models mobilenet_v3_large,resnet18] [--runs 200]

Same ONNX Runtime session, same process, same input. The bare loop is the one a user would write
(``perf_counter_ns`` around ``session.run``); edgekit's is ``timing.sample`` over
``OrtRunner.infer``, exactly what ``edgekit profile`` times. The two loops alternate in blocks
(bare, edgekit, bare, edgekit, ...) so a slow phase of the VM hits both; each figure is the
median over all its blocks. Two ratios: median per-iteration latency as each loop reports it,
and wall time per iteration of the whole loop (what the loop costs beyond the call itself).
Writes bench/results/profile_overhead.json (the README's table: scripts/readme_tables.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from edgekit import timing
from edgekit.backends import RunnerOptions
from edgekit.backends.ort import OrtRunner
from edgekit.device import cpu_info
from edgekit.export import ExportOptions, export
from edgekit.sources import Options


def bare_loop(sess: object, feeds: dict[str, np.ndarray], runs: int) -> tuple[list[float], float]:
    run = sess.run  # type: ignore[attr-defined]
    times = []
    w0 = time.perf_counter_ns()
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        run(None, feeds)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return times, (time.perf_counter_ns() - w0) / 1e6 / runs


def edgekit_loop(r: OrtRunner, feeds: dict[str, np.ndarray], runs: int) -> tuple[list[float], float]:
    w0 = time.perf_counter_ns()
    ms = timing.sample(partial(r.infer, feeds), warmup=0, iterations=runs, sync=r.sync)
    return list(ms), (time.perf_counter_ns() - w0) / 1e6 / runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mobilenet_v3_large,resnet18")
    ap.add_argument("--runs", type=int, default=200, help="runs per block")
    ap.add_argument("--blocks", type=int, default=4, help="blocks per loop")
    ap.add_argument("--note", default="", help="recorded with the figures, e.g. 'shared CPU'")
    args = ap.parse_args()
    from _results import write

    rows = []
    cpu = cpu_info()
    print(f"# machine: {cpu['model']}, {cpu['logical_cores']} logical cores; "
          f"{args.blocks} blocks x {args.runs} runs per loop, batch 1, ORT CPU defaults")
    print("| model | bare p50 ms | edgekit p50 ms | p50 ratio | bare wall ms/it | "
          "edgekit wall ms/it | wall ratio |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            path = export(name, ExportOptions(output=Path(tmp) / f"{name}.onnx"),
                          Options(random_weights=True)).path
            with OrtRunner(path, RunnerOptions()) as r:
                spec = r.input_spec()[0]
                x = np.random.default_rng(0).normal(size=(1, *spec.shape[1:])).astype(np.float32)
                feeds = {spec.name: x}
                bare_loop(r.session, feeds, 20)  # warm-up
                b_ms: list[float] = []
                e_ms: list[float] = []
                b_wall, e_wall = [], []
                for _ in range(args.blocks):
                    t, w = bare_loop(r.session, feeds, args.runs)
                    b_ms += t
                    b_wall.append(w)
                    t, w = edgekit_loop(r, feeds, args.runs)
                    e_ms += t
                    e_wall.append(w)
            bp, ep = statistics.median(b_ms), statistics.median(e_ms)
            bw, ew = statistics.median(b_wall), statistics.median(e_wall)
            print(f"| {name} | {bp:.3f} | {ep:.3f} | {ep / bp:.3f} | {bw:.3f} | {ew:.3f} | "
                  f"{ew / bw:.3f} |")
            sys.stdout.flush()
            rows.append({"model": name, "bare_p50_ms": round(bp, 4), "edgekit_p50_ms": round(ep, 4),
                         "bare_wall_ms": round(bw, 4), "edgekit_wall_ms": round(ew, 4)})
    print(write("profile_overhead", rows, note=args.note,
                timing=f"loops alternate in {args.blocks} blocks of {args.runs} runs, same session"))


if __name__ == "__main__":
    main()
