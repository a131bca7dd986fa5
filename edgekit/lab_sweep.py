"""``edgekit sweep --lab URL --device-kinds A,B``: the driver exports and quantizes once, keeps
the artifacts in the store, enqueues one procrastinate job per variant x kind on the queue named
by the kind, and follows the results as they land (one progress bar). It refuses, before
enqueueing anything, a kind with no agent heartbeat in the last ``stall_s`` seconds; a job whose
agent stopped heartbeating is retried through procrastinate's stalled-job API (the retry writes
under the same key, so one row in the end). ``--resume`` skips a variant x kind already stored.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from edgekit import lab
from edgekit.errors import ConfigError, EdgekitError
from edgekit.lab_job import Job
from edgekit.precision import Precision
from edgekit.progress import Reporter
from edgekit.store_pg import PgStore
from edgekit.sweep import (
    SweepOptions,
    SweepReport,
    Variant,
    _Artifacts,
    _backends,
    _check,
    _report,
    profile_options,
    weights_options,
)


@dataclass(kw_only=True)
class LabOptions:
    url: str
    kinds: tuple[str, ...]
    stall_s: float = 30.0  # no heartbeat for this long: the agent is gone
    timeout_s: float = 3600.0


def live_kinds(store: PgStore, within_s: float) -> set[str]:
    with store._tx(write=False) as ex:
        rows = ex("SELECT DISTINCT kind FROM lab_agents WHERE heartbeat > ?",
                  (time.time() - within_s,))
    return {r[0] for r in rows}


def agents(store: PgStore) -> list[dict[str, Any]]:
    with store._tx(write=False) as ex:
        rows = ex("SELECT name, kind, host, heartbeat, job FROM lab_agents ORDER BY kind, name",
                  ())
    now = time.time()
    return [{"name": r[0], "kind": r[1], "host": r[2], "last_heartbeat_s": round(now - r[3], 1),
             "job": r[4]} for r in rows]


def queue_depth(store: PgStore) -> dict[str, int]:
    with store._tx(write=False) as ex:
        rows = ex("SELECT queue_name, count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                  "GROUP BY queue_name", ())
    return {r[0]: int(r[1]) for r in rows}


def _preflight(store: PgStore, opts: LabOptions) -> None:
    lab.ensure_schema(store)
    missing = [k for k in opts.kinds if k not in live_kinds(store, opts.stall_s)]
    if missing:
        raise ConfigError(f"no agent of kind {', '.join(missing)} has sent a heartbeat in the "
                          f"last {opts.stall_s:g} s", f"start `edgekit agent --lab URL "
                          f"--device-kind {missing[0]}` on such a device", path=store.label)


def _resumed(store: PgStore, sha: str, kind: str, popts: Any) -> int | None:
    """The newest stored row of this artifact on this kind that measured exactly these
    options (``lab_job.matches``: dtype, batch, threads, input size, timing)."""
    from edgekit.lab_job import matches
    from edgekit.store import Where

    rows = store.query([Where("artifact_sha256", "=", sha), Where("device_kind", "=", kind),
                        Where("backend", "=", str(popts.backend))], full=True)
    return next((int(r["id"]) for r in rows if matches(r, popts)), None)


@dataclass(kw_only=True)
class _Folders:
    """The sweep's image folders, published once: refs for every job that reads them."""

    data: Any = None
    labels_name: str | None = None
    agreement: Any = None

    @classmethod
    def publish(cls, store: PgStore, opts: SweepOptions) -> _Folders:
        from edgekit import artifacts

        out = cls()
        if opts.data is not None:
            extra = (opts.labels,) if opts.labels is not None else ()
            out.data = artifacts.publish_folder(store, opts.data, extra)
            out.labels_name = f"labels/{opts.labels.name}" if opts.labels is not None else None
        if opts.agreement is not None:
            out.agreement = artifacts.publish_folder(store, opts.agreement)
        return out


def _job(v: Variant, art: Any, popts: Any, folders: _Folders, sweep_id: str,
         kind: str) -> Job:
    """The job: the variant's profile options exactly as the local sweep builds them."""
    return Job(uid=uuid.uuid4().hex, sweep=sweep_id, kind=kind, artifact=art,
               label=f"{v.model} {v.precision} {v.backend} on {kind}", profile=popts,
               data=folders.data if popts.data is not None else None,
               labels_name=folders.labels_name if popts.data is not None else None,
               agreement=folders.agreement if popts.agreement is not None else None)


