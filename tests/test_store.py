"""The SQLite results store: schema and migrations, refusing foreign files, filters, and what
must survive: kill -9 of a writer mid-stream and four concurrent writers."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.store_writer import fake_result

from edgekit.errors import ConfigError, StoreError
from edgekit.store import COLUMNS, DB_NAME, SCHEMA_VERSION, Store, Where, flatten, open_store, to_csv

WRITER = Path(__file__).resolve().parent / "support" / "store_writer.py"


def test_a_new_store_is_wal_with_a_schema_version(tmp_path: Path) -> None:
    s = Store(tmp_path / "res")
    con = sqlite3.connect(s.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert s.integrity() == "ok"


def test_rows_round_trip_with_the_whole_result_and_samples(tmp_path: Path) -> None:
    s = Store(tmp_path)
    ids = [s.add(fake_result("t", i)) for i in range(3)]
    assert ids == [1, 2, 3]
    rows = s.query(full=True)
    assert [r["id"] for r in rows] == [3, 2, 1]  # newest first
    assert rows[0]["p50_ms"] == 3.0 and rows[0]["result"]["model"]["name"] == "m"
    assert len(rows[0]["samples_ms"]) == 2000 and "samples_ms" not in rows[0]["result"]
    assert "result" not in s.query()[0]


def test_every_run_is_a_new_row(tmp_path: Path) -> None:
    s = Store(tmp_path)
    s.add(fake_result("t", 0))
    s.add(fake_result("t", 0))
    assert len(s.query()) == 2


def test_a_version_0_store_is_migrated(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    con.execute("INSERT INTO schema_version VALUES (0)")
    con.commit()
    con.close()
    s = Store(tmp_path)
    s.add(fake_result("t", 1))
    assert len(s.query()) == 1


def test_a_store_from_a_newer_edgekit_is_refused(tmp_path: Path) -> None:
    Store(tmp_path)
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer edgekit"):
        Store(tmp_path)


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE photos (id INTEGER)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an edgekit results store"):
        Store(tmp_path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, b"hello, not sqlite\n" * 20])
def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / DB_NAME).write_bytes(content)
    with pytest.raises(StoreError, match="not a usable SQLite database") as e:
        Store(tmp_path)
    assert "\n" not in e.value.line()


def test_a_missing_store_is_not_created_when_reading(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results store here"):
        Store(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("text,column,op,value", [
    ("model=resnet18", "model", "=", "resnet18"), ("batch>=8", "batch", ">=", 8.0),
    ("p50_ms < 5", "p50_ms", "<", 5.0), ("device_name~*EPYC*", "device_name", "~", "*EPYC*"),
    ("tag!=nightly", "tag", "!=", "nightly"),
])
def test_where_parses(text: str, column: str, op: str, value: object) -> None:
    assert Where.parse(text) == Where(column, op, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text,message", [
    ("modle=resnet18", "did you mean model"), ("batch>=eight", "takes a number"),
    ("just words", "is not COLUMN OP VALUE"), ("x; DROP TABLE results", "is not COLUMN OP"),
])
def test_where_rejects_bad_filters(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Where.parse(text)


def test_filters_select_rows(tmp_path: Path) -> None:
    s = Store(tmp_path)
    for i in range(8):
        s.add(fake_result("a" if i < 4 else "b", i))
    assert {r["batch"] for r in s.query([Where.parse("batch>=3")])} == {3, 4}
    assert len(s.query([Where.parse("tag=b"), Where.parse("p50_ms<7")])) == 2
    assert len(s.query([Where.parse("device_name~test*")])) == 8
    assert len(s.query([Where.parse("device_name~EPYC*")])) == 0
    assert len(s.query(limit=3)) == 3


def test_csv_has_every_column(tmp_path: Path) -> None:
    s = Store(tmp_path)
    s.add(fake_result("t", 0))
    lines = to_csv(s.query()).splitlines()
    assert lines[0].split(",") == list(COLUMNS) and len(lines) == 2


def test_flatten_reads_the_result_schema() -> None:
    row = flatten(fake_result("t", 2))
    assert row["p50_ms"] == 3.0 and row["params_m"] == 0.001 and row["batch"] == 3


def _writer(store: Path, n: int, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WRITER), str(store), str(n), tag],
                            stdout=subprocess.PIPE, text=True)


def test_kill_9_of_a_writer_loses_nothing_it_reported_saved(tmp_path: Path) -> None:
    Store(tmp_path)  # created before, so the writer is mid-stream when killed
    p = _writer(tmp_path, 100_000, "k")
    assert p.stdout is not None
    reported = [int(p.stdout.readline()) for _ in range(30)]
    time.sleep(0.05)  # let it get into further transactions
    p.send_signal(signal.SIGKILL)
    reported += [int(line) for line in p.stdout.read().split()]  # what it printed before dying
    p.wait()
    s = Store(tmp_path)
    assert s.integrity() == "ok"
    stored = {r["id"] for r in s.query()}
    assert set(reported) <= stored
    assert len(stored) <= len(reported) + 1  # at most the one it was committing when killed


def test_four_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    Store(tmp_path)
    procs = [_writer(tmp_path, 25, f"w{i}") for i in range(4)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ids = [int(x) for out in outs for x in out.split()]
    assert len(ids) == len(set(ids)) == 100
    s = Store(tmp_path)
    rows = s.query()
    assert len(rows) == 100 and {r["id"] for r in rows} == set(ids)
    assert {t: sum(r["tag"] == t for r in rows) for t in ("w0", "w1", "w2", "w3")} == {
        "w0": 25, "w1": 25, "w2": 25, "w3": 25}
    assert s.integrity() == "ok"


def test_a_read_only_store_can_still_be_read(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening and querying a current store never writes (no BEGIN IMMEDIATE); writing to a
    read-only one is named as such. (Tests run as root, which ignores file modes, so the store is
    opened in SQLite's read-only mode, ``mode=ro``: the real "attempt to write a readonly
    database" error.)"""
    import edgekit.store as st

    s = Store(tmp_path)
    s.add(fake_result("t", 0))
    real = sqlite3.connect

    def read_only(path: object, *a: object, **k: object) -> sqlite3.Connection:
        # SQLite's own read-only mode: writes fail with "attempt to write a readonly database"
        return real(f"file:{path}?mode=ro", *a, uri=True, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(st.sqlite3, "connect", read_only)
    assert len(Store(tmp_path, create=False).query()) == 1
    with pytest.raises(StoreError, match="the results store is read-only; use a writable --store"):
        Store(tmp_path).add(fake_result("t", 1))


def test_a_locked_store_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit.store as st

    s = Store(tmp_path)

    class Locked:
        in_transaction = False

        def execute(self, *a: object) -> None:
            if a and str(a[0]).startswith("BEGIN"):
                raise sqlite3.OperationalError("database is locked")

        def close(self) -> None:
            pass

    monkeypatch.setattr(st.sqlite3, "connect", lambda *a, **k: Locked())
    with pytest.raises(StoreError, match="stayed locked for 60 s"):
        s.add(fake_result("t", 0))


# --- the store contract, on both backends (a SQLite folder and a fresh PostgreSQL database) ---


def test_contract_rows_round_trip_newest_first(store_url: str) -> None:
    s = open_store(store_url)
    ids = [s.add(fake_result("t", i)) for i in range(3)]
    assert len(set(ids)) == 3
    rows = s.query(full=True)
    assert [r["id"] for r in rows] == sorted(ids, reverse=True)
    assert rows[0]["p50_ms"] == 3.0 and rows[0]["result"]["model"]["name"] == "m"
    assert len(rows[0]["samples_ms"]) == 2000 and "samples_ms" not in rows[0]["result"]
    assert "result" not in s.query()[0] and s.integrity() == "ok"


def test_contract_a_retried_write_is_one_row(store_url: str) -> None:
    s = open_store(store_url)
    r = {**fake_result("t", 0), "uid": "job-1/b1"}
    first, again = s.add(r), s.add({**r, "tag": "retry"})
    assert first == again
    rows = s.query()
    assert len(rows) == 1 and rows[0]["tag"] == "t" and rows[0]["uid"] == "job-1/b1"
    s.add(fake_result("t", 0))
    s.add(fake_result("t", 0))  # no uid: every run is a new row
    assert len(s.query()) == 3


def test_contract_filters(store_url: str) -> None:
    s = open_store(store_url)
    for i in range(8):
        s.add(fake_result("a" if i < 4 else "b", i))
    assert {r["batch"] for r in s.query([Where.parse("batch>=3")])} == {3, 4}
    assert len(s.query([Where.parse("tag=b"), Where.parse("p50_ms<7")])) == 2
    assert len(s.query([Where.parse("device_name~test*")])) == 8
    assert len(s.query([Where.parse("device_name~Test*")])) == 0  # case-sensitive
    assert len(s.query([Where.parse("device_name~t?st_cpu")])) == 0  # _ is not a wildcard
    assert len(s.query(limit=3)) == 3


def test_contract_artifacts_by_sha256(store_url: str) -> None:
    s = open_store(store_url)
    data = bytes(range(256)) * 10
    s.put_blob("ab" * 32, "m.onnx", data, "2026-11-25")
    s.put_blob("ab" * 32, "m.onnx", data, "2026-11-25")  # again: a no-op
    assert s.get_blob("ab" * 32) == ("m.onnx", data)
    assert s.get_blob("cd" * 32) is None


def test_contract_a_store_from_a_newer_edgekit_is_refused(store_url: str) -> None:
    s = open_store(store_url)
    with s._tx(write=True) as ex:
        ex("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="newer edgekit"):
        open_store(store_url)


def test_contract_a_version_1_store_is_migrated_keeping_its_rows(store_url: str) -> None:
    from edgekit.store_base import MIGRATIONS, dialect_sql

    s = open_store(store_url)
    with s._tx(write=True) as ex:
        for t in ("results", "artifacts", "lab_agents", "lab_jobs"):
            ex(f"DROP TABLE {t}")
        for stmt in MIGRATIONS[0].split(";"):
            if stmt.strip():
                ex(dialect_sql(stmt, s.dialect).replace("%s", "?"))
        ex("UPDATE schema_version SET version = 1")
        ex("INSERT INTO results (created, backend, device, batch, result) VALUES "
           "('2026', 'ort', 'cpu', 1, '{}')")
    s = open_store(store_url)
    assert len(s.query()) == 1
    s.add(fake_result("t", 1))
    assert len(s.query()) == 2


def test_contract_artifacts_travel_through_the_store_hash_checked(store_url: str,
                                                                  tmp_path: Path) -> None:
    from support import tiny_onnx

    from edgekit import artifacts, manifest, store_base

    s = open_store(store_url)
    src = tiny_onnx.write(tmp_path / "tiny.onnx")
    manifest.sidecar(src).write_text('{"schema": "x"}')
    ref = artifacts.publish(s, src)
    got = artifacts.fetch(s, artifacts.ArtifactRef.from_dict(ref.to_dict()), tmp_path / "cache")
    assert got.read_bytes() == src.read_bytes() and got.name == "tiny.onnx"
    assert manifest.sidecar(got).read_text() == '{"schema": "x"}'
    got.write_bytes(b"tampered")  # a damaged cache entry is fetched again
    assert artifacts.fetch(s, ref, tmp_path / "cache").read_bytes() == src.read_bytes()
    with pytest.raises(StoreError, match="not in the store"):
        artifacts.fetch(s, artifacts.ArtifactRef(name="x.onnx", sha256="0" * 64), tmp_path)
    big = b"\0" * (store_base.MAX_ARTIFACT_MB * 1_000_000 + 1)
    with pytest.raises(StoreError, match=f"up to {store_base.MAX_ARTIFACT_MB} MB"):
        s.put_blob("f" * 64, "big.onnx", big, "now")
