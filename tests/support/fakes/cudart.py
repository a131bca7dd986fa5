"""A fake of cuda-python's runtime module (``cuda.bindings.runtime``) on host memory.

Calls return ``(error, value...)`` tuples like the real bindings, and fail where the real ones do:

- ``__version__`` is the cuda-bindings version and ``DRIVER_VERSION`` what
  ``cudaDriverGetVersion`` reports; when the driver's CUDA major is below the bindings' major
  every other call returns ``cudaErrorInsufficientDriver`` (35), as cuda-bindings 13 does on a
  CUDA 12 driver (JetPack 6).
- Device memory is a dict of byte arrays keyed by fake pointers. A copy past an allocation's
  capacity, or to/from a pointer that was never allocated, and ``cudaFree`` of an unknown
  pointer return ``cudaErrorInvalidValue``.
- ``inject("cudaMalloc", cudaError_t.cudaErrorMemoryAllocation)`` makes the next such call fail.
- Streams queue work (``enqueue``) and run it on synchronize, so an enqueue that is never
  synchronised is visible. H2D copies read the host array at enqueue time: that is what pageable
  host memory does (the copy is staged before ``cudaMemcpyAsync`` returns), and edgekit's host
  buffers are pageable numpy arrays. Stream capture records the work into a graph that
  ``cudaGraphLaunch`` replays; ``invalidate_capture(stream)`` makes ``cudaStreamEndCapture``
  fail with ``cudaErrorStreamCaptureInvalidated`` and leaves a sticky error for
  ``cudaGetLastError``. ``stats`` counts calls and ``calls`` records the capture modes.
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

__version__ = "12.9.4"  # the cuda-bindings version this fake stands for
DRIVER_VERSION = 12080  # what cudaDriverGetVersion reports (CUDA 12.8)


class cudaError_t(enum.IntEnum):  # noqa: N801 (the binding's own name)
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorStreamCaptureUnsupported = 900
    cudaErrorStreamCaptureInvalidated = 901


class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


class cudaStreamCaptureMode(enum.IntEnum):  # noqa: N801
    cudaStreamCaptureModeGlobal = 0
    cudaStreamCaptureModeThreadLocal = 1
    cudaStreamCaptureModeRelaxed = 2


OK = cudaError_t.cudaSuccess
MEM: dict[int, bytearray] = {}
stats: Counter[str] = Counter()
calls: list[tuple[str, Any]] = []
FAIL: dict[str, cudaError_t] = {}
_next = [0x1000]
_last_error = [OK]


STREAMS: dict[int, Any] = {}  # handle -> stream, as TensorRT receives an integer handle


class _Stream:
    def __init__(self) -> None:
        self.queue: list[Callable[[], None]] = []
        self.capture: list[Callable[[], None]] | None = None
        self.invalid = False
        STREAMS[id(self)] = self

    def __int__(self) -> int:  # cuda-python's cudaStream_t converts to its handle
        return id(self)

    @property
    def handle(self) -> int:  # pycuda's Stream.handle
        return id(self)


def reset() -> None:
    global __version__, DRIVER_VERSION
    MEM.clear()
    stats.clear()
    calls.clear()
    FAIL.clear()
    _last_error[0] = OK
    __version__, DRIVER_VERSION = "12.9.4", 12080


def inject(name: str, err: cudaError_t) -> None:
    """The next call of ``name`` returns ``err``."""
    FAIL[name] = err


def _fails(name: str) -> cudaError_t | None:
    if name != "cudaDriverGetVersion" and DRIVER_VERSION // 1000 < int(__version__.split(".")[0]):
        return cudaError_t.cudaErrorInsufficientDriver
    return FAIL.pop(name, None)


def _stream(stream: Any) -> _Stream:
    return STREAMS[stream] if isinstance(stream, int) else stream


def enqueue(stream: Any, fn: Callable[[], None]) -> None:
    """Queue work on a stream (object, or the integer handle TensorRT is given)."""
    s = _stream(stream)
    (s.capture if s.capture is not None else s.queue).append(fn)


def capturing(stream: Any) -> bool:
    return _stream(stream).capture is not None


def invalidate_capture(stream: Any) -> None:
    """What an uncapturable operation does to a capture (e.g. an allocation in the first run)."""
    _stream(stream).invalid = True


def read(ptr: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if ptr not in MEM or n > len(MEM[ptr]):
        raise IndexError(f"device read of {n} bytes at {ptr:#x} is outside its allocation")
    return np.frombuffer(bytes(MEM[ptr][:n]), dtype=dtype).reshape(shape)


def write(ptr: int, a: np.ndarray) -> None:
    if ptr not in MEM or a.nbytes > len(MEM[ptr]):
        raise IndexError(f"device write of {a.nbytes} bytes at {ptr:#x} is outside its allocation")
    MEM[ptr][: a.nbytes] = a.tobytes()


def cudaMalloc(n: int) -> tuple[cudaError_t, int]:  # noqa: N802
    stats["cudaMalloc"] += 1
    err = _fails("cudaMalloc")
    if err:
        return err, 0
    _next[0] += 0x1000 + n
    MEM[_next[0]] = bytearray(n)
    return OK, _next[0]


def cudaFree(ptr: int) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaFree"] += 1
    if ptr not in MEM:
        return (cudaError_t.cudaErrorInvalidValue,)
    MEM.pop(ptr)
    return (OK,)


def cudaStreamDestroy(stream: _Stream) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaStreamDestroy"] += 1
    STREAMS.pop(id(stream), None)
    return (OK,)


def cudaEventDestroy(event: list[float]) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaEventDestroy"] += 1
    return (OK,)


def cudaGraphDestroy(graph: list[Any]) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaGraphDestroy"] += 1
    return (OK,)


def cudaGraphExecDestroy(graph_exec: list[Any]) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaGraphExecDestroy"] += 1
    return (OK,)


def cudaStreamCreate() -> tuple[cudaError_t, _Stream | None]:  # noqa: N802
    err = _fails("cudaStreamCreate")
    return (err, None) if err else (OK, _Stream())


def cudaMemcpyAsync(dst: int, src: int, n: int, kind: cudaMemcpyKind,  # noqa: N802
                    stream: _Stream) -> tuple[cudaError_t]:
    import ctypes

    stats[kind.name] += 1
    err = _fails("cudaMemcpyAsync")
    if err:
        return (err,)
    dev = dst if kind is cudaMemcpyKind.cudaMemcpyHostToDevice else src
    if dev not in MEM or n > len(MEM[dev]):
        return (cudaError_t.cudaErrorInvalidValue,)
    if kind is cudaMemcpyKind.cudaMemcpyHostToDevice:
        data = ctypes.string_at(src, n)  # pageable host memory: staged before the call returns
        enqueue(stream, lambda: MEM[dst].__setitem__(slice(0, n), data))
    else:
        enqueue(stream, lambda: ctypes.memmove(dst, bytes(MEM[src][:n]), n))
    return (OK,)


def cudaStreamSynchronize(stream: _Stream) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaStreamSynchronize"] += 1
    err = _fails("cudaStreamSynchronize")
    if err:
        return (err,)
    if stream.capture is not None:  # synchronising a capturing stream is illegal
        stream.invalid = True
        return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
    while stream.queue:
        stream.queue.pop(0)()
    return (OK,)


def cudaEventCreate() -> tuple[cudaError_t, list[float]]:  # noqa: N802
    return OK, [0.0]


def cudaEventRecord(event: list[float], stream: _Stream) -> tuple[cudaError_t]:  # noqa: N802
    enqueue(stream, lambda: event.__setitem__(0, time.perf_counter()))
    return (OK,)


def cudaEventElapsedTime(a: list[float], b: list[float]) -> tuple[cudaError_t, float]:  # noqa: N802
    return OK, (b[0] - a[0]) * 1000


def cudaStreamBeginCapture(stream: _Stream, mode: cudaStreamCaptureMode  # noqa: N802
                           ) -> tuple[cudaError_t]:
    stats["cudaStreamBeginCapture"] += 1
    # (mode, work still queued): trtexec synchronises before capturing, so it is 0 there
    calls.append(("cudaStreamBeginCapture", (cudaStreamCaptureMode(mode), len(stream.queue))))
    err = _fails("cudaStreamBeginCapture")
    if err:
        return (err,)
    stream.capture, stream.invalid = [], False
    return (OK,)


def cudaStreamEndCapture(stream: _Stream) -> tuple[cudaError_t, list[Any] | None]:  # noqa: N802
    ops, stream.capture = stream.capture or [], None
    if stream.invalid:
        stream.invalid = False
        _last_error[0] = cudaError_t.cudaErrorStreamCaptureInvalidated
        return cudaError_t.cudaErrorStreamCaptureInvalidated, None
    err = _fails("cudaStreamEndCapture")
    return (err, None) if err else (OK, ops)


def cudaGetLastError() -> tuple[cudaError_t]:  # noqa: N802
    err, _last_error[0] = _last_error[0], OK
    stats["cudaGetLastError"] += 1
    return (err,)


def cudaGraphInstantiate(graph: list[Any], flags: int) -> tuple[cudaError_t, list[Any] | None]:  # noqa: N802
    err = _fails("cudaGraphInstantiate")
    return (err, None) if err else (OK, list(graph))


def cudaGraphLaunch(graph_exec: list[Any], stream: _Stream) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaGraphLaunch"] += 1
    for op in graph_exec:
        enqueue(stream, op)
    return (OK,)


class _Props:
    name = b"NVIDIA Fake GPU"
    major, minor = 8, 9
    multiProcessorCount = 58  # noqa: N815
    totalGlobalMem = 24 * 2**30  # noqa: N815


def cudaGetDeviceProperties(device: int) -> tuple[cudaError_t, _Props | None]:  # noqa: N802
    err = _fails("cudaGetDeviceProperties")
    return (err, None) if err else (OK, _Props())


def cudaGetDeviceCount() -> tuple[cudaError_t, int]:  # noqa: N802
    return OK, 1


def cudaDriverGetVersion() -> tuple[cudaError_t, int]:  # noqa: N802
    return OK, DRIVER_VERSION


def cudaRuntimeGetVersion() -> tuple[cudaError_t, int]:  # noqa: N802
    err = _fails("cudaRuntimeGetVersion")
    return (err, 0) if err else (OK, int(__version__.split(".")[0]) * 1000 + 60)
