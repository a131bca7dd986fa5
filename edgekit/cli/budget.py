"""``edgekit budget check`` and ``budget init``: budgets.yaml against the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit import render
from edgekit.cli._common import JsonOpt, StoreOpt, emit

app = typer.Typer(help="Latency, accuracy and memory budgets checked against the store.",
                  no_args_is_help=True)


@app.command("check")
def budget_check(
    budgets: Annotated[Path, typer.Argument(help="budgets.yaml")],
    store: StoreOpt = "results",
    baseline: Annotated[str | None, typer.Option(help="Tag of the results to compare with")] = None,
    against: Annotated[str | None, typer.Option(
        help="Also compare with the last 10 results of the same series on this branch, tag or "
             "commit (at least 3)")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every budget against the newest matching result: exit 0 pass, 3 broken, 2 bad file."""
    from edgekit import budget as bd
    from edgekit import ci_report
    from edgekit.errors import EXIT_BUDGET
    from edgekit.store import display, open_store

    items = bd.load(budgets)
    if junit is not None:
        from edgekit._io import check_writable_dir

        check_writable_dir(junit)
    rows = open_store(store, create=False).query(full=True)
    outcomes = bd.check(items, rows, baseline, budgets, against)
    if junit is not None:
        ci_report.junit(outcomes, junit, budgets)
    ci_report.github(outcomes, budgets)
    failed = sum(o.status == "fail" for o in outcomes)
    emit({"schema": "edgekit.budget/1", "budgets": str(budgets), "store": display(store),
          "baseline": baseline, "against": against, "passed": failed == 0, "failed": failed,
          "outcomes": [o.to_dict() for o in outcomes]}, json_out, render.budget_table(outcomes))
    if failed:
        raise typer.Exit(EXIT_BUDGET)


@app.command("init")
def budget_init(
    store: StoreOpt = "results",
    output: Annotated[Path, typer.Option("-o", "--output")] = Path("budgets.yaml"),
    headroom: Annotated[float, typer.Option(min=0.0, help="% over today's figures")] = 20.0,
    accuracy_margin: Annotated[float, typer.Option(min=0.0, help="top-1 points below today's")] = 1.0,
    max_regression: Annotated[float | None, typer.Option(
        "--max-regression", min=0.0, help="Also a regression limit in % (check needs --baseline)")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="Only these results")] = None,
    from_pick: Annotated[bool, typer.Option(
        "--from-pick", help="Only the variants edgekit pick chooses")] = False,
    max_accuracy_drop: Annotated[float | None, typer.Option(
        "--max-accuracy-drop", min=0.0, help="With --from-pick: pick's budget (default 1)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a budgets file from the newest results, with headroom."""
    import yaml

    from edgekit import budget as bd
    from edgekit._io import atomic_paths, check_writable_dir
    from edgekit.errors import ConfigError
    from edgekit.store import Where, display, open_store

    if max_accuracy_drop is not None and not from_pick:
        raise ConfigError("--max-accuracy-drop applies to --from-pick", "add --from-pick or "
                          "drop --max-accuracy-drop")
    if output.exists() and not force:
        raise ConfigError("already exists", "pass --force to overwrite it, or -o another file",
                          path=str(output))
    check_writable_dir(output)
    rows = open_store(store, create=False).query([Where.parse(w) for w in where or []],
                                                 full=from_pick)
    if from_pick and rows:
        rows = bd.picked(rows, 1.0 if max_accuracy_drop is None else max_accuracy_drop)
    if not rows:
        raise ConfigError("no results to make budgets from", "run edgekit profile first",
                          path=display(store))
    items = bd.init(rows, headroom, accuracy_margin, max_regression)
    how = " --from-pick" if from_pick else ""
    text = (f"# edgekit budgets, written by `edgekit budget init{how} --headroom {headroom:g}` "
            f"from {display(store)}\n" + yaml.safe_dump({"budgets": items}, sort_keys=False))
    with atomic_paths(output) as (tmp,):
        tmp.write_text(text)
    emit({"schema": "edgekit.budget_init/1", "path": str(output), "budgets": items}, json_out,
         f"wrote {len(items)} budgets to {output}")
