"""Train the digits CNN test fixture (run once; ~1-2 min on 2 cores; offline).

    python scripts/train_digits.py

Writes tests/fixtures/digits_cnn.pth. Data: scikit-learn's digits written as 32x32 PNGs and
read back through edgekit's own preprocessing, exactly as the tests read them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "fixtures")]

from digits_model import digits_cnn  # noqa: E402
from support.digits import PREPROCESS, write_split  # noqa: E402

from edgekit.images import list_images, load_rgb, preprocess  # noqa: E402


def load(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    paths, _ = list_images(folder)
    x = np.stack([preprocess(load_rgb(p), PREPROCESS) for p in paths])
    y = np.array([int(p.parent.name) for p in paths])
    return torch.from_numpy(x), torch.from_numpy(y)


def main(epochs: int = 40) -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        train_dir, test_dir = write_split(Path(tmp))
        xtr, ytr = load(train_dir)
        xte, yte = load(test_dir)
    model = digits_cnn()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr)).split(64):
            xb = torch.roll(xtr[idx], shifts=tuple(np.random.randint(-2, 3, 2)), dims=(2, 3))
            loss = torch.nn.functional.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} test top-1 {acc:.1%}", flush=True)
    out = ROOT / "tests" / "fixtures" / "digits_cnn.pth"
    torch.save(model.state_dict(), out)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB), test top-1 {acc:.1%}")


if __name__ == "__main__":
    main()
