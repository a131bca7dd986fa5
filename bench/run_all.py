"""The bench suite, one process where possible, printed as markdown tables with the machine.

    .venv/bin/python bench/run_all.py [--models resnet18,mobilenet_v3_large,efficientnet_b0]
                                      [--skip-quickstart]

P1 profiling overhead: edgekit's timed loop vs a bare session.run loop (goal <= 1.02)
P2 --tune vs ONNX Runtime's defaults (goal >= 1.0 on every model), timed in alternating 1 s
   blocks in one process; when --tune keeps the defaults there is nothing to time, and the
   result says so (no figure). INT8/FP32 comes from bench/quantize.py only.
P3 export overhead: edgekit export (+ simplify + verify) vs a bare torch.onnx.export (goal <= 1.5)
P4 wall time of `edgekit quickstart` (goal < 10 min on 2 cores), in a subprocess

Random weights, 224 px, batch 1. Ratios come from one run on one machine; on a shared VM,
figures move by 10-25 % between runs, so read ratios, not absolute figures across days.
Writes bench/results/performance.json (the README's Performance table: scripts/readme_tables.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import write  # noqa: E402
from profile_overhead import bare_loop, edgekit_loop  # noqa: E402

from edgekit import profile as pf  # noqa: E402
from edgekit.backends import RunnerOptions  # noqa: E402
from edgekit.backends.ort import OrtRunner  # noqa: E402
from edgekit.device import cpu_info  # noqa: E402
from edgekit.export import ExportOptions, export  # noqa: E402
from edgekit.sources import Options  # noqa: E402


def p1(path: Path, runs: int = 200, blocks: int = 4) -> tuple[float, float]:
    with OrtRunner(path, RunnerOptions()) as r:
        spec = r.input_spec()[0]
        feeds = {spec.name: np.random.default_rng(0).normal(
            size=(1, *spec.shape[1:])).astype(np.float32)}
        bare_loop(r.session, feeds, 20)
        b: list[float] = []
        e: list[float] = []
        for _ in range(blocks):
            b += bare_loop(r.session, feeds, runs)[0]
            e += edgekit_loop(r, feeds, runs)[0]
    return statistics.median(b), statistics.median(e)


def ab(a: tuple[Path, RunnerOptions], b: tuple[Path, RunnerOptions], blocks: int = 3,
       seconds: float = 1.0) -> float:
    """median(b) / median(a), timed in alternating blocks (a, b, a, b, ...) of ``seconds``:
    each session runs alone inside its block, and a slow phase of the VM hits both."""
    from functools import partial

    from edgekit import timing

    with OrtRunner(*a) as ra, OrtRunner(*b) as rb:
        spec = ra.input_spec()[0]
        feeds = {spec.name: np.random.default_rng(0).normal(
            size=(1, *spec.shape[1:])).astype(np.float32)}
        ms: dict[str, list[float]] = {"a": [], "b": []}
        for _ in range(blocks):
            for k, r in (("a", ra), ("b", rb)):
                ms[k] += list(timing.sample(partial(r.infer, feeds), warmup=5, duration_s=seconds))
    return statistics.median(ms["b"]) / statistics.median(ms["a"])


def p2(path: Path) -> tuple[float | None, dict | None]:
    """Speed-up of --tune's choice over ORT's defaults (None when it kept the defaults: untimed)."""
    from edgekit.backends import OrtSettings

    res = pf.profile(str(path), pf.ProfileOptions(iterations=20, tune=True)).results[0]
    chosen = res.settings["tune"]["chosen"]
    if OrtSettings(**chosen) == OrtSettings():
        return None, chosen
    return 1 / ab((path, RunnerOptions()), (path, RunnerOptions(ort=OrtSettings(**chosen)))), chosen


def p3(name: str, tmp: Path) -> tuple[float, float]:
    import torch
    import torchvision

    t0 = time.perf_counter()
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with open(os.devnull, "w") as devnull, _quiet(devnull):
        torch.onnx.export(model, (x,), str(tmp / f"bare_{name}.onnx"), dynamo=False, opset_version=18,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    export(name, ExportOptions(output=tmp / f"ek_{name}.onnx"), Options(random_weights=True))
    return bare, time.perf_counter() - t0


class _quiet:
    """Silence torch.onnx.export's warnings on stderr (fd level) for the bare export."""

    def __init__(self, sink: object) -> None:
        self.sink = sink

    def __enter__(self) -> None:
        self.saved = os.dup(2)
        os.dup2(self.sink.fileno(), 2)  # type: ignore[attr-defined]

    def __exit__(self, *exc: object) -> None:
        os.dup2(self.saved, 2)
        os.close(self.saved)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,mobilenet_v3_large,efficientnet_b0")
    ap.add_argument("--skip-quickstart", action="store_true")
    ap.add_argument("--note", default="", help="recorded with the figures, e.g. 'shared CPU'")
    args = ap.parse_args()
    models = args.models.split(",")
    cpu = cpu_info()
    print(f"# machine: {cpu['model']}, {cpu['logical_cores']} logical cores, flags "
          f"{' '.join(cpu['flags'])}; {time.strftime('%Y-%m-%d')}\n")
    rows: list[dict] = []
    p4: dict = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("| model | P1 edgekit/bare p50 | P2 speed-up of --tune | tuned settings | "
              "P3 edgekit export s | bare export s | P3 ratio |")
        print("|---|---|---|---|---|---|---|")
        for name in models:
            bare_s, ek_s = p3(name, tmp)
            fp32 = tmp / f"ek_{name}.onnx"
            b, e = p1(fp32)
            speedup, chosen = p2(fp32)
            knobs = (f"{chosen['graph_optimization']}, {chosen['intra_threads'] or 'default'} thr, "
                     f"{chosen['execution_mode']}") if chosen else "-"
            print(f"| {name} | {e / b:.3f} | {'untimed' if speedup is None else f'{speedup:.3f}'}"
                  f" | {knobs} | {ek_s:.1f} | {bare_s:.1f} | {ek_s / bare_s:.2f} |")
            sys.stdout.flush()
            rows.append({"model": name, "p1_bare_p50_ms": round(b, 4), "p1_edgekit_p50_ms":
                         round(e, 4), "p2_speedup": None if speedup is None else round(speedup, 4),
                         "tune_chose": None if speedup is None else knobs,
                         "p3_edgekit_s": round(ek_s, 2), "p3_bare_s": round(bare_s, 2)})
        if not args.skip_quickstart:
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "edgekit", "quickstart", "--quiet",
                                "--store", str(tmp / "qs-results"), "--out", str(tmp / "qs-report")],
                               capture_output=True, text=True, cwd=tmp)
            wall = time.perf_counter() - t0
            status = "ok" if r.returncode == 0 else f"exit {r.returncode}: {r.stderr[-200:]}"
            print(f"\nP4 `edgekit quickstart`: {wall:.0f} s wall ({wall / 60:.1f} min), {status}")
            p4 = {"quickstart_s": round(wall, 1), "status": status}
    print(write("performance", rows, note=args.note, p4=p4 or None))

if __name__ == "__main__":
    main()
