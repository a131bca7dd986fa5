"""A small labelled set for PP-OCR's text-direction classifier: rendered text lines, upright
(class ``0``) and rotated by 180 degrees (class ``180``), as an ImageFolder.

The text is drawn with PIL in DejaVu Sans (the font matplotlib ships, a core dependency of
edgekit), dark on a light background, at several sizes and offsets, from a fixed word list
and a fixed seed, so the set is the same on every machine. Lines stay at most 4:1, the aspect
PP-OCR's classifier input (48 x 192) holds without squeezing.

    python scripts/make_text_lines.py OUT [--per-class 100]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

WORDS = ("edge", "model", "latency", "budget", "tensor", "kernel", "device", "export",
         "quantize", "profile", "accuracy", "Jetson", "batch", "layer", "input", "output",
         "calibrate", "runtime", "engine", "graph", "weights", "image", "pixel", "scale",
         "Pareto", "frontier", "sweep", "store", "result", "report", "OpenVINO", "ONNX",
         "text", "line", "upright", "rotated", "classifier", "detector", "receipt", "invoice",
         "total", "2026", "No. 42", "price 9.99", "Main St", "page 7", "ABC-123", "hello")


def font_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def render(text: str, size: int, rng: random.Random) -> object:
    """One text line image (PIL, RGB), at most 4:1."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path()), size)
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_y = rng.randint(2, 10), rng.randint(3, 9)
    w, h = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    w = min(w, 4 * h)
    bg = tuple(rng.randint(200, 255) for _ in range(3))
    ink = tuple(rng.randint(0, 70) for _ in range(3))
    im = Image.new("RGB", (w, h), bg)
    ImageDraw.Draw(im).text((pad_x - left, pad_y - top), text, font=font, fill=ink)
    return im


def write(out: Path, per_class: int = 100, seed: int = 0) -> tuple[Path, int]:
    """``out/0/*.png`` (upright) and ``out/180/*.png`` (the same lines rotated); the folder and
    the number of images."""
    rng = random.Random(seed)
    (out / "0").mkdir(parents=True, exist_ok=True)
    (out / "180").mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 2)))
        im = render(text, rng.randint(18, 34), rng)
        im.save(out / "0" / f"{i:04d}.png")
        im.rotate(180).save(out / "180" / f"{i:04d}.png")  # type: ignore[attr-defined]
    return out, 2 * per_class


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-class", type=int, default=100)
    args = ap.parse_args()
    folder, n = write(args.out, args.per_class)
    print(f"{n} images in {folder}")


if __name__ == "__main__":
    main()
