"""Runners: one module per runtime behind one protocol, and the registry (STYLE.md §1).

A runner is a context manager (Polygraphy's loader/runner split): ``__enter__`` allocates
(session, context, buffers), ``__exit__`` frees; ``input_spec()`` names the inputs and
``infer(feeds)`` returns the outputs. Building never happens in a runner. The registry maps a
key to ``"module:attr"``, resolved on use, so importing this package imports nothing heavy.
Adding a backend is one module and one line in REGISTRY and CAPABILITIES.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import numpy as np

from edgekit.errors import BackendUnavailable, ConfigError


class Backend(str, enum.Enum):
    ORT = "ort"
    TORCH = "torch"
    TENSORRT = "tensorrt"


class Device(str, enum.Enum):
    CPU = "cpu"
    CUDA = "cuda"


class Dtype(str, enum.Enum):
    """Compute precision of the torch runner (ONNX and engines carry their own)."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class Provider(str, enum.Enum):
    """ONNX Runtime execution provider; ``auto`` follows --device."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]  # a str is a dynamic dimension's name
    dtype: str  # numpy dtype name

    @property
    def static_batch(self) -> int | None:
        d = self.shape[0] if self.shape else None
        return d if isinstance(d, int) and d > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class OrtSettings:
    """ONNX Runtime session settings that --tune searches (None: ORT's default)."""

    intra_threads: int = 0
    execution_mode: str = "sequential"  # sequential | parallel
    graph_optimization: str = "all"  # disable | basic | extended | all

    def to_dict(self) -> dict[str, Any]:
        return {"intra_threads": self.intra_threads, "execution_mode": self.execution_mode,
                "graph_optimization": self.graph_optimization}


@dataclass
class RunnerOptions:
    device: Device = Device.CPU
    threads: int = 0  # 0: the runtime's default
    dtype: Dtype = Dtype.FP32  # torch only
    cuda_graphs: bool = False  # torch only
    compile: bool = False  # torch only
    provider: Provider = Provider.AUTO  # ort only
    ort: OrtSettings | None = None  # ort only; None: defaults (threads from `threads`)
    source: Any = None  # torch only: edgekit.sources.Options for a source spec
    input_size: tuple[int, int] | None = None  # torch only: H, W instead of the model's default


@dataclass(frozen=True)
class Capabilities:
    """What a backend takes, checked before any work (STYLE.md rule 5)."""

    artifacts: frozenset[str]  # onnx | source | engine
    devices: frozenset[Device]
    dtypes: frozenset[Dtype] = frozenset({Dtype.FP32})
    tunable: bool = False
    extra: str = ""  # the pip extra that provides it
    notes: tuple[str, ...] = field(default=())


class Runner(Protocol):
    """The one interface every runtime implements."""

    def __enter__(self) -> Runner: ...

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def input_spec(self) -> list[TensorSpec]: ...

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def settings(self) -> dict[str, Any]:
        """What actually ran: providers, threads, precision, graphs (recorded with results)."""
        ...

    def split_ms(self, feeds: dict[str, np.ndarray], iterations: int) -> dict[str, float] | None:
        """Median host-to-device / compute / device-to-host ms for GPU runners, else None."""
        ...

    def gpu_peak_mb(self) -> float | None: ...

    def sync(self) -> None:
        """Wait for queued device work (a no-op on the CPU)."""
        ...


REGISTRY: dict[Backend, str] = {
    Backend.ORT: "edgekit.backends.ort:OrtRunner",
    Backend.TORCH: "edgekit.backends.pt:TorchRunner",
    Backend.TENSORRT: "edgekit.backends.trt:TrtRunner",
}

CAPABILITIES: dict[Backend, Capabilities] = {
    Backend.ORT: Capabilities(frozenset({"onnx"}), frozenset(Device), tunable=True,
                              extra="onnxruntime (CPU) or edgekit[gpu] (CUDA, TensorRT EP)"),
    Backend.TORCH: Capabilities(frozenset({"source"}), frozenset(Device), frozenset(Dtype),
                                extra="torch", notes=("the reference other backends are "
                                                      "compared with",)),
    Backend.TENSORRT: Capabilities(frozenset({"engine"}), frozenset({Device.CUDA}),
                                   extra="edgekit[trt]"),
}


def check(backend: Backend, artifact_kind: str, opts: RunnerOptions) -> None:
    """Refuse a request the backend cannot serve, before any work."""
    cap = CAPABILITIES[backend]
    if artifact_kind not in cap.artifacts:
        what = {"onnx": "an .onnx file", "source": "a model spec", "engine": "a TensorRT engine"}
        takes = " or ".join(what[a] for a in sorted(cap.artifacts))
        hint = {"onnx": "use --backend ort", "source": "use --backend torch",
                "engine": "use --backend tensorrt"}[artifact_kind]
        raise ConfigError(f"--backend {backend.value} takes {takes}, not {what[artifact_kind]}",
                          hint)
    if opts.device not in cap.devices:
        raise ConfigError(f"--backend {backend.value} does not run on --device "
                          f"{opts.device.value}",
                          f"use --device {' or '.join(sorted(d.value for d in cap.devices))}")
    if opts.dtype not in cap.dtypes:
        raise ConfigError(f"--dtype {opts.dtype.value} applies to --backend torch only",
                          "the .onnx or engine carries its own precision; drop --dtype")
    if backend is not Backend.TORCH and opts.compile:
        raise ConfigError("--compile applies to --backend torch only",
                          "drop it, or use --backend torch with a model spec")
    if backend not in (Backend.TORCH, Backend.TENSORRT) and opts.cuda_graphs:
        raise ConfigError("--cuda-graphs applies to --backend torch and tensorrt",
                          "drop it: ONNX Runtime captures graphs through its own provider options")
    if backend is not Backend.TORCH and opts.input_size:
        raise ConfigError("--input-size applies to --backend torch only",
                          "an .onnx or engine has its input size; re-export to change it")
    if backend is not Backend.ORT and opts.provider is not Provider.AUTO:
        raise ConfigError("--provider applies to --backend ort only", "drop --provider")
    if opts.cuda_graphs and opts.device is not Device.CUDA:
        raise ConfigError("--cuda-graphs needs --device cuda", "add --device cuda")


PRELOAD: dict[Backend, tuple[str, ...]] = {Backend.ORT: ("onnxruntime",),
                                           Backend.TORCH: ("torch", "torchvision"),
                                           Backend.TENSORRT: ("tensorrt",)}


def preload(backend: Backend) -> None:
    """Import a backend's runtime now (so its import is not counted as the model's memory)."""
    for name in PRELOAD[backend]:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the runner raises BackendUnavailable with the install hint


def runner(backend: Backend, target: Any, opts: RunnerOptions) -> Runner:
    """The runner for ``target`` (a path, or a source spec for torch); not yet entered."""
    ref = REGISTRY.get(backend)
    if ref is None:
        raise BackendUnavailable(f"the {backend.value} runner is not part of this edgekit "
                                 "release", "use --backend ort or --backend torch")
    module, _, attr = ref.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(target, opts)
