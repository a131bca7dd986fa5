"""A segmenter against labels: mIoU and pixel accuracy on a folder of images and index masks.

The folder holds images and, for each, a mask: a PNG whose pixel values are class indices
(mode L, or P with a palette, as VOC's ``SegmentationClass`` is), the same size as the image.
The mask of ``.../images/X/a.jpg`` is ``.../masks/X/a.png`` (or VOC's ``JPEGImages`` ->
``SegmentationClass``), else ``a.png`` in a ``masks/`` folder beside the image. Pixels equal
to the ignore index (255 unless stated) are no class and count nowhere.

Each image goes through the model's own recipe (``images.preprocess_with_transform``); the
argmax mask is mapped back to the image's own pixels through the same resize (nearest: each
original pixel takes the class at its centre in the model's input) and added to one confusion
matrix over the whole set, from which mIoU (over the classes present in the truth or the
predictions) and pixel accuracy are read (``tasks.segment.scores``): never a mean of
per-image figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import ConfigError
from edgekit.images import list_images
from edgekit.tasks import segment

MASK_DIRS = (("images", "masks"), ("JPEGImages", "SegmentationClass"))


@dataclass(kw_only=True)
class MaskSet:
    folder: Path
    pairs: list[tuple[Path, Path]]  # image, mask
    ignore_index: int = segment.IGNORE_INDEX

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "images": len(self.pairs), "format": "index masks",
                "labels": "masks/*.png", "ignore_index": self.ignore_index}


def mask_of(image: Path) -> Path | None:
    parts = list(image.parts)
    for img_dir, mask_dir in MASK_DIRS:
        if img_dir in parts:
            i = len(parts) - 1 - parts[::-1].index(img_dir)
            p = Path(*parts[:i], mask_dir, *parts[i + 1:]).with_suffix(".png")
            if p.is_file():
                return p
    beside = image.parent / "masks" / f"{image.stem}.png"
    return beside if beside.is_file() else None


def load(folder: Path, labels: Path | None = None, names: list[str] | None = None,
         ignore_index: int | None = None) -> MaskSet:
    """The labelled folder (module docstring); one without masks is one line."""
    if not folder.is_dir():
        raise ConfigError("--data: folder not found", "check the path", path=str(folder))
    if labels is not None:
        raise ConfigError("--labels does not apply to a segmenter's masks", "drop --labels; "
                          "masks sit in masks/ beside images/", path=str(labels))
    skip = {d for _, d in MASK_DIRS} | {"masks"}
    images = [p for p in list_images(folder)[0]
              if not skip & set(p.relative_to(folder).parts[:-1])]
    pairs = [(p, m) for p in images if (m := mask_of(p)) is not None]
    if not pairs:
        raise ConfigError("--data: no images with index-PNG masks (.../images/a.jpg -> "
                          ".../masks/a.png) found", "give a folder of images and their masks",
                          path=str(folder))
    return MaskSet(folder=folder, pairs=pairs, ignore_index=segment.IGNORE_INDEX
                   if ignore_index is None else ignore_index)


def to_original(pred: np.ndarray, t: Any) -> np.ndarray:
    """A mask in the model's input pixels -> the image's own (``t``: its ``resize.Transform``),
    nearest; pixels the input does not cover (a crop) are -1."""
    w, h = t.original
    xs = np.floor((np.arange(w) + 0.5) * t.scale_x + t.offset_x).astype(np.int64)
    ys = np.floor((np.arange(h) + 0.5) * t.scale_y + t.offset_y).astype(np.int64)
    ih, iw = pred.shape
    out = pred[np.clip(ys, 0, ih - 1)][:, np.clip(xs, 0, iw - 1)].astype(np.int64)
    out[(ys < 0) | (ys >= ih), :] = -1
    out[:, (xs < 0) | (xs >= iw)] = -1
    return out


def evaluate(ds: MaskSet, pp: Any, infer: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """mIoU and pixel accuracy of ``infer`` (a preprocessed batch of one -> [1, classes, H, W])
    on the set, from one confusion matrix."""
    from PIL import Image

    from edgekit.images import preprocess_with_transform

    cm: np.ndarray | None = None
    for image, mask_path in ds.pairs:
        with Image.open(image) as im:
            x, t = preprocess_with_transform(im.convert("RGB"), pp)
        with Image.open(mask_path) as m:
            truth = np.asarray(m)
        if truth.ndim != 2 or truth.shape[::-1] != tuple(t.original):
            raise ConfigError(f"--data: mask {mask_path.name} is not one channel of the "
                              f"image's size {t.original[0]}x{t.original[1]}",
                              "give index PNG masks (one class value per pixel)",
                              path=str(mask_path))
        out = np.asarray(infer(x[None]))
        if not segment.logits(out.shape):
            raise ConfigError(f"--data measures mIoU from [N, classes, H, W] scores, not an "
                              f"output of {list(out.shape)}", "drop --data", path=str(image))
        pred = to_original(segment.masks(out)[0], t)
        truth = np.where(pred < 0, ds.ignore_index, truth)  # not seen by the model: no class
        one = segment.confusion(truth, pred, int(out.shape[1]), ds.ignore_index)
        cm = one if cm is None else cm + one
    got = segment.scores(cm if cm is not None else np.zeros((1, 1)))
    return {**got, **ds.to_dict(), "how": "one confusion matrix over the set; masks mapped "
            "back to each image's pixels (nearest)"}
