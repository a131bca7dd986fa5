"""The TensorRT surface edgekit uses, in one typed module (TensorRT 8.6, 10.x and 11.x).

``tensorrt`` cannot be installed on our machines and its stubs are unusable by mypy, so this
module names, as Protocols, exactly the attributes and calls edgekit makes; mypy checks edgekit
against them, and ``tests/support/fakes/tensorrt.py`` implements the same surface strictly. Every call
into TensorRT goes through here; the version differences are decided here:

- 8.6: ``EXPLICIT_BATCH`` must be set; no strongly typed networks, so precision comes from
  builder flags only (``engine.py`` sets FP16/INT8 from the ONNX on the default path);
  ``ParserError`` has no ``node_name``/``node_operator``; no ``device_memory_size_v2`` (10.1+).
- 10.x: ``EXPLICIT_BATCH`` is ignored; ``STRONGLY_TYPED`` is opt-in; FP16/INT8/BF16 builder flags
  and calibrators still work but are deprecated (calibrators since 10.1).
- 11.x: every network is strongly typed; the precision flags, calibrators, ``EXPLICIT_BATCH``,
  ``STRONGLY_TYPED`` (as a choice) and ``device_memory_size`` are gone. Precision lives in the
  ONNX: an FP16 ONNX, or INT8 as symmetric per-channel Q/DQ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from edgekit._lazy import require
from edgekit.errors import BackendUnavailable


class Logger(Protocol):
    WARNING: Any
    VERBOSE: Any


class ParserError(Protocol):
    """``node_name()``/``node_operator()`` exist from 9.3 only: read them with ``parser_error``."""

    def desc(self) -> str: ...

    def node(self) -> int: ...


class OnnxParser(Protocol):
    num_errors: int

    def parse_from_file(self, path: str) -> bool: ...

    def get_error(self, index: int) -> ParserError: ...


class Tensor(Protocol):
    name: str
    shape: Sequence[int]


class Layer(Protocol):
    name: str


class Network(Protocol):
    num_inputs: int
    num_layers: int

    def get_input(self, index: int) -> Tensor: ...

    def get_layer(self, index: int) -> Layer: ...


class OptimizationProfile(Protocol):
    def set_shape(self, name: str, min: Sequence[int], opt: Sequence[int],
                  max: Sequence[int]) -> None: ...


class TimingCache(Protocol):
    def serialize(self) -> Any: ...


class BuilderConfig(Protocol):
    builder_optimization_level: int
    profiling_verbosity: Any
    default_device_type: Any
    DLA_core: int
    hardware_compatibility_level: Any
    int8_calibrator: Any

    def set_memory_pool_limit(self, pool: Any, size: int) -> None: ...

    def set_flag(self, flag: Any) -> None: ...

    def can_run_on_DLA(self, layer: Layer) -> bool: ...  # noqa: N802 (TensorRT's name)

    def add_optimization_profile(self, profile: OptimizationProfile) -> int: ...

    def set_calibration_profile(self, profile: OptimizationProfile) -> bool: ...  # < 11

    def create_timing_cache(self, data: bytes) -> TimingCache: ...

    def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool: ...

    def get_timing_cache(self) -> TimingCache: ...


class Builder(Protocol):
    num_DLA_cores: int

    def create_network(self, flags: int) -> Network: ...

    def create_builder_config(self) -> BuilderConfig: ...

    def create_optimization_profile(self) -> OptimizationProfile: ...

    def build_serialized_network(self, network: Network, config: BuilderConfig) -> Any: ...


class EngineInspector(Protocol):
    execution_context: Any

    def get_engine_information(self, fmt: Any) -> str: ...


class ExecutionContext(Protocol):
    def set_input_shape(self, name: str, shape: Sequence[int]) -> bool: ...

    def get_tensor_shape(self, name: str) -> Sequence[int]: ...

    def set_tensor_address(self, name: str, ptr: int) -> bool: ...

    def execute_async_v3(self, stream: int) -> bool: ...


class Engine(Protocol):
    num_io_tensors: int

    def get_tensor_name(self, index: int) -> str: ...

    def get_tensor_mode(self, name: str) -> Any: ...

    def get_tensor_dtype(self, name: str) -> Any: ...

    def get_tensor_shape(self, name: str) -> Sequence[int]: ...

    def get_tensor_profile_shape(self, name: str, profile: int) -> Sequence[Sequence[int]]: ...

    def create_execution_context(self) -> ExecutionContext: ...

    def create_engine_inspector(self) -> EngineInspector: ...


class Runtime(Protocol):
    engine_host_code_allowed: bool
    DLA_core: int

    def deserialize_cuda_engine(self, data: bytes) -> Engine | None: ...


class TensorRT(Protocol):
    """The ``tensorrt`` module as edgekit uses it (attributes present in 10 and 11 unless noted)."""

    __version__: str
    Logger: Any
    Builder: Any
    OnnxParser: Any
    Runtime: Any
    NetworkDefinitionCreationFlag: Any  # EXPLICIT_BATCH (8.6, ignored 10, gone 11), STRONGLY_TYPED
    BuilderFlag: Any  # FP16/INT8/BF16 (gone in 11), GPU_FALLBACK, VERSION_COMPATIBLE
    MemoryPoolType: Any
    ProfilingVerbosity: Any
    LayerInformationFormat: Any
    DeviceType: Any
    HardwareCompatibilityLevel: Any
    TensorIOMode: Any
    IInt8EntropyCalibrator2: Any  # gone in 11

    def init_libnvinfer_plugins(self, logger: Any, namespace: str) -> bool: ...


def load() -> TensorRT:
    """Import tensorrt, or fail in one line naming the extra."""
    try:
        trt: TensorRT = require("tensorrt")
    except BackendUnavailable as e:
        raise BackendUnavailable("TensorRT is not installed",
                                 "pip install \"edgekit[trt-cu12]\" (or [trt-cu13] on a CUDA 13 "
                                 "driver) --extra-index-url https://pypi.nvidia.com (on a Jetson "
                                 "it comes with JetPack)") from e
    return trt


def major(trt: TensorRT) -> int:
    return int(str(trt.__version__).split(".")[0])


def version(trt: TensorRT) -> tuple[int, int, int]:
    """(major, minor, patch) of ``trt.__version__``."""
    parts = [int(p) for p in str(trt.__version__).split(".")[:3] if p.isdigit()]
    return (parts + [0, 0, 0])[0], (parts + [0, 0, 0])[1], (parts + [0, 0, 0])[2]


def parser_error(e: ParserError) -> str:
    """``node N 'name' (Op): desc``; 8.6's ParserError has no node_name/node_operator."""
    name, op = getattr(e, "node_name", None), getattr(e, "node_operator", None)
    where = f"node {e.node()}"
    if name is not None:
        where += f" '{name()}'"
    if op is not None:
        where += f" ({op()})"
    return f"{where}: {e.desc()}"


