"""Where an image's pixels land in the model's input, and back (numpy only).

Three resize modes (``Preprocess.resize_mode``):

- ``crop``: the shorter side to ``resize``, then the centre ``height x width`` (torchvision's
  and timm's classifier recipe);
- ``stretch``: straight to ``width x height``, the aspect ratio not kept;
- ``letterbox``: the aspect ratio kept, the long side scaled to fit, the rest padded with
  ``pad_value`` (pixel units, the model's channel order) on ``pad_side``: ``center``
  (Ultralytics' ``LetterBox``: its rounding of the two margins), ``right`` (PP-OCR's
  recognizer: the text starts at the left), ``bottom``, or ``right-bottom`` (the image in the
  top-left corner).

``geometry`` returns a ``Transform`` per image: the scale and offset that map original
coordinates to the model's (``x_model = x * scale_x + offset_x``), so boxes and masks found in
the model's input can be mapped back to the picture (``to_original``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RESIZE_MODES = ("crop", "stretch", "letterbox")
PAD_SIDES = ("center", "right", "bottom", "right-bottom")


@dataclass(frozen=True, kw_only=True)
class Transform:
    """One image's way into the model input: resized to ``resized`` (w, h), then placed at
    ``(offset_x, offset_y)`` in the ``input`` (w, h) canvas (a negative offset is a crop)."""

    original: tuple[int, int]  # w, h
    resized: tuple[int, int]  # w, h
    input: tuple[int, int]  # w, h
    offset_x: int
    offset_y: int
    mode: str

    @property
    def scale_x(self) -> float:
        return self.resized[0] / self.original[0]

    @property
    def scale_y(self) -> float:
        return self.resized[1] / self.original[1]

    def to_model(self, boxes: Any) -> np.ndarray:
        """x1, y1, x2, y2 boxes (N x 4) in original pixels -> model-input pixels."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return b * ([self.scale_x, self.scale_y] * 2) + [self.offset_x, self.offset_y] * 2

    def to_original(self, boxes: Any) -> np.ndarray:
        """x1, y1, x2, y2 boxes (N x 4) in model-input pixels -> original pixels (the
        inverse of ``to_model``; clip to ``original`` where a box may leave the picture)."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return (b - ([self.offset_x, self.offset_y] * 2)) / ([self.scale_x, self.scale_y] * 2)

    def to_dict(self) -> dict[str, Any]:
        return {"original": list(self.original), "resized": list(self.resized),
                "input": list(self.input), "offset": [self.offset_x, self.offset_y],
                "scale": [self.scale_x, self.scale_y], "mode": self.mode}


def geometry(size: tuple[int, int], *, height: int, width: int, mode: str = "crop",
             resize: int = 256, pad_side: str = "center") -> Transform:
    """The ``Transform`` of an image of ``size`` (w, h) into a ``height x width`` input."""
    w, h = size
    if mode == "stretch":
        return Transform(original=(w, h), resized=(width, height), input=(width, height),
                         offset_x=0, offset_y=0, mode=mode)
    if mode == "letterbox":
        r = min(height / h, width / w)
        nw, nh = (min(width, max(1, int(round(w * r)))), min(height, max(1, int(round(h * r)))))
        dw, dh = (width - nw) / 2, (height - nh) / 2
        # Ultralytics' LetterBox: top/left int(round(d - 0.1)), the rest on the other side
        left = 0 if pad_side in ("right", "right-bottom") else int(round(dw - 0.1))
        top = 0 if pad_side in ("bottom", "right-bottom") else int(round(dh - 0.1))
        return Transform(original=(w, h), resized=(nw, nh), input=(width, height),
                         offset_x=left, offset_y=top, mode=mode)
    scale = resize / min(w, h)  # crop: the shorter side to `resize`, then the centre
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    return Transform(original=(w, h), resized=(nw, nh), input=(width, height),
                     offset_x=-((nw - width) // 2), offset_y=-((nh - height) // 2), mode=mode)


def place(pixels: np.ndarray, t: Transform, pad_value: tuple[float, ...]) -> np.ndarray:
    """The resized H x W x C ``pixels`` put into the input canvas: cropped (negative offsets)
    or padded with ``pad_value`` (float32 canvas; uint8 when ``pixels`` are uint8)."""
    iw, ih = t.input
    if t.offset_x <= 0 and t.offset_y <= 0 and t.resized[0] - t.offset_x >= iw \
            and t.resized[1] - t.offset_y >= ih:
        x0, y0 = -t.offset_x, -t.offset_y  # crop (or exact fit)
        return pixels[y0:y0 + ih, x0:x0 + iw]
    canvas = np.empty((ih, iw, pixels.shape[2]), dtype=pixels.dtype)
    canvas[...] = np.asarray(pad_value, dtype=np.float64).astype(pixels.dtype)
    canvas[t.offset_y:t.offset_y + pixels.shape[0], t.offset_x:t.offset_x + pixels.shape[1]] = \
        pixels
    return canvas
