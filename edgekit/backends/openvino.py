"""OpenVINO runner: ONNX artifacts (FP32, FP16, INT8 QDQ) on OpenVINO's CPU device.

On a CPU with bf16 instructions OpenVINO computes an FP32 model in bf16 by default (its
``INFERENCE_PRECISION_HINT`` reads bfloat16 there): a silent precision change. This runner
always sets the hint: f32 for an artifact run as it is (an INT8 QDQ graph runs as INT8, its
float parts in f32), bf16 only for ``--dtype bf16``, a precision of its own that profile
verifies against f32 and records as bf16. It reads the effective properties back from the
compiled model and fails when they are not what was asked.

A dynamic batch is reshaped to each batch size it runs and compiled once per size (static
shapes take OpenVINO's fastest kernels); ``create_ms`` is the read and first compile. Device
names other than CPU (GPU, NPU, GPU.1, AUTO:...) pass through ``--ov-device`` and are recorded;
only the CPU is tested.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edgekit._lazy import require
from edgekit.backends import OvSettings, RunnerBase, RunnerOptions, TensorSpec, TuneSpace
from edgekit.errors import BackendUnavailable, ConfigError, SourceError, Unsupported
from edgekit.precision import Precision

_HINT = {Precision.FP32: "f32", Precision.BF16: "bf16"}
_VIRTUAL = ("AUTO", "MULTI", "HETERO", "BATCH")  # OpenVINO's devices made of other devices


def _reason(e: BaseException) -> str:
    """OpenVINO's message without its source-location lines ("Check ... failed at x.cpp")."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    said = [ln for ln in lines if not ln.startswith(("Check ", "Exception from", "FrontEnd API"))]
    return (said or lines or [type(e).__name__])[-1][:200]


