"""Ultralytics ``.pt`` checkpoints as a source: recognised by their pickle, exported by
Ultralytics' own ONNX exporter (``edgekit[yolo]``), offline, into a scratch folder, and from
there the ONNX path like any Ultralytics ONNX (task and names from its metadata, letterbox 114).

Ultralytics is kept off the network and off the user's home (``YOLO_OFFLINE``, no auto-install,
its settings in the scratch folder), and its process-wide replacement of ``PIL.Image.open`` is
undone after the export. Loading a checkpoint unpickles it, which runs code in it: that needs
``--trust-checkpoint``, as for any pickled ``--weights``."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from edgekit._io import silenced_fds
from edgekit._lazy import require
from edgekit.errors import SourceError

YOLO_EXTRA = "pip install \"edgekit[yolo]\" (ultralytics)"


def is_checkpoint(path: Path) -> bool:
    """A torch.save zip whose pickle names Ultralytics' model classes."""
    try:
        with zipfile.ZipFile(path) as z:
            pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            return pkl is not None and b"ultralytics.nn" in z.read(pkl)
    except (OSError, zipfile.BadZipFile):
        return False


def to_onnx(path: Path, trust: bool, imgsz: int | None = None) -> Path:
    """Ultralytics' own export of the checkpoint (raw head, opset 17, static batch 1), in a
    scratch folder removed when the process ends."""
    if not trust:
        raise SourceError("an Ultralytics checkpoint is a pickle: loading it runs code in it",
                          "pass --trust-checkpoint if you trust the file, or export it to ONNX "
                          "with Ultralytics and pass the .onnx", path=str(path))
    import importlib.util

    if importlib.util.find_spec("ultralytics") is None:
        raise SourceError("an Ultralytics checkpoint needs the ultralytics package", YOLO_EXTRA,
                          path=str(path))
    scratch = Path(tempfile.mkdtemp(prefix="edgekit-yolo-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    os.environ.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="0",
                      YOLO_CONFIG_DIR=str(scratch / "settings"))
    import PIL.Image

    opened = PIL.Image.open
    try:
        with silenced_fds():  # Ultralytics prints its own report on stdout
            model = require("ultralytics").YOLO(str(shutil.copy(path, scratch / path.name)))
            size = imgsz or int((getattr(model, "overrides", {}) or {}).get("imgsz") or 640)
            out = Path(model.export(format="onnx", imgsz=size, opset=17, simplify=False,
                                    dynamic=False))
    except SourceError:
        raise
    except Exception as e:  # Ultralytics raises many types
        raise SourceError(f"Ultralytics could not export it ({type(e).__name__}: "
                          f"{str(e)[:160]})", "export it with Ultralytics and pass the .onnx",
                          path=str(path)) from e
    finally:
        PIL.Image.open = opened
    return out
