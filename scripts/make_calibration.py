"""Write the bundled calibration/ photos from scikit-image's sample data (run once; offline).

    python scripts/make_calibration.py

Each photo is saved as RGB JPEG (longer side at most 640 px); calibration/README.md lists
where each came from and its licence, copied from the scikit-image docstring.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import skimage.data as sd
from PIL import Image

# name -> licence line (from skimage.data.<name>.__doc__)
PHOTOS = {
    "astronaut": "NASA; no known copyright restrictions, released into the public domain",
    "chelsea": "CC0 by the photographer (Stefan van der Walt)",
    "coffee": "CC0 by the photographer (Rachel Michetti), courtesy of Pikolo Espresso Bar",
    "rocket": "SpaceX launch photo of DSCOVR on Falcon 9, released into the public domain",
    "hubble_deep_field": "NASA, may be freely used in the public domain",
    "immunohistochemistry": "no known copyright restrictions",
    "retina": "CC0 1.0 Universal Public Domain Dedication (Häggström, Mikael)",
    "camera": "CC0 by the photographer (Lav Varshney)",
    "coins": "Walters Art Museum; no known copyright restrictions",
    "brick": "CC0Textures (Bricks25), Creative Commons CC0",
    "grass": "CC0Textures, Creative Commons CC0",
    "gravel": "CC0Textures (Gravel04), Creative Commons CC0",
    "text": "no known copyright restrictions, released into the public domain",
    "clock": "released into the public domain by the photographer (Stefan van der Walt)",
}


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "calibration"
    out.mkdir(exist_ok=True)
    rows = []
    for name, licence in PHOTOS.items():
        a = getattr(sd, name)()
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        im = Image.fromarray(a[..., :3].astype(np.uint8))
        im.thumbnail((640, 640))
        im.save(out / f"{name}.jpg", quality=90)
        first = (inspect.getdoc(getattr(sd, name)) or "").splitlines()[0]
        rows.append(f"| {name}.jpg | {im.size[0]}x{im.size[1]} | {first} | {licence} |")
    (out / "README.md").write_text(
        "# Bundled calibration photos\n\n"
        "Real photos from scikit-image's sample data (`skimage.data`, shipped in its wheel),\n"
        "written by `python scripts/make_calibration.py`. Grey images are repeated to 3 channels;\n"
        "the longer side is at most 640 px. They are edgekit's default INT8 calibration set and the\n"
        "photos every export is verified on. They are few and not ImageNet: for a real deployment\n"
        "calibrate with a few hundred images from your own data (`--calib DIR`).\n\n"
        "| file | size | scikit-image description | origin and licence |\n|---|---|---|---|\n"
        + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
