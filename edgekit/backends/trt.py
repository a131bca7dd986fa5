"""TensorRT runner: deserialise an engine built by ``edgekit build``, allocate with cuda-python,
set input shapes within the profile, ``execute_async_v3`` with tensor addresses, optional
CUDA-graph replay, CUDA-event timing of the host-to-device / compute / device-to-host split.

What is timed (recorded with every result, because trtexec 10 and 11 differ here): ``infer``
is end to end, transfers included (trtexec 10's default; 11 excludes them unless
``--includeDataTransfers``), synchronised with ``cudaStreamSynchronize`` (no spin-wait), one
inference in flight (no enqueue-ahead). ``split_ms`` gives the three parts separately. Host
buffers are pageable numpy arrays (each H2D copy is staged synchronously, D2H returns when
done), so the split measures pageable copies; ``settings()`` says so.

CUDA graphs (``--cuda-graphs``) follow trtexec: a checked warm-up enqueue, a synchronised stream,
a ThreadLocal capture whose enqueue is checked; a capture that fails falls back to plain
enqueues and ``settings()`` records ``cuda_graphs: false`` with the reason.

An engine whose manifest names another TensorRT version or GPU is refused before
deserialising, unless it was built version- or hardware-compatible.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edgekit import manifest
from edgekit.backends import Device, RunnerBase, RunnerOptions, TensorSpec
from edgekit.errors import BackendUnavailable, ConfigError, SourceError
from edgekit.trt import trt_api

_DTYPES = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32,
           "INT64": np.int64, "BOOL": np.bool_, "UINT8": np.uint8}  # no numpy BF16/FP8/INT4


def gpu_identity() -> dict[str, Any]:
    """GPU 0 as the manifest records it (cuda-python; nvidia-smi as a fallback)."""
    from edgekit.device import gpu_info, jetson_info
    from edgekit.trt import cuda_rt

    try:
        return cuda_rt.open_cuda().properties(0)
    except cuda_rt.DriverMismatch:
        raise  # an nvidia-smi answer would hide that no CUDA call can work
    except BackendUnavailable:
        gpus = gpu_info()
        if gpus:
            return {"name": gpus[0]["name"], "compute_capability": gpus[0]["compute_capability"]}
        j = jetson_info()
        return {"name": j["model"] if j else None, "compute_capability": None}


def check_compatible(engine_manifest: dict[str, Any], trt_version: str,
                     gpu: dict[str, Any], path: Path) -> None:
    """Refuse, in one line naming both sides, an engine built for another TensorRT or GPU."""
    build = engine_manifest.get("build") or {}
    built_trt = str(engine_manifest.get("tensorrt"))
    if built_trt != trt_version and not build.get("version_compatible"):
        raise ConfigError(f"engine built with TensorRT {built_trt}, this machine has "
                          f"{trt_version}", "rebuild it here: edgekit build "
                          f"{_parent_path(engine_manifest)}"
                          " (or build with --version-compatible)", path=str(path))
    built = engine_manifest.get("gpu") or {}
    level = build.get("hardware_compatible", "none")
    cc_built, cc_here = built.get("compute_capability"), gpu.get("compute_capability")
    if level == "ampere+":
        ok = cc_here is not None and float(cc_here) >= 8.0
    elif level == "same-cc":
        ok = cc_built == cc_here
    else:
        ok = built.get("name") == gpu.get("name") and cc_built == cc_here
    if not ok:
        raise ConfigError(f"engine built for {built.get('name')} (sm {cc_built}), this GPU is "
                          f"{gpu.get('name')} (sm {cc_here})", "rebuild it on this GPU, or "
                          "build with --hardware-compatible ampere+", path=str(path))


def _parent_path(engine_manifest: dict[str, Any]) -> str:
    parent = (engine_manifest.get("lineage") or {}).get("parent") or {}
    return str(parent.get("path") or "MODEL.onnx")


class TrtRunner(RunnerBase):
    def __init__(self, path: Path | str, opts: RunnerOptions, trt: Any = None,
                 cuda: Any = None) -> None:
        self.path = Path(path)
        self.opts = opts
        self._trt, self._cuda = trt, cuda
        self.create_ms = 0.0
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device ptr, capacity bytes)
        self._graphs: dict[tuple[Any, ...], Any] = {}
        self.graph_fallback: str | None = None  # why a CUDA-graph capture failed, if one did
        self.manifest: dict[str, Any] | None = None

    def __enter__(self) -> TrtRunner:
        from edgekit.trt import cuda_rt

        if self.opts.device is not Device.CUDA:
            raise ConfigError("TensorRT engines run on --device cuda", "add --device cuda")
        trt = self._trt or trt_api.load()
        self.cuda = self._cuda or cuda_rt.open_cuda()
        if not self.path.is_file():
            raise SourceError("engine file not found", "check the path", path=str(self.path))
        man = manifest.for_artifact(self.path)
        self.manifest = man.to_dict() if man is not None else None  # checked, as written
        if self.manifest is not None:
            check_compatible(self.manifest, trt.__version__, gpu_identity() if self._cuda is None
                             else self.cuda.properties(0), self.path)
        t0 = time.perf_counter_ns()
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt_api.runtime(trt, logger)
        build = (self.manifest or {}).get("build") or {}
        if build.get("version_compatible"):
            runtime.engine_host_code_allowed = True
        if build.get("dla_core") is not None:  # as trtexec does before deserialising
            runtime.DLA_core = int(build["dla_core"])
        engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if engine is None:
            raise SourceError("TensorRT could not deserialise the engine (another TensorRT "
                              "version or GPU, or not an engine)", "rebuild it here with "
                              "edgekit build", path=str(self.path))
        self.trt, self.engine = trt, engine
        self.context = engine.create_execution_context()
        self.stream = self.cuda.stream()
        self.names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.inputs = [n for n in self.names
                       if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in self.names if n not in self.inputs]
        for n in self.names:
            kind = str(engine.get_tensor_dtype(n)).split(".")[-1]
            if kind not in _DTYPES:
                self.__exit__(None, None, None)
                raise ConfigError(f"engine tensor '{n}' is {kind}, which edgekit cannot feed "
                                  "from numpy", "rebuild from an ONNX with float32/float16 "
                                  "inputs and outputs (quantize keeps them)", path=str(self.path))
        self.create_ms = (time.perf_counter_ns() - t0) / 1e6
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cuda.destroy(getattr(self, "stream", None), graphs=tuple(self._graphs.values()))
        self.cuda.free_all()
        self._graphs.clear()
        self._buffers.clear()

    def _dtype(self, name: str) -> Any:
        return _DTYPES[str(self.engine.get_tensor_dtype(name)).split(".")[-1]]

    def input_spec(self) -> list[TensorSpec]:
        return [TensorSpec(n, tuple(d if d >= 0 else "batch" for d in self.engine.get_tensor_shape(n)),
                           np.dtype(self._dtype(n)).name) for n in self.inputs]

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if nbytes > cap:
            if ptr:
                self.cuda.free(ptr)
            ptr = self.cuda.malloc(nbytes)
            self._buffers[name] = (ptr, nbytes)
            self.cuda.destroy(graphs=tuple(self._graphs.values()))  # addresses changed
            self._graphs.clear()
        return ptr

    def _bind(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Shapes and addresses for these feeds; returns the host output arrays."""
        for name in self.inputs:
            x = feeds[name]
            lo, _, hi = self.engine.get_tensor_profile_shape(name, 0) if any(
                d < 0 for d in self.engine.get_tensor_shape(name)) else ((), (), ())
            outside = hi and any(a > b for a, b in zip(x.shape, hi, strict=False)) or \
                lo and any(a < b for a, b in zip(x.shape, lo, strict=False))
            if outside or not self.context.set_input_shape(name, x.shape):
                raise ConfigError(f"input {name} {list(x.shape)} is outside the engine's profile "
                                  f"({list(lo)} .. {list(hi)})", "rebuild with wider --shapes",
                                  path=str(self.path))
            self.context.set_tensor_address(name, self._buffer(name, x.nbytes))
        host = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host[name] = np.empty(shape, dtype=self._dtype(name))
            self.context.set_tensor_address(name, self._buffer(name, host[name].nbytes))
        return host

    def _run(self, handle: int) -> None:
        if not self.context.execute_async_v3(handle):
            raise BackendUnavailable("TensorRT execute_async_v3 failed",
                                     "run with --verbose; check the input shapes")

    def _enqueue(self, key: tuple[Any, ...]) -> None:
        handle = self.cuda.handle(self.stream)
        if not self.opts.cuda_graphs or self.graph_fallback:
            self._run(handle)
            return
        if key not in self._graphs:
            self._run(handle)  # TensorRT needs one run before capture (checked)
            graph = self.cuda.capture(self.stream,
                                      lambda: self.context.execute_async_v3(handle))
            if graph is None:
                self.graph_fallback = "the capture failed; ran without CUDA graphs"
                self._run(handle)  # the captured run did not execute: run it now
                return
            self._graphs[key] = graph
        self.cuda.launch(self._graphs[key], self.stream)

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {n: np.ascontiguousarray(feeds[n], dtype=self._dtype(n)) for n in self.inputs}
        host = self._bind(feeds)
        for name in self.inputs:
            self.cuda.htod(self._buffers[name][0], feeds[name], self.stream)
        self._enqueue(tuple(feeds[n].shape for n in self.inputs))
        for name in self.outputs:
            self.cuda.dtoh(host[name], self._buffers[name][0], self.stream)
        self.cuda.sync(self.stream)
        return {n: np.asarray(v, dtype=np.float32) if v.dtype == np.float16 else v
                for n, v in host.items()}

    def settings(self) -> dict[str, Any]:
        return {"runtime": "tensorrt", "tensorrt": self.trt.__version__,
                "cuda_graphs": self.opts.cuda_graphs and not self.graph_fallback,
                **({"cuda_graphs_fallback": self.graph_fallback} if self.graph_fallback else {}),
                "host_memory": "pageable", "transfers_in_latency": True,
                "sync": "cudaStreamSynchronize", "in_flight": 1,
                "engine_built_with": (self.manifest or {}).get("tensorrt"),
                "device_memory_mb": round((trt_api.device_memory_bytes(self.engine) or 0) / 2**20,
                                          1)}

    def sync(self) -> None:
        self.cuda.sync(self.stream)

    def split_ms(self, feeds: dict[str, np.ndarray], iterations: int) -> dict[str, float] | None:
        feeds = {n: np.ascontiguousarray(feeds[n], dtype=self._dtype(n)) for n in self.inputs}
        host = self._bind(feeds)
        ev = [self.cuda.event() for _ in range(4)]
        times: dict[str, list[float]] = {"h2d_ms": [], "compute_ms": [], "d2h_ms": []}
        for _ in range(max(1, iterations)):
            self.cuda.record(ev[0], self.stream)
            for name in self.inputs:
                self.cuda.htod(self._buffers[name][0], feeds[name], self.stream)
            self.cuda.record(ev[1], self.stream)
            self._enqueue(tuple(feeds[n].shape for n in self.inputs))
            self.cuda.record(ev[2], self.stream)
            for name in self.outputs:
                self.cuda.dtoh(host[name], self._buffers[name][0], self.stream)
            self.cuda.record(ev[3], self.stream)
            self.cuda.sync(self.stream)
            times["h2d_ms"].append(self.cuda.elapsed_ms(ev[0], ev[1]))
            times["compute_ms"].append(self.cuda.elapsed_ms(ev[1], ev[2]))
            times["d2h_ms"].append(self.cuda.elapsed_ms(ev[2], ev[3]))
        self.cuda.destroy(events=tuple(ev))
        return {k: round(float(np.median(v)), 4) for k, v in times.items()}

    def gpu_peak_mb(self) -> float | None:
        from edgekit.device import nvml_process_mb

        used = nvml_process_mb()
        if used is not None:
            return used
        total = (trt_api.device_memory_bytes(self.engine) or 0) + sum(
            c for _, c in self._buffers.values())
        return round(total / 2**20, 1)
