"""Queue overhead of the device lab (not a test): 40 jobs of a tiny model through 1, 2 and 4
agents on this machine, on a fresh database of the PostgreSQL server at 127.0.0.1:5432.

Per job: enqueue -> start (procrastinate's ``todo`` -> the agent marks it running) and
result -> visible (the result row's commit -> the driver sees the job done), and jobs/s.
Each job profiles for 10 iterations only, so the figures are the lab's cost, not the model's.

    .venv/bin/python bench/lab.py [--jobs 40] [--agents 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def run(url: str, n_agents: int, jobs: int, model: Path, tmp: Path) -> dict[str, float]:
    import psycopg
    from support import pg

    from edgekit import artifacts, lab, lab_sweep
    from edgekit.backends import RunnerOptions
    from edgekit.lab_job import Job
    from edgekit.profile import ProfileOptions
    from edgekit.store_pg import PgStore

    pg.reset(url)
    store = PgStore(url)
    lab.ensure_schema(store)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "edgekit", "agent", "--lab", url,
                               "--device-kind", "bench", "--name", f"a{i}", "--heartbeat", "1",
                               "--cache", str(tmp / f"c{i}")], env=env, cwd=tmp,
                              stderr=subprocess.DEVNULL) for i in range(n_agents)]
    while len(lab_sweep.agents(store)) < n_agents:
        time.sleep(0.2)
    ref = artifacts.publish(store, model)
    sweep = uuid.uuid4().hex
    popts = ProfileOptions(backend="ort", runner=RunnerOptions(threads=1), warmup=1,
                           iterations=10, duration_s=0.0, tag="bench")
    js = {}
    for _ in range(jobs):
        j = Job(uid=uuid.uuid4().hex, sweep=sweep, kind="bench", artifact=ref, label="bench",
                profile=popts)
        js[j.uid] = {"job": j, "variant": None}
    t0 = time.time()
    lab_sweep._enqueue(store, js)
    t_enq = time.time()
    seen: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as con:
        while len(seen) < jobs:
            for (uid,) in con.execute("SELECT uid FROM lab_jobs WHERE status = 'ok'"):
                seen.setdefault(uid, time.time())
            time.sleep(0.01)
        t_end = time.time()
        ev = {r[0]: (float(r[1]), float(r[2])) for r in con.execute(
            "SELECT j.args->'job'->>'uid', extract(epoch FROM s.at), extract(epoch FROM f.at) "
            "FROM procrastinate_jobs j "
            "JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started' "
            "JOIN procrastinate_events f ON f.job_id = j.id AND f.type = 'succeeded'")}
        updated = {r[0]: float(r[1]) for r in con.execute("SELECT uid, updated FROM lab_jobs")}
    for p in procs:
        p.terminate()
        p.wait()
    # enqueue -> start: when a job starts, how long since a slot was free (the n-th latest end
    # among earlier jobs, or the enqueue when fewer had ended): the queue's pickup latency
    pairs = sorted(ev.values())
    pickup = []
    for st, _ in pairs:
        ends = sorted(e for s2, e in pairs if e <= st)
        free = ends[-n_agents] if len(ends) >= n_agents else t_enq
        pickup.append(st - max(free, t_enq))
    visible = [seen[u] - updated[u] for u in seen]
    return {"agents": n_agents, "jobs": jobs, "jobs_per_s": round(jobs / (t_end - t0), 2),
            "enqueue_ms_per_job": round((t_enq - t0) * 1000 / jobs, 2),
            "enqueue_to_start_ms": round(statistics.median(pickup) * 1000, 1),
            "result_to_visible_ms": round(statistics.median(visible) * 1000, 1),
            "job_ms": round(statistics.median(e - s for s, e in pairs) * 1000, 1),
            "wall_s": round(t_end - t0, 2)}


def main() -> None:
    from support import pg, tiny_onnx

    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--agents", default="1,2,4")
    a = ap.parse_args()
    url = pg.create_database()
    try:
        with tempfile.TemporaryDirectory() as d:
            model = tiny_onnx.write(Path(d) / "tiny.onnx")
            out = [run(url, int(n), a.jobs, model, Path(d)) for n in a.agents.split(",")]
    finally:
        pg.drop_database(url)
    import _results

    load = os.getloadavg()[0]
    _results.write("lab", out, note=f"PostgreSQL 15 on the same machine; load average {load:.1f} "
                   "at the end; the bracketed pickup figures with several agents are an "
                   "estimate that overstates the delay once agents overlap")
    print(json.dumps({"machine": f"{platform.processor() or platform.machine()}, "
                      f"{os.cpu_count()} cores, Python {platform.python_version()}",
                      "runs": out}, indent=1))


if __name__ == "__main__":
    main()
