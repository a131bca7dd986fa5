"""PostgreSQL for tests: the server on 127.0.0.1:5432 (CI and here), one fresh database per test
session (dropped at the end), and throwaway clusters for the fault tests that stop a server.

Unreachable server: the tests fail when ``CI=true`` and are skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

ADMIN = os.environ.get("EDGEKIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PGBIN = Path("/usr/lib/postgresql/15/bin")


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"no PostgreSQL server: {reason}")


def admin_exec(sql: str, url: str = ADMIN) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as con:
        con.execute(sql)


def create_database() -> str:
    """A fresh database on the test server; its URL."""
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        unavailable(f"psycopg is not installed ({e})")
    name = f"edgekit_test_{uuid.uuid4().hex[:12]}"
    try:
        admin_exec(f'CREATE DATABASE "{name}"')
    except Exception as e:
        unavailable(f"{ADMIN}: {str(e).strip().splitlines()[0]}")
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset(url: str) -> None:
    """Drop every table in the session database (procrastinate's too): a clean store."""
    admin_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC",
               url)


def free_port() -> int:
    s = socket.socket()  # binding only: the tests' offline guard refuses connect
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


class Cluster:
    """A throwaway PostgreSQL cluster in a temp dir (initdb as the postgres user: it refuses
    root), for tests that stop or kill the server."""

    def __init__(self, auth: str = "trust", password: str | None = None) -> None:
        if not (PGBIN / "initdb").exists() or shutil.which("runuser") is None:
            unavailable(f"no {PGBIN}/initdb or runuser to start a throwaway cluster")
        self.dir = Path(tempfile.mkdtemp(prefix="edgekit-pg-"))
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        pwfile = self.dir / "pw"
        pwfile.write_text(password or "")
        os.chmod(pwfile, 0o644)
        self._pg("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth-local=trust",
                 f"--auth-host={auth}", "-E", "UTF8", "--no-sync",
                 *([f"--pwfile={pwfile}"] if password else []))
        self.start()
        self._pg("createdb", "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", "edgekit")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/edgekit"

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PGBIN / tool), *args], check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                 "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
