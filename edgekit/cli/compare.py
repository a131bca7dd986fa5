"""``edgekit compare BASE CANDIDATE``: the same-run A/B latency verdict (edgekit.compare)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit.backends import Device, RunnerOptions
from edgekit.cli._common import JsonOpt, QuietOpt, emit, known_backend
from edgekit.precision import Precision
from edgekit.progress import Reporter

app = typer.Typer()


@app.command()
def compare(
    base: Annotated[str, typer.Argument(help="The base: an artifact, or SERIES@COMMIT in --store")],
    candidate: Annotated[str, typer.Argument(help="The candidate, the same way")],
    backend: Annotated[str | None, typer.Option(callback=known_backend,
                                                help="Default: ort for .onnx")] = None,
    device: Annotated[Device, typer.Option()] = Device.CPU,
    batch: Annotated[int, typer.Option(min=1)] = 1,
    threads: Annotated[int, typer.Option(min=0, help="0: the runtime's default")] = 0,
    dtype: Annotated[Precision, typer.Option(help="As profile's --dtype")] = Precision.FP32,
    input_name: Annotated[str | None, typer.Option("--input", help="The image input's name")] = None,
    duration: Annotated[float, typer.Option(min=0.5, help="Timed seconds, both sides")] = 10.0,
    rounds: Annotated[int, typer.Option(min=3, help="Alternating rounds")] = 20,
    threshold_pct: Annotated[float, typer.Option(
        min=0.0, help="The smallest change called slower or faster, %")] = 5.0,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Mann-Whitney's level")] = 0.01,
    max_regression_pct: Annotated[float | None, typer.Option(
        min=0.0, help="Exit 3 when slower by more than this % (default: when slower)")] = None,
    store: Annotated[str | None, typer.Option(help="For SERIES@COMMIT sides")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Time two artifacts in alternating blocks in one process: slower, faster or no change
    (ratio of medians, its 95 % interval, Mann-Whitney). Exit 3 when slower beyond the limit."""
    from edgekit import ci_report, render
    from edgekit import compare as cmp
    from edgekit.errors import EXIT_BUDGET

    if junit is not None:
        from edgekit._io import check_writable_dir

        check_writable_dir(junit)
    opts = cmp.CompareOptions(
        backend=backend, runner=RunnerOptions(device=device, threads=threads, dtype=dtype),
        batch=batch, input_name=input_name, duration_s=duration, rounds=rounds,
        threshold_pct=threshold_pct, alpha=alpha, max_regression_pct=max_regression_pct,
        store=store)
    rep = cmp.compare(base, candidate, opts, Reporter.for_cli(quiet, json_out))
    outcomes = [ci_report.compare_outcome(rep)]
    if junit is not None:
        ci_report.junit(outcomes, junit, Path(rep.candidate["target"]), "edgekit compare")
    ci_report.github(outcomes, Path(rep.candidate["target"]), title="edgekit compare")
    emit(rep.to_dict(), json_out, render.compare_table(rep.to_dict()))
    if rep.regressed:
        raise typer.Exit(EXIT_BUDGET)
