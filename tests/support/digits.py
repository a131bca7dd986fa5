"""scikit-learn's digits as ImageFolder PNGs (real, bundled data; no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from edgekit.images import Preprocess

PREPROCESS = Preprocess(height=32, width=32, resize=32, interpolation="bilinear",
                        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 75/25 split of the 1797 digits: (train_x, train_y, test_x, test_y), 8x8 in 0..16."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(d.target == c))
        cut = int(round(len(idx) * 0.75))
        train += list(idx[:cut])
        test += list(idx[cut:])
    tr, te = np.array(sorted(train)), np.array(sorted(test))
    return d.images[tr], d.target[tr], d.images[te], d.target[te]


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """ImageFolder layout root/<class>/<n>.png, 32x32 RGB (8x8 upsampled bilinearly)."""
    for n, (im, y) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(int(y))
        folder.mkdir(parents=True, exist_ok=True)
        a = (im / 16.0 * 255).astype(np.uint8)
        Image.fromarray(a).resize((32, 32), Image.Resampling.BILINEAR).convert("RGB").save(
            folder / f"{n:04d}.png")
    return root


def write_split(root: Path) -> tuple[Path, Path]:
    trx, try_, tex, tey = split()
    return write_folder(root / "train", trx, try_), write_folder(root / "test", tex, tey)
