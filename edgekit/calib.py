"""Calibration data: an image folder, a preprocessed .npz, or the bundled calibration/ photos.

One interface (ARCHITECTURE.md, rule 7): a CalibSet holds finite, re-iterable feeds; adapters turn it
into ONNX Runtime's CalibrationDataReader (and, in the TensorRT issue, a TRT calibrator).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._data import data_path
from edgekit._lazy import require
from edgekit.errors import CalibrationError
from edgekit.images import Preprocess, list_images, load_rgb, preprocess


@dataclass(frozen=True, kw_only=True)
class CalibSet:
    data: np.ndarray  # N x C x H x W float32; N x H x W x C uint8 for a fused model
    source: str
    kind: str  # images | npz | bundled
    skipped: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.data).tobytes()).hexdigest()

    def feeds(self, input_name: str) -> list[dict[str, np.ndarray]]:
        """One feed per image, batch 1: works for static and dynamic batch models alike."""
        return [{input_name: self.data[i : i + 1]} for i in range(len(self.data))]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "count": int(len(self.data)),
                "sha256": self.sha256, "skipped_files": self.skipped}


def load(spec: Path | None, pp: Preprocess, size: int | None = None) -> CalibSet:
    """Calibration inputs for a model whose preprocessing is ``pp`` (deterministic order)."""
    if spec is None:
        cs = _from_folder(data_path("calibration"), pp, "bundled")
    elif spec.suffix.lower() == ".npz":
        cs = _from_npz(spec, pp)
    elif spec.is_dir():
        cs = _from_folder(spec, pp, "images")
    else:
        raise CalibrationError("calibration data not found" if not spec.exists() else
                               "is neither a folder of images nor an .npz",
                               "pass --calib DIR (images) or --calib FILE.npz", path=str(spec))
    if size is not None:
        if size < 1:
            raise CalibrationError(f"--calib-size {size} must be at least 1", "pass a positive N")
        cs = CalibSet(data=cs.data[:size], source=cs.source, kind=cs.kind, skipped=cs.skipped)
    return cs


def _from_folder(folder: Path, pp: Preprocess, kind: str) -> CalibSet:
    paths, skipped = list_images(folder) if folder.is_dir() else ([], 0)
    if not paths:
        raise CalibrationError(f"no images found ({skipped} other files skipped)",
                               "add .jpg/.png/.bmp/.webp images or pass --calib FILE.npz",
                               path=str(folder))
    return CalibSet(data=np.stack([preprocess(load_rgb(p), pp) for p in paths]),
                    source=str(folder), kind=kind, skipped=skipped)


def _from_npz(path: Path, pp: Preprocess) -> CalibSet:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[k] for k in z.files]
    except (OSError, ValueError, EOFError) as e:
        raise CalibrationError(f"cannot read .npz ({type(e).__name__}: {e})",
                               "save it with numpy.savez(PATH, inputs=ARRAY)", path=str(path)) from e
    if len(arrays) != 1:
        raise CalibrationError(f"holds {len(arrays)} arrays, expected one N x C x H x W array",
                               "save one array: numpy.savez(PATH, inputs=ARRAY)", path=str(path))
    a = arrays[0]
    want = ((pp.height, pp.width, pp.channels) if pp.fused else
            (pp.channels, pp.height, pp.width))
    if a.ndim != 4 or tuple(a.shape[1:]) != want or len(a) == 0:
        raise CalibrationError(f"array shape {tuple(a.shape)} does not fit the model's input "
                               f"N x {want[0]} x {want[1]} x {want[2]}",
                               "preprocess the inputs to the model's size", path=str(path))
    if pp.fused:  # the graph normalises: the pixels themselves
        if a.dtype != np.uint8:
            raise CalibrationError(f"array must be uint8 pixels for a model with fused "
                                   f"preprocessing, got {a.dtype}", "store the resized/cropped "
                                   "uint8 N x H x W x 3 pixels", path=str(path))
        return CalibSet(data=np.ascontiguousarray(a), source=str(path), kind="npz")
    if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
        raise CalibrationError(f"array must be finite floats, got {a.dtype}",
                               "store preprocessed float32 inputs", path=str(path))
    return CalibSet(data=np.ascontiguousarray(a, dtype=np.float32), source=str(path), kind="npz")


def ort_reader(feeds: list[dict[str, np.ndarray]]) -> Any:
    """Adapt feeds to onnxruntime's CalibrationDataReader (defined here: ORT imports lazily)."""
    quant = require("onnxruntime.quantization")

    class Reader(quant.CalibrationDataReader):  # type: ignore[name-defined]
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

        def __len__(self) -> int:
            return len(feeds)

    return Reader()
