"""ONNX Runtime vs OpenVINO (f32, and bf16 where the CPU has it) vs torch on the CPU, FP32 and
INT8 (and OpenVINO's int8-bf16: the INT8 artifact, its float rest in bf16), and what `edgekit
pick` would gain over ONNX Runtime FP32. A benchmark, not a test.

    .venv/bin/python bench/runtimes.py [--models resnet18,mobilenet_v3_large,efficientnet_b0]
                                       [--rounds 6] [--block 40] [--out bench/results/runtimes.json]

The same ONNX files from `edgekit export NAME --int8` (random weights, 224 px, batch 1), run
through edgekit's own runners. All engines of a model live in one process and are timed in
alternating blocks (all of one engine's block, then the next engine's), never call by call,
each through its bound call (``RunnerBase.bind``, what profile times):
two runtimes alternated call by call fight over the cores (ARCHITECTURE.md, rule 15). 10
warm-up runs each, then ``--rounds`` rounds of ``--block`` runs per engine; the p50 of all its
runs. torch runs the model spec itself (eager, FP32; torch has no INT8 path here). The load
average is recorded before each model and a warning printed when the machine is not quiet:
ratios between runtimes measured under load are not the quiet-machine ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edgekit import backends, timing
from edgekit.backends import RunnerOptions
from edgekit.device import fingerprint, has_bf16
from edgekit.export import ExportOptions, export
from edgekit.images import photo_batch
from edgekit.precision import Precision
from edgekit.preprocessing import default_for
from edgekit.quantize import QuantOptions, quantize
from edgekit.sources import Options

RANDOM = Options(random_weights=True)  # the figures below are for random weights

QUIET_LOAD = 0.6  # 1-minute load average under which the machine counts as quiet


def engines(fp32: Path, int8: Path, name: str) -> dict[str, tuple[str, Any, RunnerOptions]]:
    """label -> (backend, target, options)."""
    out = {"ort fp32": ("ort", fp32, RunnerOptions()),
           "openvino f32": ("openvino", fp32, RunnerOptions())}
    if has_bf16():
        out["openvino bf16"] = ("openvino", fp32, RunnerOptions(dtype=Precision.BF16))
    out["torch fp32"] = ("torch", name, RunnerOptions(source=RANDOM))
    out["ort int8"] = ("ort", int8, RunnerOptions())
    out["openvino int8"] = ("openvino", int8, RunnerOptions())
    if has_bf16():  # benchmark_app's default there: INT8, its float rest in bf16
        out["openvino int8-bf16"] = ("openvino", int8, RunnerOptions(dtype=Precision.BF16))
    return out


def time_blocked(calls: dict[str, Callable[[], Any]], rounds: int,
                 block: int) -> dict[str, np.ndarray]:
    """Each runner's bound call (``RunnerBase.bind``: the call profile times)."""
    for call in calls.values():
        timing.sample(call, warmup=10, iterations=1)
    samples: dict[str, list[np.ndarray]] = {k: [] for k in calls}
    for _ in range(rounds):
        for k, call in calls.items():
            samples[k].append(timing.sample(call, warmup=0, iterations=block))
    return {k: np.concatenate(v) for k, v in samples.items()}


def bench_model(name: str, tmp: Path, rounds: int, block: int) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)  # torch builds the same random weights as the export below
    fp32 = export(name, ExportOptions(output=tmp / f"{name}.onnx"), RANDOM).path
    int8 = quantize(fp32, QuantOptions()).path
    x = photo_batch(default_for((1, 3, 224, 224)), count=1)
    load = os.getloadavg()[0]
    if load > QUIET_LOAD:
        print(f"# warning: load average {load:.2f} > {QUIET_LOAD}: not a quiet machine; the "
              "ratios below are not the quiet-machine ratios", file=sys.stderr, flush=True)
    runners, outputs = {}, {}
    try:
        for label, (backend, target, opts) in engines(fp32, int8, name).items():
            torch.manual_seed(0)
            r = backends.runner(backends.get(backend), str(target), opts).__enter__()
            runners[label] = r
            outputs[label] = next(iter(r.infer({r.input_spec()[0].name: x}).values()))
        ms = time_blocked({k: r.bind({r.input_spec()[0].name: x}) for k, r in runners.items()},
                          rounds, block)
    finally:
        for r in runners.values():
            r.__exit__(None, None, None)
    p50 = {k: round(float(np.median(v)), 3) for k, v in ms.items()}
    ref = outputs["ort fp32"].ravel().astype(np.float64)
    cos = {k: round(float(np.dot(ref, o.ravel()) / (np.linalg.norm(ref) * np.linalg.norm(o)
                                                    or 1.0)), 5) for k, o in outputs.items()}
    fast_fp = min(v for k, v in p50.items() if "int8" not in k)
    ov_int8 = {k: p50[k] for k in ("openvino int8", "openvino int8-bf16") if k in p50}
    return {"model": name, "p50_ms": p50, "runs": {k: len(v) for k, v in ms.items()},
            "cosine_vs_ort_fp32": cos, "load_avg_before": round(load, 2),
            "speedup_fp32_or_bf16": round(p50["ort fp32"] / fast_fp, 2),
            "speedup_any": round(p50["ort fp32"] / min(p50.values()), 2),
            "fastest": min(p50, key=lambda k: p50[k]),
            "int8_bf16_vs_int8": (round(ov_int8["openvino int8"] / ov_int8["openvino int8-bf16"],
                                        2) if len(ov_int8) == 2 else None)}


def table(rows: list[dict[str, Any]]) -> list[str]:
    labels = list(rows[0]["p50_ms"])
    out = ["| model | " + " | ".join(f"{k} p50 ms" for k in labels) + " | fastest | "
           "ORT FP32 / best FP32-or-bf16 | ORT FP32 / best of all | load avg |",
           "|---" * (len(labels) + 5) + "|"]
    for r in rows:
        out.append(f"| {r['model']} | " + " | ".join(f"{r['p50_ms'][k]:.2f}" for k in labels) +
                   f" | {r['fastest']} | {r['speedup_fp32_or_bf16']:.2f}x | "
                   f"{r['speedup_any']:.2f}x | {r['load_avg_before']:.2f} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,mobilenet_v3_large,efficientnet_b0")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--block", type=int, default=40)
    args = ap.parse_args()
    fp = fingerprint()
    cpu = fp["cpu"]
    print(f"# machine: {cpu['model']}, {cpu['logical_cores']} logical cores, flags "
          f"{' '.join(cpu['flags'])}; bf16: {'yes' if has_bf16() else 'no'}; versions "
          f"{ {k: v for k, v in fp['versions'].items() if v} }", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows.append(bench_model(name, Path(tmp), args.rounds, args.block))
            print(json.dumps(rows[-1]), flush=True)
    lines = table(rows)
    print("\n".join(lines))
    import _results

    after = [round(v, 2) for v in os.getloadavg()]
    loads = [r["load_avg_before"] for r in rows]
    quiet = max(loads + after[:1]) < 0.6
    out = _results.write("runtimes", rows, note="a quiet machine" if quiet else (
        f"not a quiet machine: 1-minute load average {min(loads)}-{max(loads)} before the "
        f"models, {after[0]} after, so the ratios are not quiet-machine ratios"),
        rounds=args.rounds, block=args.block, load_avg_after=after)
    print(f"# wrote {out}")


if __name__ == "__main__":
    main()
