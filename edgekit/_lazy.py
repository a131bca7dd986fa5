"""Lazy imports of heavy optional libraries (STYLE.md rule 1 and 2).

``require("torch")`` imports on first use and turns a missing library into a
``BackendUnavailable`` that names the pip extra, instead of a ModuleNotFoundError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from edgekit.errors import BackendUnavailable

# module -> what to install
_INSTALL = {
    "torch": "pip install torch torchvision (see README for the pinned versions)",
    "torchvision": "pip install torchvision",
    "timm": "pip install timm",
    "onnx": "pip install onnx",
    "onnxruntime": "pip install onnxruntime (or onnxruntime-gpu: pip install \"edgekit[gpu]\")",
    "onnxslim": "pip install onnxslim",
    "onnxsim": "pip install \"edgekit[onnxsim]\"",
    "onnxconverter_common": "pip install onnxconverter-common",
    "tensorrt": "pip install \"edgekit[trt]\" (TensorRT wheels come from NVIDIA's index)",
    "matplotlib": "pip install matplotlib",
}


def require(name: str) -> ModuleType:
    """Import ``name`` or raise BackendUnavailable naming how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        top = name.split(".")[0]
        hint = _INSTALL.get(top, f"pip install {top}")
        raise BackendUnavailable(f"{name} is not installed ({e})", hint) from e
