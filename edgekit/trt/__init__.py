"""The TensorRT build side: ``engine`` (``edgekit build``), ``checks`` (what each TensorRT
release can build, decided before any work), ``calibrate`` (the legacy INT8 calibrator's data),
``trt_api`` (the typed surface of the TensorRT Python API edgekit calls, checked by mypy) and
``cuda_rt`` (CUDA buffers and streams over cuda-python or pycuda, with the driver check).

This package is the optional boundary that has never run on a GPU here: it is tested against
strict fakes of each TensorRT release (``tests/support/fakes/``) that fail where the real API fails
(README, "What ran on a GPU"). The runner that executes engines stays in
``edgekit/backends/trt.py``. Importing this package imports neither tensorrt nor CUDA.
"""
