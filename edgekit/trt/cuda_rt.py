"""The CUDA calls the TensorRT runner makes: cuda-python (checked), or pycuda where only that
is installed. ``open_cuda()`` picks one; both classes have the same methods.

cuda-python returns ``(error, value...)`` tuples; every call here checks the error and raises
one line naming the call. ``load()`` accepts the 12.x/13.x layout (``cuda.bindings.runtime``)
and the older one (``cuda.cudart``). Device memory is tracked so ``free_all`` releases it.
pycuda raises its own errors, turned into the same one line; it offers no CUDA-graph capture
here (``--cuda-graphs`` needs cuda-python).

cuda-bindings 13.x needs a CUDA 13 driver (Linux >= 580.65.06), 12.x a CUDA 12 one (>= 525.60.13);
with a too-old driver every call fails with ``cudaErrorInsufficientDriver`` (JetPack 6 is CUDA 12).
``Cuda()`` compares the two majors first and fails in one line naming the pin to install
(``DriverMismatch``), rather than at the first stream or allocation.
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
                                 "pip install \"edgekit[trt-cu12]\" (or [trt-cu13], by the "
                                 "driver's CUDA major)") from e


class DriverMismatch(BackendUnavailable):
    """cuda-bindings built for a newer CUDA major than the driver: nothing will work."""


def bindings_version(rt: Any) -> str | None:
    """The cuda-bindings version behind ``rt`` (``cuda.bindings.__version__``), if known."""
    v = getattr(rt, "__version__", None)
    if v is None:
        import importlib

        package = getattr(rt, "__name__", "").rpartition(".")[0]
        try:
            v = getattr(importlib.import_module(package), "__version__", None) if package else None
        except ImportError:
            v = None
    return str(v) if v else None


def check_driver(rt: Any) -> None:
    """Fail in one line when the driver's CUDA major is below the cuda-bindings major."""
    bindings = bindings_version(rt)
    if bindings is None:
        return
    err, driver = rt.cudaDriverGetVersion()
    if int(err) != 0 or int(driver) == 0:
        raise BackendUnavailable(f"no CUDA driver found (cudaDriverGetVersion: {err})",
                                 "check the GPU and its driver")
    have, want = int(driver) // 1000, int(bindings.split(".")[0])
    if have < want:
        raise DriverMismatch(f"cuda-python {bindings} needs a CUDA {want} driver, this driver is "
                             f"CUDA {have}.{int(driver) % 1000 // 10}",
                             f"pip install \"cuda-python>={have},<{have + 1}\" (the "
                             f"edgekit[trt-cu{have}] / edgekit[jetson] pin), or update the driver")


