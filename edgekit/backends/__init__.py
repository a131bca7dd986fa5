"""Runners: one module per runtime, one ``BackendSpec`` row per runtime (ARCHITECTURE.md).

A runner is a context manager (Polygraphy's loader/runner split): ``__enter__`` allocates
(session, context, buffers), ``__exit__`` frees; ``input_spec()`` names the inputs and
``infer(feeds)`` returns the outputs. Building never happens in a runner. ``RunnerBase`` gives
every optional fact a default, so callers never probe a runner with ``hasattr``.

**Adding a backend is one module and one row in ``REGISTRY``** (a test registers a toy backend
that way and profiles through it). The row holds everything the rest of edgekit asks about a
runtime: what it takes, where it runs, the precisions it computes in and the ones a sweep gives
it, which runner options it honours, the pip extra, what to preload. ``"module:attr"`` strings
are resolved on use, so importing this package imports nothing heavy.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any

import numpy as np

from edgekit.errors import BackendUnavailable, ConfigError
from edgekit.precision import Precision

ARTIFACT_KINDS = {"onnx": "an .onnx file", "source": "a model spec", "engine": "a TensorRT engine"}
# runner options a backend may honour, with the flag that sets each (checked by `check`)
OPTION_FLAGS = {"compile": "--compile", "cuda_graphs": "--cuda-graphs",
                "input_size": "--input-size", "provider": "--provider", "tune": "--tune",
                "ov_device": "--ov-device"}


class Device(str, enum.Enum):
    CPU = "cpu"
    CUDA = "cuda"


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


@dataclass(frozen=True, kw_only=True)
class OrtSettings:
    """ONNX Runtime session settings that --tune searches (0 / defaults: ORT's own)."""

    intra_threads: int = 0
    execution_mode: str = "sequential"  # sequential | parallel
    graph_optimization: str = "all"  # disable | basic | extended | all

    def to_dict(self) -> dict[str, Any]:
        return {"intra_threads": self.intra_threads, "execution_mode": self.execution_mode,
                "graph_optimization": self.graph_optimization}


@dataclass(frozen=True, kw_only=True)
class OvSettings:
    """OpenVINO compile properties that --tune searches (0: OpenVINO's choice for the hint)."""

    threads: int = 0  # INFERENCE_NUM_THREADS
    streams: int = 0  # NUM_STREAMS
    hint: str = "latency"  # PERFORMANCE_HINT: latency | throughput

    def to_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "streams": self.streams, "hint": self.hint}


@dataclass(frozen=True, kw_only=True)
class TuneSpace:
    """What --tune searches for one runner: a coordinate search from ``start`` (the runtime's
    defaults and the user's --threads) along each axis in turn; the chosen record goes into
    ``RunnerOptions.<field>``."""

    field: str  # the RunnerOptions field that takes the settings record ("ort", "openvino")
    start: Any  # a frozen settings record with ``to_dict()``
    axes: tuple[tuple[str, tuple[Any, ...]], ...]  # the record's field -> values to try


@dataclass(kw_only=True)
class RunnerOptions:
    device: Device = Device.CPU
    threads: int = 0  # 0: the runtime's default
    dtype: Precision = Precision.FP32  # compute precision, for backends whose row lists dtypes
    cuda_graphs: bool = False
    compile: bool = False
    provider: Provider = Provider.AUTO  # ort only
    ort: OrtSettings | None = None  # ort only; None: defaults (threads from `threads`)
    openvino: OvSettings | None = None  # openvino only; None: defaults (threads from `threads`)
    ov_device: str = "CPU"  # openvino only: its device name (CPU, GPU, NPU, GPU.1, ...)
    source: Any = None  # torch only: edgekit.sources.Options for a source spec
    input_size: tuple[int, int] | None = None  # torch only: H, W instead of the model's default