def has_weak_typing(trt: TensorRT) -> bool:
    """Builder precision flags and calibrators exist (TensorRT < 11)."""
    return major(trt) < 11


def network_flags(trt: TensorRT, strongly_typed: bool) -> int:
    """The create_network flags for this version (see the module docstring)."""
    v = major(trt)
    if v < 10:
        return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if v == 10 and strongly_typed:
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return 0  # 10 weakly typed, or 11 (always strongly typed)


def builder(trt: TensorRT, verbose: bool) -> tuple[Builder, Logger]:
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    return trt.Builder(logger), logger


def parser(trt: TensorRT, network: Network, logger: Logger) -> OnnxParser:
    p: OnnxParser = trt.OnnxParser(network, logger)
    return p


def runtime(trt: TensorRT, logger: Logger) -> Runtime:
    """A Runtime, after registering TensorRT's own plugins (idempotent; Polygraphy calls it
    before every deserialise): engines with plugin layers (8.6's InstanceNorm, NMS, ROIAlign)
    otherwise fail to load in a fresh process."""
    trt.init_libnvinfer_plugins(logger, "")
    r: Runtime = trt.Runtime(logger)
    return r


def device_memory_bytes(engine: Engine) -> int | None:
    """``device_memory_size_v2`` (10.x, 11.x), else ``device_memory_size`` (8.6, 10.x)."""
    for attr in ("device_memory_size_v2", "device_memory_size"):
        v = getattr(engine, attr, None)
        if v is not None:
            return int(v)
    return None


def entropy_calibrator(trt: TensorRT, batches: list[Any], cache: str | None,
                       device_alloc: Any) -> Any:
    """An ``IInt8EntropyCalibrator2`` fed from preprocessed batches (TensorRT < 11 only).

    The subclass is defined here, inside the function, so this module imports without
    tensorrt (ARCHITECTURE.md, rule 3). ``device_alloc(array) -> int`` copies a batch to the GPU.
    """
    from pathlib import Path

    base = trt.IInt8EntropyCalibrator2

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.batches, self.index, self.cache = batches, 0, cache
            self.error: BaseException | None = None

        def get_batch_size(self) -> int:
            return int(batches[0].shape[0]) if batches else 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            """One pointer per name: TensorRT copies len(names) pointers from the list. An
            exception here would be printed and read as end of data, so it is kept and
            re-raised after the build (``error``)."""
            if self.index >= len(self.batches) or self.error is not None:
                return None
            try:
                ptr = device_alloc(self.batches[self.index])
            except BaseException as e:  # noqa: BLE001 (re-raised after the build)
                self.error = e
                return None
            self.index += 1
            return [ptr for _ in names]

        def read_calibration_cache(self) -> bytes | None:
            if self.cache and Path(self.cache).is_file():
                return Path(self.cache).read_bytes()
            return None

        def write_calibration_cache(self, data: Any) -> None:
            if self.cache:
                from edgekit._io import atomic_paths

                with atomic_paths(Path(self.cache)) as (tmp,):
                    tmp.write_bytes(bytes(data))

    return Calibrator()
