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

# name substring -> (FP32 TFLOP/s, memory GB/s, source): the FP32 CUDA-core figures
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

# name substring -> dense (no sparsity) tensor-core TFLOP/s or TOPS per precision, from the same
# datasheets. "tf32": None marks an Ampere-or-newer GPU whose TF32 figure is not in the table:
# cuDNN and TensorRT run FP32 convolutions on TF32 tensor cores by default, so its FP32 limit
# is not known. A GPU missing here (T4, Xavier: no TF32) is limited in FP32 by its CUDA cores.
TENSOR: dict[str, dict[str, float | None]] = {
    "H200": {"tf32": 494.7, "fp16": 989.4, "bf16": 989.4, "int8": 1978.9},
    "H100": {"tf32": 494.7, "fp16": 989.4, "bf16": 989.4, "int8": 1978.9},
    "A100": {"tf32": 156.0, "fp16": 312.0, "bf16": 312.0, "int8": 624.0},
    "L40S": {"tf32": 183.0, "fp16": 366.0, "bf16": 366.0, "int8": 733.0},
    "L4": {"tf32": 60.0, "fp16": 121.0, "bf16": 121.0, "int8": 242.5},
    "A10": {"tf32": 62.5, "fp16": 125.0, "bf16": 125.0, "int8": 250.0},
    "T4": {"fp16": 65.0, "int8": 130.0},
    "RTX 4090": {"tf32": 82.6, "fp16": 330.3, "bf16": 165.2, "int8": 660.6},
    "RTX 3090": {"tf32": 35.6, "fp16": 142.0, "bf16": 71.0, "int8": 284.0},
    "AGX Orin": {"tf32": None}, "Orin NX": {"tf32": None}, "Orin Nano": {"tf32": None},
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
    precisions: dict[str, dict[str, Any]] = {}
    for prec, (ops, unit) in precision_rates(flags, per_cycle, simd).items():
        if ops is None:
            precisions[prec] = {"peak_gflops": None, "why": unit}
        else:
            precisions[prec] = {"peak_gflops": round(cores * mhz / 1000 * ops, 1) if mhz else None,
                                "ops_per_cycle": ops, "unit": unit,
                                **({} if mhz else {"why": "the CPU's frequency is not known"})}
    mhz = round(mhz) if mhz else None
    return {"peak_gflops": round(gflops, 1) if gflops else None, "cores": cores, "mhz": mhz,
            "vnni": bool(cpu.get("vnni")),
            "flops_per_cycle": per_cycle, "simd": simd, "precisions": precisions,
            "how": f"{cores} cores x {mhz or '?'} MHz x {per_cycle} FP32 FLOPs/cycle ({simd}, "
                   "2 FMA units assumed: an upper bound)"}


def precision_rates(flags: set[str], fp32: int, simd: str
                    ) -> dict[str, tuple[int | None, str]]:
    """Per precision: (operations per cycle per core, the unit that does them), or (None, why
    no peak applies). Each precision runs on its own units: AMX tiles do 2048 INT8 and 1024
    BF16 operations per cycle per core (Intel's AMX figures), AVX512-BF16's vdpbf16ps twice
    the FP32 FMA rate, a dot-product instruction (VNNI, ARM sdot) four times the FP32 rate in
    INT8 (two without one); a CPU without FP16 or BF16 arithmetic converts to FP32, so no peak
    of that precision applies."""
    out: dict[str, tuple[int | None, str]] = {"fp32": (fp32, f"{simd} FMA")}
    if "amx_bf16" in flags:
        out["bf16"] = (1024, "AMX-BF16 tiles")
    elif "avx512_bf16" in flags:
        out["bf16"] = (2 * fp32, "AVX512-BF16 (vdpbf16ps)")
    else:
        out["bf16"] = (None, "this CPU has no BF16 arithmetic (avx512_bf16, amx_bf16): a runtime "
                             "emulates it, so no BF16 peak applies")
    if "amx_fp16" in flags:
        out["fp16"] = (1024, "AMX-FP16 tiles")
    elif "avx512_fp16" in flags:
        out["fp16"] = (2 * fp32, "AVX512-FP16")
    elif "asimdhp" in flags:
        out["fp16"] = (2 * fp32, "NEON FP16 arithmetic")
    else:
        out["fp16"] = (None, "this CPU has no FP16 arithmetic (avx512_fp16, asimdhp): the "
                             "runtime computes FP16 models in FP32, so no FP16 peak applies")
    if "amx_int8" in flags:
        out["int8"] = (2048, "AMX-INT8 tiles")
    elif {"avx512_vnni", "avx_vnni", "asimddp", "i8mm"} & flags:
        out["int8"] = (4 * fp32, "INT8 dot products (VNNI / sdot): 4x the FP32 rate")
    else:
        out["int8"] = (2 * fp32, "INT8 multiply-add pairs without a dot product: 2x FP32")
    return out


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
                    "match": key, "precisions": _gpu_precisions(key, tf)}
    return None


