"""A strict fake of the ``tensorrt`` module: the surface ``edgekit.trt.trt_api`` names, per version.

``make("10.13.0.35")`` / ``make("10.3.0.26")`` / ``make("11.4.0.106")`` / ``make("8.6.1.6")``
returns a module object. What a release does not have is absent, as in its Python bindings at the
release tag (``fakes/trt_versions.py`` lists them with their sources): reading it raises
AttributeError, and the classes use __slots__, so setting a removed attribute such as
``config.int8_calibrator`` on 11 raises too. Every call that matters is appended to
``module.calls`` as ``(name, args)``.

It fails where the real one does (``fakes/trt_build.py``): ``build_serialized_network`` returns
None for DLA with a dynamic profile or without FP16/INT8, and for Q/DQ without the INT8 flag on
8.6; it drives the calibrator as TensorRT's trampoline does; the engine inspector honours
``profiling_verbosity`` and reports per-layer precision from the flags and the ONNX's types; a
version-compatible plan needs ``engine_host_code_allowed``, a plan with plugins needs
``init_libnvinfer_plugins``, a plan from another version (not version-compatible) does not
deserialise; ``set_timing_cache`` returns False for another GPU's cache;
``execute_async_v3`` returns False without shapes or addresses, invalidates a capture on a
context's first run of a shape, and ``enqueue_fails_in_capture=True`` makes it return False in
capture. The engine's context computes, through ``fakes.cudart``'s memory, the per-channel mean
of its input, so the runner's plumbing is checked end to end.
"""

from __future__ import annotations

import json
import types
from typing import Any

import numpy as np

from support.fakes import cudart, trt_build, trt_versions


def make(version: str = "10.13.0.35", *, dla_cores: int = 0, parse_errors: int = 0,
         build_fails: bool = False, io_dtype: str = "FLOAT", plugins: bool = False,
         enqueue_fails_in_capture: bool = False) -> Any:
    v = trt_versions.parse(version)
    m = types.ModuleType("tensorrt")
    m.__version__ = version  # type: ignore[attr-defined]
    calls: list[tuple[str, Any]] = []
    m.calls = calls  # type: ignore[attr-defined]
    state = {"plugins": False}
    trt_versions.add_enums(m, v)

    def init_libnvinfer_plugins(logger: Any, namespace: str) -> bool:
        calls.append(("init_libnvinfer_plugins", namespace))
        state["plugins"] = True
        return True

    m.init_libnvinfer_plugins = init_libnvinfer_plugins  # type: ignore[attr-defined]

    class Logger:
        __slots__ = ("severity",)
        WARNING, VERBOSE = 2, 4

        def __init__(self, severity: int) -> None:
            self.severity = severity

    if v < (11,):
        m.IInt8EntropyCalibrator2 = trt_build.calibrator_base(calls)  # type: ignore[attr-defined]

    Network, OnnxParser = trt_build.network_classes(m, v, calls, parse_errors)
    m._Network = Network  # type: ignore[attr-defined]
    Builder = trt_build.builder_class(m, v, calls, dla_cores, build_fails, plugins)

    class Inspector:
        __slots__ = ("execution_context", "engine")

        def __init__(self, engine: Engine) -> None:
            self.execution_context, self.engine = None, engine

        def get_engine_information(self, fmt: Any) -> str:
            calls.append(("get_engine_information", fmt))
            return trt_build.engine_information(m, self.engine.meta)

    class Context:
        __slots__ = ("engine", "shapes", "addresses", "ran")

        def __init__(self, engine: Engine) -> None:
            self.engine, self.shapes, self.addresses, self.ran = engine, {}, {}, set()

        def set_input_shape(self, name: str, shape: Any) -> bool:
            shape = tuple(int(d) for d in shape)
            lo, _, hi = self.engine.profile or (self.engine.input_shape,) * 3
            if len(shape) != len(lo) or any(a < b or a > c for a, b, c in zip(
                    shape, lo, hi, strict=True)):
                return False  # what TensorRT does outside the profile (or off a static shape)
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
            name = self.engine.input_name
            if name not in self.shapes or set(self.addresses) != {name, "logits"}:
                return False
            calls.append(("execute_async_v3", None))
            shape = self.shapes[name]
            if cudart.capturing(stream):
                if enqueue_fails_in_capture:
                    return False  # trtexec's "case 2": no error, an incomplete graph
                if shape not in self.ran:  # first run allocates: not capturable
                    cudart.invalidate_capture(stream)
            self.ran.add(shape)
            src, dst = self.addresses[name], self.addresses["logits"]
            u8 = self.engine.input_dtype == "UINT8"  # N x H x W x 3 pixels (fused preprocessing)

            def run() -> None:
                x = cudart.read(src, shape, np.uint8 if u8 else np.float32)
                per_channel = (x.reshape(shape[0], -1, shape[-1]).mean(axis=1) if u8 else
                               x.reshape(shape[0], shape[1], -1).mean(axis=2))
                cudart.write(dst, per_channel.astype(np.float32))

            cudart.enqueue(stream, run)
            return True

    engine_slots = ("input_name", "input_shape", "profile", "meta", "input_dtype")
    if v >= (10, 1):
        engine_slots += ("device_memory_size_v2",)
    if v < (11,):
        engine_slots += ("device_memory_size",)

    class Engine:
        __slots__ = engine_slots

        def __init__(self, meta: dict[str, Any]) -> None:
            name, shape, prof, dtype = meta["inputs"][0]
            self.input_name, self.input_shape, self.profile = name, shape, prof
            self.input_dtype = dtype
            self.meta = meta
            if v >= (10, 1):
                self.device_memory_size_v2 = 1 << 20
            if v < (11,):
                self.device_memory_size = 1 << 20

        num_io_tensors = 2

        def get_tensor_name(self, i: int) -> str:
            return [self.input_name, "logits"][i]

        def get_tensor_mode(self, name: str) -> Any:
            return m.TensorIOMode.INPUT if name == self.input_name else m.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> Any:
            if name == self.input_name and self.input_dtype == "UINT8":
                return m.DataType.UINT8
            return getattr(m.DataType, io_dtype)

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return tuple(self.input_shape) if name == self.input_name else (-1, 3)

        def get_tensor_profile_shape(self, name: str, profile: int) -> Any:
            return self.profile

        def create_execution_context(self) -> Context:
            return Context(self)

        def create_engine_inspector(self) -> Inspector:
            return Inspector(self)

    class Runtime:
        __slots__ = ("logger", "engine_host_code_allowed", "DLA_core")

        def __init__(self, logger: Logger) -> None:
            self.logger, self.engine_host_code_allowed, self.DLA_core = logger, False, -1

        def __setattr__(self, name: str, value: Any) -> None:
            if name != "logger":
                calls.append(("runtime." + name, value))
            object.__setattr__(self, name, value)

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            calls.append(("deserialize_cuda_engine", len(data)))
            if not data.startswith(b"FAKEPLAN"):
                return None
            meta = json.loads(data[len(b"FAKEPLAN"):])
            if meta["version"] != ".".join(map(str, v)) and not meta["version_compatible"]:
                return None  # a plan from another TensorRT version
            if meta["version_compatible"] and not self.engine_host_code_allowed:
                return None  # "engine_host_code_allowed must be set" (TensorRT logs it)
            if meta["plugins"] and not state["plugins"]:
                return None  # the plugin creator is not registered
            return Engine(meta)

    for cls in (Logger, Builder, OnnxParser, Runtime):
        setattr(m, cls.__name__, cls)
    return m
