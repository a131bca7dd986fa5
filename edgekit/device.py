"""What machine this is: CPU model, cores and the instruction-set flags that decide INT8
settings (VNNI or not) — recorded with every quantized artifact and, later, every result."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any

# flags that matter for inference kernels (x86: /proc/cpuinfo "flags"; ARM: "Features")
_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
          "avx_vnni", "amx_int8", "amx_bf16", "avx512_fp16", "amx_fp16", "asimd", "asimddp",
          "asimdhp", "fphp", "sve", "i8mm")


@functools.cache
def cpu_info() -> dict[str, Any]:
    model, flags = platform.processor() or "unknown", set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model in ("unknown", "", "x86_64"):
            model = value.strip()
        elif key in ("flags", "features"):
            flags |= set(value.split())
    machine = platform.machine().lower()
    present = sorted(f for f in _FLAGS if f in flags)
    return {"model": model, "machine": machine, "logical_cores": os.cpu_count() or 1,
            "flags": present, "vnni": bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)}


def has_bf16(info: dict[str, Any] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX): where it does not, a
    runtime emulates bf16 or quietly runs f32, so edgekit refuses --dtype bf16 there."""
    return bool({"avx512_bf16", "amx_bf16"} & set((info or cpu_info())["flags"]))


def is_x86(info: dict[str, Any] | None = None) -> bool:
    return (info or cpu_info())["machine"] in ("x86_64", "amd64", "i686", "x86")


def _run(cmd: list[str], timeout: float = 5.0) -> str | None:
    """A tool's stdout, or None when it is missing, fails or hangs."""
    import shutil
    import subprocess

    if shutil.which(cmd[0]) is None:
        return None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


@functools.cache
def gpu_info() -> list[dict[str, Any]]:
    """NVIDIA GPUs from nvidia-smi (no CUDA library is imported): name, driver, compute
    capability, memory. Empty where there is none (Jetsons have no nvidia-smi: see jetson_info)."""
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,compute_cap,memory.total",
                "--format=csv,noheader,nounits"])
    gpus = []
    for line in (out or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            gpus.append({"name": parts[0], "driver": parts[1], "compute_capability": parts[2],
                         "memory_mb": float(parts[3]) if parts[3].replace(".", "").isdigit()
                         else None})
    return gpus


TEGRA_RELEASE = Path("/etc/nv_tegra_release")
DT_MODEL = Path("/proc/device-tree/model")


@functools.cache
def jetson_info() -> dict[str, Any] | None:
    """Jetson model, L4T release and power mode (nvpmodel), or None off a Jetson."""
    release, model_file = TEGRA_RELEASE, DT_MODEL
    if not release.is_file():
        return None
    model = model_file.read_text(errors="replace").strip("\x00\n ") if model_file.is_file() else None
    power = _run(["nvpmodel", "-q"])
    clocks = _run(["jetson_clocks", "--show"])  # needs root; None otherwise
    return {"model": model, "l4t": release.read_text(errors="replace").splitlines()[0][:120],
            "power_mode": power.splitlines()[0].split(":", 1)[-1].strip() if power else None,
            "jetson_clocks": clocks.splitlines()[0][:200] if clocks else None}


def fingerprint() -> dict[str, Any]:
    """What a result was measured on: OS, CPU, RAM, GPUs, Jetson, runtime versions."""
    import psutil

    from edgekit import manifest

    cpu = dict(cpu_info())
    cpu["physical_cores"] = psutil.cpu_count(logical=False)
    gpus = gpu_info()
    return {"os": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "gpus": gpus,
            "jetson": jetson_info(),
            "versions": manifest.versions(("onnxruntime", "onnxruntime-gpu", "openvino", "torch",
                                           "tensorrt", "numpy"))}


def label(fp: dict[str, Any], device: str) -> str:
    """A short device name for tables and budget globs, e.g. 'AMD EPYC 7B13 (x86_64, 2 cores)'."""
    if device == "cuda" and fp.get("gpus"):
        return str(fp["gpus"][0]["name"])
    if fp.get("jetson") and fp["jetson"].get("model"):
        return str(fp["jetson"]["model"])
    cpu = fp["cpu"]
    return f"{cpu['model']} ({cpu['machine']}, {cpu['logical_cores']} cores)"


def nvml_process_mb() -> float | None:
    """GPU memory this process holds now (nvidia-ml-py), or None without it or a GPU."""
    import os as _os

    try:
        import pynvml  # nvidia-ml-py, in the gpu extra
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            used = 0
            for i in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if p.pid == _os.getpid() and p.usedGpuMemory:
                        used += int(p.usedGpuMemory)
            return round(used / 2**20, 1) if used else None
        finally:
            pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        return None
