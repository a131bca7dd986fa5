"""Peak memory of `edgekit export` alone and with `--int8`, for transformer-style models at 224.

    .venv/bin/python bench/memory.py [--models timm:deit_tiny_patch16_224,...] [--out FILE]

Each run is its own process (`python -m edgekit export SPEC -o ... [--int8] -q`); its peak RSS
is the kernel's figure for that child (os.wait4's ru_maxrss) and its wall time is measured
around it. Random weights. Goals on a 2-core, 24 GB machine: deit_tiny INT8 <= 2.5 GB and
maxvit_t INT8 completes under 8 GB. Results go to bench/results/memory.json (bench/_results.py);
scripts/readme_tables.py renders the README's table from it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS = "timm:deit_tiny_patch16_224,timm:swin_tiny_patch4_window7_224,torchvision:maxvit_t"


def run(spec: str, int8: bool, folder: Path) -> dict[str, object]:
    out = folder / (spec.split(":")[-1] + (".int8" if int8 else "") + ".onnx")
    cmd = [sys.executable, "-m", "edgekit", "export", spec, "-o", str(out), "-q", "--random-weights",
           *(["--int8"] if int8 else [])]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=folder)  # never the checkout: ORT's scratch lands in cwd
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    return {"model": spec, "int8": int8, "exit_code": code, "peak_rss_gb":
            round(usage.ru_maxrss / 2**20, 2), "wall_s": round(wall, 1),
            "error": err.strip().splitlines()[-1] if code else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=MODELS)
    args = ap.parse_args()
    from edgekit.device import fingerprint

    fp = fingerprint()
    load = os.getloadavg()[0]
    rows = []
    print(f"# {fp['cpu']['model']}, {fp['cpu']['logical_cores']} cores, {fp['ram_gb']} GB; "
          f"load average {load:.1f} at the start")
    print("| model | export GB | export s | export --int8 GB | export --int8 s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models.split(","):
            pair = [run(spec, False, Path(tmp)), run(spec, True, Path(tmp))]
            rows += pair
            cells = [f"{r['peak_rss_gb']} | {r['wall_s']}" if r["exit_code"] == 0 else
                     f"failed ({r['error']}) | {r['wall_s']}" for r in pair]
            print(f"| {spec} | {cells[0]} | {cells[1]} |", flush=True)
    import _results

    _results.write("memory", rows, note=f"load average {load:.1f} at the start; peak RSS is "
                   "each process's own", load_average_start=round(load, 2))


if __name__ == "__main__":
    main()
