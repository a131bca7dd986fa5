#!/usr/bin/env bash
# edgekit on a Jetson with JetPack 6.x (L4T R36.x), outside Docker. Run on the Jetson:
#   bash Jetson/setup.sh
# NOT RUN YET on a Jetson (none was available); read it before running it.
set -euo pipefail

# TensorRT's Python bindings come with JetPack, in the system python: the venv must see them.
python3 -c "import tensorrt; print('TensorRT', tensorrt.__version__)" \
  || { echo "error: no TensorRT Python bindings; sudo apt install python3-libnvinfer"; exit 2; }
python3 -m venv --system-site-packages .venv
# torch / torchvision / onnxruntime-gpu built for JetPack 6 (CUDA 12.6): NVIDIA's Jetson AI Lab index.
.venv/bin/pip install --extra-index-url https://pypi.jetson-ai-lab.dev/jp6/cu126 torch torchvision onnxruntime-gpu
.venv/bin/pip install -e ".[jetson,dev]"

# Stable timings: the maximum power mode and locked clocks (record the mode's *name*: ids differ
# per board). edgekit records nvpmodel's mode and jetson_clocks' state with every result.
sudo nvpmodel -q
echo "to lock clocks for benchmarking: sudo nvpmodel -m 0 && sudo jetson_clocks"

.venv/bin/edgekit device
.venv/bin/python -m pytest -m gpu -v
