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
