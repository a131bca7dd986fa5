"""`--fuse-preprocess` against the unfused export: same accuracy, through the CLI.

    .venv/bin/python bench/fuse_preprocess.py [--iterations 300]

The trained digits CNN (``tests/fixtures/digits_model.py:digits_cnn_plain``; scikit-learn's
digits as 32-px PNGs, 450 test images) is exported with its preprocessing stated, unfused and
fused, each also as INT8 (``--int8``, the bundled calibration photos), and profiled on ONNX
Runtime with ``--data test/ --threads 1``. Recorded per artifact: the input the ONNX takes, the
export check against torch (max abs logit difference), top-1 and p50. The fused artifact times
its cast/scale/transpose inside the model while the unfused one does that outside the timer, so
the latencies are not a like-for-like comparison. Writes ``bench/results/fuse_preprocess.json``.
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

    from edgekit import manifest

    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _, test = write_split(tmp / "data")
        for fused in (False, True):
            out = tmp / ("digits_fused.onnx" if fused else "digits.onnx")
            edgekit("export", f"{FIX / 'digits_model.py'}:digits_cnn_plain", "--weights",
                    str(FIX / "digits_cnn.pth"), *STATED, *(["--fuse-preprocess"] if fused else []),
                    "--int8", "-o", str(out), "--quiet")
            for art in (out, out.with_name(out.stem + ".int8.onnx")):
                man = manifest.read(manifest.sidecar(art))
                got = edgekit("profile", str(art), "--data", str(test), "--no-store", "--threads",
                              "1", "--iterations", str(args.iterations), "--quiet")["results"][0]
                ver = man.verification.to_dict() if man.verification else {}
                rows.append({"artifact": art.name, "fused": fused,
                             "precision": man.precision.value,
                             "input": f"{man.input.dtype} {man.input.shape}" if man.input else None,
                             "max_abs_diff": ver.get("max_abs_diff"),
                             "agreement": ver.get("top1_agreement"),
                             "top1": got["accuracy"]["top1"],
                             "images": got["accuracy"]["images"],
                             "p50_ms": got["latency"]["p50_ms"]})
                print(rows[-1])
    print(f"wrote {write('fuse_preprocess', rows, note='digits CNN, 450 test images, ORT CPU, --threads 1')}")


if __name__ == "__main__":
    main()
