"""Peak resident memory of this process while a model loads and runs.

On Linux the kernel keeps the peak (``VmHWM`` in /proc/self/status), and writing ``5`` to
/proc/self/clear_refs resets it, so the peak growth over a baseline is exact and costs nothing
during the timed loop. Where that is not possible, RSS is read at checkpoints (psutil), which
can miss a short spike: the method is recorded with every figure.
"""

from __future__ import annotations

import re
from pathlib import Path

import psutil

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def _hwm_mb() -> float | None:
    try:
        m = re.search(r"VmHWM:\s+(\d+)\s+kB", _STATUS.read_text())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


class PeakRss:
    """``with PeakRss() as mem: ...; mem.checkpoint(); mem.growth_mb``."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.method = "rss at checkpoints (psutil)"
        self.base_mb = 0.0
        self._peak_mb = 0.0

    def __enter__(self) -> PeakRss:
        try:
            _CLEAR.write_text("5")
            if _hwm_mb() is not None:
                self.method = "VmHWM, reset through /proc/self/clear_refs"
        except OSError:
            pass
        self.base_mb = self._rss_mb()
        self._peak_mb = self.base_mb
        return self

    def __exit__(self, *exc: object) -> None:
        self.checkpoint()

    def _rss_mb(self) -> float:
        return float(self._proc.memory_info().rss) / 2**20

    def checkpoint(self) -> None:
        self._peak_mb = max(self._peak_mb, self._rss_mb())
        if self.method.startswith("VmHWM"):
            self._peak_mb = max(self._peak_mb, _hwm_mb() or 0.0)

    @property
    def growth_mb(self) -> float:
        self.checkpoint()
        return round(max(0.0, self._peak_mb - self.base_mb), 2)
