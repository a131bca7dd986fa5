"""A strict fake of the ``tensorrt`` module: the surface ``edgekit.trt.trt_api`` names, per version.

``make("10.13.0.35")`` / ``make("11.4.0.106")`` / ``make("8.6.1")`` returns a module object. What
a version does not have is absent (reading it raises AttributeError; the classes use __slots__,
so setting a removed attribute such as ``config.int8_calibrator`` on 11 raises too). Every call
that matters is appended to ``module.calls`` as ``(name, args)`` so tests can assert the exact
API use. The parser reads the real ONNX (its inputs); the built "plan" is bytes that the fake
runtime deserialises into an engine whose context computes, through ``fakes.cudart``'s memory,
the per-channel mean of its input (so the runner's plumbing is checked end to end).
"""

from __future__ import annotations

import enum
import json
import types
from typing import Any

import numpy as np

from fakes import cudart

# A real engine-inspector layer (format strings as TensorRT prints them, DETAILED verbosity):
# "Thirty-two wide channel vectorized row major Int8 format." is from TensorRT's developer guide
# (engine inspector section); "Row major linear FP16 format" and "Float" from user reports.
INSPECTOR_LAYERS = [
    {"Name": "conv1 + relu", "LayerType": "CaskConvolution",
     "Inputs": [{"Name": "input", "Format/Datatype": "Row major linear FP16 format"}],
     "Outputs": [{"Name": "t0", "Format/Datatype":
                  "Thirty-two wide channel vectorized row major Int8 format."}]},
    {"Name": "Reformatting CopyNode for Input Tensor 0 to pool", "LayerType": "Reformat",
     "Inputs": [{"Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format."}],
     "Outputs": [{"Format/Datatype": "Row major linear FP16 format"}]},
    {"Name": "pool", "LayerType": "CaskPooling",
     "Inputs": [{"Format/Datatype": "Row major linear FP16 format"}],
     "Outputs": [{"Format/Datatype": "Row major linear FP16 format"}]},
    {"Name": "fc", "LayerType": "CaskGemm",
     "Inputs": [{"Format/Datatype": "Row major linear FP16 format"}],
     "Outputs": [{"Format/Datatype": "Float"}]},
]


