"""The budgets' regression rule on real measurements (moved out of the test suite, where its
timings raced the machine): the digits CNN profiled A/B alternated five times per side, one
thread; the same artifact as 'new' must pass a 10 % regression budget against 'base', and the
'new' runs slowed by 20 % (planted) must fail it.

    .venv/bin/python bench/budget_ab.py [--rounds 5] [--iterations 1500]

Writes bench/results/budget_ab.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _results import write

from edgekit import budget
from edgekit import profile as pf
from edgekit.backends import RunnerOptions
from edgekit.export import ExportOptions, export
from edgekit.sources import Options
from edgekit.store import Store, Where

ROOT = Path(__file__).resolve().parent.parent
BUDGET = "budgets:\n  - model: digits_model:digits_cnn_plain\n    max_regression_pct: 10\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=1500)
    args = ap.parse_args()
    fix = ROOT / "tests" / "fixtures"
    with tempfile.TemporaryDirectory() as d:
        model = export(f"{fix / 'digits_model.py'}:digits_cnn_plain",
                       ExportOptions(Path(d) / "digits.onnx"),
                       Options(weights=fix / "digits_cnn.pth")).path
        store = Path(d) / "r"
        for _ in range(args.rounds):
            for tag in ("base", "new"):
                pf.profile(str(model), pf.ProfileOptions(
                    runner=RunnerOptions(threads=1), warmup=20, iterations=args.iterations,
                    store=store, tag=tag))
        s = Store(store)
        (path := Path(d) / "budgets.yaml").write_text(BUDGET)
        (same,) = budget.check(budget.load(path), s.query(full=True), "base", path)
        for new in s.query([Where.parse("tag=new")], full=True):
            planted = {**new["result"], "samples_ms": [v * 1.2 for v in new["samples_ms"]],
                       "tag": "slow"}
            planted["latency"] = {**planted["latency"], "p50_ms": new["p50_ms"] * 1.2}
            s.add(planted)
        (slow,) = budget.check(budget.load(path), s.query(full=True), "base", path)
    rows = [{"case": "same artifact", "status": same.status, "change_pct": same.checks[0].value,
             "note": same.checks[0].note},
            {"case": "planted +20 %", "status": slow.status, "change_pct": slow.checks[0].value,
             "note": slow.checks[0].note}]
    for r in rows:
        print(r)
    print(write("budget_ab", rows, note="2-core VM shared with another workload"))
    if same.status != "pass" or slow.status != "fail":
        raise SystemExit("the regression rule misjudged a real A/B")


if __name__ == "__main__":
    main()
