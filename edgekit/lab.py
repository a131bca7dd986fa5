"""The device lab's agent side (``edgekit agent``): a procrastinate worker on the queue named
by the device kind, with concurrency 1 so a device runs one measurement at a time. Each job:
fetch the artifact from the store (hash-checked, cached) -> [build the TensorRT engine here, on
this device] -> profile -> write the result keyed by the job (a retried job is one row), with
this machine's fingerprint and the agent's name. The agent heartbeats into ``lab_agents``;
procrastinate's own worker heartbeat lets the sweep driver retry a job whose agent died.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit._lazy import require
from edgekit.errors import EdgekitError
from edgekit.lab_job import Job
from edgekit.store_pg import PgStore

TASK = "edgekit.measure"
_SCHEMA_LOCK = 0x6564_6766


@dataclass(kw_only=True)
class AgentOptions:
    lab: str  # postgresql://...
    kind: str
    name: str | None = None  # default HOST:PID
    heartbeat_s: float = 2.0
    cache: Path | None = None


def make_app(url: str) -> Any:
    procrastinate = require("procrastinate")
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    app.task(name=TASK)(measure)
    return app


def ensure_schema(store: PgStore) -> None:
    """procrastinate's tables, applied once (under an advisory lock)."""
    procrastinate = require("procrastinate")
    with store.connect() as con, con.transaction():
        con.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        have = con.execute("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = "
                           "current_schema() AND tablename = 'procrastinate_jobs'").fetchone()
        if not have:
            con.execute(procrastinate.schema.SchemaManager.get_schema())


_AGENT: dict[str, Any] = {}  # the running agent: options, store, name


def _heartbeat(store: PgStore, name: str, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            with store._tx(write=True) as ex:
                ex("UPDATE lab_agents SET heartbeat = ? WHERE name = ?", (time.time(), name))
        except EdgekitError:
            pass  # the server is away: the next beat tries again


def _register(store: PgStore, opts: AgentOptions, name: str) -> None:
    import json

    from edgekit.device import fingerprint

    now = time.time()
    with store._tx(write=True) as ex:
        ex("INSERT INTO lab_agents (name, kind, host, pid, fingerprint, started, heartbeat, job) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (name) DO UPDATE SET kind = "
           "excluded.kind, pid = excluded.pid, started = excluded.started, heartbeat = "
           "excluded.heartbeat, job = NULL",
           (name, opts.kind, socket.gethostname(), os.getpid(), json.dumps(fingerprint()), now,
            now))


def run_agent(opts: AgentOptions) -> None:
    """Serve jobs of ``opts.kind`` until stopped (SIGINT/SIGTERM end it after the job in hand)."""
    store = PgStore(opts.lab)
    ensure_schema(store)
    name = opts.name or f"{socket.gethostname()}:{os.getpid()}"
    _register(store, opts, name)
    _AGENT.update(opts=opts, store=store, name=name)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(store, name, opts.heartbeat_s, stop),
                            daemon=True)
    beat.start()
    try:
        make_app(opts.lab).run_worker(queues=[opts.kind], concurrency=1, wait=True,
                                      update_heartbeat_interval=opts.heartbeat_s,
                                      stalled_worker_timeout=max(10.0, 5 * opts.heartbeat_s))
    finally:
        stop.set()


def _job_state(store: PgStore, uid: str, **cols: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in cols)
    with store._tx(write=True) as ex:
        ex(f"UPDATE lab_jobs SET {sets}, updated = ? WHERE uid = ?",
           (*cols.values(), time.time(), uid))


def measure(job: dict[str, Any]) -> None:
    """The task: one variant on this device. A failure of the variant is recorded (one line)
    and the job ends; only a dead agent makes procrastinate run it again."""
    store, name, opts = _AGENT["store"], _AGENT["name"], _AGENT["opts"]
    uid = str(job["uid"])
    _job_state(store, uid, status="running", agent=name)
    with store._tx(write=True) as ex:
        ex("UPDATE lab_agents SET job = ? WHERE name = ?", (job.get("label", uid), name))
    try:
        rid = _run(Job.from_dict(job), store, opts, name)
        _job_state(store, uid, status="ok", result_id=rid, error=None)
    except EdgekitError as e:
        _job_state(store, uid, status="failed", error=e.line())
    except Exception as e:  # a variant must not end the agent
        _job_state(store, uid, status="failed", error=f"unexpected {type(e).__name__}: "
                   f"{(str(e).splitlines() or [''])[0][:200]}")
    finally:
        with store._tx(write=True) as ex:
            ex("UPDATE lab_agents SET job = NULL WHERE name = ?", (name,))


def _run(job: Job, store: PgStore, opts: AgentOptions, name: str) -> int:
    """Fetch what the job names (hash-checked), build the engine here where the row says so,
    and profile with the job's own options."""
    from edgekit import artifacts, backends
    from edgekit import profile as pf

    target = artifacts.fetch(store, job.artifact, opts.cache)
    spec = backends.get(job.backend)
    if "onnx" not in spec.artifacts:  # TensorRT: the engine is built here, on this device
        from edgekit.trt.engine import BuildOptions, build

        engine = target.with_suffix(".engine")
        if not engine.is_file():
            build(target, BuildOptions(output=engine))
        target = engine
    data = artifacts.fetch_folder(store, job.data, opts.cache) if job.data else None
    agreement = (artifacts.fetch_folder(store, job.agreement, opts.cache) / "images"
                 if job.agreement else None)
    popts = job.local_options(store=opts.lab, data=data, agreement=agreement,
                              lab={"kind": opts.kind, "agent": name,
                                   "host": socket.gethostname()})
    res = pf.profile(str(target), popts).results[0]
    return int(res.id or 0)
