"""The Runner protocol: every registered backend against the same contract, the capability
checks that refuse a request before any work, and the ORT provider check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import FIX, digits_spec

from edgekit import backends
from edgekit.backends import (
    Device,
    OrtSettings,
    Provider,
    RunnerOptions,
)
from edgekit.errors import BackendUnavailable, ConfigError, SourceError
from edgekit.images import photo_batch
from edgekit.precision import Precision
from edgekit.sources import Options

TORCH_OPTS = RunnerOptions(source=Options(weights=FIX / "digits_cnn.pth"))
CPU_BACKENDS = [b for b, spec in backends.REGISTRY.items() if Device.CPU in spec.devices]


def _target(backend: str, digits: dict[str, Path]) -> tuple[str, RunnerOptions]:
    if "onnx" in backends.get(backend).artifacts:
        return str(digits["digits_cnn_plain"]), RunnerOptions()
    return digits_spec(), TORCH_OPTS


def _x(batch: int) -> np.ndarray:
    from support.digits import PREPROCESS

    return np.resize(photo_batch(PREPROCESS, 4), (batch, 3, 32, 32)).astype(np.float32)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_every_registered_backend_keeps_the_runner_contract(backend: str,
                                                            digits: dict[str, Path]) -> None:
    target, opts = _target(backend, digits)
    with backends.runner(backends.get(backend), target, opts) as r:
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
        assert settings["runtime"] in ("onnxruntime", "torch", "openvino")
        r.sync()


def test_ort_and_torch_agree_on_the_same_images(digits: dict[str, Path]) -> None:
    x = _x(8)
    with backends.runner(backends.get("ort"), str(digits["digits_cnn_plain"]), RunnerOptions()) as r:
        a = next(iter(r.infer({"input": x}).values()))
    with backends.runner(backends.get("torch"), digits_spec(), TORCH_OPTS) as r:
        b = r.infer({"input": x})["logits"]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_torch_bf16_runs_and_stays_close_to_fp32(digits: dict[str, Path]) -> None:
    x = _x(16)
    with backends.runner(backends.get("torch"), digits_spec(), TORCH_OPTS) as r:
        ref = r.infer({"input": x})["logits"]
    opts = RunnerOptions(dtype=Precision.BF16, source=TORCH_OPTS.source)
    with backends.runner(backends.get("torch"), digits_spec(), opts) as r:
        low = r.infer({"input": x})["logits"]
        assert r.settings()["dtype"] == "bf16"
    assert low.dtype == np.float32 and (low.argmax(1) == ref.argmax(1)).mean() >= 0.9
    assert not np.array_equal(low, ref)  # it really ran in bf16


def test_torch_threads_are_set_and_restored(digits: dict[str, Path]) -> None:
    import torch

    before = torch.get_num_threads()
    opts = RunnerOptions(threads=1, source=TORCH_OPTS.source)
    with backends.runner(backends.get("torch"), digits_spec(), opts) as r:
        assert torch.get_num_threads() == 1 and r.settings()["threads"] == 1
    assert torch.get_num_threads() == before


def test_ort_session_settings_are_applied(digits: dict[str, Path]) -> None:
    s = OrtSettings(intra_threads=1, execution_mode="parallel", graph_optimization="basic")
    with backends.runner(backends.get("ort"), str(digits["digits_cnn_plain"]), RunnerOptions(ort=s)) as r:
        so = r.session.get_session_options()
        assert so.intra_op_num_threads == 1
        assert str(so.execution_mode).endswith("PARALLEL")
        assert str(so.graph_optimization_level).endswith("BASIC")
        assert r.settings()["providers"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize("backend,kind,opts,message", [
    ("ort", "source", RunnerOptions(), "takes an .onnx file"),
    ("torch", "onnx", RunnerOptions(), "takes a model spec"),
    ("tensorrt", "onnx", RunnerOptions(device=Device.CUDA), "takes a TensorRT engine"),
    ("tensorrt", "engine", RunnerOptions(), "does not run on --device cpu"),
    ("ort", "onnx", RunnerOptions(dtype=Precision.FP16), "does not compute in --dtype fp16"),
    ("ort", "onnx", RunnerOptions(cuda_graphs=True), "--cuda-graphs applies to --backend torch and tensorrt"),
    ("tensorrt", "engine", RunnerOptions(device=Device.CUDA, compile=True),
     "--compile applies to --backend torch only"),
    ("torch", "source", RunnerOptions(provider=Provider.CUDA), "--provider applies"),
    ("torch", "source", RunnerOptions(cuda_graphs=True), "--cuda-graphs needs --device cuda"),
])
def test_capabilities_refuse_a_request_before_any_work(backend: str, kind: str,
                                                       opts: RunnerOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backends.check(backends.get(backend), kind, opts)


def test_a_backend_without_a_registry_row_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    # a copy without the row (deleting from the shared dict and putting it back would move
    # tensorrt to the end for every later test in this process)
    monkeypatch.setattr(backends, "REGISTRY",
                        {k: v for k, v in backends.REGISTRY.items() if k != "tensorrt"})
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'.*backends: ort, torch, "
                                          "openvino"):
        backends.get("tensorrt")


def test_registry_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, edgekit.backends as b; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'tensorrt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ort_without_the_requested_provider_says_so(digits: dict[str, Path]) -> None:
    with pytest.raises(BackendUnavailable, match="no CUDAExecutionProvider"):
        with backends.runner(backends.get("ort"), str(digits["digits_cnn_plain"]),
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
        with backends.runner(backends.get("ort"), str(digits["digits_cnn_plain"]),
                             RunnerOptions(device=Device.CUDA)):
            pass


def test_provider_and_device_must_agree() -> None:
    with pytest.raises(ConfigError, match="conflicts with --device"):
        backends.runner(backends.get("ort"), "m.onnx", RunnerOptions(provider=Provider.CUDA))


def test_ort_reports_a_corrupt_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(SourceError, match="ONNX Runtime cannot load the model") as e:
        with backends.runner(backends.get("ort"), str(bad), RunnerOptions()):
            pass
    assert "\n" not in e.value.line() and str(bad) in e.value.line()


def test_torch_mac_count_matches_the_onnx_count(digits: dict[str, Path]) -> None:
    import onnx

    from edgekit import graph

    with backends.runner(backends.get("torch"), digits_spec(), TORCH_OPTS) as r:
        macs = r.count_macs(_x(1))  # type: ignore[attr-defined]
    assert macs == graph.count_macs(onnx.load(digits["digits_cnn_plain"])) > 0


@pytest.mark.gpu
def test_torch_cuda_graphs_match_eager_and_report_the_split(digits: dict[str, Path]) -> None:
    x = _x(4)
    eager = RunnerOptions(device=Device.CUDA, source=TORCH_OPTS.source)
    graphs = RunnerOptions(device=Device.CUDA, cuda_graphs=True, source=TORCH_OPTS.source)
    with backends.runner(backends.get("torch"), digits_spec(), eager) as r:
        a = r.infer({"input": x})["logits"]
    with backends.runner(backends.get("torch"), digits_spec(), graphs) as r:
        b = r.infer({"input": x})["logits"]
        split = r.split_ms({"input": x}, 5)
        assert split is not None and all(v > 0 for v in split.values())
        assert (r.gpu_peak_mb() or 0) > 0
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_torch_compile_matches_eager(digits: dict[str, Path]) -> None:
    x = _x(4)
    with backends.runner(backends.get("torch"), digits_spec(), TORCH_OPTS) as r:
        eager = r.infer({"input": x})["logits"]
    opts = RunnerOptions(compile=True, source=TORCH_OPTS.source)
    with backends.runner(backends.get("torch"), digits_spec(), opts) as r:
        compiled = r.infer({"input": x})["logits"]
        assert r.settings()["compile"] is True
        assert type(r.model).__name__ == "OptimizedModule"
    np.testing.assert_allclose(eager, compiled, rtol=1e-4, atol=1e-4)


TOY = '''
import numpy as np

from edgekit.backends import RunnerBase, TensorSpec


class ToyRunner(RunnerBase):
    """A runtime in one module: mean pixel per channel, times a fixed matrix, as logits."""

    def __init__(self, target, opts):
        self.target, self.opts = target, opts

    def __enter__(self):
        self.create_ms = 1.5
        self.w = np.arange(30, dtype=np.float32).reshape(3, 10) / 30
        return self

    def input_spec(self):
        return [TensorSpec("pixels", ("batch", 3, 32, 32), "float32")]

    def infer(self, feeds):
        x = feeds["pixels"].mean(axis=(2, 3))
        return {"logits": (x @ self.w).astype(np.float32)}

    def settings(self):
        return {"runtime": "toy", "threads": self.opts.threads}
'''


@pytest.fixture()
def toy_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A backend added the documented way: one module and one REGISTRY row, nothing else."""
    (tmp_path / "toy_runtime.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(backends.REGISTRY, "toy", backends.BackendSpec(
        name="toy", runner="toy_runtime:ToyRunner", artifacts=frozenset({"onnx"}),
        devices=frozenset({Device.CPU}), sweep=frozenset({Precision.FP32})))
    return "toy"


