"""The fake TensorRT's network, parser, builder and engine information (see ``tensorrt.py``)."""

from __future__ import annotations

import json
import traceback
from typing import Any

from support.fakes import trt_versions

FORMATS = {"int8": "Thirty-two wide channel vectorized row major Int8 format.",
           "fp16": "Row major linear FP16 format", "fp32": "Row major linear FP32 format"}
LAYERS = [("conv1 + relu", "CaskConvolution"), ("pool", "CaskPooling"), ("fc", "CaskGemm")]
NOT_ON_DLA = ("Softmax", "TopK", "NonZero")  # op types the fake's can_run_on_DLA refuses


def calibrator_base(calls: list[tuple[str, Any]]) -> type:
    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            calls.append(("calibrator", None))

    return IInt8EntropyCalibrator2


def run_calibrator(cal: Any, names: list[str], calls: list[tuple[str, Any]]) -> bool:
    """What TensorRT's calibrator trampoline does (pyInt8.cpp@v10.3.0:52-140): read the cache;
    else call get_batch(names) until None/[] (an exception is printed and ends the data), copy
    exactly len(names) pointers, then write the cache. Returns whether any scales exist."""
    cache = cal.read_calibration_cache()
    if cache:
        calls.append(("calibration_cache_read", len(cache)))
        return True
    batches = 0
    while True:
        try:
            ptrs = cal.get_batch(names)
        except Exception:  # noqa: BLE001 (TensorRT prints it and stops)
            traceback.print_exc()
            break
        if not ptrs:
            break
        if len(ptrs) != len(names):
            raise RuntimeError(f"get_batch returned {len(ptrs)} pointers for {len(names)} "
                               "bindings: TensorRT would read past the list")
        batches += 1
    calls.append(("calibrated_batches", batches))
    if batches:
        cal.write_calibration_cache(b"TRT-FAKE-EntropyCalibration2\n")
    return batches > 0


def network_classes(m: Any, v: trt_versions.Version, calls: list[tuple[str, Any]],
                    parse_errors: int) -> tuple[type, type]:
    class Tensor:
        __slots__ = ("name", "shape", "dtype")

        def __init__(self, name: str, shape: list[int], dtype: str = "FLOAT") -> None:
            self.name, self.shape, self.dtype = name, shape, dtype

    class Layer:
        __slots__ = ("name", "type")

        def __init__(self, name: str, op: str) -> None:
            self.name, self.type = name, op

    class Network:
        __slots__ = ("flags", "inputs", "layers", "qdq", "fp16")

        def __init__(self, flags: int) -> None:
            self.flags, self.inputs, self.layers, self.qdq, self.fp16 = flags, [], [], 0, False

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        @property
        def num_layers(self) -> int:
            return len(self.layers)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

        def get_layer(self, i: int) -> Layer:
            return self.layers[i]

    names = trt_versions.parser_error_has_names(v)

    class ParserError:
        __slots__ = ("i",)

        def __init__(self, i: int) -> None:
            self.i = i

        def desc(self) -> str:
            return f"No importer registered for op: FancyOp{self.i}"

        def node(self) -> int:
            return 10 + self.i

        if names:
            def node_name(self) -> str:
                return f"/blocks.{self.i}/FancyOp"

            def node_operator(self) -> str:
                return f"FancyOp{self.i}"

    class OnnxParser:
        __slots__ = ("network",)

        def __init__(self, network: Network, logger: Any) -> None:
            self.network = network

        @property
        def num_errors(self) -> int:
            return parse_errors

        def parse_from_file(self, path: str) -> bool:
            import onnx

            calls.append(("parse_from_file", path))
            g = onnx.load(path, load_external_data=False).graph
            inits = {i.name for i in g.initializer}
            net = self.network
            for val in g.input:
                if val.name not in inits:
                    dims = [d.dim_value if d.HasField("dim_value") else -1
                            for d in val.type.tensor_type.shape.dim]
                    u8 = val.type.tensor_type.elem_type == onnx.TensorProto.UINT8
                    if u8 and not any(n.op_type == "Cast" and n.input[0] == val.name
                                      for n in g.node):  # TensorRT converts uint8 by a cast only
                        raise AssertionError(f"UINT8 input {val.name} does not feed a Cast")
                    net.inputs.append(Tensor(val.name, dims, "UINT8" if u8 else "FLOAT"))
            net.layers = [Layer(n.name or n.op_type, n.op_type) for n in g.node]
            net.qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in g.node)
            net.fp16 = any(i.data_type == onnx.TensorProto.FLOAT16 for i in g.initializer)
            return parse_errors == 0

        def get_error(self, i: int) -> ParserError:
            return ParserError(i)

    return Network, OnnxParser


