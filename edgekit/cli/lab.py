"""``edgekit agent`` (on each device) and ``edgekit lab status``: the device lab."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit.cli._common import JsonOpt, LabOpt, emit

app = typer.Typer()
lab_app = typer.Typer(help="The device lab: agents and the job queue.", no_args_is_help=True)


@app.command()
def agent(
    device_kind: Annotated[str, typer.Option("--device-kind", help="The queue this device "
                                             "serves, e.g. jetson-orin-nano or x86-avx512")],
    lab: LabOpt,
    name: Annotated[str | None, typer.Option(help="Agent name; default HOST:PID")] = None,
    heartbeat: Annotated[float, typer.Option(min=0.2, help="Seconds between heartbeats")] = 2.0,
    cache: Annotated[Path | None, typer.Option(
        help="Artifact cache; default $EDGEKIT_CACHE or ~/.cache/edgekit")] = None,
) -> None:
    """Run lab jobs of one device kind, one at a time, until stopped (Ctrl-C, SIGTERM)."""
    from edgekit import lab as lb

    lb.run_agent(lb.AgentOptions(lab=lab, kind=device_kind, name=name, heartbeat_s=heartbeat,
                                 cache=cache))


@lab_app.command("status")
def status(lab: LabOpt, json_out: JsonOpt = False) -> None:
    """Agents (kind, host, last heartbeat, current job) and the queue depth per kind."""
    from rich.table import Table

    from edgekit import lab as lb
    from edgekit import lab_sweep as ls
    from edgekit.store_pg import PgStore

    store = PgStore(lab)
    lb.ensure_schema(store)
    agents, depth = ls.agents(store), ls.queue_depth(store)
    doc = {"schema": "edgekit.lab_status/1", "lab": store.label, "agents": agents,
           "queue": depth}
    table = Table("agent", "kind", "host", "last heartbeat", "job")
    for a in agents:
        table.add_row(a["name"], a["kind"], a["host"], f"{a['last_heartbeat_s']:.1f} s ago",
                      a["job"] or "-")
    queue = ", ".join(f"{k}: {n}" for k, n in depth.items()) or "empty"
    emit(doc, json_out, table if agents else f"no agents; queue {queue}")
    if not json_out and agents:
        emit(doc, False, f"queue: {queue}")
