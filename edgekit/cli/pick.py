"""``edgekit pick``: the fastest deployable variant per model and device, within an accuracy
budget (see ``edgekit.pick``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from edgekit.cli._common import JsonOpt, emit

app = typer.Typer()


@app.command()
def pick(
    store: Annotated[str, typer.Argument(
        help="Results folder (holds edgekit.db) or postgresql:// URL")] = "results",
    device: Annotated[str | None, typer.Option(help="Glob on the device name, or cpu/cuda")] = None,
    batch: Annotated[int, typer.Option(min=1)] = 1,
    max_accuracy_drop: Annotated[float, typer.Option(
        "--max-accuracy-drop", min=0.0, help="Classifiers: top-1 points below the model's "
                                             "FP32")] = 1.0,
    min_sqnr_db: Annotated[float, typer.Option(
        "--min-sqnr-db", help="Other tasks: the lowest output SQNR against FP32 (dB)")] = 20.0,
    min_agreement: Annotated[float, typer.Option(
        "--min-agreement", min=0.0, max=1.0, help="Detectors: F1 of the detections against "
                                                  "FP32's")] = 0.95,
    max_latency_ms: Annotated[float | None, typer.Option(
        "--max-latency-ms", min=0.0, help="p50 limit: then the most accurate model's pick")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The fastest stored variant per model within the accuracy budget; exit 3 when nothing
    meets --max-latency-ms."""
    from rich.text import Text

    from edgekit import pick as pk
    from edgekit.errors import EXIT_UNMET
    from edgekit.store import open_store

    rows = open_store(store, create=False).query(full=True)
    doc = pk.pick(rows, pk.PickOptions(device=device, batch=batch,
                                       max_accuracy_drop=max_accuracy_drop,
                                       min_sqnr_db=min_sqnr_db, min_agreement=min_agreement,
                                       max_latency_ms=max_latency_ms)).to_dict()
    emit(doc, json_out, Text("\n".join(pk.describe(doc))))
    if doc["unmet"]:
        for d in doc["unmet"]:
            print(f"nothing meets --max-latency-ms {max_latency_ms:g} on {d}", file=sys.stderr)
        raise typer.Exit(EXIT_UNMET)