def _precision(m: Any, v: trt_versions.Version, network: Any, config: Any, calibrated: bool
               ) -> str:
    """The precision the layers get: the ONNX's types when strongly typed; else the flags (INT8
    needs scales, from Q/DQ or calibration)."""
    strongly = v >= (11,) or (v >= (10,) and network.flags & (1 << 1))
    if strongly:
        return "int8" if network.qdq else "fp16" if network.fp16 else "fp32"
    flags = {f.name for f in config.flags}
    if "INT8" in flags and (network.qdq or calibrated):
        return "int8"
    return "fp16" if "FP16" in flags else "fp32"


def build(m: Any, v: trt_versions.Version, calls: list[tuple[str, Any]], network: Any,
          config: Any, plugins: bool) -> bytes | None:
    flags = {f.name for f in config.flags}
    prof = config.profiles[0].shapes if config.profiles else {}
    on_dla = getattr(config, "default_device_type", None) is m.DeviceType.DLA
    if on_dla and "GPU_FALLBACK" not in flags:
        if any(lo != hi for lo, _, hi in prof.values()):
            return None  # "DLA does not support dynamic dimensions"
        if v < (11,) and not flags & {"FP16", "INT8"}:
            return None  # DLA runs FP16 and INT8 only
    if v < (10,) and network.qdq and "INT8" not in flags:
        return None  # 8.6: Q/DQ layers need the INT8 flag
    calibrated = False
    cal = getattr(config, "int8_calibrator", None) if v < (11,) else None
    if cal is not None and "INT8" in flags:
        calibrated = run_calibrator(cal, [t.name for t in network.inputs], calls)
    meta = {"version": ".".join(map(str, v)), "plugins": plugins,
            "inputs": [(t.name, t.shape, prof.get(t.name), t.dtype) for t in network.inputs],
            "version_compatible": "VERSION_COMPATIBLE" in flags,
            "precision": _precision(m, v, network, config, calibrated),
            "dla": on_dla and "GPU_FALLBACK" not in flags,
            "detailed": getattr(config, "profiling_verbosity", None)
            is m.ProfilingVerbosity.DETAILED}
    return b"FAKEPLAN" + json.dumps(meta).encode()


def engine_information(m: Any, meta: dict[str, Any]) -> str:
    """The inspector's JSON: names only unless built with ProfilingVerbosity.DETAILED."""
    if not meta["detailed"]:
        return json.dumps({"Layers": [name for name, _ in LAYERS], "Bindings": ["input",
                                                                                "logits"]})
    fmt = FORMATS[meta["precision"]]
    layers = [{"Name": name, "LayerType": kind, "Outputs": [{"Format/Datatype": fmt}]}
              for name, kind in LAYERS]
    layers.insert(1, {"Name": "Reformatting CopyNode for Input Tensor 0 to pool",
                      "LayerType": "Reformat", "Outputs": [{"Format/Datatype": fmt}]})
    return json.dumps({"Layers": layers, "Bindings": ["input", "logits"]})


def builder_class(m: Any, v: trt_versions.Version, calls: list[tuple[str, Any]],
                  dla_cores: int, build_fails: bool, plugins: bool) -> type:
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

    slots = ["builder_optimization_level", "profiling_verbosity", "default_device_type",
             "DLA_core", "hardware_compatibility_level", "profiles", "cache", "flags", "pools"]
    if v < (11,):
        slots.append("int8_calibrator")

    class BuilderConfig:
        __slots__ = tuple(slots)

        def __init__(self) -> None:
            self.flags: set[Any] = set()
            self.pools: dict[Any, int] = {}
            self.profiles: list[Profile] = []
            self.cache = TimingCache(b"")
            object.__setattr__(self, "profiling_verbosity", m.ProfilingVerbosity.LAYER_NAMES_ONLY)

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

        def can_run_on_DLA(self, layer: Any) -> bool:  # noqa: N802
            return layer.type not in NOT_ON_DLA

        if v < (11,):
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
            if cache.data.startswith(b"FOREIGN") and not ignore_mismatch:
                return False  # built on another GPU: rejected, the config keeps its own
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self.cache

    class Builder:
        __slots__ = ("logger",)
        num_DLA_cores = dla_cores

        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def create_network(self, flags: int) -> Any:
            calls.append(("create_network", flags))
            return m._Network(flags)

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Any, config: BuilderConfig) -> Any:
            calls.append(("build_serialized_network", None))
            return None if build_fails else build(m, v, calls, network, config, plugins)

    return Builder
