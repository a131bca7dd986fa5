"""ONNX Runtime runner: CPU (default), CUDA or TensorRT execution provider.

ONNX Runtime falls back to the CPU without a word when a requested provider cannot load (a
missing CUDA/cuDNN library, a CPU-only wheel). This runner checks the providers the session
actually got and fails clearly instead.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edgekit._lazy import require
from edgekit.backends import (
    Device,
    OrtSettings,
    Provider,
    RunnerBase,
    RunnerOptions,
    TensorSpec,
    TuneSpace,
)
from edgekit.errors import BackendUnavailable, ConfigError, SourceError

_EP = {Provider.CPU: "CPUExecutionProvider", Provider.CUDA: "CUDAExecutionProvider",
       Provider.TENSORRT: "TensorrtExecutionProvider"}
_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
           "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
          "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(uint8)": "uint8",
          "tensor(int8)": "int8", "tensor(bool)": "bool"}


def provider_for(opts: RunnerOptions) -> Provider:
    if opts.provider is Provider.AUTO:
        return Provider.CUDA if opts.device is Device.CUDA else Provider.CPU
    if (opts.provider is Provider.CPU) != (opts.device is Device.CPU):
        raise ConfigError(f"--provider {opts.provider.value} conflicts with --device "
                          f"{opts.device.value}", "drop one of them")
    return opts.provider


class OrtRunner(RunnerBase):
    def __init__(self, path: Path | str, opts: RunnerOptions) -> None:
        self.path = Path(path)
        self.opts = opts
        self.provider = provider_for(opts)
        self.ort_settings = opts.ort or OrtSettings(intra_threads=opts.threads)
        self.session: Any = None
        self.create_ms = 0.0
        self._outputs: list[str] = []
        self._cpu_call, self._cpu_trial = "session.run", ""  # bind's choice on the CPU

    def __enter__(self) -> OrtRunner:
        ort = require("onnxruntime")
        wanted = _EP[self.provider]
        if wanted not in ort.get_available_providers():
            raise BackendUnavailable(
                f"this onnxruntime has no {wanted} (it has {', '.join(ort.get_available_providers())})",
                "pip install \"edgekit[gpu]\" (onnxruntime-gpu) in place of onnxruntime")
        providers = [wanted] + (["CUDAExecutionProvider"] if self.provider is Provider.TENSORRT
                                else []) + (["CPUExecutionProvider"] if wanted !=
                                            "CPUExecutionProvider" else [])
        t0 = time.perf_counter_ns()
        try:
            self.session = ort.InferenceSession(str(self.path), self._session_options(ort),
                                                providers=providers)
        except Exception as e:  # ORT raises its own exception types, by reason
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise SourceError(f"ONNX Runtime cannot load the model ({first})",
                              "check that it is a complete .onnx file; re-export it",
                              path=str(self.path)) from e
        self.create_ms = (time.perf_counter_ns() - t0) / 1e6
        active = self.session.get_providers()
        if wanted not in active:
            raise BackendUnavailable(
                f"ONNX Runtime did not activate {wanted} (active: {', '.join(active)}); it "
                "would have run on the CPU", "check the CUDA/cuDNN (and TensorRT) libraries "
                "that onnxruntime-gpu needs, and the GPU driver")
        self._outputs = [o.name for o in self.session.get_outputs()]
        return self

    def _session_options(self, ort: Any) -> Any:
        s = self.ort_settings
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if s.intra_threads:
            so.intra_op_num_threads = s.intra_threads
        so.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if s.execution_mode == "parallel"
                             else ort.ExecutionMode.ORT_SEQUENTIAL)
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                              _LEVELS[s.graph_optimization])
        return so

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.session = None

    def input_spec(self) -> list[TensorSpec]:
        return [TensorSpec(i.name, tuple(d if isinstance(d, int) else str(d or "?")
                                         for d in i.shape), _TYPES.get(i.type, i.type))
                for i in self.session.get_inputs()]

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._outputs, self.session.run(None, feeds), strict=True))

    @property
    def bound(self) -> str:  # type: ignore[override]
        if self.provider is Provider.CPU:
            return (f"{self._cpu_call} on inputs bound once before the loop, the faster of "
                    f"session.run and run_with_iobinding on these inputs "
                    f"({self._cpu_trial or 'not tried'})")
        return ("session.run_with_iobinding() on inputs copied to the device once before the "
                "loop; outputs left on the device, not converted")

    def bind(self, feeds: dict[str, np.ndarray]) -> Any:
        """CPU: ``session.run`` on the arrays themselves (ONNX Runtime wraps a contiguous array,
        no copy) or ``run_with_iobinding`` on a binding made once, whichever is faster on these
        inputs (``_faster``: it differs by model, a few % either way); GPU providers: IOBinding
        with the inputs on the device, so no H2D copy is timed."""
        fixed = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        ort = require("onnxruntime")
        binding = self.session.io_binding()
        if self.provider is Provider.CPU:
            for name, arr in fixed.items():
                binding.bind_cpu_input(name, arr)
            for o in self._outputs:
                binding.bind_output(o, "cpu")
            return self._faster({"session.run": partial(self.session.run, None, fixed),
                                 "run_with_iobinding": partial(self.session.run_with_iobinding,
                                                               binding)})
        for name, arr in fixed.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr, "cuda", 0))
        for o in self._outputs:
            binding.bind_output(o, "cuda", 0)
        return partial(self.session.run_with_iobinding, binding)

    def _faster(self, calls: dict[str, Any], rounds: int = 3, budget_s: float = 0.3) -> Any:
        """The call with the lower median over ``rounds`` alternating blocks (about
        ``budget_s`` in all, at least 3 calls a block); recorded in ``bound``."""
        from edgekit import timing

        first = timing.sample(next(iter(calls.values())), warmup=2, iterations=3)
        n = max(3, int(budget_s * 1000 / (2 * rounds * max(float(np.median(first)), 1e-3))))
        ms: dict[str, list[np.ndarray]] = {k: [] for k in calls}
        for _ in range(rounds):
            for k, call in calls.items():
                ms[k].append(timing.sample(call, warmup=1, iterations=n))
        med = {k: float(np.median(np.concatenate(v))) for k, v in ms.items()}
        self._cpu_call = min(med, key=lambda k: med[k])
        self._cpu_trial = ", ".join(f"{k} p50 {v:.4g} ms" for k, v in med.items())
        return calls[self._cpu_call]

    def settings(self) -> dict[str, Any]:
        return {"runtime": "onnxruntime", "providers": self.session.get_providers(),
                **self.ort_settings.to_dict()}

    def tune_space(self) -> TuneSpace:
        from edgekit.tune import LEVELS, MODES, thread_counts

        return TuneSpace(field="ort", start=OrtSettings(intra_threads=self.opts.threads),
                         axes=(("graph_optimization", LEVELS),
                               ("intra_threads", tuple(thread_counts())),
                               ("execution_mode", MODES)))

    def split_ms(self, feeds: dict[str, np.ndarray], iterations: int) -> dict[str, float] | None:
        """H2D / compute / D2H through IOBinding, for the CUDA and TensorRT providers."""
        if self.provider is Provider.CPU:
            return None
        ort = require("onnxruntime")
        times: dict[str, list[float]] = {"h2d_ms": [], "compute_ms": [], "d2h_ms": []}
        for _ in range(max(1, iterations)):
            t0 = time.perf_counter_ns()
            on_gpu = {k: ort.OrtValue.ortvalue_from_numpy(v, "cuda", 0) for k, v in feeds.items()}
            t1 = time.perf_counter_ns()
            binding = self.session.io_binding()
            for k, v in on_gpu.items():
                binding.bind_ortvalue_input(k, v)
            for o in self._outputs:
                binding.bind_output(o, "cuda", 0)
            t2 = time.perf_counter_ns()
            self.session.run_with_iobinding(binding)
            binding.synchronize_outputs()
            t3 = time.perf_counter_ns()
            binding.copy_outputs_to_cpu()
            t4 = time.perf_counter_ns()
            times["h2d_ms"].append((t1 - t0) / 1e6)
            times["compute_ms"].append((t3 - t2) / 1e6)
            times["d2h_ms"].append((t4 - t3) / 1e6)
        return {k: round(float(np.median(v)), 4) for k, v in times.items()}

    def gpu_peak_mb(self) -> float | None:
        if self.provider is Provider.CPU:
            return None
        from edgekit.device import nvml_process_mb

        return nvml_process_mb()