def make(version: str = "10.13.0.35", *, dla_cores: int = 0, parse_errors: int = 0,
         build_fails: bool = False, io_dtype: str = "FLOAT") -> Any:
    major = int(version.split(".")[0])
    m = types.ModuleType("tensorrt")
    m.__version__ = version  # type: ignore[attr-defined]
    calls: list[tuple[str, Any]] = []
    m.calls = calls  # type: ignore[attr-defined]

    class Logger:
        __slots__ = ("severity",)
        WARNING, VERBOSE = 2, 4

        def __init__(self, severity: int) -> None:
            self.severity = severity

    flags = {"STRONGLY_TYPED": 1} if major == 10 else {}
    if major < 11:
        flags["EXPLICIT_BATCH"] = 0
    m.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag",  # type: ignore
                                                   flags or {"_NONE": 99})
    bflags = ["GPU_FALLBACK", "VERSION_COMPATIBLE", "DEBUG"]
    if major < 11:
        bflags += ["FP16", "INT8", "BF16"]
    m.BuilderFlag = enum.Enum("BuilderFlag", bflags)  # type: ignore[attr-defined]
    m.MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE"])  # type: ignore[attr-defined]
    m.ProfilingVerbosity = enum.Enum("ProfilingVerbosity", ["LAYER_NAMES_ONLY", "DETAILED"])  # type: ignore[attr-defined]
    m.LayerInformationFormat = enum.Enum("LayerInformationFormat", ["ONELINE", "JSON"])  # type: ignore[attr-defined]
    m.DeviceType = enum.Enum("DeviceType", ["GPU", "DLA"])  # type: ignore[attr-defined]
    m.HardwareCompatibilityLevel = enum.Enum(  # type: ignore[attr-defined]
        "HardwareCompatibilityLevel", ["NONE", "AMPERE_PLUS", "SAME_COMPUTE_CAPABILITY"])
    m.TensorIOMode = enum.Enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])  # type: ignore[attr-defined]
    m.DataType = enum.Enum("DataType", ["FLOAT", "HALF", "INT8", "INT32", "BF16"])  # type: ignore[attr-defined]

    if major < 11:
        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                calls.append(("calibrator", None))

        m.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2  # type: ignore[attr-defined]

    class Tensor:
        __slots__ = ("name", "shape")

        def __init__(self, name: str, shape: list[int]) -> None:
            self.name, self.shape = name, shape

    class Network:
        __slots__ = ("flags", "inputs")

        def __init__(self, flags: int) -> None:
            self.flags, self.inputs = flags, []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

    class ParserError:
        __slots__ = ("i",)

        def __init__(self, i: int) -> None:
            self.i = i

        def desc(self) -> str:
            return f"No importer registered for op: FancyOp{self.i}"

        def node(self) -> int:
            return 10 + self.i

        def node_name(self) -> str:
            return f"/blocks.{self.i}/FancyOp"

        def node_operator(self) -> str:
            return f"FancyOp{self.i}"

    class OnnxParser:
        __slots__ = ("network",)

        def __init__(self, network: Network, logger: Logger) -> None:
            self.network = network

        @property
        def num_errors(self) -> int:
            return parse_errors

        def parse_from_file(self, path: str) -> bool:
            import onnx

            calls.append(("parse_from_file", path))
            g = onnx.load(path, load_external_data=False).graph
            inits = {i.name for i in g.initializer}
            for v in g.input:
                if v.name not in inits:
                    dims = [d.dim_value if d.HasField("dim_value") else -1
                            for d in v.type.tensor_type.shape.dim]
                    self.network.inputs.append(Tensor(v.name, dims))
            return parse_errors == 0

        def get_error(self, i: int) -> ParserError:
            return ParserError(i)

    class Profile:
        __slots__ = ("shapes",)

        def __init__(self) -> None:
            self.shapes: dict[str, Any] = {}

        def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:
            calls.append(("set_shape", (name, tuple(min), tuple(opt), tuple(max))))
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class TimingCache:
        __slots__ = ("data",)

        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return b"TIMING:" + self.data

    config_slots = ["builder_optimization_level", "profiling_verbosity", "default_device_type",
                    "DLA_core", "hardware_compatibility_level", "profiles", "cache", "flags",
                    "pools"]
    if major < 11:
        config_slots.append("int8_calibrator")

    class BuilderConfig:
        __slots__ = tuple(config_slots)

        def __init__(self) -> None:
            self.flags: set[Any] = set()
            self.pools: dict[Any, int] = {}
            self.profiles: list[Profile] = []
            self.cache = None

        def __setattr__(self, name: str, value: Any) -> None:
            if name not in ("flags", "pools", "profiles", "cache"):
                calls.append(("config." + name, value))
            object.__setattr__(self, name, value)

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls.append(("set_memory_pool_limit", (pool, size)))
            self.pools[pool] = size

        def set_flag(self, flag: Any) -> None:
            calls.append(("set_flag", flag))
            self.flags.add(flag)

        if major < 11:
            def set_calibration_profile(self, p: Profile) -> bool:
                calls.append(("set_calibration_profile", p.shapes))
                return True

        def add_optimization_profile(self, p: Profile) -> int:
            self.profiles.append(p)
            return len(self.profiles) - 1

        def create_timing_cache(self, data: bytes) -> TimingCache:
            calls.append(("create_timing_cache", bytes(data)))
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self.cache  # type: ignore[return-value]

    class Builder:
        __slots__ = ("logger",)
        num_DLA_cores = dla_cores

        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def create_network(self, flags: int) -> Network:
            calls.append(("create_network", flags))
            return Network(flags)

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> Any:
            calls.append(("build_serialized_network", None))
            if build_fails:
                return None
            prof = config.profiles[0].shapes if config.profiles else {}
            inputs = [(t.name, t.shape, prof.get(t.name)) for t in network.inputs]
            return b"FAKEPLAN" + json.dumps({"version": version, "inputs": inputs}).encode()

    class Inspector:
        __slots__ = ("execution_context",)

        def __init__(self) -> None:
            self.execution_context = None

        def get_engine_information(self, fmt: Any) -> str:
            calls.append(("get_engine_information", fmt))
            return json.dumps({"Layers": INSPECTOR_LAYERS, "Bindings": ["input", "logits"]})

    class Context:
        __slots__ = ("engine", "shapes", "addresses")

        def __init__(self, engine: Engine) -> None:
            self.engine, self.shapes, self.addresses = engine, {}, {}

        def set_input_shape(self, name: str, shape: Any) -> bool:
            lo, _, hi = self.engine.profile or ((), (), ())
            shape = tuple(int(d) for d in shape)
            if lo and any(a < b or a > c for a, b, c in zip(shape, lo, hi, strict=False)):
                return False  # what TensorRT does outside the profile
            self.shapes[name] = shape
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            if name == "logits":
                return (self.shapes[self.engine.input_name][0], 3)
            return self.shapes[name]

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            self.addresses[name] = ptr
            return True

        def execute_async_v3(self, stream: int) -> bool:
            if not isinstance(stream, int):  # TensorRT's binding takes the raw handle only
                raise TypeError("execute_async_v3(): incompatible function arguments")
            def run() -> None:
                shape = self.shapes[self.engine.input_name]
                x = cudart.read(self.addresses[self.engine.input_name], shape, np.float32)
                y = x.reshape(shape[0], shape[1], -1).mean(axis=2).astype(np.float32)
                cudart.write(self.addresses["logits"], y)

            calls.append(("execute_async_v3", None))
            cudart.enqueue(stream, run)
            return True

    class Engine:
        __slots__ = ("input_name", "input_shape", "profile", "device_memory_size_v2") + (
            ("device_memory_size",) if major < 11 else ())

        def __init__(self, meta: dict[str, Any]) -> None:
            name, shape, prof = meta["inputs"][0]
            self.input_name, self.input_shape, self.profile = name, shape, prof
            self.device_memory_size_v2 = 1 << 20
            if major < 11:
                self.device_memory_size = 1 << 20

        num_io_tensors = 2

        def get_tensor_name(self, i: int) -> str:
            return [self.input_name, "logits"][i]

        def get_tensor_mode(self, name: str) -> Any:
            return m.TensorIOMode.INPUT if name == self.input_name else m.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> Any:
            return getattr(m.DataType, io_dtype)

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return tuple(self.input_shape) if name == self.input_name else (-1, 3)

        def get_tensor_profile_shape(self, name: str, profile: int) -> Any:
            return self.profile

        def create_execution_context(self) -> Context:
            return Context(self)

        def create_engine_inspector(self) -> Inspector:
            return Inspector()

    class Runtime:
        __slots__ = ("logger", "engine_host_code_allowed")

        def __init__(self, logger: Logger) -> None:
            self.logger, self.engine_host_code_allowed = logger, False

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            calls.append(("deserialize_cuda_engine", len(data)))
            if not data.startswith(b"FAKEPLAN"):
                return None
            return Engine(json.loads(data[len(b"FAKEPLAN"):]))

    for cls in (Logger, Builder, OnnxParser, Runtime):
        setattr(m, cls.__name__, cls)
    return m
