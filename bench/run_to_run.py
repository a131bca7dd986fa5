"""Run-to-run noise of `edgekit profile` on this machine: the spread of the median latency over
repeated profiles of the same artifact, with ONNX Runtime's default threads and with one thread.

    .venv/bin/python bench/run_to_run.py [--runs 8] [--iterations 300]

Models: the digits CNN fixture (a ~0.05 ms model, where thread-pool wake-ups dominate) and
resnet18 at 64 px (a few ms). Each profile is a fresh session, one after the other. Printed per
model and thread setting: every run's p50, and max/min - 1 in %. The budgets' noise rule and
the README's advice (A/B alternation, --threads 1 on small CPUs) rest on these figures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from edgekit import profile as pf
from edgekit.backends import RunnerOptions
from edgekit.device import cpu_info
from edgekit.export import ExportOptions, export
from edgekit.sources import Options

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=300)
    args = ap.parse_args()
    cpu = cpu_info()
    print(f"# machine: {cpu['model']}, {cpu['logical_cores']} logical cores; {args.runs} profiles "
          f"of {args.iterations} runs each, batch 1\n")
    print("| model | threads | p50 of each run (ms) | max/min - 1 |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        fix = ROOT / "tests" / "fixtures"
        models = {
            "digits CNN (32 px)": export(f"{fix / 'digits_model.py'}:digits_cnn_plain",
                                         ExportOptions(output=Path(d) / "digits.onnx"),
                                         Options(weights=fix / "digits_cnn.pth")).path,
            "resnet18 (64 px)": export("resnet18", ExportOptions(output=Path(d) / "r18.onnx",
                                                                 input_size=(64, 64)),
                                         Options(random_weights=True)).path,
        }
        for name, path in models.items():
            for threads in (0, 1):
                p50 = [float(np.median(pf.profile(str(path), pf.ProfileOptions(
                    runner=RunnerOptions(threads=threads), warmup=20,
                    iterations=args.iterations)).results[0].samples_ms))
                    for _ in range(args.runs)]
                spread = (max(p50) / min(p50) - 1) * 100
                print(f"| {name} | {threads or 'default'} | {', '.join(f'{v:.4f}' for v in p50)} | "
                      f"{spread:.1f} % |", flush=True)


if __name__ == "__main__":
    main()
