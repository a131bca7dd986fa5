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
from support import run_cli, tiny_onnx

from edgekit.store import open_store

pytestmark = pytest.mark.slow  # agents are real processes: seconds each, outside the fast lane


def _agent(url: str, kind: str, name: str, tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edgekit", "agent", "--lab", url,
                             "--device-kind", kind, "--name", name, "--heartbeat", "0.5",
                             "--cache", str(tmp / name)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture()
def lab(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[str]]]]:
    procs = [_agent(pg_url, "kind-a", "a1", tmp_path), _agent(pg_url, "kind-b", "b1", tmp_path)]
    deadline, agents, last = time.time() + 60, [], ""
    while time.time() < deadline and len(agents) < 2 and all(p.poll() is None for p in procs):
        r = run_cli("lab", "status", "--lab", pg_url, "--json")
        last = r.stdout or r.stderr
        agents = json.loads(r.stdout)["agents"] if r.returncode == 0 else []
        if len(agents) < 2:
            time.sleep(0.2)
    if len(agents) < 2:  # fail with the reason, never go on with a lab that is not there
        for p in procs:
            if p.poll() is None:
                p.kill()
        errs = [p.communicate()[1][-400:] for p in procs]
        pytest.fail(f"the lab agents did not register within 60 s: {last[-300:]!r}; "
                    f"their stderr: {errs}")
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
    assert sorted(t["device_kind"] for t in doc["table"]) == ["kind-a"] * 4 + ["kind-b"] * 4
    from rich.console import Console

    from edgekit import render

    console = Console(width=200, record=True)
    console.print(render.sweep_table(doc))
    shown = console.export_text()  # the table tells the two kinds' rows apart
    header = next(ln for ln in shown.splitlines() if "backend" in ln)
    assert "kind" in header and shown.count("kind-a") == shown.count("kind-b") == 4, shown
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


# every option the local sweep accepts (but --lab/--store/--out/--resume, which say where)
_OPTIONS = ["--input-size", "32", "--resize", "32", "--mean", "0.5,0.5,0.5", "--std",
            "0.5,0.5,0.5", "--interpolation", "bilinear", "--channel-order", "rgb",
            "--batch", "2", "--threads", "1", "--duration", "0.2", "--tag", "same",
            "--random-weights"]
_MEASURED = ("verification", "samples_ms", "tune", "timed_call")  # figures, not settings


def test_a_lab_sweep_measures_with_the_same_settings_as_the_local_one(
        lab: tuple[str, list], tmp_path: Path, digits: dict[str, Path]) -> None:
    """The issue's sweep: a file.py:factory with --input-size through two agents (it failed
    every job with "--input-size applies to --backend torch only"), with each option the local
    sweep accepts, --data with labels and --agreement-data shipped by content hash; its rows
    carry the local rows' settings. Then --resume: a bf16 variant never resumes from FP32."""
    from support import FIX

    from edgekit import backends
    from edgekit.lab_sweep import _resumed
    from edgekit.precision import Precision
    from edgekit.store_pg import PgStore
    from edgekit.sweep import SweepOptions, profile_options

    url, _ = lab
    spec = f"{FIX / 'digits_model.py'}:digits_cnn_plain"
    opts = [*_OPTIONS, "--precisions", "fp32,int8", "--backends", "ort,openvino",
            "--data", str(digits["test"]), "--agreement-data", str(digits["train"]),
            "--calib", str(digits["train"])]
    local = run_cli("sweep", spec, *opts, "--store", str(tmp_path / "local"), "--out",
                    str(tmp_path / "lrep"), "--json")
    assert local.returncode == 0, local.stderr
    p = subprocess.Popen([sys.executable, "-m", "edgekit", "sweep", spec, *opts, "--lab", url,
                          "--device-kinds", "kind-a,kind-b", "--out", str(tmp_path / "rep"),
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    doc = json.loads(out)
    assert doc["ok"] == 8 and doc["failed"] == 0, [v["error"] for v in doc["variants"]]

    def settings(store: str) -> dict[tuple[str, str], list[tuple[str, dict, dict]]]:
        got: dict[tuple[str, str], list[tuple[str, dict, dict]]] = {}
        for r in open_store(store).query(full=True):
            res = r["result"]
            kept = {k: v for k, v in res["settings"].items() if k not in _MEASURED}
            got.setdefault((r["precision"], r["backend"]), []).append(
                (r["settings_key"], kept, {"top1_n": (res["accuracy"] or {}).get("images"),
                                           "verified_on": (res["settings"].get("verification")
                                                           or {}).get("images"),
                                           "tag": r["tag"], "batch": r["batch"]}))
        return got

    here, there = settings(str(tmp_path / "local")), settings(url)
    assert set(here) == set(there) == {(p, b) for p in ("fp32", "int8")
                                       for b in ("ort", "openvino")}
    for variant, rows in here.items():
        assert rows[0][2]["top1_n"] == len(list(digits["test"].rglob("*.png")))  # --data
        assert rows[0][2]["tag"] == "same" and rows[0][2]["batch"] == 2
        assert len(there[variant]) == 2  # one per kind, each with the local row's settings
        assert all(row == rows[0] for row in there[variant]), (variant, rows, there[variant])
    # --resume: the stored openvino FP32 row answers an FP32 job, never a bf16 one (which
    # runs the same FP32 artifact in bf16)
    store = PgStore(url)
    ov = backends.get("openvino")
    sopts = SweepOptions(input_size=32, batch=2, threads=1, duration_s=0.2, tag="same",
                         data=digits["test"], agreement=digits["train"])
    fp32_row = [r for r in store.query() if r["backend"] == "openvino" and
                r["precision"] == "fp32" and r["device_kind"] == "kind-a"]
    sha = fp32_row[0]["artifact_sha256"]
    assert _resumed(store, sha, "kind-a", profile_options(sopts, ov, Precision.FP32)) == \
        fp32_row[0]["id"]
    assert _resumed(store, sha, "kind-a", profile_options(sopts, ov, Precision.BF16)) is None
    assert _resumed(store, sha, "kind-a", profile_options(
        SweepOptions(**{**vars(sopts), "threads": 2}), ov, Precision.FP32)) is None
