"""The PostgreSQL results store (``--store postgresql://USER@HOST/DB``, ``edgekit[lab]``): the
same interface, schema and migrations as the SQLite store (``store_base``), through psycopg 3
imported on first use (ARCHITECTURE.md, rule 1).

One connection per operation and one transaction per result, so a server restart costs the
write in flight (rolled back, one error line) and never a committed row. Migrations run under
an advisory lock, so agents starting together migrate once. A role that may only read still
reads: the schema is checked with SELECTs first. Every message shows the URL without its
password (credentials belong in ``PGPASSWORD`` or a pgpass file, never on a command line).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from edgekit._lazy import require
from edgekit.errors import StoreError
from edgekit.store_base import SCHEMA_VERSION, Exec, StoreBase, check_version, dialect_sql, statements

CONNECT_TIMEOUT_S = 10
RECONNECT_S = 20.0  # a server this process reached before gets this long to come back
_REACHED: set[str] = set()  # URLs this process has connected to
_LOCK_ID = 0x6564_6765  # pg_advisory_xact_lock key for migrations ("edge")
_CREDENTIALS = "put the password in PGPASSWORD or ~/.pgpass, never in the URL on a command line"


def redact(url: str) -> str:
    """The URL without its password (``postgresql://ci_ro:***@host/db``)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def _secret(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


class PgStore(StoreBase):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.label = redact(url)
        self._migrate()

    def _error(self, e: Exception) -> StoreError:
        """One line naming what went wrong, never the password."""
        psycopg = require("psycopg")
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        secret = _secret(self.url)
        if secret:
            first = first.replace(secret, "***")
        low = first.lower()
        if isinstance(e, psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction):
            return StoreError("this role may only read the results store",
                              "write with a role that may insert, or only read (results, pareto, "
                              "budget check)", path=self.label)
        if "password authentication failed" in low or "no password supplied" in low:
            return StoreError("PostgreSQL refused the login (wrong user or password)",
                              _CREDENTIALS, path=self.label)
        if "role" in low and "does not exist" in low:
            return StoreError("PostgreSQL refused the login (no such role)", _CREDENTIALS,
                              path=self.label)
        if "does not exist" in low and "database" in low:
            return StoreError(f"no such database ({first})", "create it (createdb) or fix the "
                              "URL", path=self.label)
        if "invalid" in low and ("option" in low or "dsn" in low or "uri" in low):
            return StoreError(f"not a valid PostgreSQL URL ({first})",
                              "write postgresql://USER@HOST[:PORT]/DB", path=self.label)
        if isinstance(e, psycopg.OperationalError):
            return StoreError(f"cannot reach the PostgreSQL store ({first})",
                              "check that the server runs and the URL; nothing was written by "
                              "the failed call", path=self.label)
        return StoreError(f"PostgreSQL error ({first})", "check the store and the server log",
                          path=self.label)

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A psycopg connection (autocommit off), errors turned into one StoreError line."""
        psycopg = require("psycopg")
        con = self._open()
        try:
            yield con
        except psycopg.Error as e:
            raise self._error(e) from None
        finally:
            con.close()

    def _open(self) -> Any:
        """Connect; a server that answered before (a restart, a failover) is waited for."""
        psycopg = require("psycopg")
        deadline = time.monotonic() + (RECONNECT_S if self.url in _REACHED else 0.0)
        while True:
            try:
                con = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S)
                _REACHED.add(self.url)
                return con
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    raise self._error(e) from None
                time.sleep(0.5)
            except (psycopg.Error, ValueError) as e:
                raise self._error(e) from None

    @contextlib.contextmanager
    def _tx(self, write: bool) -> Iterator[Exec]:
        with self.connect() as con, con.transaction():

            def ex(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
                cur = con.execute(dialect_sql(sql, self.dialect), params or None)
                return list(cur.fetchall()) if cur.description else []

            yield ex

    def _version(self, con: Any) -> int | None:
        # pg_tables, not to_regclass: a plain MVCC read sees a table committed while this
        # process waited on the advisory lock (the catalog cache may not yet)
        tables = {r[0] for r in con.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
            "AND tablename IN ('schema_version', 'results')")}
        if "schema_version" not in tables:
            if "results" in tables:
                raise StoreError("not an edgekit results store (a results table and no "
                                 "schema_version)", "use another database", path=self.label)
            return None
        row = con.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else None

    def _migrate(self) -> None:
        with self.connect() as con:
            version = self._version(con)
            con.rollback()
            if version == SCHEMA_VERSION:
                return
            with con.transaction():
                con.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                version = self._version(con)  # another process may have migrated meanwhile
                if version is None:
                    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    con.execute("INSERT INTO schema_version VALUES (0)")
                    version = 0
                check_version(version, self.label)
                for v in range(version, SCHEMA_VERSION):
                    for stmt in statements(v):
                        con.execute(dialect_sql(stmt, self.dialect))
                con.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

    def integrity(self) -> str:
        with self._tx(write=False) as ex:
            ex("SELECT count(*) FROM results", ())
        return "ok"
