"""A fake ``pycuda.driver`` over ``fakes.cudart``'s host memory and stream queues (the fake
TensorRT context enqueues its work on the same streams, so ordering is checked too)."""

from __future__ import annotations

import enum
import time
from typing import Any

import numpy as np

from support.fakes import cudart


class device_attribute(enum.IntEnum):  # noqa: N801 (pycuda's name)
    MULTIPROCESSOR_COUNT = 16


class DeviceAllocation:
    def __init__(self, n: int) -> None:
        self.ptr = cudart.cudaMalloc(n)[1]

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        cudart.cudaFree(self.ptr)


def mem_alloc(n: int) -> DeviceAllocation:
    return DeviceAllocation(n)


class Stream(cudart._Stream):
    def synchronize(self) -> None:
        cudart.cudaStreamSynchronize(self)


def memcpy_htod_async(dst: int, src: np.ndarray, stream: Stream) -> None:
    cudart.cudaMemcpyAsync(int(dst), src.ctypes.data, src.nbytes,
                           cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream)


def memcpy_dtoh_async(dst: np.ndarray, src: int, stream: Stream) -> None:
    cudart.cudaMemcpyAsync(dst.ctypes.data, int(src), dst.nbytes,
                           cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream)


class Event:
    def __init__(self) -> None:
        self.t = [0.0]

    def record(self, stream: Stream) -> None:
        cudart.enqueue(stream, lambda: self.t.__setitem__(0, time.perf_counter()))

    def time_since(self, start: Event) -> float:
        return (self.t[0] - start.t[0]) * 1000


class Device:
    def __init__(self, i: int) -> None:
        self.i = i

    @staticmethod
    def count() -> int:
        return 1

    def name(self) -> str:
        return "NVIDIA Fake GPU"

    def compute_capability(self) -> tuple[int, int]:
        return (8, 9)

    def get_attribute(self, attr: Any) -> int:
        assert attr is device_attribute.MULTIPROCESSOR_COUNT
        return 58

    def total_memory(self) -> int:
        return 24 * 2**30


def get_driver_version() -> int:
    return 12080


def get_version() -> tuple[int, int, int]:
    return (12, 6, 0)
