"""YOLO detectors in INT8: does INT8 keep detecting, and how much faster is it?

    .venv/bin/python bench/yolo_int8.py [--iterations 200]     # needs `pip install ultralytics`

1. **The trained fixture** (``tests/fixtures/yolo_digits.onnx``, made by
   ``scripts/train_yolo_fixture.py``): ``edgekit export`` of the Ultralytics ONNX, then INT8 two
   ways: the default (the decode found from the graph stays float), calibrated on the bundled
   photos (MinMax) and on 128 of its own training images (percentile), and
   ``--quantize-head`` (every op quantized, as ORT's quantizer does by default).
   Each checked against FP32's detections (class match at IoU >= 0.5, conf 0.25) on the
   fixture's 60 validation images (``scripts/make_detection_set.py``, seed 0, the split it was
   validated on, never trained on), and profiled with ``--data`` on them (mAP by
   faster-coco-eval), network only and end to end, ``--threads 1``, one after the other.
2. **Speed**, on a YOLOv8n-sized model (Ultralytics' ``yolov8n.yaml`` at 320 px, random
   weights, exported by Ultralytics offline): ``edgekit profile`` of FP32 and the default INT8
   on ONNX Runtime, ``--threads 1``, one after the other, network only and end to end (decode
   + NMS at conf 0.25 on the bundled photos).

Writes ``bench/results/yolo_int8.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
FIXTURE = ROOT / "tests" / "fixtures" / "yolo_digits.onnx"


def _fixture(tmp: Path, iterations: int) -> list[dict[str, object]]:
    from _cli import edgekit
    from make_detection_set import write

    data = write(tmp / "set", only="val")  # the 60 validation images it never trained on
    val = Path(data["folder"]) / "images" / "val"
    train = Path(write(tmp / "train", only="train")["folder"]) / "images" / "train"
    fp32 = tmp / "digits.onnx"
    edgekit("export", str(FIXTURE), "-o", str(fp32), "--quiet")
    rows, arts = [], [("FP32", fp32, None)]
    in_domain = ["--calib", str(train), "--calib-size", "128", "--calib-method", "percentile"]
    for how, flags in (("INT8, decode float (default), bundled photos, minmax", []),
                       ("INT8, decode float (default), 128 training images, percentile",
                        in_domain),
                       ("INT8, every op quantized, bundled photos, minmax", ["--quantize-head"])):
        out = tmp / f"digits.{len(arts)}.int8.onnx"
        doc = edgekit("quantize", str(fp32), "-o", str(out), "--agreement-data", str(val),
                      "--report", "0", *flags, "--quiet")
        arts.append((how, out, doc["manifest"]))
    for how, art, man in arts:
        got = edgekit("profile", str(art), "--data", str(val), "--no-store", "--threads", "1",
                      "--iterations", str(iterations), "--quiet")["results"][0]
        det = (man or {}).get("verification", {}).get("detection") or {}
        rows.append({"part": "fixture", "model": FIXTURE.name, "variant": how,
                     "float_nodes": len(((man or {}).get("quantization", {}).get("float_head")
                                         or {}).get("nodes") or []) if man else None,
                     **{k: det.get(k) for k in ("precision", "recall", "f1", "mean_iou",
                                                "fp32_boxes")},
                     "map50_95": got["accuracy"]["map50_95"], "map50": got["accuracy"]["map50"],
                     "images": got["accuracy"]["images"], "boxes": got["accuracy"]["boxes"],
                     "p50_ms": got["latency"]["p50_ms"],
                     "e2e_p50_ms": got["latency"]["end_to_end"]["p50_ms"]})
        print(rows[-1])
    return rows


def _speed(tmp: Path, iterations: int) -> list[dict[str, object]]:
    from _cli import edgekit

    os.environ.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="0",
                      YOLO_CONFIG_DIR=str(tmp / "ultralytics"))
    from ultralytics import YOLO

    here = Path.cwd()
    os.chdir(tmp)
    try:
        src = Path(YOLO("yolov8n.yaml").export(format="onnx", imgsz=320, opset=17,
                                               simplify=False, dynamic=False)).resolve()
    finally:
        os.chdir(here)
    fp32 = tmp / "yolov8n.onnx.opt.onnx"
    doc = edgekit("export", str(src), "-o", str(fp32), "--int8", "--report", "0", "--quiet")
    row: dict[str, object] = {"part": "speed", "model": "yolov8n.yaml (random weights), 320 px",
                              "gmacs": doc["manifest"]["model"]["gmacs"]}
    for prec, art in (("fp32", fp32), ("int8", Path(doc["int8"]["path"]))):
        got = edgekit("profile", str(art), "--no-store", "--threads", "1", "--iterations",
                      str(iterations), "--quiet")["results"][0]["latency"]
        row[f"{prec}_p50_ms"] = got["p50_ms"]
        row[f"{prec}_e2e_p50_ms"] = got["end_to_end"]["p50_ms"]
    row["int8_speedup"] = round(float(row["fp32_p50_ms"]) / float(row["int8_p50_ms"]), 3)  # type: ignore[arg-type]
    row["int8_e2e_speedup"] = round(float(row["fp32_e2e_p50_ms"])  # type: ignore[arg-type]
                                    / float(row["int8_e2e_p50_ms"]), 3)  # type: ignore[arg-type]
    print(row)
    return [row]


def main() -> None:
    from _results import run_timed

    run_timed("yolo_int8", lambda tmp, n: _fixture(tmp, n) + _speed(tmp, n),
              "ORT CPU; speed: --threads 1, FP32 then INT8")


if __name__ == "__main__":
    main()
