"""The README's Pareto example: accuracy kinds on real measurements, through the CLI.

    .venv/bin/python bench/pareto_example.py [--iterations 300]

Two trained digits CNNs (``tests/fixtures/digits_model.py``: ``digits_cnn``, which carries a
layer built to quantize badly, and ``digits_cnn_plain``; scikit-learn's digits as 32-px PNGs,
stratified 75/25 split) are exported with their preprocessing stated, made INT8 and FP16, and
profiled on ONNX Runtime with one thread:

- FP32 with ``--data test/`` (labels): ``measured`` top-1;
- INT8/FP16 with no labels, ``--agreement-data train/`` (the 1347 training images, used without
  their labels): ``lower_bound`` = FP32's measured top-1 minus the 95 % Wilson upper bound of
  their top-1 disagreement with FP32.

Then ``edgekit pareto --json -o docs/img/pareto-cpu.png``. As a check that the bound holds, each
INT8/FP16 artifact is also measured with the labels in a separate store (never plotted). Writes
``bench/results/pareto_example.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=300)
    args = ap.parse_args()
    from _cli import DIGITS_STATED as STATED
    from _cli import edgekit
    from _results import write
    from support.digits import write_split

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        train, test = write_split(tmp / "data")
        store, check = str(tmp / "results"), str(tmp / "check")
        timing = ["--iterations", str(args.iterations), "--threads", "1", "--quiet"]
        truth: dict[str, float] = {}
        for name in ("digits_cnn", "digits_cnn_plain"):
            fp32 = tmp / f"{name}.onnx"
            edgekit("export", f"{FIX / 'digits_model.py'}:{name}", "--weights",
                    str(FIX / "digits_cnn.pth"), *STATED, "-o", str(fp32), "--quiet")
            edgekit("profile", str(fp32), "--data", str(test), "--store", store, *timing)
            for prec in ("int8", "fp16"):
                child = tmp / f"{name}.{prec}.onnx"
                edgekit("quantize", str(fp32), f"--{prec}", "-o", str(child), "--quiet")
                edgekit("profile", str(child), "--agreement-data", str(train), "--store", store,
                        *timing)
                got = edgekit("profile", str(child), "--data", str(test), "--store", check,
                              "--iterations", "20", "--quiet")
                truth[f"{name} {prec}"] = got["results"][0]["accuracy"]["top1"]
        out = ROOT / "docs" / "img" / "pareto-cpu.png"
        doc = edgekit("pareto", store, "-o", str(out))
    rows = [{"label": p["label"], "precision": p["precision"], "p50_ms": p["x"],
             "top1": p["y"], "accuracy_kind": p["accuracy_kind"], "parent_top1": p["y_parent"],
             "images": p["images"], "disagreements": p["disagreements"],
             "on_frontier": p["on_frontier"], "text": p["accuracy_text"],
             "measured_top1_check": truth.get(p["label"].split(":", 1)[1])}
            for p in doc["points"]]
    for r in rows:
        print(f"{r['label']:32} {r['accuracy_kind']:12} {r['text']}"
              + (f"   [labels: {r['measured_top1_check']:.2f} %]"
                 if r["measured_top1_check"] is not None else ""))
    path = write("pareto_example", rows, note="digits CNNs, ORT CPU, --threads 1; INT8/FP16 "
                 "bounds from --agreement-data on the 1347 training images (labels unused); "
                 "measured_top1_check: the same artifact measured with labels, never plotted",
                 plot=str(out.relative_to(ROOT)))
    print(f"wrote {path} and {out}")


if __name__ == "__main__":
    main()
