"""The TensorRT/CUDA defects D1-D15 found by checking every call against the real bindings at the
release tags (8.6.1, 10.3.0 = JetPack 6, 10.13, 11.x): one test per defect, each against a fake
that fails the way the real API does (``tests/support/fakes/``). README: "What ran on a GPU"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import ROOT
from support.fakes import cudart
from support.trt import V8, V10, V10_JP6, V11, build, onnx_copy, onnx_variant

from edgekit.backends import Device, RunnerOptions
from edgekit.backends.trt import TrtRunner, gpu_identity
from edgekit.errors import ConfigError, ExportError
from edgekit.jetson import parse_line
from edgekit.trt import cuda_rt

# D1: cuda-python>=12 resolves to 13.x, which cannot talk to a CUDA 12 driver (JetPack 6).

def test_d1_bindings_newer_than_the_driver_fail_in_one_line_naming_the_pin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cudart.reset()
    monkeypatch.setattr(cuda_rt, "load", lambda: cudart)
    monkeypatch.setattr(cudart, "__version__", "13.4.4")  # what cuda-python>=12 resolves to
    monkeypatch.setattr(cudart, "DRIVER_VERSION", 12060)  # JetPack 6.1/6.2
    pin = 'cuda-python 13.4.4 needs a CUDA 13 driver, this driver is CUDA 12.6; pip install ' \
          '"cuda-python>=12,<13"'
    with pytest.raises(cuda_rt.DriverMismatch, match=pin.replace("(", r"\(")) as e:
        cuda_rt.open_cuda()
    assert "\n" not in e.value.line()
    with pytest.raises(cuda_rt.DriverMismatch, match="needs a CUDA 13 driver"):
        gpu_identity()  # not hidden behind an nvidia-smi answer
    monkeypatch.setattr(cudart, "DRIVER_VERSION", 13000)  # a CUDA 13 driver: fine
    assert cuda_rt.open_cuda().properties(0)["driver"] == 13000


def test_d1_fake_driver_too_old_fails_every_call_like_the_real_bindings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cudart.reset()
    monkeypatch.setattr(cudart, "__version__", "13.4.4")
    assert cudart.cudaStreamCreate()[0] == cudart.cudaError_t.cudaErrorInsufficientDriver
    assert cudart.cudaMalloc(16)[0] == cudart.cudaError_t.cudaErrorInsufficientDriver


def test_d1_extras_pin_cuda_python_by_cuda_major() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extras["trt-cu12"] == ["tensorrt-cu12>=10,<11", "cuda-python>=12,<13"]
    assert "cuda-python>=13,<14" in extras["trt-cu13"]
    assert "cuda-python>=12,<13" in extras["jetson"]
    assert not any(r.startswith("tensorrt") for r in extras["jetson"])  # JetPack brings it
    for name in ("trt", "trt-cu12", "trt-cu13", "jetson"):
        assert all("<" in r for r in extras[name] if r.startswith("cuda-python")), name


# D2: --dla-core on the default path (dynamic profile, no FP16/INT8 flag).

def test_d2_dla_without_a_precision_is_refused_before_building(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    trt = use(V10_JP6, dla_cores=2)
    with pytest.raises(ConfigError, match="--dla-core needs --precision fp16 or int8"):
        build(onnx_copy(digits, tmp_path), dla_core=0)
    assert not any(c[0] == "build_serialized_network" for c in trt.calls)


def test_d2_dla_builds_a_static_profile(use: Any, tmp_path: Path,
                                        digits: dict[str, Path]) -> None:
    from edgekit.trt.engine import parse_shapes

    trt = use(V10_JP6, dla_cores=2)
    m = build(onnx_copy(digits, tmp_path), dla_core=0, precision="fp16")
    assert m["profiles"] == {"input": [[1, 3, 32, 32]] * 3}  # DLA: min = opt = max
    assert ("set_flag", trt.BuilderFlag.FP16) in trt.calls
    assert m["layers"]["by_precision"] == {"fp16": 3} and m["dla"]["on_dla"] > 0
    m = build(onnx_copy(digits, tmp_path), dla_core=0, precision="fp16",
              shapes=parse_shapes(["input:1x3x32x32,8x3x32x32,32x3x32x32"]))
    assert m["profiles"] == {"input": [[8, 3, 32, 32]] * 3}  # the OPT batch


def test_d2_layers_dla_cannot_run_need_gpu_fallback(use: Any, tmp_path: Path,
                                                   digits: dict[str, Path]) -> None:
    use(V10_JP6, dla_cores=1)
    onnx = onnx_variant(digits, tmp_path, "softmax")
    with pytest.raises(ConfigError, match=r"--dla-core: 1 of \d+ layers cannot run on DLA; add "
                                          "--gpu-fallback"):
        build(onnx, dla_core=0, precision="fp16")
    m = build(onnx, dla_core=0, precision="fp16", gpu_fallback=True)
    assert m["dla"]["on_dla"] == m["dla"]["layers"] - 1


@pytest.mark.parametrize("version", [V10, V11])
def test_d2_dla_is_refused_where_tensorrt_has_none(use: Any, tmp_path: Path,
                                                   digits: dict[str, Path], version: str) -> None:
    use(version, dla_cores=2)
    with pytest.raises(ConfigError, match=f"TensorRT {version} has no DLA support"):
        build(onnx_copy(digits, tmp_path), dla_core=0, precision=None)


# D3: TRT 8.6 has no STRONGLY_TYPED: the ONNX's precision needs builder flags.

def test_d3_fp16_onnx_on_8_6_sets_fp16_and_says_weakly_typed(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    trt = use(V8)
    m = build(onnx_variant(digits, tmp_path, "fp16"))
    assert ("set_flag", trt.BuilderFlag.FP16) in trt.calls
    assert m["strongly_typed"] is False and m["layers"]["by_precision"] == {"fp16": 3}


def test_d3_qdq_onnx_on_8_6_sets_int8_so_it_builds(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    trt = use(V8)
    m = build(onnx_variant(digits, tmp_path, "qdq"))
    assert {("set_flag", trt.BuilderFlag.INT8), ("set_flag", trt.BuilderFlag.FP16)} <= \
        set(trt.calls)
    assert m["strongly_typed"] is False and m["layers"]["by_precision"] == {"int8": 3}
    trt = use(V10)  # strongly typed on 10: no flags, the Q/DQ carries the precision
    m = build(onnx_variant(digits, tmp_path, "qdq"))
    assert not any(c[0] == "set_flag" for c in trt.calls) and m["strongly_typed"] is True
    assert m["layers"]["by_precision"] == {"int8": 3}


# D4: --hardware-compatible same-cc before 10.9.

@pytest.mark.parametrize("version", [V8, V10_JP6])
def test_d4_same_cc_before_10_9_is_a_config_error(use: Any, tmp_path: Path,
                                                  digits: dict[str, Path], version: str) -> None:
    trt = use(version)
    with pytest.raises(ConfigError, match=f"same-cc needs TensorRT >= 10.9, this is {version}"):
        build(onnx_copy(digits, tmp_path), hardware_compatible="same-cc")
    assert not any(c[0] == "create_network" for c in trt.calls)


def test_d4_same_cc_from_10_9(use: Any, tmp_path: Path,
                              digits: dict[str, Path]) -> None:
    trt = use(V10)
    build(onnx_copy(digits, tmp_path), hardware_compatible="same-cc")
    assert ("config.hardware_compatibility_level",
            trt.HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY) in trt.calls


# D5: CUDA-graph capture as trtexec does it.

def _runner_engine(use: Any, tmp_path: Path, digits: dict[str, Path], **kw: Any) -> Path:
    use(V10)
    path = Path(build(onnx_copy(digits, tmp_path))["path"])
    use(V10, **kw)
    return path


def test_d5_capture_syncs_first_and_is_thread_local(use: Any, tmp_path: Path,
                                                    digits: dict[str, Path]) -> None:
    path = _runner_engine(use, tmp_path, digits)
    x = np.ones((2, 3, 32, 32), np.float32)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA, cuda_graphs=True)) as r:
        r.infer({"input": x})
        assert r.settings()["cuda_graphs"] is True
    mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
    assert cudart.calls == [("cudaStreamBeginCapture", (mode, 0))]  # nothing left queued


def test_d5_enqueue_false_in_capture_falls_back_not_an_incomplete_graph(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    path = _runner_engine(use, tmp_path, digits, enqueue_fails_in_capture=True)
    x = np.ones((2, 3, 32, 32), np.float32)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA, cuda_graphs=True)) as r:
        for k in range(3):
            np.testing.assert_allclose(r.infer({"input": x * k})["logits"],
                                       np.full((2, 3), float(k)))
        s = r.settings()
        assert s["cuda_graphs"] is False and "capture failed" in s["cuda_graphs_fallback"]
    assert cudart.stats["cudaGraphLaunch"] == 0 and cudart.stats["cudaStreamBeginCapture"] == 1


def test_d5_invalidated_capture_falls_back_and_clears_the_error(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    path = _runner_engine(use, tmp_path, digits)
    x = np.ones((2, 3, 32, 32), np.float32)
    cudart.inject("cudaStreamEndCapture", cudart.cudaError_t.cudaErrorStreamCaptureInvalidated)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA, cuda_graphs=True)) as r:
        np.testing.assert_allclose(r.infer({"input": x * 2})["logits"], np.full((2, 3), 2.0))
        assert r.settings()["cuda_graphs"] is False
    assert cudart.stats["cudaGetLastError"] == 1


def test_d5_fake_capture_of_a_first_run_is_invalidated(use: Any) -> None:
    """The fake does what TensorRT does when a context's first enqueue of a shape is captured
    (it allocates): the capture is invalidated, so a runner without the warm-up fails here."""
    cudart.reset()
    s = cudart.cudaStreamCreate()[1]
    cudart.cudaStreamBeginCapture(s, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal)
    cudart.invalidate_capture(s)
    assert cudart.cudaStreamEndCapture(s)[0] == \
        cudart.cudaError_t.cudaErrorStreamCaptureInvalidated


# D6: AGX Orin: VIN_SYS_5V0 is one rail, not the board total.

def test_d6_agx_orin_power_is_the_sum_of_its_rails() -> None:
    from support.tegrastats import ORIN_JP7

    s = parse_line(ORIN_JP7)
    assert s["power_mw"] == 5139 + 3268 + 5500 and s["power_rail"] == "sum of rails"


# D7-D15: lower risk.

def test_d7_version_compatible_engine_is_inspected(use: Any, tmp_path: Path,
                                                   digits: dict[str, Path]) -> None:
    trt = use(V10)
    m = build(onnx_copy(digits, tmp_path), version_compatible=True)
    assert ("runtime.engine_host_code_allowed", True) in trt.calls
    assert m["layers"]["layers"] == 3  # not "did not deserialize for inspection"


def test_d8_parse_errors_on_8_6_keep_the_parsers_message(use: Any, tmp_path: Path,
                                                         digits: dict[str, Path]) -> None:
    trt = use(V8, parse_errors=1)
    assert not hasattr(trt.OnnxParser(None, None).get_error(0), "node_name")  # as in 8.6.1
    with pytest.raises(ExportError, match="first at node 10: No importer registered for op: "
                                          "FancyOp0"):
        build(onnx_copy(digits, tmp_path))


def test_d9_runner_registers_plugins_before_deserialising(use: Any, tmp_path: Path,
                                                          digits: dict[str, Path]) -> None:
    use(V10, plugins=True)
    path = Path(build(onnx_copy(digits, tmp_path))["path"])
    trt = use(V10, plugins=True)  # a fresh process: no plugins registered yet
    with TrtRunner(path, RunnerOptions(device=Device.CUDA)) as r:
        assert r.infer({"input": np.ones((1, 3, 32, 32), np.float32)})["logits"].shape == (1, 3)
    names = [c[0] for c in trt.calls]
    assert names.index("init_libnvinfer_plugins") < names.index("deserialize_cuda_engine")


def test_d10_a_foreign_timing_cache_is_kept_and_a_keyed_one_written(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    from edgekit.progress import Reporter

    use(V10)
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"FOREIGN-GPU-CACHE")
    warned: list[str] = []
    rep = Reporter()
    rep.warn = warned.append  # type: ignore[method-assign]
    from edgekit.trt import engine

    m = engine.build(onnx_copy(digits, tmp_path), engine.BuildOptions(timing_cache=cache), rep)
    keyed = tmp_path / f"timing.trt{V10}.sm89.cache"
    assert cache.read_bytes() == b"FOREIGN-GPU-CACHE" and keyed.read_bytes() == b"TIMING:"
    assert m["timing_cache"] == str(keyed) and "rejected this timing cache" in warned[0]


def test_d11_multi_input_calibration_is_refused(use: Any, tmp_path: Path,
                                                digits: dict[str, Path]) -> None:
    import onnx
    from onnx import TensorProto, helper

    src = onnx_copy(digits, tmp_path)
    m = onnx.load(str(src))
    m.graph.input.append(helper.make_tensor_value_info("aux", TensorProto.FLOAT, ["n", 4]))
    two = tmp_path / "two.onnx"
    onnx.save(m, str(two))
    use(V10)
    with pytest.raises(ConfigError, match=r"--calib feeds one input; this network has 2 "
                                          r"\(input, aux\)"):
        build(two, precision="int8", calib=digits["test"])


def test_d11_calibrator_gives_one_pointer_per_binding(use: Any) -> None:
    from edgekit.trt import trt_api

    trt = use(V10)
    cal = trt_api.entropy_calibrator(trt, [np.zeros((1, 3), np.float32)], None, lambda a: 77)
    assert cal.get_batch(["a", "b"]) == [77, 77] and cal.get_batch(["a", "b"]) is None


def test_d12_a_cuda_error_while_calibrating_fails_the_build(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    trt = use(V10)
    cudart.inject("cudaMemcpyAsync", cudart.cudaError_t.cudaErrorInvalidValue)
    with pytest.raises(ExportError, match=r"INT8 calibration failed: CUDA cudaMemcpyAsync "
                                          r"\(host to device\) failed"):
        build(onnx_copy(digits, tmp_path), precision="int8", calib=digits["test"])
    assert ("calibrated_batches", 0) in trt.calls and cudart.MEM == {}


def test_d13_d14_runner_records_pageable_memory_and_sets_the_dla_core(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    use(V10_JP6, dla_cores=2)
    path = Path(build(onnx_copy(digits, tmp_path), dla_core=1, precision="fp16")["path"])
    trt = use(V10_JP6, dla_cores=2)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA)) as r:
        assert r.settings()["host_memory"] == "pageable"
    names = [c[0] for c in trt.calls]
    assert ("runtime.DLA_core", 1) in trt.calls
    assert names.index("runtime.DLA_core") < names.index("deserialize_cuda_engine")


def test_d15_stream_handle_uses_the_native_handle_helper() -> None:
    pytest.importorskip("cuda.bindings.utils")
    from cuda.bindings import runtime

    cuda = cuda_rt.Cuda.__new__(cuda_rt.Cuda)
    assert cuda.handle(runtime.cudaStream_t(init_value=1234)) == 1234
    assert cuda.handle(cudart._Stream()) > 0  # the fake's stream: int() fallback


def test_fake_versions_have_only_what_the_release_has(use: Any) -> None:
    t8, t103, t11 = use(V8), use(V10_JP6), use(V11)
    assert not hasattr(t8.BuilderFlag, "BF16") and hasattr(t103.BuilderFlag, "BF16")
    assert not hasattr(t103.HardwareCompatibilityLevel, "SAME_COMPUTE_CAPABILITY")
    assert int(t11.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 0
    assert not hasattr(t11.BuilderFlag, "FP16") and not hasattr(t11, "IInt8EntropyCalibrator2")


def test_fake_inspector_honours_profiling_verbosity(use: Any, tmp_path: Path,
                                                    digits: dict[str, Path]) -> None:
    from support.fakes import trt_build

    trt = use(V10)
    meta = {"detailed": False, "precision": "fp32"}
    assert json.loads(trt_build.engine_information(trt, meta))["Layers"] == [
        "conv1 + relu", "pool", "fc"]
    from edgekit.trt import trt_api

    engine = trt_api.runtime(trt, trt.Logger(2)).deserialize_cuda_engine(
        Path(build(onnx_copy(digits, tmp_path))["path"]).read_bytes())
    assert engine is not None and trt_api.device_memory_bytes(engine) == 1 << 20
    assert json.loads(engine.create_engine_inspector().get_engine_information(
        trt.LayerInformationFormat.JSON))["Layers"][0]["LayerType"] == "CaskConvolution"


def test_fake_8_6_engine_has_no_device_memory_size_v2(use: Any, tmp_path: Path,
                                                      digits: dict[str, Path]) -> None:
    from edgekit.trt import trt_api

    trt = use(V8)
    engine = trt_api.runtime(trt, trt.Logger(2)).deserialize_cuda_engine(
        Path(build(onnx_copy(digits, tmp_path))["path"]).read_bytes())
    assert not hasattr(engine, "device_memory_size_v2")
    assert trt_api.device_memory_bytes(engine) == 1 << 20  # the 8.6 branch


def test_fake_cuda_checks_capacities_and_frees(use: Any) -> None:
    ok, ptr = cudart.cudaMalloc(8)
    host = np.zeros(4, np.float32)  # 16 bytes into 8
    err = cudart.cudaMemcpyAsync(ptr, host.ctypes.data, 16,
                                 cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                 cudart.cudaStreamCreate()[1])
    assert err == (cudart.cudaError_t.cudaErrorInvalidValue,)
    assert cudart.cudaFree(ptr) == (cudart.OK,)
    assert cudart.cudaFree(ptr) == (cudart.cudaError_t.cudaErrorInvalidValue,)
    cudart.inject("cudaMalloc", cudart.cudaError_t.cudaErrorMemoryAllocation)
    with pytest.raises(Exception, match="cudaMalloc failed"):
        cuda_rt.Cuda(cudart).malloc(8)
