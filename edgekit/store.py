"""The results store (ARCHITECTURE.md, rule 12, and "Where to add: a store").

``open_store(target)`` is the one factory: a folder or ``.db`` path or ``sqlite:///PATH`` (the
default, ``results/edgekit.db``) opens ``Store``, SQLite in WAL mode; ``postgresql://...`` opens
``store_pg.PgStore`` (``edgekit[lab]``). Both implement ``store_base.StoreBase`` over one schema
and one migration list.

SQLite: every result is written in one transaction (``BEGIN IMMEDIATE``, so concurrent writers
queue on SQLite's lock instead of failing) with ``synchronous=FULL``: a result that was reported
saved survives a kill -9 of any process. ``schema_version`` drives migrations; a file that is
not an edgekit database is refused, never modified.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError, StoreError
from edgekit.store_base import (
    COLUMNS,
    MAX_ARTIFACT_MB,
    MIGRATIONS,
    SCHEMA_VERSION,
    Exec,
    StoreBase,
    Where,
    check_version,
    flatten,
    glob_match,
    statements,
    to_csv,
)

__all__ = ["COLUMNS", "DB_NAME", "MAX_ARTIFACT_MB", "MIGRATIONS", "SCHEMA_VERSION", "Store",
           "StoreBase", "Where", "db_path", "display", "flatten", "glob_match", "open_store",
           "store_exists", "store_preflight", "to_csv"]

DB_NAME = "edgekit.db"
PG_SCHEMES = ("postgresql://", "postgres://")
ENV = "EDGEKIT_STORE"


def db_path(store: Path | str) -> Path:
    """``--store`` names a folder (holding edgekit.db), the .db file itself, or sqlite:///PATH."""
    text = str(store)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):] or "."
        text = text if text.startswith("/") or not text.startswith("//") else text[1:]
    p = Path(text)
    return p if p.suffix == ".db" else p / DB_NAME


def is_url(target: Path | str) -> bool:
    return str(target).startswith(PG_SCHEMES)


def _check_scheme(target: Path | str) -> None:
    text = str(target)
    if "://" in text and not text.startswith(("sqlite:///", *PG_SCHEMES)):
        scheme = text.split("://")[0]
        raise ConfigError(f"--store: unknown scheme '{scheme}://'",
                          "use a folder, sqlite:///PATH or postgresql://USER@HOST/DB")


def open_store(target: Path | str, create: bool = True) -> StoreBase:
    """The store named by ``--store`` (or ``EDGEKIT_STORE``): a path, sqlite:/// or postgresql://."""
    _check_scheme(target)
    if is_url(target):
        from edgekit.store_pg import PgStore

        return PgStore(str(target))
    return Store(db_path(target), create=create)


def display(target: Path | str) -> str:
    """``--store`` as shown in output and errors: a URL loses its password."""
    from edgekit.store_pg import redact

    return redact(str(target)) if is_url(target) else str(target)


def store_exists(target: Path | str) -> bool:
    """Whether a store may already hold results (a PostgreSQL store: always asked)."""
    return is_url(target) or db_path(target).is_file()


def store_preflight(target: Path | str) -> None:
    """Before a long run: an existing store must be ours (validated, migrated); a new SQLite one
    must be creatable (nothing is created here); a PostgreSQL one must answer."""
    _check_scheme(target)
    if is_url(target):
        open_store(target)
        return
    db = db_path(target)
    if db.exists():
        Store(db, create=False)
        return
    parent = db.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise StoreError("cannot create the results store: a file is in the way",
                         "pass --store DIR naming a folder", path=str(parent))


class Store(StoreBase):
    """SQLite: ``FOLDER/edgekit.db`` (or a ``.db`` path)."""

    dialect = "sqlite"

    def __init__(self, folder: Path | str, create: bool = True) -> None:
        self.folder = Path(folder)
        self.path = db_path(folder)
        self.label = str(self.path)
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
            raise self._operational(e) from e
        except sqlite3.DatabaseError as e:
            raise StoreError(f"not a usable SQLite database ({e})",
                             "point --store at an edgekit results folder, or move this file "
                             "away", path=str(self.path)) from e
        finally:
            con.close()

    def _operational(self, e: sqlite3.OperationalError) -> StoreError:
        msg, path = str(e).lower(), str(self.path)
        if "locked" in msg or "busy" in msg:
            return StoreError("the results store stayed locked for 60 s by another process",
                              "retry when it is done, or use another --store", path=path)
        if "readonly" in msg or "read-only" in msg:
            return StoreError("the results store is read-only", "use a writable --store",
                              path=path)
        if "disk" in msg or "full" in msg:
            return StoreError(f"cannot write the results store ({e})",
                              "free disk space, or use another --store", path=path)
        if "not a database" not in msg:
            return StoreError(f"SQLite error ({e})", "check the store folder and its disk",
                              path=path)
        return StoreError(f"not a usable SQLite database ({e})",
                          "point --store at an edgekit results folder, or move this file away",
                          path=path)

    @contextlib.contextmanager
    def _tx(self, write: bool) -> Iterator[Exec]:
        with self._connect() as con:

            def ex(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
                return list(con.execute(sql, params).fetchall())

            if not write:
                yield ex
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                yield ex
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

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
                check_version(version, str(self.path))
                for v in range(version, SCHEMA_VERSION):
                    for stmt in statements(v):
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

    def integrity(self) -> str:
        with self._connect() as con:
            return str(con.execute("PRAGMA integrity_check").fetchone()[0])
