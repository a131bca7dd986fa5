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
          "avx_vnni", "amx_int8", "amx_bf16", "asimd", "asimddp", "fphp", "sve", "i8mm")


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


def is_x86(info: dict[str, Any] | None = None) -> bool:
    return (info or cpu_info())["machine"] in ("x86_64", "amd64", "i686", "x86")
