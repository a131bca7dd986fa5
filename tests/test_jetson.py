"""tegrastats lines from several JetPack releases -> power, GPU load, RAM; energy per inference.
The sample lines and their sources are in ``tests/support/tegrastats.py``."""

from __future__ import annotations

import pytest
from support.tegrastats import NANO, ORIN_JP6, ORIN_JP7, THOR, XAVIER

from edgekit.jetson import energy, parse_line


@pytest.mark.parametrize("line,ram,gpu_load,gpu_mhz,power,rail", [
    (XAVIER, (4722, 7844), 37, 1300, 14025, "VDD_IN"),
    (NANO, (1180, 3965), 0, 76, 4520, "POM_5V_IN"),
    (ORIN_JP7, (20642, 62817), 12, 1300, 13907, "sum of rails"),  # no VDD_IN on AGX Orin
    (ORIN_JP6, (4722, 7844), 10, 1300, 5012, "VDD_IN"),
    (THOR, (4722, 7844), None, 1000, None, None),
])
def test_each_jetpack_format(line: str, ram: tuple[int, int], gpu_load: int | None, gpu_mhz: int,
                             power: int | None, rail: str | None) -> None:
    s = parse_line(line)
    assert (s["ram_used_mb"], s["ram_total_mb"]) == ram
    assert s["gpu_load_pct"] == gpu_load and s["gpu_mhz"] == gpu_mhz
    assert s.get("power_mw") == power and s.get("power_rail") == rail


def test_rails_are_read_with_and_without_units() -> None:
    assert parse_line(XAVIER)["rails_mw"]["VDD_GPU"] == 6854
    assert parse_line(ORIN_JP7)["rails_mw"] == {"VDD_GPU_SOC": 5139, "VDD_CPU_CV": 3268,
                                                "VIN_SYS_5V0": 5500}
    assert "SWAP" not in parse_line(NANO)["rails_mw"]


def test_without_a_board_rail_the_rails_are_summed() -> None:
    s = parse_line("GR3D_FREQ 5%@900 VDD_GPU 1000mW/1000mW VDD_CPU 500mW/500mW")
    assert s["power_mw"] == 1500 and s["power_rail"] == "sum of rails"


def test_energy_per_inference() -> None:
    samples = [parse_line(ORIN_JP6), parse_line(ORIN_JP6.replace("VDD_IN 5012mW", "VDD_IN 7012mW"))]
    e = energy(samples, mean_latency_ms=4.0, batch=8)
    assert e is not None and e["mean_power_w"] == pytest.approx(6.012)
    assert e["mj_per_inference"] == pytest.approx(24.048) and e["mj_per_image"] == pytest.approx(3.006)
    assert energy([parse_line(THOR)], 4.0, 1) is None
