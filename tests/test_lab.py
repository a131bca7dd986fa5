"""The device lab on this machine: agent subprocesses of two kinds on a fresh PostgreSQL
database, a sweep fanned out to them, a kind with no agent refused before enqueueing, and an
agent killed mid-job whose job another agent of that kind finishes (one row)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiny_onnx
from conftest import run_cli

from edgekit.store import open_store


def _agent(url: str, kind: str, name: str, tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edgekit", "agent", "--lab", url,
                             "--device-kind", kind, "--name", name, "--heartbeat", "0.5",
                             "--cache", str(tmp / name)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture()
def lab(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[str]]]]:
    procs = [_agent(pg_url, "kind-a", "a1", tmp_path), _agent(pg_url, "kind-b", "b1", tmp_path)]
    deadline = time.time() + 60
    while time.time() < deadline:
        r = run_cli("lab", "status", "--lab", pg_url, "--json")
        if r.returncode == 0 and len(json.loads(r.stdout)["agents"]) == 2:
            break
        time.sleep(0.5)
    yield pg_url, procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()


def _sweep(url: str, models: list[str], out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edgekit", "sweep", *models, "--precisions",
                             "fp32,int8", "--backends", "ort", "--duration", "0.2", "--lab",
                             url, "--device-kinds", "kind-a,kind-b", "--out", str(out),
                             "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "EDGEKIT_DEBUG": "1"})


def test_a_lab_sweep_lands_every_result_once_with_the_right_agent(lab: tuple[str, list],
                                                                  tmp_path: Path) -> None:
    url, _ = lab
    models = [str(tiny_onnx.write(tmp_path / f"m{i}.onnx", seed=i)) for i in range(2)]
    p = _sweep(url, models, tmp_path / "rep")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    doc = json.loads(out)
    assert doc["ok"] == 8 and doc["failed"] == 0, doc["variants"]
    rows = open_store(url).query()
    assert len(rows) == 8 and len({r["uid"] for r in rows}) == 8
    assert {(r["device_kind"], r["agent"]) for r in rows} == {("kind-a", "a1"), ("kind-b", "b1")}
    again = _sweep(url, models, tmp_path / "rep2", "--resume")
    doc2 = json.loads(again.communicate(timeout=300)[0])
    assert {v["status"] for v in doc2["variants"]} == {"resumed"}
    assert len(open_store(url).query()) == 8


def test_a_kind_without_an_agent_fails_fast_before_enqueueing(lab: tuple[str, list],
                                                               tmp_path: Path) -> None:
    url, _ = lab
    m = str(tiny_onnx.write(tmp_path / "m.onnx"))
    r = run_cli("sweep", m, "--backends", "ort", "--precisions", "fp32", "--lab", url,
                "--device-kinds", "kind-a,nobody-here", "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "no agent of kind nobody-here" in r.stderr
    status = json.loads(run_cli("lab", "status", "--lab", url, "--json").stdout)
    assert status["queue"] == {}


@pytest.mark.slow
def test_an_agent_killed_mid_job_is_replaced_and_the_job_lands_once(lab: tuple[str, list],
                                                                    tmp_path: Path) -> None:
    url, procs = lab
    procs.append(_agent(url, "kind-a", "a2", tmp_path))
    m = str(tiny_onnx.write(tmp_path / "m.onnx"))
    p = subprocess.Popen([sys.executable, "-m", "edgekit", "sweep", m, "--precisions", "fp32",
                          "--backends", "ort", "--duration", "4", "--lab", url, "--device-kinds",
                          "kind-a", "--stall-after", "3", "--out", str(tmp_path / "rep"),
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    busy = None
    deadline = time.time() + 60
    while busy is None and time.time() < deadline:
        st = json.loads(run_cli("lab", "status", "--lab", url, "--json").stdout)
        busy = next((a["name"] for a in st["agents"] if a["job"]), None)
        time.sleep(0.3)
    assert busy is not None
    victim = {"a1": procs[0], "a2": procs[2]}[busy]
    victim.send_signal(signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert json.loads(out)["ok"] == 1
    rows = open_store(url).query()
    assert len(rows) == 1 and rows[0]["agent"] != busy and rows[0]["agent"] in ("a1", "a2")
