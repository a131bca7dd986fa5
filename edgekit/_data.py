"""Where the files edgekit ships live: the model catalog and the calibration photos.

In a wheel they are packaged under ``edgekit/_data``; in a source checkout (editable
install) they are the repository's own ``models/`` and ``calibration/`` folders.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_path(relative: str) -> Path:
    for root in (_PKG / "_data", _PKG.parent):
        p = root / relative
        if p.exists():
            return p
    return _PKG.parent / relative
