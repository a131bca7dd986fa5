"""Crash safety: kill -9 and Ctrl-C during export, quantize, a profile's store write and a sweep.

The kills land at the worst moments through ``EDGEKIT_FAULT`` (edgekit/_io.py ``fault``): after
every file is written but before any is renamed into place, inside the store's transaction
before COMMIT, and after the Nth committed result of a sweep. A real SIGINT is also sent to a
running export. After each: no artifact under its final name unless complete, the store's
``PRAGMA integrity_check`` is ok and holds every result reported saved, and a resumed sweep
finishes the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from support import FIX, digits_spec
from support.store_writer import fake_result

from edgekit.store import Store

TINY = f"{FIX / 'user_models.py'}:tiny"

pytestmark = pytest.mark.slow  # real processes killed and interrupted: seconds each


def _edgekit(*args: str, fault: str | None = None, cwd: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if fault:
        env["EDGEKIT_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "edgekit", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_kill_9_before_rename_leaves_no_artifact_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    r = _edgekit("export", TINY, "--input-size", "32", "-o", str(out), fault="rename")
    assert r.returncode == -signal.SIGKILL
    assert _visible(tmp_path) == []  # neither m.onnx nor m.onnx.json
    orphans = list(tmp_path.glob(".m.onnx*.tmp"))
    assert orphans  # the killed writer's temporaries (hidden) are still there...
    r = _edgekit("export", TINY, "--input-size", "32", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert not any(p.exists() for p in orphans)  # ...until the next write into the folder
    assert _visible(tmp_path) == ["m.onnx", "m.onnx.json"]
    onnx.checker.check_model(onnx.load(out), full_check=True)


def test_ctrl_c_before_rename_exits_130_and_leaves_nothing(tmp_path: Path) -> None:
    r = _edgekit("export", TINY, "--input-size", "32", "-o", str(tmp_path / "m.onnx"),
                 fault="rename:sigint")
    assert r.returncode == 130 and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # temporaries removed too


def test_a_real_sigint_during_export_leaves_nothing(tmp_path: Path) -> None:
    """The child signals (SIGUSR1) when it has written everything and renamed nothing; only then
    is the real SIGINT sent, so the signal lands at that moment on any machine."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        p = subprocess.Popen([sys.executable, "-m", "edgekit", "export", TINY, "--input-size",
                              "32", "-o", str(tmp_path / "r.onnx")], stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                             "EDGEKIT_FAULT": "rename:signal"})
        ready = signal.sigtimedwait({signal.SIGUSR1}, 120)
        assert ready is not None and ready.si_pid == p.pid, "the export never reached the rename"
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_kill_9_during_quantize_keeps_the_parent_and_writes_no_int8(
        digits: dict[str, Path], tmp_path: Path) -> None:
    parent = tmp_path / "d.onnx"
    parent.write_bytes(digits["digits_cnn_plain"].read_bytes())
    Path(str(parent) + ".json").write_bytes(Path(str(digits["digits_cnn_plain"]) + ".json")
                                            .read_bytes())
    before = parent.read_bytes()
    r = _edgekit("quantize", str(parent), "--int8", "--calib", str(digits["train"]),
                 "--calib-size", "16", fault="rename")
    assert r.returncode == -signal.SIGKILL
    assert _visible(tmp_path) == ["d.onnx", "d.onnx.json"] and parent.read_bytes() == before


def test_kill_9_inside_the_store_transaction_loses_only_that_result(
        digits: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "results"
    model = str(digits["digits_cnn_plain"])
    ok = _edgekit("profile", model, "--iterations", "5", "--store", str(store), "--json")
    assert ok.returncode == 0, ok.stderr
    saved = [r["id"] for r in json.loads(ok.stdout)["results"]]
    r = _edgekit("profile", model, "--iterations", "5", "--batch", "1,2", "--store", str(store),
                 "--json", fault="insert")
    assert r.returncode == -signal.SIGKILL and r.stdout == ""  # nothing reported saved
    s = Store(store)
    assert s.integrity() == "ok" and [row["id"] for row in s.query()] == saved
    s.add(fake_result("after", 0))
    assert len(s.query()) == 2  # the store takes new results after the crash


def test_a_sweep_killed_midway_is_finished_by_resume(tmp_path: Path) -> None:
    args = ["sweep", TINY, digits_spec(), "--input-size", "32", "--precisions", "fp32,int8",
            "--backends", "ort", "--duration", "0.05", "--store", str(tmp_path / "results"), "--out",
            str(tmp_path / "report")]
    r = _edgekit(*args, fault="commit:2")  # killed right after its 2nd stored result
    assert r.returncode == -signal.SIGKILL
    s = Store(tmp_path / "results")
    assert s.integrity() == "ok" and len(s.query()) == 2
    assert not (tmp_path / "report" / "index.html").exists()
    r = _edgekit(*args, "--resume", "--json")
    assert r.returncode == 0, r.stderr
    statuses = [v["status"] for v in json.loads(r.stdout)["variants"]]
    assert sorted(statuses) == ["ok", "ok", "resumed", "resumed"]
    assert len(s.query()) == 4 and s.integrity() == "ok"
    assert (tmp_path / "report" / "index.html").is_file()


def test_ctrl_c_during_quantize_exits_130_and_leaves_the_parent_alone(
        digits: dict[str, Path], tmp_path: Path) -> None:
    parent = tmp_path / "d.onnx"
    parent.write_bytes(digits["digits_cnn_plain"].read_bytes())
    r = _edgekit("quantize", str(parent), "--fp16", fault="rename:sigint")
    assert r.returncode == 130 and "Traceback" not in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["d.onnx"]


def test_ctrl_c_during_a_sweep_keeps_what_was_saved_and_resume_finishes(tmp_path: Path) -> None:
    args = ["sweep", TINY, "--input-size", "32", "--precisions", "fp32,int8", "--backends", "ort",
            "--duration", "0.05", "--store", str(tmp_path / "results"), "--out", str(tmp_path / "report")]
    r = _edgekit(*args, fault="commit:sigint")  # Ctrl-C right after the first stored result
    assert r.returncode == 130 and "Traceback" not in r.stderr
    s = Store(tmp_path / "results")
    assert len(s.query()) == 1 and s.integrity() == "ok"
    r = _edgekit(*args, "--resume", "--json")
    assert r.returncode == 0, r.stderr
    assert sorted(v["status"] for v in json.loads(r.stdout)["variants"]) == ["ok", "resumed"]
