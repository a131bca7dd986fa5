"""Train the segmentation fixture: ``tests/fixtures/seg_digits_model.py``'s network on
``scripts/make_detection_set.py``'s digits pasted onto the bundled photos, with their exact
masks (0 background, 1 + digit, 255 on each digit's anti-aliased rim, ignored), then export it
with edgekit (``--task segment``, its recipe stated: 160 x 160 stretched, pixels / 255) to
``tests/fixtures/seg_digits.onnx``. Offline, on the CPU; the same seed gives the same set.

    .venv/bin/python scripts/train_seg_fixture.py [--epochs 40] [--train 600]

Prints the validation mIoU (the 60 validation images, never trained on) as edgekit measures
it: ``edgekit profile seg_digits.onnx --data VAL`` on ``write(OUT, only="val", masks=True)``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
OUT = ROOT / "tests" / "fixtures" / "seg_digits.onnx"


def _load(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    names = sorted((folder / "images" / split).glob("*.png"))
    x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in names]).astype(np.float32)
    y = np.stack([np.asarray(Image.open(folder / "masks" / split / p.name)) for p in names])
    return x.transpose(0, 3, 1, 2) / 255.0, y.astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--train", type=int, default=600)
    a = ap.parse_args()
    import torch
    from make_detection_set import write
    from seg_digits_model import SegDigits

    torch.manual_seed(0)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        write(tmp / "set", train=a.train, val=60, masks=True)
        x, y = _load(tmp / "set", "train")
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        model = SegDigits()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        steps = a.epochs * -(-len(x) // 16)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=255)
        t0 = time.time()
        for epoch in range(a.epochs):
            model.train()
            perm = torch.randperm(len(xt))
            total = 0.0
            for i in range(0, len(xt), 16):
                idx = perm[i:i + 16]
                opt.zero_grad()
                loss = loss_fn(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss) * len(idx)
            print(f"epoch {epoch + 1}/{a.epochs} loss {total / len(xt):.4f} "
                  f"{time.time() - t0:.0f} s", file=sys.stderr)
        ckpt = tmp / "seg.pth"
        torch.save(model.eval().state_dict(), ckpt)
        edgekit = [sys.executable, "-m", "edgekit"]
        subprocess.run([*edgekit, "export", f"{ROOT / 'tests/fixtures/seg_digits_model.py'}:"
                        "seg_digits", "--weights", str(ckpt), "--task", "segment",
                        "--input-size", "160", "--resize-mode", "stretch",
                        "--mean", "0,0,0", "--std", "1,1,1", "-o", str(OUT), "--quiet"],
                       check=True)
        OUT.with_name(OUT.name + ".json").unlink(missing_ok=True)  # the contract is inside
        got = subprocess.run([*edgekit, "profile", str(OUT), "--data",
                              str(tmp / "set" / "images" / "val"), "--no-store",
                              "--iterations", "5", "--json", "--quiet"],
                             check=True, capture_output=True, text=True)
        acc = json.loads(got.stdout)["results"][0]["accuracy"]
        print(json.dumps({"epochs": a.epochs, "train": a.train, "seconds": round(time.time() - t0),
                          "val_miou": acc["miou"], "val_pixel_accuracy": acc["pixel_accuracy"],
                          "iou": acc["iou"], "bytes": OUT.stat().st_size}))


if __name__ == "__main__":
    main()
