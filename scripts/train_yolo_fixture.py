"""Train the small YOLO detector edgekit's detection tests use, offline, and export its ONNX.

A YOLOv8 from Ultralytics' own yaml (classic raw head ``[1, 4 + classes, anchors]``) at a
narrow width, trained from scratch on ``scripts/make_detection_set.py``'s digits-on-photos set,
on the CPU, with Ultralytics kept offline (``YOLO_OFFLINE``, a local config folder, no
auto-install, a local font, a local data.yaml: see ``ultralytics-offline-training`` notes in
the closing note of issue 37). Prints the validation mAP50 / mAP50-95 that Ultralytics measures
and writes ``tests/fixtures/yolo_digits.onnx`` (exported by Ultralytics at the training size).

    pip install ultralytics
    python scripts/train_yolo_fixture.py [--epochs 120] [--work /tmp/yolo-fixture]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

# width 0.125: about 0.9 M parameters, an FP32 ONNX under 4 MB; the name keeps the 'n' scale
YAML = """nc: {nc}
scales:
  n: [0.33, 0.125, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 3, C2f, [256]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 12], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]
  - [-1, 3, C2f, [1024]]
  - [[15, 18, 21], 1, Detect, [nc]]
"""


def offline(work: Path) -> None:
    """Ultralytics' settings that keep it off the network (before its first import)."""
    import matplotlib

    cfg = work / "cfg"
    (cfg / "Ultralytics").mkdir(parents=True, exist_ok=True)
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    shutil.copy(font, cfg / "Ultralytics" / "Arial.ttf")  # check_font looks for it
    os.environ.update(YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(cfg), YOLO_AUTOINSTALL="0")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=120)
    ap.add_argument("--work", type=Path, default=Path("/tmp/yolo-fixture"))
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "yolo_digits.onnx")
    a = ap.parse_args()
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    offline(work)
    from make_detection_set import write

    data = write(work / "data")
    (work / "yolov8n-digits.yaml").write_text(YAML.format(nc=len(data["names"])))
    from ultralytics import YOLO

    t0 = time.time()
    model = YOLO(str(work / "yolov8n-digits.yaml"))
    model.train(data=str(work / "data" / "data.yaml"), epochs=a.epochs, imgsz=data["size"],
                batch=16, device="cpu", workers=0, amp=False, plots=False, fliplr=0.0,
                project=str(work / "runs"), name="train", exist_ok=True, seed=0,
                deterministic=True, verbose=False, patience=0)
    best = work / "runs" / "train" / "weights" / "best.pt"
    m = YOLO(str(best)).val(data=str(work / "data" / "data.yaml"), imgsz=data["size"],
                            device="cpu", workers=0, plots=False, verbose=False)
    onnx_path = Path(YOLO(str(best)).export(format="onnx", imgsz=data["size"], opset=17,
                                            simplify=False, dynamic=False))
    shutil.copy(onnx_path, a.out)
    print(json.dumps({"epochs": a.epochs, "train_s": round(time.time() - t0),
                      "val_map50": round(float(m.box.map50), 4),
                      "val_map50_95": round(float(m.box.map), 4), "onnx": str(a.out),
                      "onnx_mb": round(a.out.stat().st_size / 1e6, 2), "data": data}))


if __name__ == "__main__":
    main()