class Cuda:
    def __init__(self, rt: Any | None = None) -> None:
        self.rt = rt or load()
        check_driver(self.rt)
        self._allocs: list[int] = []

    def check(self, result: Any, what: str) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise BackendUnavailable(f"CUDA {what} failed ({err})",
                                     "check the GPU, its driver and free GPU memory")
        return rest[0] if len(rest) == 1 else tuple(rest)

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

    def free(self, ptr: int) -> None:
        if ptr in self._allocs:
            self._allocs.remove(ptr)
            self.check(self.rt.cudaFree(ptr), "cudaFree")

    def free_all(self) -> None:
        for ptr in self._allocs:
            self.rt.cudaFree(ptr)
        self._allocs.clear()

    def destroy(self, stream: Any = None, events: tuple[Any, ...] = (),
                graphs: tuple[Any, ...] = ()) -> None:
        """Release a stream, events and instantiated graphs (errors ignored: cleanup)."""
        for ev in events:
            self.rt.cudaEventDestroy(ev)
        for g in graphs:
            self.rt.cudaGraphExecDestroy(g)
        if stream is not None:
            self.rt.cudaStreamDestroy(stream)

    def stream(self) -> Any:
        return self.check(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    def handle(self, stream: Any) -> int:
        """The integer stream handle TensorRT's execute_async_v3 takes:
        ``cuda.bindings.utils.get_cuda_native_handle`` where it exists (``int(obj)`` is marked
        deprecated in cuda-python's newer docs), else ``int(stream)``."""
        try:
            from cuda.bindings.utils import get_cuda_native_handle
        except ImportError:
            return int(stream)
        try:
            return int(get_cuda_native_handle(stream))
        except TypeError:  # not a cuda-bindings object (the test fakes)
            return int(stream)

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

    def capture(self, stream: Any, enqueue: Any) -> Any | None:
        """Capture what ``enqueue()`` puts on ``stream`` into an instantiated CUDA graph, as
        trtexec does (samples/common/sampleInference.cpp): the stream is synchronised first,
        the capture is ThreadLocal, and ``enqueue()``'s result is checked. When the capture
        fails (``enqueue()`` returns False, or CUDA invalidates the capture) the capture is
        ended, its graph destroyed, the sticky error cleared, and None returned: the caller runs
        without a graph."""
        self.sync(stream)
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self.check(self.rt.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")
        try:
            ok = bool(enqueue())
        finally:
            err, graph = self.rt.cudaStreamEndCapture(stream)
        if int(err) != 0 or not ok:
            if graph is not None:
                self.rt.cudaGraphDestroy(graph)
            self.rt.cudaGetLastError()  # clear the capture-invalidated error
            return None
        try:
            return self.check(self.rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        finally:
            self.rt.cudaGraphDestroy(graph)  # the instantiated graph no longer needs it

    def launch(self, graph_exec: Any, stream: Any) -> None:
        self.check(self.rt.cudaGraphLaunch(graph_exec, stream), "cudaGraphLaunch")


class PyCuda:
    """The same surface over pycuda (``pycuda.driver``; ``pycuda.autoinit`` makes the context)."""

    def __init__(self, driver: Any | None = None) -> None:
        if driver is None:
            import pycuda.autoinit  # noqa: F401  (creates the context on device 0)
            import pycuda.driver

            driver = pycuda.driver
        self.drv: Any = driver
        self._allocs: list[Any] = []

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as e:  # pycuda.driver.Error and its subclasses
            raise BackendUnavailable(f"CUDA {what} failed ({e})",
                                     "check the GPU, its driver and free GPU memory") from e

    def properties(self, device: int = 0) -> dict[str, Any]:
        d = self.drv.Device(device)
        major, minor = d.compute_capability()
        return {"name": d.name(), "compute_capability": f"{major}.{minor}",
                "sm_count": int(d.get_attribute(
                    self.drv.device_attribute.MULTIPROCESSOR_COUNT)),
                "memory_mb": round(int(d.total_memory()) / 2**20),
                "driver": int(self.drv.get_driver_version()),
                "runtime": _version_number(self.drv.get_version())}

    def malloc(self, nbytes: int) -> int:
        buf = self._call("mem_alloc", self.drv.mem_alloc, max(1, nbytes))
        self._allocs.append(buf)  # pycuda frees when the object goes
        return int(buf)

    def free(self, ptr: int) -> None:
        for buf in [b for b in self._allocs if int(b) == ptr]:
            self._allocs.remove(buf)
            buf.free()

    def free_all(self) -> None:
        for buf in self._allocs:
            buf.free()
        self._allocs.clear()

    def destroy(self, stream: Any = None, events: tuple[Any, ...] = (),
                graphs: tuple[Any, ...] = ()) -> None:
        """pycuda releases streams and events when their objects go."""

    def stream(self) -> Any:
        return self.drv.Stream()

    def handle(self, stream: Any) -> int:
        return int(stream.handle)

    def htod(self, dst: int, src: np.ndarray, stream: Any) -> None:
        self._call("memcpy_htod_async", self.drv.memcpy_htod_async, dst, src, stream)

    def dtoh(self, dst: np.ndarray, src: int, stream: Any) -> None:
        self._call("memcpy_dtoh_async", self.drv.memcpy_dtoh_async, dst, src, stream)

    def sync(self, stream: Any) -> None:
        self._call("Stream.synchronize", stream.synchronize)

    def event(self) -> Any:
        return self.drv.Event()

    def record(self, event: Any, stream: Any) -> None:
        event.record(stream)

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(end.time_since(start))

    def capture(self, stream: Any, enqueue: Any) -> Any | None:
        from edgekit.errors import ConfigError

        raise ConfigError("--cuda-graphs needs cuda-python (pycuda is installed)",
                          "pip install cuda-python, or drop --cuda-graphs")

    def launch(self, graph_exec: Any, stream: Any) -> None:
        raise NotImplementedError  # capture() never returns with pycuda


def _version_number(v: tuple[int, ...]) -> int:
    """(12, 6, 0) -> 12060, the form cudaRuntimeGetVersion gives."""
    return int(v[0]) * 1000 + (int(v[1]) * 10 if len(v) > 1 else 0)


def open_cuda() -> Cuda | PyCuda:
    """cuda-python if installed, else pycuda, else one line naming what to install."""
    try:
        return Cuda()
    except DriverMismatch:
        raise  # pycuda would hide the pin that fixes it
    except BackendUnavailable as first:
        import importlib.util

        if importlib.util.find_spec("pycuda") is None:
            raise first
        try:
            return PyCuda()
        except Exception as e:  # pycuda.autoinit fails without a device or driver
            raise BackendUnavailable(f"pycuda cannot create a CUDA context ({e})",
                                     "check the GPU and its driver") from e
