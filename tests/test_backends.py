"""The Runner protocol: every registered backend against the same contract, the capability
checks that refuse a request before any work, and the ORT provider check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FIX, digits_spec

from edgekit import backends
from edgekit.backends import (
    Backend,
    Device,
    Dtype,
    OrtSettings,
    Provider,
    RunnerOptions,
)
from edgekit.errors import BackendUnavailable, ConfigError, SourceError
from edgekit.images import photo_batch
from edgekit.sources import Options

TORCH_OPTS = RunnerOptions(source=Options(weights=FIX / "digits_cnn.pth"))
CPU_BACKENDS = [b for b in backends.REGISTRY if Device.CPU in backends.CAPABILITIES[b].devices]


def _target(backend: Backend, digits: dict[str, Path]) -> tuple[str, RunnerOptions]:
    if backend is Backend.ORT:
        return str(digits["digits_cnn_plain"]), RunnerOptions()
    return digits_spec(), TORCH_OPTS


def _x(batch: int) -> np.ndarray:
    from digits import PREPROCESS

    return np.resize(photo_batch(PREPROCESS, 4), (batch, 3, 32, 32)).astype(np.float32)


@pytest.mark.parametrize("backend", CPU_BACKENDS, ids=lambda b: b.value)
def test_every_registered_backend_keeps_the_runner_contract(backend: Backend,
                                                            digits: dict[str, Path]) -> None:
    target, opts = _target(backend, digits)
    with backends.runner(backend, target, opts) as r:
        spec = r.input_spec()
        assert len(spec) == 1 and spec[0].shape[1:] == (3, 32, 32) and spec[0].dtype == "float32"
        assert spec[0].static_batch is None  # both take any batch
        for batch in (1, 5):
            out = r.infer({spec[0].name: _x(batch)})
            (logits,) = out.values()
            assert logits.shape == (batch, 10) and logits.dtype == np.float32
        assert r.split_ms({spec[0].name: _x(1)}, 3) is None  # no device copies on the CPU
        assert r.gpu_peak_mb() is None
        settings = r.settings()
        assert settings["runtime"] in ("onnxruntime", "torch")
        r.sync()


def test_ort_and_torch_agree_on_the_same_images(digits: dict[str, Path]) -> None:
    x = _x(8)
    with backends.runner(Backend.ORT, str(digits["digits_cnn_plain"]), RunnerOptions()) as r:
        a = next(iter(r.infer({"input": x}).values()))
    with backends.runner(Backend.TORCH, digits_spec(), TORCH_OPTS) as r:
        b = r.infer({"input": x})["logits"]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_torch_bf16_runs_and_stays_close_to_fp32(digits: dict[str, Path]) -> None:
    x = _x(16)
    with backends.runner(Backend.TORCH, digits_spec(), TORCH_OPTS) as r:
        ref = r.infer({"input": x})["logits"]
    opts = RunnerOptions(dtype=Dtype.BF16, source=TORCH_OPTS.source)
    with backends.runner(Backend.TORCH, digits_spec(), opts) as r:
        low = r.infer({"input": x})["logits"]
        assert r.settings()["dtype"] == "bf16"
    assert low.dtype == np.float32 and (low.argmax(1) == ref.argmax(1)).mean() >= 0.9
    assert not np.array_equal(low, ref)  # it really ran in bf16


def test_torch_threads_are_set_and_restored(digits: dict[str, Path]) -> None:
    import torch

    before = torch.get_num_threads()
    opts = RunnerOptions(threads=1, source=TORCH_OPTS.source)
    with backends.runner(Backend.TORCH, digits_spec(), opts) as r:
        assert torch.get_num_threads() == 1 and r.settings()["threads"] == 1
    assert torch.get_num_threads() == before


def test_ort_session_settings_are_applied(digits: dict[str, Path]) -> None:
    s = OrtSettings(intra_threads=1, execution_mode="parallel", graph_optimization="basic")
    with backends.runner(Backend.ORT, str(digits["digits_cnn_plain"]), RunnerOptions(ort=s)) as r:
        so = r.session.get_session_options()
        assert so.intra_op_num_threads == 1
        assert str(so.execution_mode).endswith("PARALLEL")
        assert str(so.graph_optimization_level).endswith("BASIC")
        assert r.settings()["providers"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize("backend,kind,opts,message", [
    (Backend.ORT, "source", RunnerOptions(), "takes an .onnx file"),
    (Backend.TORCH, "onnx", RunnerOptions(), "takes a model spec"),
    (Backend.TENSORRT, "onnx", RunnerOptions(device=Device.CUDA), "takes a TensorRT engine"),
    (Backend.TENSORRT, "engine", RunnerOptions(), "does not run on --device cpu"),
    (Backend.ORT, "onnx", RunnerOptions(dtype=Dtype.FP16), "--dtype fp16 applies to --backend torch"),
    (Backend.ORT, "onnx", RunnerOptions(cuda_graphs=True), "applies to --backend torch and"),
    (Backend.TENSORRT, "engine", RunnerOptions(device=Device.CUDA, compile=True),
     "--compile applies to --backend torch only"),
    (Backend.TORCH, "source", RunnerOptions(provider=Provider.CUDA), "--provider applies"),
    (Backend.TORCH, "source", RunnerOptions(cuda_graphs=True), "--cuda-graphs needs --device cuda"),
])
def test_capabilities_refuse_a_request_before_any_work(backend: Backend, kind: str,
                                                       opts: RunnerOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backends.check(backend, kind, opts)


def test_a_backend_without_a_registry_line_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(backends.REGISTRY, Backend.TENSORRT)
    with pytest.raises(BackendUnavailable, match="not part of this edgekit"):
        backends.runner(Backend.TENSORRT, "m.engine", RunnerOptions(device=Device.CUDA))


def test_registry_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, edgekit.backends as b; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'tensorrt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ort_without_the_requested_provider_says_so(digits: dict[str, Path]) -> None:
    with pytest.raises(BackendUnavailable, match="no CUDAExecutionProvider"):
        with backends.runner(Backend.ORT, str(digits["digits_cnn_plain"]),
                             RunnerOptions(device=Device.CUDA)):
            pass


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_ort_silent_cpu_fallback_is_caught(digits: dict[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """ORT runs on the CPU, with only a warning, when CUDA cannot load: edgekit fails instead."""
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(BackendUnavailable, match="did not activate CUDAExecutionProvider"):
        with backends.runner(Backend.ORT, str(digits["digits_cnn_plain"]),
                             RunnerOptions(device=Device.CUDA)):
            pass


def test_provider_and_device_must_agree() -> None:
    with pytest.raises(ConfigError, match="conflicts with --device"):
        backends.runner(Backend.ORT, "m.onnx", RunnerOptions(provider=Provider.CUDA))


def test_ort_reports_a_corrupt_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(SourceError, match="ONNX Runtime cannot load the model") as e:
        with backends.runner(Backend.ORT, str(bad), RunnerOptions()):
            pass
    assert "\n" not in e.value.line() and str(bad) in e.value.line()


def test_torch_mac_count_matches_the_onnx_count(digits: dict[str, Path]) -> None:
    import onnx

    from edgekit import graph

    with backends.runner(Backend.TORCH, digits_spec(), TORCH_OPTS) as r:
        macs = r.count_macs(_x(1))  # type: ignore[attr-defined]
    assert macs == graph.count_macs(onnx.load(digits["digits_cnn_plain"])) > 0


@pytest.mark.gpu
def test_torch_cuda_graphs_match_eager_and_report_the_split(digits: dict[str, Path]) -> None:
    x = _x(4)
    eager = RunnerOptions(device=Device.CUDA, source=TORCH_OPTS.source)
    graphs = RunnerOptions(device=Device.CUDA, cuda_graphs=True, source=TORCH_OPTS.source)
    with backends.runner(Backend.TORCH, digits_spec(), eager) as r:
        a = r.infer({"input": x})["logits"]
    with backends.runner(Backend.TORCH, digits_spec(), graphs) as r:
        b = r.infer({"input": x})["logits"]
        split = r.split_ms({"input": x}, 5)
        assert split is not None and all(v > 0 for v in split.values())
        assert (r.gpu_peak_mb() or 0) > 0
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_torch_compile_matches_eager(digits: dict[str, Path]) -> None:
    x = _x(4)
    with backends.runner(Backend.TORCH, digits_spec(), TORCH_OPTS) as r:
        eager = r.infer({"input": x})["logits"]
    opts = RunnerOptions(compile=True, source=TORCH_OPTS.source)
    with backends.runner(Backend.TORCH, digits_spec(), opts) as r:
        compiled = r.infer({"input": x})["logits"]
        assert r.settings()["compile"] is True
        assert type(r.model).__name__ == "OptimizedModule"
    np.testing.assert_allclose(eager, compiled, rtol=1e-4, atol=1e-4)
