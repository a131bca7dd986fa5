"""``edgekit compare`` on this machine: how often it says the right thing, and how long it takes.

    .venv/bin/python bench/compare.py [--model resnet18] [--size 228] [--trials 20]
                                      [--duration 10]

Exports MODEL (random weights) at 224 px and at SIZE px (the same network with more work: the
MAC ratio is computed from both graphs and recorded), then runs ``edgekit compare`` as a user
does (a subprocess, --json, default settings) TRIALS times on each pair, alternately:

- A vs A: the verdict should be ``no change`` (goal: >= 19 of 20);
- A vs A-larger: ``slower`` (goal: >= 19 of 20); also whether ``--max-regression-pct 10``
  would exit 3 (the ratio above 1.10);

and each compare's wall time, loading included (goal: <= 30 s). The 1-minute load average is
recorded before and after every trial. Writes ``bench/results/compare.json`` (README table:
scripts/readme_tables.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _compare(a: Path, b: Path, duration: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    p = subprocess.run([sys.executable, "-m", "edgekit", "compare", str(a), str(b), "--duration",
                        f"{duration:g}", "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 3):
        raise SystemExit(f"edgekit compare failed ({p.returncode}): {p.stderr[-800:]}")
    v = json.loads(p.stdout)["verdict"]
    return {"verdict": v["verdict"], "ratio": v["ratio"], "low": v["low"], "high": v["high"],
            "p_value": v["p_value"], "exit": p.returncode, "wall_s": round(wall, 2),
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}


def _summary(kind: str, trials: list[dict[str, Any]], want: str) -> dict[str, Any]:
    right = sum(t["verdict"] == want for t in trials)
    return {"pair": kind, "want": want, "trials": len(trials), "right": right,
            "verdicts": {v: sum(t["verdict"] == v for t in trials)
                         for v in ("no change", "slower", "faster")},
            "ratio_min": min(t["ratio"] for t in trials),
            "ratio_max": max(t["ratio"] for t in trials),
            "over_10pct": sum(t["ratio"] > 1.10 for t in trials),
            "wall_s_max": max(t["wall_s"] for t in trials),
            "wall_s_median": sorted(t["wall_s"] for t in trials)[len(trials) // 2],
            "load_min": min(min(t["load_before"], t["load_after"]) for t in trials),
            "load_max": max(max(t["load_before"], t["load_after"]) for t in trials)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=228)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    from _cli import edgekit
    from _results import write

    from edgekit import graph

    with tempfile.TemporaryDirectory() as d:
        a = Path(edgekit("export", args.model, "--random-weights", "-o",
                         str(Path(d) / "a.onnx"), "--quiet")["path"])
        b = Path(edgekit("export", args.model, "--random-weights", "--input-size",
                         str(args.size), "-o", str(Path(d) / "a-larger.onnx"), "--quiet")["path"])
        macs = [graph.count_macs(graph.load_checked(p, full=False)) for p in (a, b)]
        same, slow = [], []
        for i in range(args.trials):
            same.append(_compare(a, a, args.duration))
            slow.append(_compare(a, b, args.duration))
            print(f"# trial {i + 1}: A/A {same[-1]['verdict']} x{same[-1]['ratio']:.3f}, "
                  f"A/larger {slow[-1]['verdict']} x{slow[-1]['ratio']:.3f}, "
                  f"{same[-1]['wall_s']:.1f}/{slow[-1]['wall_s']:.1f} s", file=sys.stderr,
                  flush=True)
    rows = [_summary("A vs A", same, "no change"), _summary("A vs A-larger", slow, "slower")]
    mac_ratio = round(macs[1] / macs[0], 4) if all(macs) else None
    for r in rows:
        r.update(model=args.model, size=224 if r["pair"] == "A vs A" else args.size,
                 mac_ratio=1.0 if r["pair"] == "A vs A" else mac_ratio)
    print(json.dumps(rows, indent=1))
    out = write("compare", rows, note=f"{args.model}, random weights, 224 px vs {args.size} px "
                f"(MACs x{mac_ratio}); edgekit compare defaults (ort, --duration "
                f"{args.duration:g}, 20 rounds, threshold 5 %, alpha 0.01); trials alternate the "
                "two pairs", trials={"same": same, "slower": slow})
    print(f"# wrote {out}")


if __name__ == "__main__":
    main()
