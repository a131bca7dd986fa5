"""The CUDA runtime calls the TensorRT runner makes, through cuda-python, checked.

cuda-python returns ``(error, value...)`` tuples; every call here checks the error and raises
one line naming the call. ``load()`` accepts the 12.x/13.x layout (``cuda.bindings.runtime``)
and the older one (``cuda.cudart``). Device memory is tracked so ``free_all`` releases it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.errors import BackendUnavailable


def load() -> Any:
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6

        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # older cuda-python

        return cudart
    except ImportError as e:
        raise BackendUnavailable("cuda-python is not installed",
                                 "pip install \"edgekit[trt]\" (it brings cuda-python)") from e


class Cuda:
    def __init__(self, rt: Any | None = None) -> None:
        self.rt = rt or load()
        self._allocs: list[int] = []

    def check(self, result: Any, what: str) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise BackendUnavailable(f"CUDA {what} failed ({err})",
                                     "check the GPU, its driver and free GPU memory")
        return rest[0] if len(rest) == 1 else tuple(rest)

    def device_count(self) -> int:
        return int(self.check(self.rt.cudaGetDeviceCount(), "cudaGetDeviceCount"))

    def properties(self, device: int = 0) -> dict[str, Any]:
        p = self.check(self.rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        name = p.name.decode(errors="replace").rstrip("\x00") if isinstance(p.name, bytes) \
            else str(p.name)
        return {"name": name, "compute_capability": f"{p.major}.{p.minor}",
                "sm_count": int(p.multiProcessorCount),
                "memory_mb": round(int(p.totalGlobalMem) / 2**20),
                "driver": int(self.check(self.rt.cudaDriverGetVersion(), "cudaDriverGetVersion")),
                "runtime": int(self.check(self.rt.cudaRuntimeGetVersion(),
                                          "cudaRuntimeGetVersion"))}

    def malloc(self, nbytes: int) -> int:
        ptr = int(self.check(self.rt.cudaMalloc(max(1, nbytes)), "cudaMalloc"))
        self._allocs.append(ptr)
        return ptr

    def free_all(self) -> None:
        for ptr in self._allocs:
            self.rt.cudaFree(ptr)
        self._allocs.clear()

    def stream(self) -> Any:
        return self.check(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    def htod(self, dst: int, src: np.ndarray, stream: Any) -> None:
        self.check(self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes,
                                           self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream),
                   "cudaMemcpyAsync (host to device)")

    def dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        self.check(self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes,
                                           self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream),
                   "cudaMemcpyAsync (device to host)")

    def sync(self, stream: Any) -> None:
        self.check(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def event(self) -> Any:
        return self.check(self.rt.cudaEventCreate(), "cudaEventCreate")

    def record(self, event: Any, stream: Any) -> None:
        self.check(self.rt.cudaEventRecord(event, stream), "cudaEventRecord")

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(self.check(self.rt.cudaEventElapsedTime(start, end), "cudaEventElapsedTime"))

    def capture(self, stream: Any, enqueue: Any) -> Any:
        """Capture what ``enqueue()`` puts on ``stream`` into an instantiated CUDA graph."""
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        self.check(self.rt.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")
        try:
            enqueue()
        finally:
            graph = self.check(self.rt.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        return self.check(self.rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")

    def launch(self, graph_exec: Any, stream: Any) -> None:
        self.check(self.rt.cudaGraphLaunch(graph_exec, stream), "cudaGraphLaunch")
