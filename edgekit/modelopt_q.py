"""NVIDIA Model Optimizer (``nvidia-modelopt``) as the INT8 quantizer for ``--target tensorrt``:
one implementation of ``qdebug.QuantizerBase`` beside ONNX Runtime's (ARCHITECTURE.md, "Where
to add"), so verification, the per-layer report, the accuracy-aware fallback and the manifest
are the same for both.

ModelOpt places Q/DQ by TensorRT's fusion rules (none around Relu, a residual Add quantized on
its skip input only, the classifier and logits left in float) and can make the unquantized rest
FP16 (``high_precision_dtype="fp16"``) for TensorRT's strongly typed networks. It calibrates on
the CPU here (``calibration_eps=["cpu"]``): no GPU is needed to quantize. Its placement follows
the installed onnxruntime's QDQ registry, so the manifest records both versions.

Installed by the ``modelopt`` extra: plain ``nvidia-modelopt`` and the CPU-safe part of its
``[onnx]`` list. Never ``nvidia-modelopt[onnx]``: it puts onnxruntime-gpu into the same package
folder as the CPU onnxruntime and pins onnx (see the README). Imported lazily (rule 1).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import calib, noise, qdebug
from edgekit._io import scratch_cwd
from edgekit._lazy import require

INSTALL = "pip install 'edgekit[modelopt]'"
# what the extra installs, by import name (nvidia-modelopt, onnx-graphsurgeon, polygraphy, ...)
MODULES = ("modelopt", "onnx_graphsurgeon", "onnxconverter_common", "polygraphy", "lief",
           "cppimport", "ml_dtypes")
METHODS = {"minmax": "max", "entropy": "entropy"}  # edgekit's --calib-method -> ModelOpt's
CALIBRATION_EPS = ["cpu"]


def missing() -> list[str]:
    """The extra's modules that cannot be imported here (nothing is imported to find out)."""
    out = []
    for name in MODULES:
        try:
            found = sys.modules.get(name, True) is not None and (
                name in sys.modules or importlib.util.find_spec(name) is not None)
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def version() -> str | None:
    from edgekit.manifest import versions

    return versions(("nvidia-modelopt",))["nvidia-modelopt"]


class ModelOptQuantizer(qdebug.QuantizerBase):
    """``modelopt.onnx.quantization.quantize`` in INT8 mode on a scratch copy of the model.

    ModelOpt keeps no range cache between calls, so each new ``exclude`` set calibrates again
    (seconds on a CPU); the same set is not quantized twice.
    """

    name = "modelopt"

    def __init__(self, path: Path, tmp: Path, cs: calib.CalibSet, method: str, *,
                 fp16_rest: bool) -> None:
        with _stdout_to_noise(), _ort_restored():  # its logger prints on stdout when imported
            self.mq = require("modelopt.onnx.quantization")
        self.method, self.fp16_rest = METHODS[method], fp16_rest
        tmp = Path(tmp).resolve()  # ModelOpt runs with it as the working directory
        pre = tmp / "modelopt-float.onnx"  # ModelOpt writes its opset-19 copy beside its input
        onnx = require("onnx")
        onnx.save(_with_shapes(onnx, onnx.load(str(path))), str(pre))
        self._use_float(pre, tmp, cs)
        self.data = cs.data
        self._done: dict[tuple[str, ...], Path] = {}

    def quantize(self, exclude: list[str] | tuple[str, ...]) -> Any:
        key = tuple(sorted(set(self.excluded(exclude))))
        if key not in self._done:
            out = self.tmp / f"modelopt-int8-{len(self._done) + 1}.onnx"
            with _stdout_to_noise(), _ort_restored(), scratch_cwd(self.tmp):
                self.mq.quantize(
                    str(self.pre), quantize_mode="int8", calibration_data=self.data,
                    calibration_method=self.method, calibration_eps=list(CALIBRATION_EPS),
                    high_precision_dtype="fp16" if self.fp16_rest else "fp32",
                    nodes_to_exclude=[re.escape(n) + "$" for n in key],  # patterns: exact names
                    output_path=str(out), log_level="WARNING")
            self._done[key] = out
        return _with_shapes(self.onnx, self.onnx.load(str(self._done[key])))

    def caveat(self, parent_logits: np.ndarray) -> str | None:
        """FP16 cannot hold logits below its smallest normal value (6.1e-5), as random-weight
        models produce: the FP16 rest then outputs zeros and agreement collapses."""
        peak = float(np.max(np.abs(parent_logits))) if parent_logits.size else 0.0
        if self.fp16_rest and peak < 6.1e-5:
            return (f"the FP32 logits are at most {peak:.1e}, below FP16's range, so the FP16 "
                    "rest outputs zeros; use trained weights, or --fp32-rest")
        return None

    def facts(self) -> dict[str, Any]:
        from edgekit.manifest import versions

        return {"quantizer": self.name, "quantizer_version": version(),
                "onnxruntime_version": versions(("onnxruntime",))["onnxruntime"],
                "tool": "modelopt.onnx.quantization.quantize", "format": "QDQ",
                "calibration_eps": list(CALIBRATION_EPS), "modelopt_method": self.method,
                "fp16_rest": self.fp16_rest,
                "high_precision_dtype": "fp16" if self.fp16_rest else "fp32",
                "activation_type": "QInt8", "weight_type": "QInt8", "per_channel": True,
                "reduce_range": False,
                "why": "TensorRT explicit quantization by NVIDIA's placement rules: symmetric "
                       "INT8 Q/DQ where TensorRT fuses, per-channel weights"
                       + (", the rest in FP16 (strongly typed)" if self.fp16_rest else "")}


