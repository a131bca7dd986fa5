"""Where bench scripts put their figures: ``bench/results/<name>.json`` with the machine
fingerprint (``edgekit.device.fingerprint()``), the date, the command and a note (e.g. that the
CPU was shared). ``scripts/readme_tables.py`` renders the README's tables from these files only,
so every figure in a table has a producer."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write(name: str, rows: list[dict[str, Any]], note: str = "", **extra: Any) -> Path:
    from edgekit._io import atomic_paths
    from edgekit.device import fingerprint

    doc = {"schema": "edgekit.bench/1", "name": name,
           "date": datetime.date.today().isoformat(),
           "command": " ".join(["python", *sys.argv]), "fingerprint": fingerprint(),
           "note": note, "rows": rows, **extra}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    with atomic_paths(out) as (tmp,):
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return out


def run_timed(name: str, parts: Any, what: str) -> Path:
    """A bench's ``main``: ``--iterations N`` (default 200), ``parts(tmp, iterations)`` in a
    temporary folder giving the rows, written as ``name`` with a note saying ``what`` ran
    and the load average before and after."""
    import argparse
    import os
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        rows = parts(Path(d), args.iterations)
    note = (f"{what}, {args.iterations} runs each; load average {load0:.2f} at the start, "
            f"{os.getloadavg()[0]:.2f} at the end")
    out = write(name, rows, note=note)
    print(f"wrote {out}")
    return out
