"""An estimate of a device's peak FP32 FLOP/s and memory bandwidth, for "% of peak".

CPU: physical cores x max frequency x FP32 FLOPs per cycle per core, the last from the widest
SIMD the flags show, assuming two FMA units (an upper bound: some cores have one, and AMD's
Zen 4 runs AVX-512 on 256-bit units). Its memory bandwidth is *measured* here (a 256 MiB numpy
copy, best of 3), not looked up. GPUs and Jetsons come from a small table of their datasheets:
FP32 CUDA-core FLOP/s (no tensor cores, no sparsity) and DRAM bandwidth.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

# widest SIMD -> FP32 FLOPs per cycle per core (2 FMA units x lanes x 2 for multiply-add)
SIMD_FLOPS = [("avx512f", 64, "AVX-512"), ("fma", 32, "AVX2+FMA"), ("avx", 16, "AVX"),
              ("sve", 32, "SVE (128-bit assumed)"), ("asimd", 16, "NEON")]

# name substring -> (FP32 TFLOP/s, memory GB/s, source)
GPUS: dict[str, tuple[float, float, str]] = {
    "H200": (67.0, 4800.0, "NVIDIA H200 datasheet (SXM)"),
    "H100": (67.0, 3350.0, "NVIDIA H100 datasheet (SXM5; PCIe: 51 TF, 2000 GB/s)"),
    "A100": (19.5, 1555.0, "NVIDIA A100 datasheet (40 GB SXM; 80 GB: 2039 GB/s)"),
    "L40S": (91.6, 864.0, "NVIDIA L40S datasheet"),
    "L4": (30.3, 300.0, "NVIDIA L4 datasheet"),
    "A10": (31.2, 600.0, "NVIDIA A10 datasheet"),
    "T4": (8.1, 320.0, "NVIDIA T4 datasheet"),
    "RTX 4090": (82.6, 1008.0, "NVIDIA Ada Lovelace architecture whitepaper"),
    "RTX 3090": (35.6, 936.0, "NVIDIA Ampere GA102 whitepaper"),
    "AGX Orin": (5.3, 204.8, "Jetson AGX Orin 64GB datasheet: 2048 CUDA cores x 1.3 GHz x 2"),
    "Orin NX": (1.9, 102.4, "Jetson Orin NX 16GB datasheet: 1024 CUDA cores x 918 MHz x 2"),
    "Orin Nano": (1.3, 68.0, "Jetson Orin Nano 8GB datasheet: 1024 CUDA cores x 625 MHz x 2"),
    "Xavier NX": (0.8, 59.7, "Jetson Xavier NX datasheet: 384 CUDA cores x 1.1 GHz x 2"),
}


def _max_mhz() -> float | None:
    for p in (Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"),):
        try:
            return int(p.read_text().strip()) / 1000
        except (OSError, ValueError):
            pass
    try:
        import psutil

        f = psutil.cpu_freq()
        if f and (f.max or f.current):
            return float(f.max or f.current)
    except Exception:  # psutil raises different errors per platform
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("cpu mhz"):
                return float(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None


def cpu_peak(cpu: dict[str, Any]) -> dict[str, Any]:
    flags = set(cpu.get("flags") or [])
    per_cycle, simd = next(((f, name) for flag, f, name in SIMD_FLOPS if flag in flags), (8, "SSE"))
    mhz = _max_mhz()
    cores = cpu.get("physical_cores") or cpu.get("logical_cores") or 1
    gflops = cores * mhz / 1000 * per_cycle if mhz else None
    mhz = round(mhz) if mhz else None
    return {"peak_gflops": round(gflops, 1) if gflops else None, "cores": cores, "mhz": mhz,
            "vnni": bool(cpu.get("vnni")),
            "flops_per_cycle": per_cycle, "simd": simd,
            "how": f"{cores} cores x {mhz or '?'} MHz x {per_cycle} FP32 FLOPs/cycle ({simd}, "
                   "2 FMA units assumed: an upper bound)"}


def copy_bandwidth_gbs(mib: int = 256, repeats: int = 3) -> float:
    """Measured: bytes read + written per second by a large numpy copy (best of ``repeats``)."""
    src = np.ones(mib * 2**20 // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return round(2 * src.nbytes / best / 1e9, 1)


def gpu_peak(name: str) -> dict[str, Any] | None:
    for key, (tf, gbs, source) in GPUS.items():
        if key.lower() in name.lower():
            return {"peak_gflops": tf * 1000, "bandwidth_gbs": gbs, "source": source,
                    "match": key}
    return None


def estimate(fp: dict[str, Any], measure_bandwidth: bool = True) -> dict[str, Any]:
    """Peaks for the CPU and, where known, each GPU / the Jetson."""
    cpu = cpu_peak(fp["cpu"])
    if measure_bandwidth:
        cpu["bandwidth_gbs"] = copy_bandwidth_gbs()
        cpu["bandwidth_how"] = "measured: 256 MiB numpy copy, best of 3 (read + write bytes)"
    gpus = [{"name": g["name"], **(gpu_peak(g["name"]) or {"peak_gflops": None})}
            for g in fp.get("gpus") or []]
    jetson = fp.get("jetson")
    if jetson and jetson.get("model"):
        gpus.append({"name": jetson["model"], **(gpu_peak(jetson["model"]) or
                                                 {"peak_gflops": None})})
    return {"cpu": cpu, "gpus": gpus}


def percent_of_peak(gflops: float | None, device: str, peaks: dict[str, Any],
                    precision: str = "fp32") -> float | None:
    """Achieved / peak in %, for a result measured on ``device`` (cpu or cuda). An INT8 result
    on a CPU is measured against the INT8 peak: 4x FP32 with VNNI (one vpdpbusd does 4x the
    multiply-adds of an FP32 FMA), 2x without. On a GPU the FP32 CUDA-core peak is used for all
    (tensor-core peaks are far higher: the figure is then an upper bound of the use)."""
    if not gflops:
        return None
    if device == "cpu":
        peak = peaks["cpu"]["peak_gflops"]
        if peak and precision == "int8":
            peak *= 4 if peaks["cpu"].get("vnni") else 2
    else:
        peak = next((g["peak_gflops"] for g in peaks["gpus"] if g.get("peak_gflops")), None)
    return round(100 * gflops / peak, 2) if peak else None
