"""What both results stores share (ARCHITECTURE.md, "Where to add: a store"): the one schema and
its migrations, written once in SQLite's spelling with a small dialect shim for PostgreSQL;
the ``Where`` filters; ``StoreBase``, the interface (``add``, ``query``, ``put_blob``,
``get_blob``) implemented once over a transaction each backend provides.

A result is keyed by its ``uid`` (made when the Result is created, or by a lab job), and written
with ``INSERT ... ON CONFLICT (uid) DO NOTHING``: a retried write never duplicates a row.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from edgekit._io import fault
from edgekit.errors import ConfigError, StoreError

SCHEMA_VERSION = 3
# migrations[i] takes the schema from version i to i + 1; SQLite's spelling (see `dialect_sql`)
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
    """
    ALTER TABLE results ADD COLUMN uid TEXT;
    ALTER TABLE results ADD COLUMN device_kind TEXT;
    ALTER TABLE results ADD COLUMN agent TEXT;
    CREATE UNIQUE INDEX results_uid ON results (uid);
    CREATE TABLE artifacts (
        sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL,
        created TEXT NOT NULL, data BLOB NOT NULL
    );
    CREATE TABLE lab_agents (
        name TEXT PRIMARY KEY, kind TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER,
        fingerprint TEXT, started REAL NOT NULL, heartbeat REAL NOT NULL, job TEXT
    );
    CREATE TABLE lab_jobs (
        uid TEXT PRIMARY KEY, sweep TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
        status TEXT NOT NULL, agent TEXT, error TEXT, result_id INTEGER, updated REAL NOT NULL
    );
    """,
    """
    ALTER TABLE results ADD COLUMN series_key TEXT;
    ALTER TABLE results ADD COLUMN git_commit TEXT;
    ALTER TABLE results ADD COLUMN git_branch TEXT;
    CREATE INDEX results_series ON results (series_key, git_commit);
    """,
]
COLUMNS = ("id", "created", "tag", "model", "family", "precision", "backend", "device",
           "device_name", "batch", "artifact", "artifact_sha256", "p50_ms", "p90_ms", "p95_ms",
           "p99_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "images_per_s", "top1", "top5",
           "peak_rss_mb", "gpu_peak_mb", "size_mb", "gmacs", "params_m", "gflops",
           "settings_key", "uid", "device_kind", "agent", "series_key", "git_commit",
           "git_branch")
_NUMERIC = {"id", "batch", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms",
            "max_ms", "std_ms", "images_per_s", "top1", "top5", "peak_rss_mb", "gpu_peak_mb",
            "size_mb", "gmacs", "params_m", "gflops"}
MAX_ARTIFACT_MB = 512  # bytes kept in one row; PostgreSQL's bytea stops at 1 GB


def dialect_sql(sql: str, dialect: str) -> str:
    """The shim: SQLite's spelling -> PostgreSQL's (types, the row id, placeholders)."""
    if dialect == "sqlite":
        return sql
    sql = sql.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    return sql.replace("?", "%s")


def check_version(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(f"written by a newer edgekit (schema {version}, this one "
                         f"reads {SCHEMA_VERSION})", "upgrade edgekit", path=where)


def statements(version: int) -> list[str]:
    """The statements of MIGRATIONS[version], one by one."""
    return [s for s in MIGRATIONS[version].split(";") if s.strip()]


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

    def sql(self, dialect: str = "sqlite") -> tuple[str, Any]:
        """The clause (SQLite's placeholders) and its parameter; a glob is GLOB in SQLite and
        LIKE in PostgreSQL (both case-sensitive)."""
        if self.op == "~" and dialect == "sqlite":
            return f"{self.column} GLOB ?", str(self.value)
        if self.op == "~":
            like = re.sub(r"([\\%_])", r"\\\1", str(self.value)).replace("*", "%").replace("?", "_")
            return f"CAST({self.column} AS TEXT) LIKE ? ESCAPE '\\'", like
        return f"{self.column} {self.op} ?", self.value


# a transaction's executor: (sql in SQLite's spelling, params) -> rows
Exec = Callable[[str, "tuple[Any, ...] | list[Any]"], list[tuple[Any, ...]]]


class StoreBase(ABC):
    """The one store interface. Backends provide ``_tx`` (one transaction, an executor that
    takes SQLite's spelling) and ``integrity``; everything else is written once here."""

    dialect = "sqlite"
    label = ""  # what the user sees: a path, or a URL without its password

    @abstractmethod
    def _tx(self, write: bool) -> AbstractContextManager[Exec]: ...

    @abstractmethod
    def integrity(self) -> str: ...

    def add(self, result: dict[str, Any]) -> int:
        """Insert one result (its ``to_dict()``) in one transaction; returns its id. A result
        whose ``uid`` is already stored is not written again: the stored row's id comes back."""
        row = flatten(result)
        row["uid"] = row.get("uid") or uuid.uuid4().hex
        cols = [c for c in COLUMNS if c != "id"] + ["result", "samples_ms"]
        values = [row.get(c) for c in COLUMNS if c != "id"]
        # the uid is the row's key, kept in its column only: a stored result added again
        # (edited: a planted regression) is a new row, a retried write is not
        values += [json.dumps({k: v for k, v in result.items() if k not in ("samples_ms", "uid")},
                              default=str), json.dumps(result.get("samples_ms"))]
        with self._tx(write=True) as ex:
            ex(f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               "ON CONFLICT (uid) DO NOTHING", values)
            rid = ex("SELECT id FROM results WHERE uid = ?", (row["uid"],))[0][0]
            fault("insert")  # crash tests: inside the transaction, before COMMIT
        fault("commit")  # crash tests: after the Nth committed result
        return int(rid)

    def query(self, where: list[Where] | None = None, limit: int | None = None,
              full: bool = False) -> list[dict[str, Any]]:
        """Rows, newest first; ``full`` adds the whole result and its samples."""
        clauses = [w.sql(self.dialect) for w in where or []]
        sql = f"SELECT {', '.join(COLUMNS)}, result, samples_ms FROM results"
        if clauses:
            sql += " WHERE " + " AND ".join(c for c, _ in clauses)
        sql += " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._tx(write=False) as ex:
            rows = ex(sql, [v for _, v in clauses])
        out = []
        for r in rows:
            d = dict(zip(COLUMNS, r[: len(COLUMNS)], strict=True))
            if full:
                d["result"] = json.loads(r[-2])
                d["samples_ms"] = json.loads(r[-1]) if r[-1] else None
            out.append(d)
        return out

    def put_blob(self, sha256: str, name: str, data: bytes, created: str) -> None:
        """Keep an artifact's bytes under their sha256 (once: a second put is a no-op)."""
        if len(data) > MAX_ARTIFACT_MB * 1_000_000:
            raise StoreError(f"{name} is {len(data) / 1e6:.0f} MB; the store keeps artifacts up "
                             f"to {MAX_ARTIFACT_MB} MB", "copy it to the devices yourself, or "
                             "profile a smaller model", path=name)
        with self._tx(write=True) as ex:
            ex("INSERT INTO artifacts (sha256, name, size, created, data) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (sha256) DO NOTHING", (sha256, name, len(data), created, data))

    def get_blob(self, sha256: str) -> tuple[str, bytes] | None:
        """(name, bytes) of a kept artifact, or None."""
        with self._tx(write=False) as ex:
            rows = ex("SELECT name, data FROM artifacts WHERE sha256 = ?", (sha256,))
        return (str(rows[0][0]), bytes(rows[0][1])) if rows else None


def flatten(r: dict[str, Any]) -> dict[str, Any]:
    """The store's columns from a result dict (edgekit.result/1)."""
    lat, mem, model = r.get("latency") or {}, r.get("memory") or {}, r.get("model") or {}
    acc, art, lab = r.get("accuracy") or {}, r.get("artifact") or {}, r.get("lab") or {}
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
            "settings_key": r.get("settings_key"), "uid": r.get("uid"),
            "device_kind": lab.get("kind"), "agent": lab.get("agent"),
            "series_key": (r.get("series") or {}).get("key"),
            "git_commit": (r.get("provenance") or {}).get("commit"),
            "git_branch": (r.get("provenance") or {}).get("branch")}


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
