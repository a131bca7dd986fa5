"""The one vocabulary of numeric precision, from the CLI to the store (see ARCHITECTURE.md).

An artifact carries its precision (an INT8 ONNX, an FP16 engine); a runner that computes in a
chosen precision (torch, OpenVINO's inference precision) takes it as ``--dtype``. Results, the
store and every report use these values.
"""

from __future__ import annotations

import enum


class Precision(str, enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"

    @classmethod
    def parse_list(cls, text: str) -> tuple[Precision, ...]:
        """``"fp32,int8"`` -> (FP32, INT8), in order, duplicates dropped; ValueError names the
        unknown one."""
        out = []
        for part in (p.strip().lower() for p in text.split(",")):
            if not part:
                continue
            try:
                out.append(cls(part))
            except ValueError:
                raise ValueError(f"unknown '{part}'; use some of "
                                 f"{','.join(p.value for p in cls)}") from None
        return tuple(dict.fromkeys(out))
