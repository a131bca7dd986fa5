"""torch on a CUDA GPU: edgekit's torch runner vs a raw CUDA-graph replay (goal: within 5 %),
and eager vs CUDA graphs vs fp16 for resnet18 and resnet50.

    .venv/bin/python bench/gpu_torch.py [--models resnet18,resnet50] [--batch 1] [--runs 200]

Needs a CUDA device (the `device` tool's GPU box); prints one line and exits 2 without one.
Random weights. The raw replay is the loop a user would write: a static input on the GPU, the
graph captured once, then copy-in + replay + copy-out per iteration, synchronised, timed with
perf_counter_ns. edgekit's figure is TorchRunner.infer under timing.sample with the same
copies, i.e. what ``edgekit profile SPEC --backend torch --device cuda --cuda-graphs`` times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

import numpy as np


def raw_graph_ms(model: object, x: np.ndarray, runs: int, dtype: object) -> float:
    import torch

    static_in = torch.zeros(x.shape, device="cuda", dtype=dtype)  # type: ignore[arg-type]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.inference_mode():
        for _ in range(3):
            model(static_in)  # type: ignore[operator]
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(g):
        out = model(static_in)  # type: ignore[operator]
    host = torch.from_numpy(x)
    times = []
    for i in range(runs + 20):
        t0 = time.perf_counter_ns()
        static_in.copy_(host)
        g.replay()
        out.float().cpu()
        torch.cuda.synchronize()
        if i >= 20:
            times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def edgekit_ms(spec: str, x: np.ndarray, runs: int, dtype: str, graphs: bool) -> float:
    from edgekit import timing
    from edgekit.backends import Device, RunnerOptions
    from edgekit.backends.pt import TorchRunner
    from edgekit.precision import Precision
    from edgekit.sources import Options

    opts = RunnerOptions(device=Device.CUDA, dtype=Precision(dtype), cuda_graphs=graphs,
                         source=Options(random_weights=True))  # as the bare model below
    with TorchRunner(spec, opts) as r:
        ms = timing.sample(partial(r.infer, {"input": x}), warmup=20, iterations=runs, sync=r.sync)
    return float(np.median(ms))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    import torch
    import torchvision

    if not torch.cuda.is_available():
        print("error: bench/gpu_torch.py needs a CUDA device; run it on a GPU machine",
              file=sys.stderr)
        sys.exit(2)
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, batch {args.batch}, "
          f"{args.runs} timed runs after 20 warm-up, median ms (H2D + compute + D2H)")
    print("| model | eager fp32 | graphs fp32 | raw graph fp32 | edgekit/raw | eager fp16 | "
          "graphs fp16 |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        x = np.random.default_rng(0).normal(size=(args.batch, 3, 224, 224)).astype(np.float32)
        eager = edgekit_ms(name, x, args.runs, "fp32", False)
        graphs = edgekit_ms(name, x, args.runs, "fp32", True)
        model = getattr(torchvision.models, name)(weights=None).eval().cuda()
        raw = raw_graph_ms(model, x, args.runs, torch.float32)
        del model
        eager16 = edgekit_ms(name, x, args.runs, "fp16", False)
        graphs16 = edgekit_ms(name, x, args.runs, "fp16", True)
        print(f"| {name} | {eager:.3f} | {graphs:.3f} | {raw:.3f} | {graphs / raw:.3f} | "
              f"{eager16:.3f} | {graphs16:.3f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
