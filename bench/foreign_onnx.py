"""ONNX files as users bring them: PP-OCR's three models from the ``rapidocr`` wheel (opset
11, exported from PaddlePaddle, symbolic inputs), through the CLI at the size each is used.

    .venv/bin/python bench/foreign_onnx.py [--iterations 200]

Per model: ``edgekit export MODEL.onnx --input-size H,W <its preprocessing> --int8`` (the
opset-11 graph is converted to 13 for INT8), then ``edgekit profile`` of the FP32 and INT8
files on ONNX Runtime (``--threads 1``, one after the other). The direction classifier is also
measured on 200 rendered text lines (``scripts/make_text_lines.py``: 100 upright, 100 rotated
180 degrees, seed 0; calibrated on 64 other lines, seed 1). Writes
``bench/results/foreign_onnx.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args()
    from _cli import edgekit
    from _results import write
    from make_text_lines import write as text_lines
    from support import ppocr

    rows, load0 = [], os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        lines, n = text_lines(tmp / "lines", per_class=100, seed=0)
        calib, _ = text_lines(tmp / "calib", per_class=32, seed=1)
        for key, (name, size, flags, what) in ppocr.MODELS.items():
            out = tmp / name.replace(".onnx", ".opt.onnx")
            doc = edgekit("export", str(ppocr.path(name)), "--input-size", size, *flags, "--int8",
                          *(["--calib", str(calib)] if key == "cls" else []), "-o", str(out),
                          "--quiet")
            row = {"model": name, "what": what, "input": doc["manifest"]["input"]["shape"],
                   "opset": f"11 -> {doc['int8']['manifest']['opset_converted'].split()[-1]}",
                   "gmacs": doc["manifest"]["model"]["gmacs"], "images": n if key == "cls"
                   else None}
            for prec, art in (("fp32", out), ("int8", Path(doc["int8"]["path"]))):
                data = ["--data", str(lines)] if key == "cls" else []
                got = edgekit("profile", str(art), *data, "--no-store", "--threads", "1",
                              "--iterations", str(args.iterations), "--quiet")["results"][0]
                row[f"{prec}_p50_ms"] = got["latency"]["p50_ms"]
                row[f"{prec}_top1"] = (got["accuracy"] or {}).get("top1") if key == "cls" else None
            rows.append(row)
            print(row)
    note = (f"ORT CPU, --threads 1, one after the other; load average {load0:.2f} at the start, "
            f"{os.getloadavg()[0]:.2f} at the end")
    print(f"wrote {write('foreign_onnx', rows, note=note)}")


if __name__ == "__main__":
    main()
