"""The PostgreSQL store through real processes: four concurrent ``edgekit profile`` runs lose no
rows, kill -9 of a writer mid-transaction keeps only committed rows, a read-only role reads,
bad URLs and wrong passwords are one line (never the password), a server restart mid-sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from support import pg, run_cli, tiny_onnx
from support.store_writer import fake_result

from edgekit.store import open_store

WRITER = Path(__file__).resolve().parent / "support" / "store_writer.py"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_onnx.write(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


def _profile(model: Path, store: str, tag: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edgekit", "profile", str(model), "--store",
                             store, "--iterations", "20", "--warmup", "2", "--batch", "1,2",
                             "--tag", tag, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


@pytest.mark.slow
def test_four_concurrent_profiles_into_postgresql_lose_no_rows(pg_url: str, tiny: Path) -> None:
    procs = [_profile(tiny, pg_url, f"p{i}") for i in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    ids = [r["id"] for out, _ in outs for r in json.loads(out)["results"]]
    rows = open_store(pg_url).query()
    assert len(ids) == len(set(ids)) == 8 and {r["id"] for r in rows} == set(ids)
    assert sorted(r["tag"] for r in rows) == sorted([f"p{i}" for i in range(4)] * 2)


@pytest.mark.slow
def test_kill_9_of_a_writer_mid_transaction_keeps_only_committed_rows(pg_url: str,
                                                                     tiny: Path) -> None:
    ok = _profile(tiny, pg_url, "ok")
    saved = [r["id"] for r in json.loads(ok.communicate(timeout=300)[0])["results"]]
    killed = _profile(tiny, pg_url, "killed", EDGEKIT_FAULT="insert")
    out, _ = killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL and out == ""
    w = subprocess.Popen([sys.executable, str(WRITER), pg_url, "100000", "w"],
                         stdout=subprocess.PIPE, text=True)
    assert w.stdout is not None
    reported = [int(w.stdout.readline()) for _ in range(20)]
    w.send_signal(signal.SIGKILL)
    reported += [int(x) for x in w.stdout.read().split()]
    w.wait()
    s = open_store(pg_url)
    stored = {r["id"] for r in s.query()}
    assert set(saved) | set(reported) <= stored
    assert len(stored) <= len(saved) + len(reported) + 1
    assert not [r for r in s.query() if r["tag"] == "killed"]
    s.add(fake_result("after", 0))  # the store takes new results after the crash


def test_a_read_only_role_reads_results_pareto_and_budgets_but_cannot_write(
        pg_url: str, tiny: Path, tmp_path: Path) -> None:
    s = open_store(pg_url)
    s.add(fake_result("t", 0))
    role = f"edgekit_ro_{uuid.uuid4().hex[:8]}"
    pg.admin_exec(f"CREATE ROLE {role} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
                  pg_url)
    try:
        ro = pg_url.replace("postgres@", f"{role}@")
        r = run_cli("results", "--store", ro, "--json")
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["results"]) == 1
        budgets = tmp_path / "b.yaml"
        budgets.write_text("budgets:\n  - model: m\n    max_p50_ms: 100\n")
        r = run_cli("budget", "check", str(budgets), "--json", env={"EDGEKIT_STORE": ro})
        assert r.returncode == 0, r.stderr
        r = run_cli("pareto", ro, "-o", str(tmp_path / "p.png"), "--x", "gmacs", "--y",
                    "latency_p50_ms", "--json")
        assert r.returncode in (0, 2) and "Traceback" not in r.stderr
        r = run_cli("profile", str(tiny), "--iterations", "5", "--store", ro)
        assert r.returncode == 2 and r.stderr.count("\n") == 1
        assert "may only read" in r.stderr
    finally:
        pg.admin_exec(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}; DROP ROLE {role}",
                      pg_url)


@pytest.mark.parametrize("url,message", [
    ("postgresql://postgres@127.0.0.1:1/edgekit", "cannot reach the PostgreSQL store"),
    ("postgresql://postgres:hunter2@127.0.0.1:notaport/x", "not a valid PostgreSQL URL"),
    ("mysql://root@127.0.0.1/x", "unknown scheme"),
])
def test_a_bad_store_url_is_one_line_exit_2_without_the_password(url: str, message: str) -> None:
    r = run_cli("results", "--store", url)
    assert r.returncode == 2 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1
    assert message in r.stderr and "hunter2" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_a_wrong_password_is_one_line_and_never_shown(tmp_path: Path) -> None:
    c = pg.Cluster(auth="scram-sha-256", password="right-one")
    try:
        url = f"postgresql://postgres:wrong-secret@127.0.0.1:{c.port}/edgekit"
        r = run_cli("results", "--store", url, "--json")
        assert r.returncode == 2 and r.stderr.count("\n") == 1
        assert "wrong user or password" in r.stderr and "wrong-secret" not in r.stderr + r.stdout
        r = run_cli("results", "--store", f"postgresql://postgres@127.0.0.1:{c.port}/edgekit",
                    env={"PGPASSWORD": "right-one"})
        assert r.returncode == 0, r.stderr  # the password from the environment
    finally:
        c.close()


@pytest.mark.slow
def test_the_server_restarted_mid_sweep_keeps_what_was_committed(tmp_path: Path) -> None:
    c = pg.Cluster()
    try:
        models = [str(tiny_onnx.write(tmp_path / f"m{i}.onnx", seed=i)) for i in range(6)]
        p = subprocess.Popen([sys.executable, "-m", "edgekit", "sweep", *models, "--precisions",
                              "fp32", "--backends", "ort", "--duration", "1.5", "--store", c.url,
                              "--out", str(tmp_path / "rep"), "--json"],
                             env={**os.environ, "EDGEKIT_DEBUG": "1"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        restarted = threading.Event()

        def restart() -> None:
            deadline = time.time() + 120
            while time.time() < deadline and p.poll() is None:
                try:
                    if open_store(c.url).query():
                        break
                except Exception:
                    pass
                time.sleep(0.2)
            c.stop("immediate")
            time.sleep(0.5)
            c.start()
            restarted.set()

        t = threading.Thread(target=restart)
        t.start()
        out, err = p.communicate(timeout=300)
        t.join()
        assert restarted.is_set() and p.returncode == 0, err
        variants = json.loads(out)["variants"]
        ok = [v for v in variants if v["status"] == "ok"]
        failed = [v for v in variants if v["status"] != "ok"]
        assert len(ok) >= 2 and all("\n" not in (v["error"] or "") for v in failed)
        assert all("PostgreSQL" in v["error"] for v in failed)
        stored = {r["id"] for r in open_store(c.url).query()}
        assert {v["result_id"] for v in ok} <= stored
    finally:
        c.close()
