"""The legacy INT8 calibration for ``edgekit build --precision int8 --calib DIR`` (TensorRT < 11):
the --calib set preprocessed as the ONNX's manifest says, cut into batches of the size TensorRT
calibrates at, fed to an entropy calibrator (``trt_api.entropy_calibrator``) through one device
buffer and one stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit import manifest
from edgekit.errors import ConfigError
from edgekit.preprocessing import resolve
from edgekit.trt import trt_api


def calib_batch(network: Any, used: dict[str, list[list[int]]]) -> int:
    """The batch TensorRT calibrates at: the profile's OPT batch, or the static batch."""
    name = network.get_input(0).name
    if name in used:
        return int(used[name][1][0])
    return max(1, int(list(network.get_input(0).shape)[0]))


def calibrator(trt: trt_api.TensorRT, onnx_path: Path, calib: Path | None,
               calib_cache: Path | None, network: Any, batch: int) -> tuple[Any, Any]:
    """The entropy calibrator, in batches of exactly ``batch`` images (the last one filled by
    repeating); returns it and the CUDA handle to free after the build. A network with more
    than one input is refused: the --calib images feed one input only."""
    import numpy as np

    from edgekit import calib as calib_data
    from edgekit.trt import cuda_rt

    if network.num_inputs != 1:
        names = ", ".join(network.get_input(i).name for i in range(network.num_inputs))
        raise ConfigError(f"--calib feeds one input; this network has {network.num_inputs} "
                          f"({names})", "quantize with Q/DQ instead: edgekit quantize "
                          "MODEL.onnx --int8 --target tensorrt", path=str(onnx_path))
    batches: list[Any] = []
    if calib is None:  # --calib-cache alone: the cache must already hold the scales
        if calib_cache is None or not calib_cache.is_file():
            raise ConfigError("calibration cache not found", "pass --calib DIR to calibrate",
                              path=str(calib_cache))
    else:
        recorded = manifest.preprocess_beside(onnx_path)
        if recorded is None:  # strict: calibrating with a guessed recipe gives wrong scales
            raise ConfigError("--calib needs the ONNX's manifest for the preprocessing",
                              "build an ONNX written by edgekit export", path=str(onnx_path))
        data = calib_data.load(calib, resolve(artifact=recorded, warn=False).preprocess).data
        n = -(-len(data) // batch) * batch
        data = np.ascontiguousarray(np.resize(data, (n, *data.shape[1:])))
        batches = [data[i : i + batch] for i in range(0, n, batch)]
    cuda = cuda_rt.open_cuda()
    buffer: dict[str, Any] = {}

    def to_device(a: Any) -> int:
        if not buffer:
            buffer.update(ptr=cuda.malloc(a.nbytes), stream=cuda.stream())
        cuda.htod(buffer["ptr"], a, buffer["stream"])
        cuda.sync(buffer["stream"])
        return int(buffer["ptr"])

    cache = str(calib_cache) if calib_cache else None
    return trt_api.entropy_calibrator(trt, batches, cache, to_device), cuda