def test_a_toy_backend_is_one_module_and_one_row(toy_backend: str, digits: dict[str, Path],
                                                 tmp_path: Path) -> None:
    from edgekit import profile as pf

    onnx = str(digits["digits_cnn_plain"])
    rep = pf.profile(onnx, pf.ProfileOptions(
        backend=toy_backend, runner=RunnerOptions(threads=1), batches=(1, 4), warmup=1,
        iterations=5, data=digits["test"], store=tmp_path / "results"))
    assert [r.backend for r in rep.results] == ["toy", "toy"]
    r = rep.results[0]
    assert r.settings["runtime"] == "toy" and r.latency["session_create_ms"] == 1.5
    assert r.model["name"] == "digits_model:digits_cnn_plain"  # from the artifact's manifest
    assert r.accuracy is not None and r.accuracy["images"] == 450  # ran through the toy runner
    with pytest.raises(ConfigError, match="--tune applies to --backend ort and openvino only"):
        pf.profile(onnx, pf.ProfileOptions(backend=toy_backend, tune=True))
    with pytest.raises(ConfigError, match="--backend toy takes an .onnx file, not a model spec"):
        pf.profile(digits_spec(), pf.ProfileOptions(backend=toy_backend))


def test_the_cli_offers_a_new_row_without_other_changes(toy_backend: str,
                                                        digits: dict[str, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from edgekit.cli import main

    main(["profile", str(digits["digits_cnn_plain"]), "--backend", "toy", "--no-store",
          "--iterations", "3", "--warmup", "0", "--json"])  # returns: exit 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"][0]["backend"] == "toy"
    with pytest.raises(SystemExit, match="^2$") as bad:
        main(["profile", "m.onnx", "--backend", "tyo"])
    assert bad.value.code == 2 and "did you mean toy" in capsys.readouterr().err
