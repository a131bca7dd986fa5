"""torchvision's detectors through edgekit: which export, verify and quantize, and what INT8
buys SSDlite on this CPU.

    .venv/bin/python bench/tv_detect.py [--iterations 200] [--models ssdlite320_mobilenet_v3_large ...]

1. **Each detector** (``edgekit export torchvision:NAME --weights W --int8``): whether it
   exports (TorchScript exporter, NMS in the graph), its detection agreement with torch at
   the recipe's size and at a second, non-square one, and whether ONNX Runtime quantizes it
   (else the one line that says what blocks it). ``W``: ``scripts/tv_detector_weights.py``
   (random weights, BatchNorm recalibrated on the bundled photos): this machine cannot
   download torchvision's COCO weights, so no figure here is an accuracy; the INT8 agreement
   with FP32 on such weights says nothing about COCO weights and is recorded only as run.
2. **Speed**: ``edgekit profile`` of SSDlite320 FP32 and INT8 on ONNX Runtime, ``--threads
   1``, one after the other, network only and end to end (reading the rows above conf 0.25),
   twice: the NMS in the graph sorts every box over torchvision's score threshold (0.001), and
   random weights spread the class softmax so evenly that nearly every anchor-class score
   passes it (the top 300 per class, ~27 000 boxes, go to NMS, which then takes ~90 % of the
   time in ORT's profiler); with the background logit raised by 12 (the ``--background``
   rows) a few dozen pass, as in a trained detector, and the convolutions dominate. Each row
   records how many anchor-class scores passed (``nms_candidates``, counted in torch).

Writes ``bench/results/tv_detect.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
MODELS = ("ssdlite320_mobilenet_v3_large", "ssd300_vgg16",
          "fasterrcnn_mobilenet_v3_large_320_fpn", "retinanet_resnet50_fpn_v2",
          "fcos_resnet50_fpn")
SPEED = "ssdlite320_mobilenet_v3_large"


def _cli(*args: str) -> tuple[dict[str, Any] | None, str]:
    """(the JSON object, "") or (None, edgekit's error line) of one CLI run."""
    import json
    import subprocess

    print("$ edgekit " + " ".join(args), file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-cwd-") as cwd:
        p = subprocess.run([sys.executable, "-m", "edgekit", *args, "--json"],
                           capture_output=True, text=True, cwd=cwd,
                           env={**os.environ, "COLUMNS": "120"})
    if p.returncode == 0:
        return json.loads(p.stdout), ""
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("Error")]
    return None, (lines[-1] if lines else p.stderr.strip().splitlines()[-1])[:300]


def _export(tmp: Path, name: str) -> dict[str, Any]:
    import torch
    from tv_detector_weights import recalibrated

    ckpt = tmp / f"{name}.pth"
    torch.save(recalibrated(name), ckpt)
    doc, err = _cli("export", f"torchvision:{name}", "--weights", str(ckpt), "-o",
                    str(tmp / f"{name}.onnx"), "--int8", "--calib-size", "8", "--report", "0",
                    "--quiet")
    row: dict[str, Any] = {"part": "export", "model": name, "exported": doc is not None}
    if doc is None:  # the export or the INT8 step failed: its line; INT8 alone is retried
        doc, err2 = _cli("export", f"torchvision:{name}", "--weights", str(ckpt), "-o",
                         str(tmp / f"{name}.onnx"), "--quiet")
        row.update(exported=doc is not None, error=err2 or None, int8=False,
                   int8_error=err if doc is not None else None)
        if doc is None:
            return row
    man = doc["manifest"]
    ver, second = man["verification"], man["export"].get("second_size") or {}
    row.update(exporter=man["export"]["exporter"], opset=man["export"]["opset"],
               input=man["input"]["shape"], size=[man["preprocess"]["height"],
                                                  man["preprocess"]["width"]],
               gmacs=man["model"]["gmacs"], nms=man["detect"]["nms"],
               f1=ver["detection"]["f1"], boxes=ver["detection"]["fp32_boxes"],
               second_size=second.get("input_size"),
               second_f1=(second.get("detection") or {}).get("f1"),
               path=str(tmp / f"{name}.onnx"))
    if "int8" in doc:
        q = doc["int8"]["manifest"]["verification"].get("detection") or {}
        row.update(int8=True, int8_path=doc["int8"]["path"], int8_f1_vs_fp32=q.get("f1"))
    print(row, flush=True)
    return row


def _candidates(name: str, state: dict[str, Any]) -> int:
    """Anchor-class scores over SSD's 0.001 threshold on the first bundled photo (the top 300
    of each class go to the NMS in the graph), counted in torch."""
    import torch
    import torchvision.models as tvm

    from edgekit import tvdetect
    from edgekit.images import photo_batch

    m = tvm.get_model(name, weights=None, weights_backbone=None)
    m.load_state_dict(state)
    x = torch.from_numpy(photo_batch(tvdetect.preprocess(m.eval()), count=1))
    with torch.no_grad():
        images, _ = m.transform(list(x))
        p = m.head(list(m.backbone(images.tensors).values()))["cls_logits"].softmax(-1)[0]
    return int((p[:, 1:] > m.score_thresh).sum())


def _speed(tmp: Path, iterations: int, background: float) -> dict[str, Any]:
    """FP32 vs INT8 of SSDlite on weights whose background logit is raised by ``background``
    (0: as recalibrated, every class passes the score threshold)."""
    import torch
    from tv_detector_weights import recalibrated

    state = recalibrated(SPEED, background_logit=background)
    ckpt = tmp / f"speed{background:g}.pth"
    torch.save(state, ckpt)
    doc, err = _cli("export", f"torchvision:{SPEED}", "--weights", str(ckpt), "-o",
                    str(tmp / f"speed{background:g}.onnx"), "--int8", "--calib-size", "8",
                    "--report", "0", "--quiet")
    if doc is None:
        raise SystemExit(err)
    out: dict[str, Any] = {
        "part": "speed", "model": SPEED, "gmacs": doc["manifest"]["model"]["gmacs"],
        "size": [doc["manifest"]["preprocess"]["height"], doc["manifest"]["preprocess"]["width"]],
        "weights": ("random, BatchNorm recalibrated" + (f", background logit +{background:g}"
                                                        if background else "")),
        "nms_candidates": _candidates(SPEED, state)}
    for prec, art in (("fp32", doc["path"]), ("int8", doc["int8"]["path"])):
        got, err = _cli("profile", art, "--no-store", "--threads", "1", "--iterations",
                        str(iterations), "--quiet")
        if got is None:
            raise SystemExit(err)
        lat = got["results"][0]["latency"]
        out[f"{prec}_p50_ms"] = lat["p50_ms"]
        out[f"{prec}_e2e_p50_ms"] = (lat.get("end_to_end") or {}).get("p50_ms")
    out["int8_speedup"] = round(out["fp32_p50_ms"] / out["int8_p50_ms"], 3)
    if out["fp32_e2e_p50_ms"] and out["int8_e2e_p50_ms"]:
        out["int8_e2e_speedup"] = round(out["fp32_e2e_p50_ms"] / out["int8_e2e_p50_ms"], 3)
    print(out, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--background", nargs="*", type=float, default=[0.0, 12.0],
                    help="SSDlite's background logit raised by each, one speed row each")
    args = ap.parse_args()
    from _results import write

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        rows = [_export(Path(d), n) for n in args.models]
        rows += [_speed(Path(d), args.iterations, bg) for bg in args.background]
    for r in rows:
        r.pop("path", None)
        r.pop("int8_path", None)
    note = (f"ORT CPU; random weights with BatchNorm recalibrated (no COCO weights offline); "
            f"speed: --threads 1, FP32 then INT8, {args.iterations} runs each; load average "
            f"{load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"wrote {write('tv_detect', rows, note=note)}")


if __name__ == "__main__":
    main()
