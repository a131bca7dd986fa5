"""mypy (strict about the package, including the typed TensorRT surface) and ruff, as tests."""

from __future__ import annotations

import shutil
import subprocess
import sys

from support import ROOT


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    assert exe, f"{name} is not installed (pip install -e .[dev])"
    return exe


def test_mypy_passes_on_the_package() -> None:
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_ruff_passes() -> None:
    r = subprocess.run([_tool("ruff"), "check", "edgekit", "tests", "bench", "scripts"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_every_pytest_raises_names_its_message() -> None:
    """``pytest.raises`` without ``match=`` passes on any ValueError (numpy raises its own)."""
    import re

    bare = re.compile(r"pytest\.raises\([\w.]+\)")
    offenders = [f"{p.name}:{i}" for p in sorted((ROOT / "tests").rglob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if bare.search(line)]
    assert offenders == []
