"""Lazy imports of heavy optional libraries (ARCHITECTURE.md, rules 1 and 2).

``require("torch")`` imports on first use and turns a missing library into a
``BackendUnavailable`` that names the pip extra, instead of a ModuleNotFoundError.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from edgekit.errors import BackendUnavailable

# module -> what to install
EXPORT_EXTRA = "pip install 'edgekit[export]' (torch: see the README for the pinned versions)"
LAB_EXTRA = "pip install 'edgekit[lab]' (psycopg 3 and procrastinate)"
_INSTALL = {
    "torch": EXPORT_EXTRA,
    "torchvision": EXPORT_EXTRA,
    "timm": EXPORT_EXTRA,
    "onnx": "pip install onnx",
    "onnxruntime": "pip install onnxruntime (or onnxruntime-gpu: pip install \"edgekit[gpu]\")",
    "onnxslim": EXPORT_EXTRA,
    "onnxscript": EXPORT_EXTRA,
    "onnxsim": "pip install \"edgekit[onnxsim]\"",
    "onnxconverter_common": EXPORT_EXTRA,
    "tensorrt": "pip install \"edgekit[trt]\" (TensorRT wheels come from NVIDIA's index)",
    "matplotlib": "pip install matplotlib",
    "psycopg": LAB_EXTRA,
    "procrastinate": LAB_EXTRA,
    "openvino": "pip install \"edgekit[openvino]\"",
    "faster_coco_eval": "pip install \"edgekit[detect]\" (faster-coco-eval)",
    "pycocotools": "pip install pycocotools",
}


def need(name: str, for_what: str) -> None:
    """Refuse ``for_what`` (a command or step) in one line when ``name`` is not installed, before
    any work: ``export needs torch; pip install 'edgekit[export]'``."""
    if importlib.util.find_spec(name) is None:
        raise BackendUnavailable(f"{for_what} needs {name}",
                                 _INSTALL.get(name, f"pip install {name}"))


def require(name: str) -> ModuleType:
    """Import ``name`` or raise BackendUnavailable naming how to install it."""
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        top = name.split(".")[0]
        hint = _INSTALL.get(top, f"pip install {top}")
        raise BackendUnavailable(f"{name} is not installed ({e})", hint) from e
    from edgekit import noise

    noise.on_import(module)
    return module