@contextlib.contextmanager
def _ort_restored() -> Any:
    """ModelOpt patches ONNX Runtime's quantization package process-wide while it runs (its
    calibrators' methods, ``create_calibrator``, the QDQ op registries): everything it changed
    in ``onnxruntime.quantization.*`` is put back afterwards, so ORT's quantizer and the
    per-layer pass (which uses ORT's calibrator code) behave as without ModelOpt."""
    mods = {n: m for n, m in list(sys.modules.items())
            if n.startswith("onnxruntime.quantization") and m is not None}
    saved: list[tuple[Any, dict[str, Any]]] = []
    for m in mods.values():
        saved.append((m, dict(vars(m))))
        for v in list(vars(m).values()):
            if isinstance(v, type) and v.__module__.startswith("onnxruntime.quantization"):
                saved.append((v, dict(vars(v))))
            elif isinstance(v, dict) and v.__class__ is dict and _registry(v):
                saved.append((v, dict(v)))
    try:
        yield
    finally:
        for obj, before in saved:
            _restore(obj, before)


def _registry(d: dict[Any, Any]) -> bool:
    """An op registry of ORT's (op type -> operator class), e.g. ``QDQRegistry``."""
    return bool(d) and all(isinstance(k, str) and isinstance(v, type) for k, v in d.items())


def _restore(obj: Any, before: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        obj.clear()
        obj.update(before)
        return
    now = vars(obj)
    for k in [k for k in now if k not in before]:
        delattr(obj, k)
    for k, v in before.items():
        if now.get(k) is not v:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(obj, k, v)


def _with_shapes(onnx: Any, model: Any) -> Any:
    """The model with inferred tensor types (``value_info``): the per-layer pass compares the
    tensors whose type it knows, as in ORT's pre-processed model."""
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference fails on some graphs; then fewer tensors are compared
        return model


@contextlib.contextmanager
def _stdout_to_noise() -> Any:
    """ModelOpt (re)configures its logger to print on stdout, which holds ``--json``: while it
    runs, stdout goes to a buffer whose lines are folded like other libraries' warnings (its
    records also reach the root logger, where ``noise`` folds them), and its stdout handler is
    dropped afterwards."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        lg = logging.getLogger("modelopt.onnx")
        for h in lg.handlers[:]:
            if getattr(h, "stream", None) is buf:
                lg.removeHandler(h)
        for line in buf.getvalue().splitlines():
            if line.strip() and " - [modelopt][onnx] - " not in line:  # logged ones: folded
                noise.add("modelopt", line)
