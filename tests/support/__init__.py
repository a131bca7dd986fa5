"""What the tests share: the repository's paths, the model specs of the fixtures, and the CLI
run the way a user runs it (in this process, or in a real one where that matters). The
fixtures live in ``tests/conftest.py``; the fake TensorRT in ``support.trt`` (a pytest plugin)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"


def digits_spec(name: str = "digits_cnn_plain") -> str:
    return f"{FIX / 'digits_model.py'}:{name}"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run ``edgekit ARGS`` in this process, as ``python -m edgekit`` would: ``cli.main`` with
    its own error handling and exit code, stdout and stderr kept apart, ``env`` and ``cwd`` set
    for the call and restored. No interpreter start per call (each imports torch: ~2 s).
    ``EDGEKIT_TESTS_SUBPROCESS=1`` runs every call through ``run_proc`` instead."""
    if os.environ.get("EDGEKIT_TESTS_SUBPROCESS") == "1":
        return run_proc(*args, cwd=cwd, env=env)
    import contextlib
    import io

    from edgekit import cli

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update({"HF_HUB_OFFLINE": "1", **(env or {})})
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(list(args))
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["edgekit", *args], code, out.getvalue(), err.getvalue())


def run_proc(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m edgekit ARGS`` in a subprocess: where a real process matters (signals,
    lazy imports, what a library reads once at import)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgekit", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


def import_ultralytics(module: str, monkeypatch: Any) -> Any:
    """``ultralytics.<module>``, or skip where it is not installed. Importing ultralytics
    replaces ``PIL.Image.open`` process-wide (utils/patches.py); the test's monkeypatch puts
    the original back when it ends, so later tests see PIL as it is."""
    import tempfile

    import PIL.Image
    import pytest

    monkeypatch.setattr(PIL.Image, "open", PIL.Image.open)
    for k, v in {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0",  # its settings never in ~/.config
                 "YOLO_CONFIG_DIR": str(Path(tempfile.gettempdir()) / "edgekit-tests-yolo")}.items():
        monkeypatch.setenv(k, v)
    return pytest.importorskip(module, reason="ultralytics is not installed (pip install "
                                              "ultralytics)")


def int8_floors(tmp: Path, store: Path, model: str, key: str, met: float,
                missed: float) -> tuple[dict[str, Any], dict[str, Any], int]:
    """``budget check`` of two floors on ``model``'s INT8 result (``key: met`` and ``key:
    missed``): their two outcomes and the exit code."""
    import json

    (tmp / "b.yaml").write_text("budgets:\n" + "".join(
        f"  - model: {model}\n    precision: int8\n    {key}: {v}\n" for v in (met, missed)))
    r = run_cli("budget", "check", str(tmp / "b.yaml"), "--store", str(store), "--json")
    first, second = json.loads(r.stdout)["outcomes"]
    return first, second, r.returncode