@dataclass(frozen=True, kw_only=True)
class BackendSpec:
    """Everything edgekit asks about one runtime: one row per backend."""

    name: str  # the --backend value
    runner: str  # "module:attr" of the runner class, resolved on use
    artifacts: frozenset[str]  # what it runs: onnx | source | engine
    devices: frozenset[Device]
    dtypes: frozenset[Precision] = frozenset({Precision.FP32})  # --dtype values it computes in
    sweep: frozenset[Precision] = frozenset()  # precisions a sweep gives it
    options: frozenset[str] = frozenset()  # OPTION_FLAGS it honours
    default_for: frozenset[str] = frozenset()  # artifact kinds it profiles by default
    in_default_sweep: bool = False  # a sweep without --backends runs it where installed
    extra: str = ""  # how to install it
    preload: tuple[str, ...] = ()  # modules imported before the peak-RSS baseline
    notes: tuple[str, ...] = field(default=())

    @property
    def tunable(self) -> bool:
        return "tune" in self.options

    def installed(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.preload)

    def sweep_target(self, precision: Precision) -> tuple[Precision, Precision]:
        """For a sweep variant: (precision of the artifact to run, --dtype to run it in). A
        precision the runtime computes in (torch fp16, OpenVINO bf16) runs the FP32 artifact; a
        pair (OpenVINO's int8-bf16) runs its artifact in its dtype; any other is an artifact of
        that precision (INT8 ONNX) run as it is."""
        if precision in self.dtypes:
            return Precision.FP32, precision
        return precision.parts()


REGISTRY: dict[str, BackendSpec] = {spec.name: spec for spec in (
    BackendSpec(name="ort", runner="edgekit.backends.ort:OrtRunner", artifacts=frozenset({"onnx"}),
                devices=frozenset(Device), options=frozenset({"provider", "tune"}),
                sweep=frozenset({Precision.FP32, Precision.FP16, Precision.INT8}),
                default_for=frozenset({"onnx"}), in_default_sweep=True,
                extra="onnxruntime (CPU) or edgekit[gpu] (CUDA, TensorRT EP)",
                preload=("onnxruntime",)),
    BackendSpec(name="torch", runner="edgekit.backends.pt:TorchRunner",
                artifacts=frozenset({"source"}), devices=frozenset(Device),
                dtypes=frozenset({Precision.FP32, Precision.FP16, Precision.BF16}),
                sweep=frozenset({Precision.FP32, Precision.FP16, Precision.BF16}),
                options=frozenset({"compile", "cuda_graphs", "input_size"}),
                default_for=frozenset({"source"}), extra="edgekit[export] (torch)",
                preload=("torch", "torchvision"),
                notes=("the reference other backends are compared with",)),
    BackendSpec(name="tensorrt", runner="edgekit.backends.trt:TrtRunner",
                artifacts=frozenset({"engine"}), devices=frozenset({Device.CUDA}),
                options=frozenset({"cuda_graphs"}), default_for=frozenset({"engine"}),
                extra="edgekit[trt-cu12] or edgekit[trt-cu13]", preload=("tensorrt",),
                notes=("engines are built by `edgekit build`, not by a sweep",)),
    BackendSpec(name="openvino", runner="edgekit.backends.openvino:OpenVinoRunner",
                artifacts=frozenset({"onnx"}), devices=frozenset({Device.CPU}),
                dtypes=frozenset({Precision.FP32, Precision.BF16}),
                sweep=frozenset({Precision.FP32, Precision.BF16, Precision.INT8,
                                 Precision.INT8_BF16}),
                options=frozenset({"tune", "ov_device"}), in_default_sweep=True,
                extra="edgekit[openvino]", preload=("openvino",),
                notes=("FP32 artifacts run with the f32 inference precision; bf16 only as "
                       "--dtype bf16 (an INT8 artifact: int8-bf16)",)),
)}


def get(name: str) -> BackendSpec:
    """The row for ``--backend NAME``; an unknown name lists the known ones."""
    spec = REGISTRY.get(str(name))
    if spec is None:
        import difflib

        close = difflib.get_close_matches(str(name), REGISTRY, n=2)
        raise ConfigError(f"unknown backend '{name}'",
                          (f"did you mean {' or '.join(close)}? " if close else "") +
                          f"backends: {', '.join(REGISTRY)}")
    return spec


def default_for(artifact_kind: str) -> BackendSpec:
    for spec in REGISTRY.values():
        if artifact_kind in spec.default_for:
            return spec
    raise ConfigError(f"no backend runs {ARTIFACT_KINDS[artifact_kind]} by default",
                      "name one with --backend")


def default_sweep() -> tuple[BackendSpec, ...]:
    """Every installed runtime marked for the default sweep (ONNX Runtime at least)."""
    return tuple(s for s in REGISTRY.values() if s.in_default_sweep and s.installed())


def _takers(option: str) -> str:
    return " and ".join(s.name for s in REGISTRY.values() if option in s.options) or "none"


