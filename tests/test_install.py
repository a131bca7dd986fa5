"""The install follows the architecture: ``pip install edgekit`` (no extras) profiles an ONNX
and reads the store with torch not importable, and a command that needs torch says which extra
to install, in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_the_core_install_profiles_without_torch(tmp_path: Path, digits: dict[str, Path]) -> None:
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    bin_ = venv / "bin"
    pip = _run([str(bin_ / "pip"), "install", "-q", "--disable-pip-version-check", "--no-compile",
                str(ROOT)],
               tmp_path)
    assert pip.returncode == 0, pip.stderr[-2000:]
    no_torch = _run([str(bin_ / "python"), "-c", "import torch"], tmp_path)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr

    edgekit = str(bin_ / "edgekit")
    store = tmp_path / "results"
    prof = _run([edgekit, "profile", str(digits["digits_cnn_plain"]), "--iterations", "5",
                 "--data", str(digits["test"]), "--store", str(store), "--json"], tmp_path)
    assert prof.returncode == 0, prof.stderr[-2000:]
    res = json.loads(prof.stdout)["results"][0]
    assert res["backend"] == "ort" and res["accuracy"]["images"] == 450
    assert res["device_info"]["versions"]["torch"] is None  # measured without torch
    listed = _run([edgekit, "results", "--store", str(store), "--json"], tmp_path)
    assert listed.returncode == 0 and len(json.loads(listed.stdout)["results"]) == 1

    export = _run([edgekit, "export", "resnet18"], tmp_path)
    assert export.returncode == 2
    assert export.stderr.strip() == ("error: export needs torch; pip install 'edgekit[export]' "
                                     "(torch: see the README for the pinned versions)")
    torch_profile = _run([edgekit, "profile", "resnet18", "--no-store"], tmp_path)
    assert torch_profile.returncode == 2 and "edgekit[export]" in torch_profile.stderr
    assert "Traceback" not in torch_profile.stderr
