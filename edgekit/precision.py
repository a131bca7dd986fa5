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
    # not an artifact's precision: an INT8 artifact whose unquantized rest (the float layers
    # between the quantized ones) computes in bf16, OpenVINO's default on a bf16 CPU
    INT8_BF16 = "int8-bf16"

    @classmethod
    def of_run(cls, artifact: Precision, dtype: Precision) -> Precision:
        """What ran: an ``artifact`` computed in ``dtype`` (``--dtype``); ValueError for a pair
        that is not a precision of its own (an FP16 artifact in bf16)."""
        if dtype is cls.FP32:
            return artifact
        if artifact is cls.FP32:
            return dtype
        if (artifact, dtype) == (cls.INT8, cls.BF16):
            return cls.INT8_BF16
        raise ValueError(f"a {artifact.value} artifact does not compute in {dtype.value}")

    def parts(self) -> tuple[Precision, Precision]:
        """(the artifact's precision, the --dtype it computes in) of a precision that ran, for
        the two made of a pair: int8-bf16 -> (int8, bf16); any other -> (itself, fp32)."""
        if self is Precision.INT8_BF16:
            return Precision.INT8, Precision.BF16
        return self, Precision.FP32

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
