"""INT8 and FP16 vs FP32 on ONNX Runtime CPU: latency ratios from one run, per-layer summary.

    .venv/bin/python bench/quantize.py [--models resnet18,mobilenet_v3_large,efficientnet_b0]
    .venv/bin/python bench/quantize.py --target tensorrt    # ORT vs ModelOpt Q/DQ for TensorRT

Random weights at 224 px, batch 1, the machine's default thread count. Each engine is timed
blocked (all its runs, then the next), never interleaved: interleaving ORT sessions inflates
every figure 1.5-4x on 2 cores (edgekit/timing.py says more). 10 warm-up runs,
then 50 timed runs; the median is compared. A ratio below 1 means faster than FP32.
Writes bench/results/quantize.json (the README's INT8/FP16 table: scripts/readme_tables.py).

``--target tensorrt`` compares the two INT8 quantizers for TensorRT instead (no latency: that
needs TensorRT on a GPU, tests/test_modelopt_q_gpu.py): each ``edgekit quantize --target tensorrt
--quantizer ort|modelopt`` runs in its own process, whose peak RSS is the kernel's figure
(os.wait4) and whose manifest gives the Q/DQ summary, the agreement with FP32 on the held-out
photos and the stage times. Writes bench/results/quantize_tensorrt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import write

from edgekit import graph
from edgekit.device import cpu_info
from edgekit.export import ExportOptions, export
from edgekit.precision import Precision
from edgekit.quantize import QuantOptions, quantize
from edgekit.sources import Options


def median_ms(path: Path, x: np.ndarray, warmup: int = 10, runs: int = 50) -> float:
    sess = graph.ort_session(path)
    name = sess.get_inputs()[0].name
    for _ in range(warmup):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        sess.run(None, {name: x})
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def quantize_in_a_process(fp32: Path, quantizer: str, folder: Path) -> dict[str, object]:
    """One ``edgekit quantize --target tensorrt`` process: its manifest, peak RSS and wall time."""
    out, doc = folder / f"{fp32.stem}.{quantizer}.int8.onnx", folder / f"{quantizer}.json"
    cmd = [sys.executable, "-m", "edgekit", "quantize", str(fp32), "--target", "tensorrt",
           "--quantizer", quantizer, "--report", "0", "-o", str(out), "--json"]
    t0 = time.perf_counter()
    with doc.open("w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.DEVNULL, cwd=folder)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        return {"quantizer": quantizer, "error": f"exit {os.waitstatus_to_exitcode(status)}"}
    m = json.loads(doc.read_text())["manifest"]
    q, v = m["quantization"], m["verification"]
    stages = {s["name"]: s["seconds"] for s in m["stages"]}
    return {"quantizer": quantizer, "version": q["quantizer_version"],
            "onnxruntime": q["onnxruntime_version"], "fp16_rest": q["fp16_rest"],
            "qdq_pairs": q["qdq"]["activation_qdq_pairs"], "adds": q["qdq"]["adds"],
            "logits_float": q["qdq"]["logits_float"], "agreement_pct": v["top1_agreement"],
            "held_out": f"{v['images']} {v['held_out']}", "calibration_images":
            q["calibration"]["count"],
            "calibrate_quantize_verify_s": round(stages["calibrate"] + stages["quantize"], 2),
            "wall_s": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2)}


def tensorrt_target(models: list[str], note: str) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            fp32 = export(name, ExportOptions(output=Path(tmp) / f"{name}.onnx"),
                          Options(random_weights=True)).path
            for quantizer in ("ort", "modelopt"):
                r = {"model": name, **quantize_in_a_process(fp32, quantizer, Path(tmp))}
                print(r, flush=True)
                rows.append(r)
    print(write("quantize_tensorrt", rows, note=note))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,mobilenet_v3_large,efficientnet_b0")
    ap.add_argument("--note", default="", help="recorded with the figures, e.g. 'shared CPU'")
    ap.add_argument("--target", choices=["cpu", "tensorrt"], default="cpu")
    args = ap.parse_args()
    if args.target == "tensorrt":
        tensorrt_target(args.models.split(","), args.note)
        return
    cpu = cpu_info()
    print(f"# machine: {cpu['model']}, {cpu['logical_cores']} logical cores, "
          f"flags {' '.join(cpu['flags'])}, VNNI: {'yes' if cpu['vnni'] else 'no'}")
    print("| model | FP32 ms | INT8 ms | FP16 ms | INT8/FP32 | FP16/FP32 | INT8 agreement % "
          "| INT8 settings | worst node (dB lost) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            fp32 = export(name, ExportOptions(output=Path(tmp) / f"{name}.onnx"),
                          Options(random_weights=True)).path
            i8 = quantize(fp32, QuantOptions(report=3))
            f16 = quantize(fp32, QuantOptions(precision=Precision.FP16))
            x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
            t32, t8, t16 = (median_ms(p, x) for p in (fp32, i8.path, f16.path))
            q = i8.manifest.sections["quantization"]
            worst = i8.manifest.sections["layer_report"][0] if i8.manifest.sections["layer_report"] else {}
            print(f"| {name} | {t32:.2f} | {t8:.2f} | {t16:.2f} | {t8 / t32:.2f} | "
                  f"{t16 / t32:.2f} | {i8.manifest.verification.top1_agreement:.0f} | "
                  f"{q['activation_type']}x{q['weight_type']} reduce_range={q['reduce_range']} | "
                  f"{worst.get('op_type', '-')} ({worst.get('sqnr_lost_db', 0):.1f}) |",
                  flush=True)
            rows.append({"model": name, "fp32_ms": round(t32, 3), "int8_ms": round(t8, 3),
                         "fp16_ms": round(t16, 3),
                         "int8_agreement_pct": i8.manifest["verification"]["top1_agreement"],
                         "activation_type": q["activation_type"], "weight_type": q["weight_type"],
                         "reduce_range": q["reduce_range"], "worst_op": worst.get("op_type"),
                         "worst_db_lost": worst.get("sqnr_lost_db")})
    print(write("quantize", rows, note=args.note, timing="blocked: 10 warm-up runs, median of 50, "
                "one engine after the other, one process"))
    print(f"# python {sys.version.split()[0]}; agreement is on random-weight models and "
          "14 flipped photos: it shows the pipeline runs, not accuracy (see the digits tests)")


if __name__ == "__main__":
    main()
