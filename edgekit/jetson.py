"""Jetson power while a profile runs: a tegrastats parser and a sampler.

tegrastats' line format drifts between JetPack releases (sample lines in the tests, each with
its source): rails are ``VDD_IN 14025/14416`` (mW, no unit: Xavier/TX2) or ``POM_5V_IN
4520/4680`` (Nano), ``VDD_IN 5012mW/5012mW`` (Orin, JetPack 5/6) and ``VDD_GPU_SOC
5139mW/5139mW/5139mW`` (AGX Orin, JetPack 7.2); the GPU is ``GR3D_FREQ 10%@1300`` (JetPack 6),
``GR3D_FREQ 12%@[1300,1300]`` (JetPack 7, per GPC) or ``GR3D_FREQ @[1000,1000,1000]`` (Thor, no
load). The board's input power is VDD_IN or POM_5V_IN where the line has one, else the sum of
the rails (and the result says which), as jtop does (jetson_stats ``jtop/core/power.py``). AGX
Orin has no input rail: its VIN_SYS_5V0 is the system 5 V supply monitor, one rail among
VDD_GPU_SOC and VDD_CPU_CV, not the total.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_GR3D = re.compile(r"\bGR3D_FREQ (?:(\d+)%)?@\[?([\d,]+)\]?")


def parse_line(line: str) -> dict[str, Any]:
    """One tegrastats line -> ram_used_mb, ram_total_mb, gpu_load_pct, gpu_mhz, rails_mw
    (current reading per rail), power_mw (board input) and power_rail (which one)."""
    out: dict[str, Any] = {"rails_mw": {}}
    m = _RAM.search(line)
    if m:
        out["ram_used_mb"], out["ram_total_mb"] = int(m.group(1)), int(m.group(2))
    g = _GR3D.search(line)
    if g:
        out["gpu_load_pct"] = int(g.group(1)) if g.group(1) is not None else None
        out["gpu_mhz"] = max(int(f) for f in g.group(2).split(",") if f)
    for name, cur, *_ in _RAIL.findall(line):
        if name not in ("RAM", "SWAP", "IRAM"):
            out["rails_mw"][name] = int(cur)
    rails = out["rails_mw"]
    total = next((r for r in TOTAL_RAILS if r in rails), None)
    if total:
        out["power_mw"], out["power_rail"] = rails[total], total
    elif rails:
        out["power_mw"], out["power_rail"] = sum(rails.values()), "sum of rails"
    return out


@dataclass
class Tegrastats:
    """``with Tegrastats() as ts: ...; ts.window(t0, t1)`` samples power in the background."""

    interval_ms: int = 50
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    _proc: Any = None
    _thread: Any = None

    @staticmethod
    def available() -> bool:
        return shutil.which("tegrastats") is not None

    def __enter__(self) -> Tegrastats:
        self._proc = subprocess.Popen(["tegrastats", "--interval", str(self.interval_ms)],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.samples.append((time.perf_counter(), parse_line(line)))

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    def window(self, t0: float, t1: float) -> list[dict[str, Any]]:
        return [s for t, s in self.samples if t0 <= t <= t1]


def energy(samples: list[dict[str, Any]], mean_latency_ms: float, batch: int) -> dict[str, Any] | None:
    """Mean board power over a timed window and the energy per inference (and per image)."""
    powers = [s["power_mw"] for s in samples if s.get("power_mw") is not None]
    if not powers:
        return None
    mean_w = sum(powers) / len(powers) / 1000
    mj = mean_w * mean_latency_ms  # W x ms = mJ
    return {"mean_power_w": round(mean_w, 3), "mj_per_inference": round(mj, 3),
            "mj_per_image": round(mj / batch, 3), "samples": len(powers),
            "rail": samples[0].get("power_rail"),
            "how": "tegrastats board input power averaged over the timed runs x mean latency"}


class Power:
    """tegrastats in the background on a Jetson (energy per inference); nothing elsewhere."""

    def __enter__(self) -> Power:
        from edgekit.device import jetson_info

        self.ts = Tegrastats() if jetson_info() and Tegrastats.available() else None
        if self.ts is not None:
            self.ts.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ts is not None:
            self.ts.__exit__(*exc)

    def energy(self, window: tuple[float, float], mean_ms: float, batch: int
               ) -> dict[str, Any] | None:
        return energy(self.ts.window(*window), mean_ms, batch) if self.ts is not None else None
