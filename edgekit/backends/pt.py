"""torch runner: a source spec (catalog/timm/torchvision name, file.py:factory, TorchScript)
run directly on the CPU or a CUDA GPU in fp32/fp16/bf16, optionally through CUDA-graph replay
or torch.compile. It is the reference the other backends are compared with.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import numpy as np

from edgekit._lazy import require
from edgekit.backends import Device, RunnerBase, RunnerOptions, TensorSpec
from edgekit.errors import BackendUnavailable, ConfigError
from edgekit.precision import Precision


class TorchRunner(RunnerBase):
    def __init__(self, spec: str, opts: RunnerOptions) -> None:
        self.spec = spec
        self.opts = opts
        self.source: Any = None
        self.model: Any = None
        self.create_ms = 0.0
        self._graphs: dict[tuple[int, ...], tuple[Any, Any, Any]] = {}
        self._threads_before: int | None = None

    def __enter__(self) -> TorchRunner:
        from edgekit import sources

        torch = require("torch")
        if self.opts.device is Device.CUDA and not torch.cuda.is_available():
            raise BackendUnavailable("torch sees no CUDA device",
                                     "use --device cpu, or install a CUDA build of torch on a GPU "
                                     "machine")
        t0 = time.perf_counter_ns()
        self.source = sources.resolve(self.spec, self.opts.source)
        if self.source.model is None:
            raise ConfigError("--backend torch runs model specs, not .onnx files",
                              "use --backend ort for an .onnx file", path=self.spec)
        if self.opts.input_size:
            self.source.preprocess = self.source.preprocess.resized(*self.opts.input_size)
        if self.opts.threads:
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(self.opts.threads)
        self.device = torch.device("cuda" if self.opts.device is Device.CUDA else "cpu")
        self.dtype = {Precision.FP32: torch.float32, Precision.FP16: torch.float16,
                      Precision.BF16: torch.bfloat16}[self.opts.dtype]
        model = self.source.model.eval().to(self.device, self.dtype)
        if self.opts.compile:
            model = torch.compile(model)
        self.model = model
        if self.opts.device is Device.CUDA:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.create_ms = (time.perf_counter_ns() - t0) / 1e6
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        torch = require("torch")
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
        self._graphs.clear()
        self.model = None

    def preprocess(self) -> Any:
        return self.source.preprocess

    def model_info(self) -> dict[str, Any]:
        src = self.source
        params = (sum(int(p.numel()) for p in src.model.parameters())
                  if hasattr(src.model, "parameters") else None)
        return {"name": src.entry.short if src.entry else src.name, "family": src.family,
                "params": params, "published": src.published()}

    def input_spec(self) -> list[TensorSpec]:
        pp = self.source.preprocess
        return [TensorSpec("input", ("batch", 3, pp.height, pp.width), "float32")]

    def _forward(self, x: Any) -> Any:
        from edgekit.torchref import first_tensor

        y = first_tensor(self.model(x))
        if y is None:
            raise ConfigError("the model returned no tensor", "return logits (N x classes)",
                              path=self.spec)
        return y

    def _graph(self, shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
        """A CUDA graph captured for this input shape: (graph, static input, static output)."""
        torch = require("torch")
        if shape not in self._graphs:
            static_in = torch.zeros(shape, device=self.device, dtype=self.dtype)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), torch.inference_mode():
                for _ in range(3):  # warm up on a side stream, as torch's docs require
                    self._forward(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.inference_mode(), torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            self._graphs[shape] = (graph, static_in, static_out)
        return self._graphs[shape]

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = require("torch")
        x = torch.from_numpy(np.ascontiguousarray(next(iter(feeds.values()))))
        with torch.inference_mode():
            if self.opts.cuda_graphs:
                graph, static_in, static_out = self._graph(tuple(x.shape))
                static_in.copy_(x)
                graph.replay()
                y = static_out
            else:
                y = self._forward(x.to(self.device, self.dtype))
            return {"logits": y.float().cpu().numpy()}

    bound = ("the input moved to the device once before the loop; the call runs the forward "
             "(or replays the CUDA graph) and leaves the output on the device")

    def bind(self, feeds: dict[str, np.ndarray]) -> Any:
        torch = require("torch")
        x = torch.from_numpy(np.ascontiguousarray(next(iter(feeds.values()))))
        if self.opts.cuda_graphs:
            graph, static_in, _ = self._graph(tuple(x.shape))
            static_in.copy_(x)
            return graph.replay
        x = x.to(self.device, self.dtype)

        def call() -> None:
            with torch.inference_mode():
                self._forward(x)
        return call

    def settings(self) -> dict[str, Any]:
        torch = require("torch")
        out: dict[str, Any] = {"runtime": "torch", "device": str(self.device),
                               "dtype": self.opts.dtype.value, "threads": torch.get_num_threads(),
                               "cuda_graphs": self.opts.cuda_graphs, "compile": self.opts.compile,
                               "source": self.source.to_dict()}
        if self.opts.device is Device.CUDA:
            out["gpu"] = torch.cuda.get_device_name(self.device)
            out["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
        return out

    def sync(self) -> None:
        if self.opts.device is Device.CUDA:
            require("torch").cuda.synchronize()

    def split_ms(self, feeds: dict[str, np.ndarray], iterations: int) -> dict[str, float] | None:
        """H2D (from pinned memory) / compute / D2H, timed with CUDA events."""
        if self.opts.device is not Device.CUDA:
            return None
        torch = require("torch")
        host = torch.from_numpy(next(iter(feeds.values()))).pin_memory()
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        times: dict[str, list[float]] = {"h2d_ms": [], "compute_ms": [], "d2h_ms": []}
        with torch.inference_mode():
            for _ in range(max(1, iterations)):
                ev[0].record()
                if self.opts.cuda_graphs:
                    graph, static_in, static_out = self._graph(tuple(host.shape))
                    static_in.copy_(host, non_blocking=True)
                    ev[1].record()
                    graph.replay()
                    y = static_out
                else:
                    x = host.to(self.device, non_blocking=True).to(self.dtype)
                    ev[1].record()
                    y = self._forward(x)
                ev[2].record()
                y.float().to("cpu")
                ev[3].record()
                torch.cuda.synchronize()
                times["h2d_ms"].append(ev[0].elapsed_time(ev[1]))
                times["compute_ms"].append(ev[1].elapsed_time(ev[2]))
                times["d2h_ms"].append(ev[2].elapsed_time(ev[3]))
        return {k: round(float(np.median(v)), 4) for k, v in times.items()}

    def gpu_peak_mb(self) -> float | None:
        if self.opts.device is not Device.CUDA:
            return None
        return round(require("torch").cuda.max_memory_allocated() / 2**20, 1)

    def count_macs(self, x: np.ndarray) -> int | None:
        """MACs of one forward pass from Conv/Linear hooks (what graph.count_macs counts in ONNX:
        Conv, Gemm, MatMul), divided by the batch."""
        torch = require("torch")
        nn = torch.nn
        total = 0

        def hook(mod: Any, inp: Any, out: Any) -> None:
            nonlocal total
            if isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Conv3d):
                k = int(np.prod(mod.kernel_size)) * mod.in_channels // mod.groups
                total += out.numel() * k
            elif isinstance(mod, nn.Linear):
                total += out.numel() * mod.in_features

        module = self.source.model  # uncompiled: hooks do not fire inside torch.compile
        if isinstance(module, torch.jit.ScriptModule):
            return 0
        hooks = [m.register_forward_hook(hook) for m in module.modules()]
        try:
            with torch.inference_mode():
                module(torch.from_numpy(x[:1]).to(self.device, self.dtype))
        finally:
            for h in hooks:
                h.remove()
        return total
