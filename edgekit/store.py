"""The results store: ``STORE/edgekit.db``, SQLite in WAL mode (ARCHITECTURE.md, rule 12).

Every profile is a new row, written in one transaction (``BEGIN IMMEDIATE``, so concurrent
writers queue on SQLite's lock instead of failing) with ``synchronous=FULL``: a result that was
reported saved survives a kill -9 of any process. ``schema_version`` drives migrations; a file
that is not an edgekit database is refused, never modified.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit._io import fault
from edgekit.errors import ConfigError, StoreError

DB_NAME = "edgekit.db"
SCHEMA_VERSION = 1
# migrations[i] takes the schema from version i to i + 1
MIGRATIONS = [
    """
    CREATE TABLE results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created TEXT NOT NULL, tag TEXT,
        model TEXT, family TEXT, precision TEXT, backend TEXT NOT NULL, device TEXT NOT NULL,
        device_name TEXT, batch INTEGER NOT NULL,
        artifact TEXT, artifact_sha256 TEXT,
        p50_ms REAL, p90_ms REAL, p95_ms REAL, p99_ms REAL, mean_ms REAL, min_ms REAL,
        max_ms REAL, std_ms REAL, images_per_s REAL,
        top1 REAL, top5 REAL, peak_rss_mb REAL, gpu_peak_mb REAL, size_mb REAL,
        gmacs REAL, params_m REAL, gflops REAL, settings_key TEXT,
        result TEXT NOT NULL, samples_ms TEXT
    );
    CREATE INDEX results_model ON results (model, precision, backend, batch);
    CREATE INDEX results_sha ON results (artifact_sha256, settings_key);
    """,
]
COLUMNS = ("id", "created", "tag", "model", "family", "precision", "backend", "device",
           "device_name", "batch", "artifact", "artifact_sha256", "p50_ms", "p90_ms", "p95_ms",
           "p99_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "images_per_s", "top1", "top5",
           "peak_rss_mb", "gpu_peak_mb", "size_mb", "gmacs", "params_m", "gflops",
           "settings_key")
_NUMERIC = {"id", "batch", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms",
            "max_ms", "std_ms", "images_per_s", "top1", "top5", "peak_rss_mb", "gpu_peak_mb",
            "size_mb", "gmacs", "params_m", "gflops"}
_OPS = ("<=", ">=", "!=", "=", "<", ">", "~")


@dataclass(frozen=True)
class Where:
    """One filter: ``column OP value``; ``~`` is a glob (``device_name~*EPYC*``)."""

    column: str
    op: str
    value: str | float

    @classmethod
    def parse(cls, text: str) -> Where:
        m = re.fullmatch(r"\s*([a-z0-9_]+)\s*(<=|>=|!=|=|<|>|~)\s*(.*?)\s*", text)
        if not m:
            raise ConfigError(f"--where '{text}' is not COLUMN OP VALUE",
                              "write e.g. model=resnet18, batch>=8, p50_ms<5 or device_name~*EPYC*")
        col, op, value = m.groups()
        if col not in COLUMNS:
            close = difflib.get_close_matches(col, COLUMNS, n=3)
            raise ConfigError(f"--where: unknown column '{col}'",
                              f"did you mean {', '.join(close)}?" if close
                              else f"columns: {', '.join(COLUMNS)}")
        if col in _NUMERIC and op != "~":
            try:
                return cls(col, op, float(value))
            except ValueError:
                raise ConfigError(f"--where: {col} takes a number, got '{value}'",
                                  f"write e.g. {col}{op}10") from None
        return cls(col, op, value)

    def sql(self) -> tuple[str, Any]:
        if self.op == "~":
            return f"{self.column} GLOB ?", str(self.value)
        return f"{self.column} {self.op} ?", self.value


def db_path(store: Path) -> Path:
    """``--store`` names a folder (holding edgekit.db) or the .db file itself."""
    store = Path(store)
    return store if store.suffix == ".db" else store / DB_NAME


class Store:
    def __init__(self, folder: Path, create: bool = True) -> None:
        self.folder = Path(folder)
        self.path = db_path(self.folder)
        if not self.path.exists() and not create:
            raise StoreError("no results store here", "run edgekit profile --store "
                             f"{self.folder} first, or pass --store DIR", path=str(self.path))
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the store folder ({e.strerror})",
                                 "pass a writable --store DIR", path=str(self.path.parent)) from e
        self._migrate()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the results store ({e})",
                             "check the path and its permissions", path=str(self.path)) from e
        try:
            con.execute("PRAGMA busy_timeout = 60000")
            con.execute("PRAGMA synchronous = FULL")
            yield con
        except sqlite3.IntegrityError as e:
            raise StoreError(f"the store refused a result ({e})",
                             "this is a bug in edgekit; please report it", path=str(self.path)) from e
        except sqlite3.OperationalError as e:
            msg = str(e).lower()
            if "locked" in msg or "busy" in msg:
                raise StoreError("the results store stayed locked for 60 s by another process",
                                 "retry when it is done, or use another --store",
                                 path=str(self.path)) from e
            if "readonly" in msg or "read-only" in msg:
                raise StoreError("the results store is read-only", "use a writable --store",
                                 path=str(self.path)) from e
            if "disk" in msg or "full" in msg:
                raise StoreError(f"cannot write the results store ({e})",
                                 "free disk space, or use another --store",
                                 path=str(self.path)) from e
            if "not a database" not in msg:
                raise StoreError(f"SQLite error ({e})", "check the store folder and its disk",
                                 path=str(self.path)) from e
            raise StoreError(f"not a usable SQLite database ({e})",
                             "point --store at an edgekit results folder, or move this file "
                             "away", path=str(self.path)) from e
        except sqlite3.DatabaseError as e:
            raise StoreError(f"not a usable SQLite database ({e})",
                             "point --store at an edgekit results folder, or move this file "
                             "away", path=str(self.path)) from e
        finally:
            con.close()

    def _current(self, con: sqlite3.Connection) -> bool:
        """Already an edgekit store at this schema, in WAL mode (checked without writing, so
        reading a read-only store works)."""
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_version" not in tables:
            return False
        row = con.execute("SELECT version FROM schema_version").fetchone()
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        return row is not None and int(row[0]) == SCHEMA_VERSION and str(mode).lower() == "wal"

    def _migrate(self) -> None:
        with self._connect() as con:
            if self._current(con):
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                tables = {r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "schema_version" not in tables:
                    if tables - {"sqlite_sequence"}:
                        raise StoreError("not an edgekit results store (it has other tables and "
                                         "no schema_version)", "pass another --store folder",
                                         path=str(self.path))
                    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    con.execute("INSERT INTO schema_version VALUES (0)")
                version = int(con.execute("SELECT version FROM schema_version").fetchone()[0])
                if version > SCHEMA_VERSION:
                    raise StoreError(f"written by a newer edgekit (schema {version}, this one "
                                     f"reads {SCHEMA_VERSION})", "upgrade edgekit",
                                     path=str(self.path))
                for v in range(version, SCHEMA_VERSION):
                    for stmt in MIGRATIONS[v].split(";"):
                        if stmt.strip():
                            con.execute(stmt)
                if version < SCHEMA_VERSION:
                    con.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            # only once the file is known to be ours (the mode is stored in the file)
            con.execute("PRAGMA journal_mode = WAL")

    def add(self, result: dict[str, Any]) -> int:
        """Insert one result (its ``to_dict()``) in one transaction; returns its id."""
        row = flatten(result)
        cols = [c for c in COLUMNS if c != "id"] + ["result", "samples_ms"]
        values = [row.get(c) for c in COLUMNS if c != "id"]
        values += [json.dumps({k: v for k, v in result.items() if k != "samples_ms"},
                              default=str), json.dumps(result.get("samples_ms"))]
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(f"INSERT INTO results ({', '.join(cols)}) VALUES "
                                  f"({', '.join('?' * len(cols))})", values)
                fault("insert")  # crash tests: inside the transaction, before COMMIT
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        fault("commit")  # crash tests: after the Nth committed result
        return int(cur.lastrowid or 0)

    def query(self, where: list[Where] | None = None, limit: int | None = None,
              full: bool = False) -> list[dict[str, Any]]:
        """Rows, newest first; ``full`` adds the whole result and its samples."""
        clauses = [w.sql() for w in where or []]
        sql = f"SELECT {', '.join(COLUMNS)}, result, samples_ms FROM results"
        if clauses:
            sql += " WHERE " + " AND ".join(c for c, _ in clauses)
        sql += " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._connect() as con:
            rows = con.execute(sql, [v for _, v in clauses]).fetchall()
        out = []
        for r in rows:
            d = dict(zip(COLUMNS, r[: len(COLUMNS)], strict=True))
            if full:
                d["result"] = json.loads(r[-2])
                d["samples_ms"] = json.loads(r[-1]) if r[-1] else None
            out.append(d)
        return out

    def integrity(self) -> str:
        with self._connect() as con:
            return str(con.execute("PRAGMA integrity_check").fetchone()[0])


def store_preflight(folder: Path) -> None:
    """Before a long run: an existing store must be ours (validated, migrated); a new one
    must be creatable. Nothing is created here."""
    db = db_path(Path(folder))
    if db.exists():
        Store(folder, create=False)
        return
    parent = db.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise StoreError("cannot create the results store: a file is in the way",
                         "pass --store DIR naming a folder", path=str(parent))


def flatten(r: dict[str, Any]) -> dict[str, Any]:
    """The store's columns from a result dict (edgekit.result/1)."""
    lat, mem, model = r.get("latency") or {}, r.get("memory") or {}, r.get("model") or {}
    acc, art = r.get("accuracy") or {}, r.get("artifact") or {}
    params = model.get("params")
    return {"created": r.get("created"), "tag": r.get("tag"), "model": model.get("name"),
            "family": model.get("family"), "precision": model.get("precision"),
            "backend": r.get("backend"), "device": r.get("device"),
            "device_name": r.get("device_name"), "batch": r.get("batch"),
            "artifact": art.get("path"), "artifact_sha256": art.get("sha256"),
            **{k: lat.get(k) for k in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms",
                                       "min_ms", "max_ms", "std_ms", "images_per_s")},
            "top1": acc.get("top1"), "top5": acc.get("top5"),
            "peak_rss_mb": mem.get("peak_rss_growth_mb"), "gpu_peak_mb": mem.get("gpu_peak_mb"),
            "size_mb": art.get("size_mb"), "gmacs": model.get("gmacs"),
            "params_m": round(params / 1e6, 4) if params else None, "gflops": r.get("gflops"),
            "settings_key": r.get("settings_key")}


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()



def glob_match(pattern: str, text: str | None) -> bool:
    """Case-sensitive glob, as in ``--where device_name~*EPYC*`` and budgets' ``device:``."""
    import fnmatch

    return text is not None and fnmatch.fnmatchcase(text, pattern)
