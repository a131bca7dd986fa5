"""A labelled detection set from real images: scikit-learn's handwritten digits pasted onto
crops of the bundled calibration photos (scikit-image's sample photos), with exact boxes.

Each image is a random crop of a photo, resized to SIZE x SIZE, with 1-4 digits of the chosen
classes pasted on it: the 8 x 8 digit (values 0-16) is scaled to 20-48 px and used as an alpha
mask in a colour that contrasts with the photo under it, so the box is exactly where the mask
is not zero. Digits never overlap. The same seed gives the same set on every machine.

Written as Ultralytics expects (``images/{train,val}``, ``labels/{train,val}`` with one
``class cx cy w h`` line per box, normalised) plus a COCO JSON per split (``annotations/``,
boxes in pixels, category ids from 1) and ``data.yaml`` with an absolute path.

    python scripts/make_detection_set.py OUT [--train 300] [--val 60] [--size 160]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = (0, 1, 2, 3)  # the digits used: few classes, so a small detector learns them fast
IGNORE = 255  # the masks' value for a digit's anti-aliased rim: no class (VOC's convention)
ROOT = Path(__file__).resolve().parent.parent


def _backgrounds() -> list[np.ndarray]:
    from PIL import Image

    out = []
    for p in sorted((ROOT / "calibration").glob("*.jpg")):
        out.append(np.asarray(Image.open(p).convert("RGB")))
    return out


def _digits(classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.isin(d.target, classes)
    return d.images[keep] / 16.0, np.array([classes.index(int(t)) for t in d.target[keep]])


def _image(rng: np.random.Generator, bgs: list[np.ndarray], glyphs: np.ndarray,
           labels: np.ndarray, size: int
           ) -> tuple[np.ndarray, list[tuple[int, list[int]]], np.ndarray]:
    """(image, boxes, class mask): the mask is 1 + class where a digit's alpha is over 0.5,
    IGNORE on its anti-aliased rim (alpha 0.15-0.5), 0 elsewhere (background)."""
    from PIL import Image

    bg = bgs[rng.integers(len(bgs))]
    h, w = bg.shape[:2]
    side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    img = np.asarray(Image.fromarray(bg[y0:y0 + side, x0:x0 + side]).resize(
        (size, size), Image.BILINEAR), np.float64).copy()
    boxes: list[tuple[int, list[int]]] = []
    seg = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        i = int(rng.integers(len(glyphs)))
        s = int(rng.integers(20, 49))
        mask = np.asarray(Image.fromarray((glyphs[i] * 255).astype(np.uint8)).resize(
            (s, s), Image.BILINEAR), np.float64) / 255.0
        for _try in range(20):
            x, y = int(rng.integers(0, size - s + 1)), int(rng.integers(0, size - s + 1))
            ys, xs = np.nonzero(mask > 0.15)
            box = [x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1,
                   y + int(ys.max()) + 1]
            if all(box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3]
                   for _, b in boxes):
                under = img[y:y + s, x:x + s].mean(axis=(0, 1))
                colour = np.where(under > 127, rng.uniform(0, 60, 3), rng.uniform(195, 255, 3))
                a = mask[..., None]
                img[y:y + s, x:x + s] = img[y:y + s, x:x + s] * (1 - a) + colour * a
                win = seg[y:y + s, x:x + s]
                win[mask > 0.15] = IGNORE
                win[mask > 0.5] = int(labels[i]) + 1
                boxes.append((int(labels[i]), box))
                break
    return img.clip(0, 255).astype(np.uint8), boxes, seg


def write(out: Path, train: int = 300, val: int = 60, size: int = 160, seed: int = 0,
          classes: tuple[int, ...] = CLASSES, only: str | None = None,
          masks: bool = False) -> dict[str, Any]:
    """Write the set under ``out``; returns what was written (counts, paths). ``only``: write
    that split alone; the others are still drawn, so its images are the same as in the whole
    set (the validation images the fixture was checked on, never its training images).
    ``masks``: also ``masks/{split}/NAME.png``, index masks (0 background, 1 + class, 255 a
    digit's rim), for segmentation (the same images and draws)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    bgs = _backgrounds()
    glyphs, labels = _digits(classes)
    names = [str(c) for c in classes]
    counts = {}
    for split, n in (("train", train), ("val", val)):
        keep = only in (None, split)
        if keep:
            for sub in (out / "images" / split, out / "labels" / split, out / "annotations",
                        *([out / "masks" / split] if masks else [])):
                sub.mkdir(parents=True, exist_ok=True)
        coco: dict[str, Any] = {"images": [], "annotations": [], "categories": [
            {"id": k + 1, "name": name} for k, name in enumerate(names)]}
        for i in range(n):
            img, boxes, seg = _image(rng, bgs, glyphs, labels, size)
            if not keep:
                continue
            name = f"{split}_{i:04d}.png"
            Image.fromarray(img).save(out / "images" / split / name)
            if masks:
                Image.fromarray(seg, mode="L").save(out / "masks" / split / name)
            lines = [f"{c} {(b[0] + b[2]) / 2 / size:.6f} {(b[1] + b[3]) / 2 / size:.6f} "
                     f"{(b[2] - b[0]) / size:.6f} {(b[3] - b[1]) / size:.6f}" for c, b in boxes]
            (out / "labels" / split / name.replace(".png", ".txt")).write_text(
                "\n".join(lines) + "\n")
            coco["images"].append({"id": i + 1, "file_name": name, "width": size,
                                   "height": size})
            for c, b in boxes:
                coco["annotations"].append({
                    "id": len(coco["annotations"]) + 1, "image_id": i + 1, "category_id": c + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "area": (b[2] - b[0]) * (b[3] - b[1]), "iscrowd": 0})
        if keep:
            (out / "annotations" / f"{split}.json").write_text(json.dumps(coco))
            counts[split] = {"images": n, "boxes": len(coco["annotations"])}
    (out / "data.yaml").write_text(
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
        f"names:\n" + "".join(f"  {k}: '{n}'\n" for k, n in enumerate(names)))
    return {"folder": str(out), "size": size, "names": names, "seed": seed, **counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--val", type=int, default=60)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(write(a.out, a.train, a.val, a.size, a.seed)))


if __name__ == "__main__":
    main()
