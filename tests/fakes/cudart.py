"""A fake of cuda-python's runtime module (``cuda.bindings.runtime``) on host memory.

Calls return ``(error, value...)`` tuples like the real bindings. Device memory is a dict of
byte arrays keyed by fake pointers; streams queue work (``enqueue``) and run it on synchronize,
so an enqueue that is never synchronised is visible; stream capture records the work into a
graph that ``cudaGraphLaunch`` replays. ``stats`` counts calls for the tests.
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np


class cudaError_t(enum.IntEnum):  # noqa: N801 (the binding's own name)
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2


class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


class cudaStreamCaptureMode(enum.IntEnum):  # noqa: N801
    cudaStreamCaptureModeGlobal = 0


OK = cudaError_t.cudaSuccess
MEM: dict[int, bytearray] = {}
stats: Counter[str] = Counter()
_next = [0x1000]


STREAMS: dict[int, Any] = {}  # handle -> stream, as TensorRT receives an integer handle


class _Stream:
    def __init__(self) -> None:
        self.queue: list[Callable[[], None]] = []
        self.capture: list[Callable[[], None]] | None = None
        STREAMS[id(self)] = self

    def __int__(self) -> int:  # cuda-python's cudaStream_t converts to its handle
        return id(self)

    @property
    def handle(self) -> int:  # pycuda's Stream.handle
        return id(self)


def reset() -> None:
    MEM.clear()
    stats.clear()


def enqueue(stream: Any, fn: Callable[[], None]) -> None:
    """Queue work on a stream (object, or the integer handle TensorRT is given)."""
    if isinstance(stream, int):
        stream = STREAMS[stream]
    (stream.capture if stream.capture is not None else stream.queue).append(fn)


def read(ptr: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer(bytes(MEM[ptr][:n]), dtype=dtype).reshape(shape)


def write(ptr: int, a: np.ndarray) -> None:
    MEM[ptr][: a.nbytes] = a.tobytes()


def cudaMalloc(n: int) -> tuple[cudaError_t, int]:  # noqa: N802
    stats["cudaMalloc"] += 1
    _next[0] += 0x1000 + n
    MEM[_next[0]] = bytearray(n)
    return OK, _next[0]


def cudaFree(ptr: int) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaFree"] += 1
    MEM.pop(ptr, None)
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


def cudaStreamCreate() -> tuple[cudaError_t, _Stream]:  # noqa: N802
    return OK, _Stream()


def cudaMemcpyAsync(dst: int, src: int, n: int, kind: cudaMemcpyKind,  # noqa: N802
                    stream: _Stream) -> tuple[cudaError_t]:
    import ctypes

    stats[kind.name] += 1
    if kind is cudaMemcpyKind.cudaMemcpyHostToDevice:
        data = ctypes.string_at(src, n)  # copied at enqueue time, like pinned host memory
        enqueue(stream, lambda: MEM[dst].__setitem__(slice(0, n), data))
    else:
        enqueue(stream, lambda: ctypes.memmove(dst, bytes(MEM[src][:n]), n))
    return (OK,)


def cudaStreamSynchronize(stream: _Stream) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaStreamSynchronize"] += 1
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


def cudaStreamBeginCapture(stream: _Stream, mode: Any) -> tuple[cudaError_t]:  # noqa: N802
    stats["cudaStreamBeginCapture"] += 1
    stream.capture = []
    return (OK,)


def cudaStreamEndCapture(stream: _Stream) -> tuple[cudaError_t, list[Any]]:  # noqa: N802
    ops, stream.capture = stream.capture or [], None
    return OK, ops


def cudaGraphInstantiate(graph: list[Any], flags: int) -> tuple[cudaError_t, list[Any]]:  # noqa: N802
    return OK, list(graph)


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


def cudaGetDeviceProperties(device: int) -> tuple[cudaError_t, _Props]:  # noqa: N802
    return OK, _Props()


def cudaGetDeviceCount() -> tuple[cudaError_t, int]:  # noqa: N802
    return OK, 1


def cudaDriverGetVersion() -> tuple[cudaError_t, int]:  # noqa: N802
    return OK, 12080


def cudaRuntimeGetVersion() -> tuple[cudaError_t, int]:  # noqa: N802
    return OK, 12060
