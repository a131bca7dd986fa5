"""PP-OCR's three ONNX models as the ``rapidocr`` wheel ships them (the dev extra installs it),
each with the size and preprocessing rapidocr feeds it: one table for the tests and
``bench/foreign_onnx.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_LETTERBOX_RIGHT = ["--resize-mode", "letterbox", "--pad-side", "right", "--pad-value", "127.5",
                    "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--channel-order", "bgr"]

# key -> (file, --input-size, preprocessing flags, what it is)
MODELS = {
    "cls": ("ch_ppocr_mobile_v2.0_cls_mobile.onnx", "48,192", _LETTERBOX_RIGHT,
            "text-direction classifier, 2 classes"),
    "det": ("PP-OCRv6_det_small.onnx", "320,320",
            ["--resize-mode", "letterbox", "--pad-value", "0", "--mean", "0.485,0.456,0.406",
             "--std", "0.229,0.224,0.225", "--channel-order", "bgr"],
            "text detector, probability map"),
    "rec": ("PP-OCRv6_rec_small.onnx", "48,320", _LETTERBOX_RIGHT,
            "text recognizer, CTC over 18710 symbols"),
}


def path(name: str) -> Path:
    """The model file inside the installed rapidocr package."""
    spec = importlib.util.find_spec("rapidocr")
    assert spec is not None and spec.submodule_search_locations, "pip install rapidocr (dev)"
    return Path(list(spec.submodule_search_locations)[0]) / "models" / name