def _plan(models: list[str], opts: SweepOptions, lopts: LabOptions, store: PgStore,
          rep: Reporter, sources: dict[str, Any]) -> tuple[list[Variant], dict[str, dict[str, Any]]]:
    """Variants (one per model x backend x precision x kind), artifacts made and published once;
    the jobs to enqueue, by uid."""
    from edgekit import artifacts
    from edgekit.provenance import collect

    variants, jobs, sweep_id = [], {}, uuid.uuid4().hex
    folders = _Folders.publish(store, opts)
    commit = collect(None, opts.commit)["commit"]
    for m in models:
        arts = _Artifacts(m, opts, rep.quiet_copy(), sources[m])
        for spec in _backends(opts):
            for p in opts.precisions:
                art_p, dtype = spec.sweep_target(Precision(p))
                base = Variant(model=m, backend=spec.name, precision=Precision(p).value)
                ref = None
                try:
                    if p in spec.sweep:
                        ref = artifacts.publish(store, arts.onnx(art_p))
                except EdgekitError as e:
                    base.status, base.error = "export failed", e.line()
                for kind in lopts.kinds:
                    v = Variant(**{**base.to_dict(), "device_kind": kind})
                    variants.append(v)
                    if p not in spec.sweep:
                        v.status, v.error = "unsupported", f"{v.backend} does not run {p}"
                    if ref is None or v.status != "pending":
                        continue
                    v.artifact = ref.name
                    popts = profile_options(opts, spec, dtype)
                    popts.commit = popts.commit or commit  # the driver's code, not the agent's
                    done = _resumed(store, ref.sha256, kind, popts) if opts.resume else None
                    if done is not None:
                        v.status, v.result_id = "resumed", done
                        continue
                    job = _job(v, ref, popts, folders, sweep_id, kind)
                    jobs[job.uid] = {"job": job, "variant": v}
    return variants, jobs


def _enqueue(store: PgStore, jobs: dict[str, dict[str, Any]]) -> None:
    app = lab.make_app(store.url)
    now = time.time()
    with store._tx(write=True) as ex:
        for uid, j in jobs.items():
            ex("INSERT INTO lab_jobs (uid, sweep, kind, label, status, updated) VALUES "
               "(?, ?, ?, ?, 'queued', ?)", (uid, j["job"].sweep, j["job"].kind,
                                              j["job"].label, now))
    with app.open():
        for j in jobs.values():
            app.configure_task(name=lab.TASK, queue=j["job"].kind).defer(job=j["job"].to_dict())


async def _retry_stalled(url: str, kinds: tuple[str, ...], stall_s: float) -> int:
    app = lab.make_app(url)
    n = 0
    async with app.open_async():
        for kind in kinds:
            for job in await app.job_manager.get_stalled_jobs(
                    queue=kind, task_name=lab.TASK, seconds_since_heartbeat=stall_s):
                await app.job_manager.retry_job(job)
                n += 1
    return n


def _follow(store: PgStore, jobs: dict[str, dict[str, Any]], lopts: LabOptions,
            rep: Reporter) -> None:
    """Wait for every job, advancing the bar as results land; retry stalled jobs."""
    pending = set(jobs)
    deadline, next_stall = time.time() + lopts.timeout_s, time.time() + lopts.stall_s / 3
    with rep.progress(len(jobs), "lab sweep") as advance:
        while pending and time.time() < deadline:
            with store._tx(write=False) as ex:
                rows = ex("SELECT uid, status, error, result_id FROM lab_jobs WHERE status IN "
                          "('ok', 'failed') AND sweep = ?",
                          (next(iter(jobs.values()))["job"].sweep,))
            for uid, status, error, rid in rows:
                if uid in pending:
                    pending.discard(uid)
                    v = jobs[uid]["variant"]
                    v.status = "ok" if status == "ok" else "profile failed"
                    v.error, v.result_id = error, rid
                    advance(f"{v.model} {v.precision} {v.backend} on {v.device_kind}")
            if time.time() > next_stall:
                asyncio.run(_retry_stalled(store.url, lopts.kinds, lopts.stall_s))
                next_stall = time.time() + lopts.stall_s / 3
            time.sleep(0.2)
    for uid in pending:
        v = jobs[uid]["variant"]
        v.status, v.error = "profile failed", f"no result within {lopts.timeout_s:g} s"


def lab_sweep(models: list[str], opts: SweepOptions, lopts: LabOptions,
              rep: Reporter | None = None) -> SweepReport:
    rep = rep or Reporter()
    opts.store = lopts.url
    _check(models, opts)
    store = PgStore(lopts.url)
    _preflight(store, lopts)
    opts.precisions = tuple(Precision(p) for p in opts.precisions)
    for spec in _backends(opts):
        if "onnx" not in spec.artifacts and "engine" not in spec.artifacts:
            raise ConfigError(f"--lab: {spec.name} runs model specs, not artifacts",
                              "sweep ONNX runtimes (ort, tensorrt) in the lab")
    sources, notices = weights_options(models, opts, rep)
    variants, jobs = _plan(models, opts, lopts, store, rep, sources)
    _enqueue(store, jobs)
    if jobs:
        _follow(store, jobs, lopts, rep)
    with rep.stage("report") as st:
        out = _report(variants, opts, notices)
        st["note"] = str(out.files.get("html"))
    return out
