"""Which enum members and attributes each TensorRT release's Python bindings have.

From NVIDIA/TensorRT ``python/src/infer/pyCore.cpp`` (and ``python/src/parsers/pyOnnx.cpp``)
at the tags v8.6.1, v10.3.0 (JetPack 6), v10.13.0 and 11.x, per release:

- ``NetworkDefinitionCreationFlag``: 8.6 EXPLICIT_BATCH=0, EXPLICIT_PRECISION=1; 10.x
  EXPLICIT_BATCH=0 (ignored), STRONGLY_TYPED=1; 11 STRONGLY_TYPED=0 (deprecated, ignored).
- ``BuilderFlag`` FP16/INT8 up to 10.x (gone in 11); BF16 from 9.0 (absent in 8.6).
- ``HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY`` from 10.9 only.
- ``ParserError.node_name/node_operator`` from 9.3 (absent in 8.6).
- ``ICudaEngine.device_memory_size_v2`` from 10.1; ``device_memory_size`` gone in 11.
"""

from __future__ import annotations

import enum
from typing import Any

Version = tuple[int, ...]


def parse(version: str) -> Version:
    return tuple(int(p) for p in version.split(".")[:3])


def add_enums(m: Any, v: Version) -> None:
    if v < (10,):
        flags = {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1}
    elif v < (11,):
        flags = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
    else:
        flags = {"STRONGLY_TYPED": 0}
    m.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", flags)
    bflags = ["GPU_FALLBACK", "VERSION_COMPATIBLE", "DEBUG", "REFIT", "TF32"]
    if v < (11,):
        bflags += ["FP16", "INT8"] + (["BF16"] if v >= (9,) else [])
    m.BuilderFlag = enum.Enum("BuilderFlag", bflags)
    levels = ["NONE", "AMPERE_PLUS"] + (["SAME_COMPUTE_CAPABILITY"] if v >= (10, 9) else [])
    m.HardwareCompatibilityLevel = enum.Enum("HardwareCompatibilityLevel", levels)
    m.MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE", "DLA_MANAGED_SRAM"])
    m.ProfilingVerbosity = enum.Enum("ProfilingVerbosity", ["LAYER_NAMES_ONLY", "NONE",
                                                            "DETAILED"])
    m.LayerInformationFormat = enum.Enum("LayerInformationFormat", ["ONELINE", "JSON"])
    m.DeviceType = enum.Enum("DeviceType", ["GPU", "DLA"])
    m.TensorIOMode = enum.Enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
    # UINT8 (network I/O, converted to float by a Cast/Identity layer) is in 8.5 and later
    m.DataType = enum.Enum("DataType", ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8"]
                           + (["BF16"] if v >= (9,) else []))


def parser_error_has_names(v: Version) -> bool:
    return v >= (9, 3)