def _gpu_precisions(key: str, fp32_tf: float) -> dict[str, dict[str, Any]]:
    tensor = TENSOR.get(key, {})
    out: dict[str, dict[str, Any]] = {}
    if "tf32" not in tensor:
        out["fp32"] = {"peak_gflops": fp32_tf * 1000, "unit": "FP32 CUDA cores (no TF32)"}
    elif tensor["tf32"] is None:
        out["fp32"] = {"peak_gflops": None, "why": f"{key}'s TF32 tensor cores run FP32 "
                       "convolutions by default (cuDNN, TensorRT) and their peak is not in "
                       "edgekit's table"}
    else:
        out["fp32"] = {"peak_gflops": max(fp32_tf, tensor["tf32"]) * 1000,
                       "unit": "TF32 tensor cores (dense), which FP32 may run on"}
    for prec in ("fp16", "bf16", "int8"):
        value = tensor.get(prec)
        out[prec] = ({"peak_gflops": value * 1000, "unit": f"{prec.upper()} tensor cores (dense)"}
                     if value else {"peak_gflops": None, "why": f"{key}'s {prec.upper()} "
                                    "tensor-core peak is not in edgekit's table"})
    return out


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


def peak_for(device: str, peaks: dict[str, Any], precision: str = "fp32"
             ) -> tuple[float | None, str]:
    """The peak (GFLOP/s or GOP/s) of ``precision`` on ``device`` (cpu, cuda), and how it was
    found, or None and why there is none: never another precision's peak."""
    if device == "cpu":
        rows = peaks["cpu"].get("precisions") or {}
    else:
        gpu = next((g for g in peaks.get("gpus") or [] if g.get("precisions")), None)
        if gpu is None:
            return None, "this GPU is not in edgekit's table of datasheet peaks"
        rows = gpu["precisions"]
    row = rows.get(precision)
    if row is None:
        return None, f"no {precision} peak is known for {device}"
    return row.get("peak_gflops"), row.get("unit") or row.get("why", "")


def percent_of_peak(gflops: float | None, device: str, peaks: dict[str, Any],
                    precision: str = "fp32") -> tuple[float | None, str | None]:
    """Achieved / the peak of the result's own precision, in %, and None with the reason where
    there is no such peak. A figure over 100 % is impossible, so it says the peak or the MAC
    count does not describe what ran, and gives no number."""
    if not gflops:
        return None, "no GFLOP/s (the MAC count is unknown)"
    peak, how = peak_for(device, peaks, precision)
    if not peak:
        return None, how
    pct = round(100 * gflops / peak, 2)
    if pct > 100:
        return None, (f"{pct:.0f} % of the {precision} peak ({how}) is impossible: the peak or "
                      "the MAC count does not describe what ran")
    return pct, None