class OpenVinoRunner(RunnerBase):
    def __init__(self, path: Path | str, opts: RunnerOptions) -> None:
        from edgekit.device import has_bf16

        self.path = Path(path)
        self.opts = opts
        self.device_name = opts.ov_device.strip() or "CPU"
        self.ov_settings = opts.openvino or OvSettings(threads=opts.threads)
        if opts.dtype not in _HINT:
            raise ConfigError(f"--backend openvino does not compute in --dtype {opts.dtype.value}",
                              "use --dtype fp32 or bf16")
        if opts.dtype is Precision.BF16 and self.device_name == "CPU" and not has_bf16():
            raise Unsupported("this CPU has no bf16 instructions (avx512_bf16 or amx_bf16); "
                              "OpenVINO would run f32 instead", "drop --dtype bf16")
        self.create_ms = 0.0
        self.core: Any = None
        self.model: Any = None
        self._shapes: list[tuple[str, Any, str]] = []  # name, partial shape, dtype
        self._compiled: dict[int, tuple[Any, Any]] = {}  # batch -> (compiled model, request)
        self._last: Any = None

    def __enter__(self) -> OpenVinoRunner:
        ov = require("openvino")
        self.core = ov.Core()
        self._check_device()
        t0 = time.perf_counter_ns()
        try:  # the ONNX frontend only: read_model would try every framework's parser on a bad file
            fe = ov.frontend.FrontEndManager().load_by_framework("onnx")
            self.model = fe.convert(fe.load(str(self.path)))
        except Exception as e:  # OpenVINO raises its own exception types, by reason
            raise SourceError(f"OpenVINO cannot read the model ({_reason(e)})",
                              "check that it is a complete .onnx file; re-export it",
                              path=str(self.path)) from e
        self._shapes = [(self._name(i, n), i.get_partial_shape(), _dtype(i))
                        for n, i in enumerate(self.model.inputs)]
        first = self._shapes[0][1] if self._shapes else None
        self._batch0 = (first[0].get_length() if first is not None and first.rank.is_static
                        and len(first) and first[0].is_static else 1)
        self._compile(self._batch0)
        self.create_ms = (time.perf_counter_ns() - t0) / 1e6
        return self

    def _check_device(self) -> None:
        base = self.device_name.split(":")[0].split(".")[0].upper()
        have = list(self.core.available_devices)
        if base not in {d.split(".")[0] for d in have} and base not in _VIRTUAL:
            raise BackendUnavailable(f"OpenVINO has no device '{self.device_name}' (it has "
                                     f"{', '.join(have) or 'none'})",
                                     f"use --ov-device {' or '.join(have) or 'CPU'}")

    @staticmethod
    def _name(port: Any, index: int) -> str:
        try:
            return str(port.get_any_name())
        except RuntimeError:  # a tensor without a name
            return f"input{index}"

    def _properties(self) -> dict[str, Any]:
        s = self.ov_settings
        props: dict[str, Any] = {"PERFORMANCE_HINT": s.hint.upper(),
                                 "INFERENCE_PRECISION_HINT": _HINT[self.opts.dtype]}
        if s.threads:
            props["INFERENCE_NUM_THREADS"] = s.threads
        if s.streams:
            props["NUM_STREAMS"] = s.streams
        return props

    def _compile(self, batch: int) -> tuple[Any, Any]:
        """The compiled model and its request for ``batch`` (reshaped first where dynamic)."""
        if batch in self._compiled:
            return self._compiled[batch]
        ov = require("openvino")
        dynamic = {n: ov.PartialShape([ov.Dimension(batch), *list(ps)[1:]])
                   for n, ps, _ in self._shapes if ps.rank.is_static and len(ps) and
                   ps[0].is_dynamic}
        try:
            if dynamic:
                self.model.reshape(dynamic)
            compiled = self.core.compile_model(self.model, self.device_name, self._properties())
        except Exception as e:
            raise SourceError(f"OpenVINO cannot compile the model for {self.device_name} "
                              f"({_reason(e)})", "check --ov-device and the model",
                              path=str(self.path)) from e
        self._check_precision(compiled)
        self._compiled[batch] = (compiled, compiled.create_infer_request())
        return self._compiled[batch]

    def _check_precision(self, compiled: Any) -> None:
        want = _HINT[self.opts.dtype]
        got = _prop(compiled, "INFERENCE_PRECISION_HINT")
        if got is not None and got != want:
            raise Unsupported(f"OpenVINO runs this model in {got} on {self.device_name}, not "
                              f"{want}", "choose another --dtype or --ov-device")

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._compiled.clear()
        self.model = self.core = self._last = None

    def input_spec(self) -> list[TensorSpec]:
        out = []
        for name, ps, dtype in self._shapes:
            dims = list(ps) if ps.rank.is_static else []
            out.append(TensorSpec(name, tuple(
                d.get_length() if d.is_static else ("batch" if i == 0 else "?")
                for i, d in enumerate(dims)), dtype))
        return out

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = len(next(iter(feeds.values()))) if feeds else self._batch0
        compiled, request = self._compile(batch)
        self._last = compiled
        res = request.infer(feeds)
        return {self._output_name(o, i): np.asarray(res[o])
                for i, o in enumerate(compiled.outputs)}

    bound = ("request.start_async() + wait() on input tensors set once before the loop "
             "(sharing the arrays' memory); outputs left in the request")

    def bind(self, feeds: dict[str, np.ndarray]) -> Any:
        """The request's inputs set once as tensors over the arrays' own memory; the call
        starts and waits for the request and converts nothing (``benchmark_app``'s loop)."""
        ov = require("openvino")
        batch = len(next(iter(feeds.values()))) if feeds else self._batch0
        compiled, request = self._compile(batch)
        self._last = compiled
        for name, arr in feeds.items():
            request.set_tensor(name, ov.Tensor(np.ascontiguousarray(arr), shared_memory=True))

        def call() -> None:
            request.start_async()
            request.wait()
        return call

    @staticmethod
    def _output_name(port: Any, index: int) -> str:
        try:
            return str(port.get_any_name())
        except RuntimeError:
            return f"output{index}"

    def settings(self) -> dict[str, Any]:
        """The requested settings and what OpenVINO made of them (read back)."""
        ov = require("openvino")
        compiled = self._last or next(iter(self._compiled.values()))[0]
        return {"runtime": "openvino", "openvino": ov.get_version().split("-")[0],
                "ov_device": self.device_name,
                "execution_devices": _prop(compiled, "EXECUTION_DEVICES"),
                "inference_precision": _prop(compiled, "INFERENCE_PRECISION_HINT"),
                "threads": _prop(compiled, "INFERENCE_NUM_THREADS"),
                "streams": _prop(compiled, "NUM_STREAMS"),
                "performance_hint": _prop(compiled, "PERFORMANCE_HINT"),
                "requested": self.ov_settings.to_dict(),
                "compiled_batches": sorted(self._compiled)}

    def tune_space(self) -> TuneSpace:
        from edgekit.tune import HINTS, thread_counts

        counts = tuple(thread_counts())
        return TuneSpace(field="openvino", start=OvSettings(threads=self.opts.threads),
                         axes=(("hint", HINTS), ("threads", counts),
                               ("streams", tuple(sorted({1, max(counts)})))))


def _dtype(port: Any) -> str:
    try:
        return str(np.dtype(port.get_element_type().to_dtype()))
    except (TypeError, RuntimeError, AttributeError):
        return "float32"


def _prop(compiled: Any, key: str) -> Any:
    """A compiled model's property as plain data (an element type as 'f32'/'bf16', a hint
    as 'LATENCY'), or None where the device does not report it."""
    try:
        v = compiled.get_property(key)
    except RuntimeError:
        return None
    if hasattr(v, "get_type_name"):  # openvino.Type
        return str(v.get_type_name())
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    if isinstance(v, (int, float, str, bool)):
        return v
    name = getattr(v, "name", None)
    return str(name if name is not None else v)
