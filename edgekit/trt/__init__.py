"""The TensorRT build side: ``engine`` (``edgekit build``), ``trt_api`` (the typed surface of the
TensorRT Python API edgekit calls, checked by mypy) and ``cuda_rt`` (CUDA buffers and streams
over cuda-python or pycuda).

This package is the optional boundary that has never run on a GPU here: it is tested against
strict fakes of each TensorRT release (``tests/fakes/``). The runner that executes engines stays
in ``edgekit/backends/trt.py``. Importing this package imports neither tensorrt nor CUDA.
"""