def check(spec: BackendSpec, artifact_kind: str, opts: RunnerOptions, tune: bool = False) -> None:
    """Refuse a request the backend cannot serve, before any work."""
    if artifact_kind not in spec.artifacts:
        takes = " or ".join(ARTIFACT_KINDS[a] for a in sorted(spec.artifacts))
        users = [s.name for s in REGISTRY.values() if artifact_kind in s.artifacts]
        raise ConfigError(f"--backend {spec.name} takes {takes}, not "
                          f"{ARTIFACT_KINDS[artifact_kind]}",
                          f"use --backend {' or '.join(users)}" if users else "")
    if opts.device not in spec.devices:
        raise ConfigError(f"--backend {spec.name} does not run on --device {opts.device.value}",
                          f"use --device {' or '.join(sorted(d.value for d in spec.devices))}")
    if opts.dtype not in spec.dtypes:
        takers = [s.name for s in REGISTRY.values() if opts.dtype in s.dtypes]
        raise ConfigError(f"--backend {spec.name} does not compute in --dtype {opts.dtype.value}",
                          "an .onnx or engine carries its own precision; drop --dtype" +
                          (f" (--dtype {opts.dtype.value}: {', '.join(takers)})" if takers else ""))
    asked = {"compile": opts.compile, "cuda_graphs": opts.cuda_graphs,
             "input_size": bool(opts.input_size), "provider": opts.provider is not Provider.AUTO,
             "tune": tune, "ov_device": opts.ov_device != "CPU"}
    for option, on in asked.items():
        if on and option not in spec.options:
            raise ConfigError(f"{OPTION_FLAGS[option]} applies to --backend {_takers(option)} "
                              "only", f"drop {OPTION_FLAGS[option]} with --backend {spec.name}")
    if opts.cuda_graphs and opts.device is not Device.CUDA:
        raise ConfigError("--cuda-graphs needs --device cuda", "add --device cuda")


def preload(spec: BackendSpec) -> None:
    """Import a backend's runtime now (so its import is not counted as the model's memory)."""
    for name in spec.preload:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the runner raises BackendUnavailable with the install hint


class RunnerBase:
    """The one interface every runtime implements. Subclasses implement ``__enter__``,
    ``input_spec`` and ``infer``; every other fact has a default here."""

    create_ms: float = 0.0  # session / engine creation time, set by __enter__

    def __enter__(self) -> RunnerBase:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def input_spec(self) -> list[TensorSpec]:
        raise NotImplementedError

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def bind(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        """The timed call on ``feeds``: the inputs bound once, here, so the call does only the
        inference (no input copy, no output conversion); its outputs are checked through
        ``infer`` outside the timed loop. The default calls ``infer``; ``bound`` says how."""
        return partial(self.infer, feeds)

    bound: str = "infer(feeds) per call"  # how ``bind``'s call gets its inputs (recorded)

    def settings(self) -> dict[str, Any]:
        """What actually ran: runtime, providers, threads, precision (recorded with results)."""
        return {}

    def sync(self) -> None:
        """Wait for queued device work (a no-op on the CPU)."""

    def split_ms(self, feeds: dict[str, np.ndarray], iterations: int) -> dict[str, float] | None:
        """Median host-to-device / compute / device-to-host ms for GPU runners, else None."""
        return None

    def gpu_peak_mb(self) -> float | None:
        return None

    def preprocess(self) -> Any:
        """The runner's own preprocessing (edgekit.images.Preprocess), or None: then the
        artifact's manifest says, else the input shape with ImageNet's defaults."""
        return None

    def count_macs(self, x: np.ndarray) -> int | None:
        """MACs of one forward pass where the runner can count them, else None."""
        return None

    def model_info(self) -> dict[str, Any] | None:
        """What the runner knows of the model (a source spec: name, family, params,
        published figures); None for an artifact, whose manifest says."""
        return None

    def tune_space(self) -> TuneSpace | None:
        """The settings --tune searches for this runner (called before ``__enter__``); None:
        not tunable. A row lists "tune" in its options only where this is not None."""
        return None



def runner(spec: BackendSpec, target: Any, opts: RunnerOptions) -> RunnerBase:
    """The runner for ``target`` (a path, or a source spec for torch); not yet entered."""
    module, _, attr = spec.runner.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise BackendUnavailable(f"the {spec.name} runner cannot be imported ({e})",
                                 f"install {spec.extra}") from e
    cls = getattr(mod, attr)
    runner_obj: RunnerBase = cls(target, opts)
    return runner_obj
