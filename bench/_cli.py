"""The edgekit CLI as bench scripts run it: ``python -m edgekit ... --json`` in a subprocess
(a real process, as a user runs it, in a temporary working directory so no scratch file lands
in the checkout; pass absolute paths), its one JSON object returned; the command is echoed to
stderr, and a failure stops the script with edgekit's own error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

# The digits CNN fixture's preprocessing, stated (tests/fixtures/digits_model.py)
DIGITS_STATED = ["--input-size", "32", "--resize", "32", "--mean", "0.5,0.5,0.5",
                 "--std", "0.5,0.5,0.5"]


def edgekit(*args: str) -> dict[str, Any]:
    print("$ edgekit " + " ".join(args), file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-cwd-") as cwd:  # scratch files die with it
        p = subprocess.run([sys.executable, "-m", "edgekit", *args, "--json"], capture_output=True,
                           text=True, env={**os.environ, "COLUMNS": "120"}, cwd=cwd)
    if p.returncode != 0:
        raise SystemExit(f"edgekit {' '.join(args)} failed ({p.returncode}): {p.stderr[-800:]}")
    return dict(json.loads(p.stdout))
