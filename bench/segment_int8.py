"""Segmenters in INT8: does INT8 keep the masks, and how much faster is it?

    .venv/bin/python bench/segment_int8.py [--iterations 200]

1. **The trained fixture** (``tests/fixtures/seg_digits.onnx``, made by
   ``scripts/train_seg_fixture.py``): INT8 by ``edgekit quantize`` three ways: the default (the
   last Resize and what follows it stay float, found from the graph), calibrated on the
   bundled photos (MinMax) and on 128 of its own training images (percentile), and
   ``--quantize-head`` (every op quantized, bundled photos), each checked against FP32's
   masks on the fixture's 60 validation images (``--agreement-data``: the split it was
   validated on, never trained on); then ``edgekit profile --data`` on those images and their
   masks (mIoU and pixel accuracy from one confusion matrix), ``--threads 1``, one after the
   other. Goals: mIoU within 1 point of FP32, pixel agreement >= 0.98.
2. **Speed**: ``edgekit export torchvision:lraspp_mobilenet_v3_large --random-weights --int8``
   (520 x 520; no COCO weights offline, and a segmenter's latency does not depend on its
   weights), FP32 and INT8 profiled ``--threads 1``, one after the other.

Writes ``bench/results/segment_int8.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
FIXTURE = ROOT / "tests" / "fixtures" / "seg_digits.onnx"
TRAIN = 600  # scripts/train_seg_fixture.py's training split: validation images come after it


def _fixture(tmp: Path, iterations: int) -> list[dict[str, Any]]:
    from _cli import edgekit
    from make_detection_set import write

    data = write(tmp / "set", train=TRAIN, only="val", masks=True)
    val = Path(data["folder"]) / "images" / "val"
    train = Path(write(tmp / "train", train=TRAIN, only="train")["folder"]) / "images" / "train"
    in_domain = ["--calib", str(train), "--calib-size", "128", "--calib-method", "percentile"]
    arts: list[tuple[str, Path, dict[str, Any] | None]] = [("FP32", FIXTURE, None)]
    for how, flags in (("INT8, last Resize float (default), bundled photos, minmax", []),
                       ("INT8, last Resize float (default), 128 training images, percentile",
                        in_domain),
                       ("INT8, every op quantized, bundled photos, minmax",
                        ["--quantize-head"])):
        out = tmp / f"seg.{len(arts)}.int8.onnx"
        doc = edgekit("quantize", str(FIXTURE), "-o", str(out), "--agreement-data", str(val),
                      "--report", "0", *flags, "--quiet")
        arts.append((how, out, doc["manifest"]))
    rows = []
    for how, art, man in arts:
        got = edgekit("profile", str(art), "--data", str(val), "--no-store", "--threads", "1",
                      "--iterations", str(iterations), "--quiet")["results"][0]
        ver = (man or {}).get("verification") or {}
        rows.append({"part": "fixture", "model": FIXTURE.name, "variant": how,
                     "float_nodes": len(((man or {}).get("quantization", {}).get("float_head")
                                         or {}).get("nodes") or []) if man else None,
                     "pixel_agreement": ver.get("pixel_agreement"),
                     "miou_vs_fp32": (ver.get("segmentation") or {}).get("miou_vs_fp32"),
                     "miou": got["accuracy"]["miou"],
                     "pixel_accuracy": got["accuracy"]["pixel_accuracy"],
                     "images": got["accuracy"]["images"], "p50_ms": got["latency"]["p50_ms"]})
        print(rows[-1], flush=True)
    fp32 = rows[0]["miou"]
    for r in rows[1:]:
        r["miou_drop"] = round(fp32 - r["miou"], 3)
        r["goals_met"] = bool(r["miou_drop"] <= 1.0 and (r["pixel_agreement"] or 0) >= 0.98)
    return rows


def _speed(tmp: Path, iterations: int) -> dict[str, Any]:
    from _cli import edgekit

    name = "lraspp_mobilenet_v3_large"
    doc = edgekit("export", f"torchvision:{name}", "--random-weights", "-o",
                  str(tmp / f"{name}.onnx"), "--int8", "--report", "0", "--quiet")
    row: dict[str, Any] = {"part": "speed", "model": f"{name} (random weights), 520 px",
                           "gmacs": doc["manifest"]["model"]["gmacs"]}
    for prec, art in (("fp32", doc["path"]), ("int8", doc["int8"]["path"])):
        got = edgekit("profile", art, "--no-store", "--threads", "1", "--iterations",
                      str(iterations), "--quiet")["results"][0]["latency"]
        row[f"{prec}_p50_ms"] = got["p50_ms"]
    row["int8_speedup"] = round(row["fp32_p50_ms"] / row["int8_p50_ms"], 3)
    print(row, flush=True)
    return row


def main() -> None:
    from _results import run_timed

    run_timed("segment_int8", lambda tmp, n: _fixture(tmp, n) + [_speed(tmp, n)],
              "ORT CPU; --threads 1, FP32 then INT8")


if __name__ == "__main__":
    main()
