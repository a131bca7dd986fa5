"""Device fingerprint (CPU, GPUs via nvidia-smi, Jetson) and peak-RSS measurement."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit import device
from edgekit.memory import PeakRss


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    device.gpu_info.cache_clear()
    device.jetson_info.cache_clear()


def test_fingerprint_names_cpu_ram_and_versions() -> None:
    fp = device.fingerprint()
    assert fp["cpu"]["logical_cores"] >= 1 and isinstance(fp["cpu"]["flags"], list)
    assert fp["ram_gb"] > 0 and fp["versions"]["edgekit"]
    assert "onnxruntime" in fp["versions"] and "tensorrt" in fp["versions"]
    assert device.label(fp, "cpu").endswith(f"{fp['cpu']['logical_cores']} cores)")


def test_gpus_are_parsed_from_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "_run", lambda cmd, timeout=5.0:
                        "NVIDIA H100 80GB HBM3, 570.86.15, 9.0, 81559\nNVIDIA L4, 570.86.15, 8.9, [N/A]")
    gpus = device.gpu_info()
    assert gpus[0] == {"name": "NVIDIA H100 80GB HBM3", "driver": "570.86.15",
                       "compute_capability": "9.0", "memory_mb": 81559.0}
    assert gpus[1]["memory_mb"] is None
    fp = {"cpu": {"model": "x", "machine": "x86_64", "logical_cores": 2}, "gpus": gpus,
          "jetson": None}
    assert device.label(fp, "cuda") == "NVIDIA H100 80GB HBM3"
    assert device.label(fp, "cpu") == "x (x86_64, 2 cores)"


def test_no_nvidia_smi_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert device.gpu_info() == []


def test_jetson_model_release_and_power_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rel, model = tmp_path / "nv_tegra_release", tmp_path / "model"
    rel.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic\n")
    model.write_bytes(b"NVIDIA Jetson Orin Nano Engineering Reference Developer Kit\x00")
    monkeypatch.setattr(device, "TEGRA_RELEASE", rel)
    monkeypatch.setattr(device, "DT_MODEL", model)
    monkeypatch.setattr(device, "_run", lambda cmd, timeout=5.0:
                        "NV Power Mode: 15W\n0" if cmd[0] == "nvpmodel" else None)
    info = device.jetson_info()
    assert info == {"model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit",
                    "l4t": "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic",
                    "power_mode": "15W", "jetson_clocks": None}
    fp = {"cpu": {}, "gpus": [], "jetson": info}
    assert device.label(fp, "cuda").startswith("NVIDIA Jetson Orin Nano")


def test_off_a_jetson_there_is_no_jetson_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "TEGRA_RELEASE", tmp_path / "absent")
    assert device.jetson_info() is None


def test_peak_rss_sees_a_transient_allocation() -> None:
    import mmap

    with PeakRss() as mem:
        block = mmap.mmap(-1, 40 * 2**20)  # fresh anonymous pages (malloc could reuse old ones)
        block.write(b"\x01" * len(block))  # touched: resident
        block.close()
    assert mem.growth_mb >= 35, (mem.growth_mb, mem.method)
    with PeakRss() as quiet:
        pass
    assert quiet.growth_mb < 10
