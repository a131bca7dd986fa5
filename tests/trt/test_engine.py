"""TensorRT build and runner logic against the strict fake module, per version (8.6, 10, 11):
flags, network creation, profiles, timing cache, DLA, the legacy path refused on 11, parser and
build failures, manifests, compatibility refusal, and the runner's plumbing through fake CUDA.
Nothing here runs TensorRT: see the README's "What ran on a GPU"."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import run_cli
from support.fakes import cudart
from support.trt import V8, V10, V10_JP6, V11, build, onnx_copy

from edgekit.backends import Device, RunnerOptions
from edgekit.backends.trt import TrtRunner, check_compatible
from edgekit.errors import BackendUnavailable, ConfigError, ExportError, SourceError
from edgekit.trt import cuda_rt, engine, trt_api

_onnx, _build = onnx_copy, build


@pytest.mark.parametrize("version,strongly,flags", [
    (V8, True, 1), (V8, False, 1),   # 8.6: EXPLICIT_BATCH always (bit 0)
    (V10, True, 2), (V10, False, 0),  # 10: STRONGLY_TYPED opt-in (bit 1), EXPLICIT_BATCH ignored
    (V11, True, 0), (V11, False, 0),  # 11: always strongly typed, no flags to give
])
def test_network_flags_per_version(use: Any, version: str, strongly: bool, flags: int) -> None:
    assert trt_api.network_flags(use(version), strongly) == flags


@pytest.mark.parametrize("version", [V10, V11])
def test_strongly_typed_build_writes_engine_and_manifest(use: Any, version: str, tmp_path: Path,
                                                         digits: dict[str, Path]) -> None:
    trt = use(version)
    onnx = _onnx(digits, tmp_path)
    doc = _build(onnx, workspace_mib=256, opt_level=4)
    out = tmp_path / "digits_cnn_plain.engine"
    assert doc["path"] == str(out) and out.read_bytes().startswith(b"FAKEPLAN")
    m = json.loads(Path(str(out) + ".json").read_text())
    assert m["kind"] == "engine" and m["tensorrt"] == version and m["strongly_typed"] is True
    assert m["gpu"]["name"] == "NVIDIA Fake GPU" and m["gpu"]["compute_capability"] == "8.9"
    assert m["gpu"]["sm_count"] == 58 and m["gpu"]["driver"] == 12080
    assert m["profiles"] == {"input": [[1, 3, 32, 32], [1, 3, 32, 32], [32, 3, 32, 32]]}
    assert m["lineage"]["parent"]["sha256"] and m["model"]["name"]  # lineage resolved once
    assert m["preprocess"]["height"] == 32 and m["build_seconds"] >= 0
    assert m["artifact"]["size_bytes"] == out.stat().st_size
    assert m["layers"] == {"layers": 3, "reformat_layers": 1,  # an FP32 ONNX, strongly typed
                           "by_precision": {"fp32": 3}, "percent": {"fp32": 100.0}}
    assert ("create_network", 2 if version == V10 else 0) in trt.calls
    assert ("set_memory_pool_limit", (trt.MemoryPoolType.WORKSPACE, 256 << 20)) in trt.calls
    assert ("config.builder_optimization_level", 4) in trt.calls
    assert not any(c[0] == "set_flag" for c in trt.calls)  # no precision flags when strongly typed


def test_legacy_fp16_sets_the_builder_flag_on_10(use: Any, tmp_path: Path,
                                                 digits: dict[str, Path]) -> None:
    trt = use(V10)
    m = _build(_onnx(digits, tmp_path), precision="fp16")
    assert ("create_network", 0) in trt.calls and ("set_flag", trt.BuilderFlag.FP16) in trt.calls
    assert m["strongly_typed"] is False and m["precision"] == "fp16"


@pytest.mark.parametrize("precision,fix", [("fp16", "edgekit quantize MODEL.onnx --fp16"),
                                           ("int8", "--int8 --target tensorrt"),
                                           ("best", "--int8 --target tensorrt")])
def test_legacy_path_is_refused_on_11(use: Any, tmp_path: Path, digits: dict[str, Path],
                                      precision: str, fix: str) -> None:
    trt = use(V11)
    with pytest.raises(ConfigError, match="builds strongly typed networks only") as e:
        _build(_onnx(digits, tmp_path), precision=precision)
    assert fix in e.value.line() and "\n" not in e.value.line()
    assert not any(c[0] == "create_network" for c in trt.calls)  # refused before any work


def test_legacy_int8_calibrates_from_images_with_a_cache(use: Any, tmp_path: Path,
                                                          digits: dict[str, Path]) -> None:
    trt = use(V10)
    cache = tmp_path / "calib.cache"
    shapes = engine.parse_shapes(["input:1x3x32x32,8x3x32x32,32x3x32x32"])
    m = _build(_onnx(digits, tmp_path), precision="int8", calib=digits["test"], calib_cache=cache,
               shapes=shapes)
    assert ("set_flag", trt.BuilderFlag.INT8) in trt.calls
    assert ("set_calibration_profile", {"input": shapes["input"]}) in trt.calls
    (calibrator,) = [v for k, v in trt.calls if k == "config.int8_calibrator"]
    assert isinstance(calibrator, trt.IInt8EntropyCalibrator2)
    assert calibrator.get_batch_size() == 8  # the profile's OPT batch, which TensorRT reads
    assert len(calibrator.batches) == 57 and all(len(b) == 8 for b in calibrator.batches)
    # the build itself drove the calibrator through every batch, then wrote the cache
    assert ("calibrated_batches", 57) in trt.calls and calibrator.error is None
    assert cache.read_bytes() == b"TRT-FAKE-EntropyCalibration2\n"
    assert m["layers"]["by_precision"] == {"int8": 3}
    assert cudart.MEM == {} and cudart.stats["cudaMalloc"] == 1  # one buffer, freed after
    trt = use(V10)
    _build(_onnx(digits, tmp_path), precision="int8", calib_cache=cache, shapes=shapes)
    assert ("calibration_cache_read", len(cache.read_bytes())) in trt.calls
    assert not any(k == "calibrated_batches" for k, _ in trt.calls)


def test_calibration_options_need_the_legacy_int8_path(use: Any, tmp_path: Path,
                                                       digits: dict[str, Path]) -> None:
    use(V10)
    with pytest.raises(ConfigError, match="--calib calibrates the legacy INT8 build"):
        _build(_onnx(digits, tmp_path), calib=digits["test"])
    with pytest.raises(ConfigError, match="--calib-cache belongs to the legacy INT8 build"):
        _build(_onnx(digits, tmp_path), calib_cache=tmp_path / "c.cache")


def test_shapes_profile_and_errors(use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    trt = use(V10)
    onnx = _onnx(digits, tmp_path)
    shapes = engine.parse_shapes(["input:1x3x32x32,8x3x32x32,64x3x32x32"])
    m = _build(onnx, shapes=shapes)
    assert ("set_shape", ("input", (1, 3, 32, 32), (8, 3, 32, 32), (64, 3, 32, 32))) in trt.calls
    assert m["profiles"]["input"][2] == [64, 3, 32, 32]
    with pytest.raises(ConfigError, match="'image', which is not an input; the inputs are: input"):
        _build(onnx, shapes=engine.parse_shapes(["image:1x3x32x32"]))
    with pytest.raises(ConfigError, match="does not fit the input"):
        _build(onnx, shapes=engine.parse_shapes(["input:1x3x64x64"]))


@pytest.mark.parametrize("spec,message", [
    ("input", "is not NAME:MIN,OPT,MAX"), ("input:1x3x32", "is not NAME"),
    ("input:1x3,1x3x4,1x3", "same rank"), ("input:8x3,1x3,4x3", "min <= opt <= max"),
    ("input:0x3", "is not NAME"),
])
def test_parse_shapes_rejects(spec: str, message: str) -> None:
    if spec == "input:1x3x32":
        assert engine.parse_shapes([spec]) == {"input": ((1, 3, 32),) * 3}
        return
    with pytest.raises(ConfigError, match=message):
        engine.parse_shapes([spec])


def test_timing_cache_is_loaded_and_saved_back(use: Any, tmp_path: Path,
                                               digits: dict[str, Path]) -> None:
    trt = use(V10)
    cache = tmp_path / "timing.cache"
    onnx = _onnx(digits, tmp_path)
    _build(onnx, timing_cache=cache)
    assert ("create_timing_cache", b"") in trt.calls and cache.read_bytes() == b"TIMING:"
    _build(onnx, timing_cache=cache)
    assert ("create_timing_cache", b"TIMING:") in trt.calls  # the saved cache was read back
    assert cache.read_bytes() == b"TIMING:TIMING:"


def test_dla_core_and_gpu_fallback(use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    trt = use(V10_JP6, dla_cores=2)
    m = _build(_onnx(digits, tmp_path), dla_core=1, gpu_fallback=True, precision="fp16")
    assert ("config.default_device_type", trt.DeviceType.DLA) in trt.calls
    assert ("config.DLA_core", 1) in trt.calls and ("set_flag", trt.BuilderFlag.GPU_FALLBACK) in \
        trt.calls
    assert m["dla"]["core"] == 1 and m["dla"]["on_dla"] == m["dla"]["layers"] > 0
    with pytest.raises(ConfigError, match="has 2 DLA core"):
        _build(_onnx(digits, tmp_path), dla_core=2, precision="fp16")
    use(V10_JP6, dla_cores=0)
    with pytest.raises(ConfigError, match="this device has no DLA"):
        _build(_onnx(digits, tmp_path), dla_core=0, precision="fp16")
    with pytest.raises(ConfigError, match="--gpu-fallback needs --dla-core"):
        _build(_onnx(digits, tmp_path), gpu_fallback=True)


def test_portability_flags(use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    trt = use(V11)
    m = _build(_onnx(digits, tmp_path), hardware_compatible="ampere+", version_compatible=True)
    assert ("config.hardware_compatibility_level", trt.HardwareCompatibilityLevel.AMPERE_PLUS) in \
        trt.calls
    assert ("set_flag", trt.BuilderFlag.VERSION_COMPATIBLE) in trt.calls
    assert m["build"]["hardware_compatible"] == "ampere+" and m["build"]["version_compatible"]


def test_parser_errors_one_per_node_then_one_line(use: Any, tmp_path: Path,
                                                  digits: dict[str, Path]) -> None:
    from edgekit.progress import Reporter

    use(V10, parse_errors=2)
    warned: list[str] = []
    rep = Reporter()
    rep.warn = warned.append  # type: ignore[method-assign]
    onnx = _onnx(digits, tmp_path)
    with pytest.raises(ExportError, match="2 error\\(s\\), first at node 10 '/blocks.0/FancyOp' "
                                          "\\(FancyOp0\\)") as e:
        engine.build(onnx, engine.BuildOptions(), rep)
    assert warned == [f"TensorRT parser: node {10 + i} '/blocks.{i}/FancyOp' (FancyOp{i}): "
                      f"No importer registered for op: FancyOp{i}" for i in range(2)]
    assert str(onnx) in e.value.line() and not (tmp_path / "digits_cnn_plain.engine").exists()


def test_build_returning_none_names_the_onnx(use: Any, tmp_path: Path,
                                             digits: dict[str, Path]) -> None:
    use(V10, build_fails=True)
    onnx = _onnx(digits, tmp_path)
    with pytest.raises(ExportError, match="returned None") as e:
        _build(onnx)
    assert str(onnx) in e.value.line()
    assert sorted(p.name for p in tmp_path.iterdir()) == [onnx.name, onnx.name + ".json"]


def test_layer_summary_reads_the_inspector_format() -> None:
    info = json.dumps({"Layers": [
        {"LayerType": "CaskConvolution", "Outputs": [{"Format/Datatype": "Half"}]},
        {"LayerType": "NoOp", "Outputs": [{"Format/Datatype": "N/A due to dynamic shapes"}]},
        {"LayerType": "Reformat", "Outputs": [{"Format/Datatype": "Float"}]},
        "a layer name only (LAYER_NAMES_ONLY verbosity)"]})
    s = engine.layer_summary(info)
    assert s["by_precision"] == {"fp16": 1, "unknown": 1} and s["reformat_layers"] == 1
    assert engine.layer_summary("not json")["layers"] == 0


def _engine(use: Any, tmp_path: Path, digits: dict[str, Path], version: str = V10,
            **kw: Any) -> Path:
    use(version)
    return Path(_build(_onnx(digits, tmp_path), **kw)["path"])


def test_runner_runs_the_engine_through_cuda(use: Any, tmp_path: Path,
                                             digits: dict[str, Path]) -> None:
    path = _engine(use, tmp_path, digits)
    x = np.random.default_rng(0).normal(size=(4, 3, 32, 32)).astype(np.float32)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA)) as r:
        assert [s.to_dict() for s in r.input_spec()] == [
            {"name": "input", "shape": ["batch", 3, 32, 32], "dtype": "float32"}]
        y = r.infer({"input": x})["logits"]
        np.testing.assert_allclose(y, x.reshape(4, 3, -1).mean(2), rtol=1e-6)
        split = r.split_ms({"input": x}, 3)
        assert split is not None and set(split) == {"h2d_ms", "compute_ms", "d2h_ms"}
        s = r.settings()
        assert s["transfers_in_latency"] is True and s["cuda_graphs"] is False
        assert s["tensorrt"] == V10 and r.manifest is not None and r.manifest["preprocess"]["height"] == 32
        with pytest.raises(ConfigError, match="outside the engine's profile"):
            r.infer({"input": np.zeros((33, 3, 32, 32), np.float32)})
    assert cudart.MEM == {}  # every device buffer freed


def test_runner_cuda_graph_captures_once_then_replays(use: Any, tmp_path: Path,
                                                      digits: dict[str, Path]) -> None:
    path = _engine(use, tmp_path, digits)
    x = np.ones((2, 3, 32, 32), np.float32)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA, cuda_graphs=True)) as r:
        for k in range(3):
            y = r.infer({"input": x * k})["logits"]
            np.testing.assert_allclose(y, np.full((2, 3), float(k)))
    assert cudart.stats["cudaStreamBeginCapture"] == 1 and cudart.stats["cudaGraphLaunch"] == 3


def test_engine_for_another_tensorrt_or_gpu_is_refused_before_deserialising(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    path = _engine(use, tmp_path, digits, V10)
    trt = use("10.3.0.30")  # JetPack 6's TensorRT
    with pytest.raises(ConfigError, match="built with TensorRT 10.13.0.35, this machine has "
                                          "10.3.0.30"):
        TrtRunner(path, RunnerOptions(device=Device.CUDA)).__enter__()
    assert not any(c[0] == "deserialize_cuda_engine" for c in trt.calls)
    m = json.loads(Path(str(path) + ".json").read_text())
    gpu = {"name": "NVIDIA Fake GPU", "compute_capability": "8.9"}
    check_compatible(m, V10, gpu, path)  # same: fine
    with pytest.raises(ConfigError, match="built for NVIDIA Fake GPU \\(sm 8.9\\), this GPU is "
                                          "Orin \\(sm 8.7\\)"):
        check_compatible(m, V10, {"name": "Orin", "compute_capability": "8.7"}, path)
    m["build"]["hardware_compatible"] = "ampere+"
    check_compatible(m, V10, {"name": "Orin", "compute_capability": "8.7"}, path)
    m["build"]["version_compatible"] = True
    check_compatible(m, "11.4.0.106", gpu, path)


def test_profile_an_engine_like_any_other_artifact(use: Any, tmp_path: Path,
                                                   digits: dict[str, Path]) -> None:
    from edgekit import profile as pf

    path = _engine(use, tmp_path, digits)
    rep = pf.profile(str(path), pf.ProfileOptions(
        runner=RunnerOptions(device=Device.CUDA), batches=(1, 4), warmup=1, iterations=5,
        data=digits["test"], store=tmp_path / "results"))
    r = rep.results[0]
    assert r.backend == "tensorrt" and r.device == "cuda" and [x.batch for x in rep.results] == [1, 4]
    assert r.latency["split_ms"] is not None and r.settings["transfers_in_latency"] is True
    assert r.accuracy is not None and r.accuracy["images"] == 450  # runs through the fake engine
    assert r.model["name"] == "digits_model:digits_cnn_plain" and r.id is not None


def test_tensorrt_runs_on_cuda_only() -> None:
    from edgekit import backends

    with pytest.raises(ConfigError, match="does not run on --device cpu"):
        backends.check(backends.get("tensorrt"), "engine", RunnerOptions())


def test_without_tensorrt_build_says_what_to_install(tmp_path: Path,
                                                     digits: dict[str, Path]) -> None:
    onnx = _onnx(digits, tmp_path)
    r = run_cli("build", str(onnx), env={"PYTHONPATH": ""})
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert 'TensorRT is not installed; pip install "edgekit[trt-cu12]" (or [trt-cu13]' in r.stderr
    assert not (tmp_path / "digits_cnn_plain.engine").exists()


def test_build_help_shows_every_option() -> None:
    r = run_cli("build", "--help", env={"COLUMNS": "200"})
    for opt in ("--precision", "--shapes", "--workspace", "--timing-cache", "--opt-level",
                "--dla-core", "--gpu-fallback", "--hardware-compatible", "--version-compatible",
                "--calib", "--calib-cache", "--verbose", "--json"):
        assert opt in r.stdout, opt


def test_missing_onnx_or_wrong_file_type(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="takes an .onnx file"):
        engine.build(tmp_path / "m.engine", engine.BuildOptions())
    with pytest.raises(SourceError, match="not found or empty"):
        engine.build(tmp_path / "m.onnx", engine.BuildOptions())


def test_trt_api_load_without_tensorrt_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        trt_api.load()


@pytest.mark.gpu
def test_real_tensorrt_builds_and_runs_the_digits_model(tmp_path: Path,
                                                        digits: dict[str, Path]) -> None:
    pytest.importorskip("tensorrt")
    path = Path(_build(_onnx(digits, tmp_path))["path"])
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA)) as r:
        assert r.infer({"input": x})["logits"].shape == (2, 10)


def test_runner_works_over_pycuda_too(use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    from support.fakes import pycuda_driver

    path = _engine(use, tmp_path, digits)
    cuda = cuda_rt.PyCuda(pycuda_driver)
    assert cuda.properties(0)["sm_count"] == 58 and cuda.properties(0)["runtime"] == 12060
    x = np.random.default_rng(1).normal(size=(3, 3, 32, 32)).astype(np.float32)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA), cuda=cuda) as r:
        np.testing.assert_allclose(r.infer({"input": x})["logits"], x.reshape(3, 3, -1).mean(2),
                                   rtol=1e-6)
        assert set(r.split_ms({"input": x}, 2) or {}) == {"h2d_ms", "compute_ms", "d2h_ms"}
    assert cudart.MEM == {}
    with TrtRunner(path, RunnerOptions(device=Device.CUDA, cuda_graphs=True),
                   cuda=cuda_rt.PyCuda(pycuda_driver)) as r:
        with pytest.raises(ConfigError, match="--cuda-graphs needs cuda-python"):
            r.infer({"input": x})


def test_open_cuda_prefers_cuda_python_then_pycuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(cuda_rt, "load", lambda: cudart)
    assert isinstance(cuda_rt.open_cuda(), cuda_rt.Cuda)

    def missing() -> Any:
        raise BackendUnavailable("cuda-python is not installed", "pip install ...")

    monkeypatch.setattr(cuda_rt, "load", missing)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendUnavailable, match="cuda-python is not installed"):
        cuda_rt.open_cuda()


def test_runner_refuses_shapes_below_the_profile_and_frees_what_it_made(
        use: Any, tmp_path: Path, digits: dict[str, Path]) -> None:
    use(V10)
    onnx = _onnx(digits, tmp_path)
    path = Path(_build(onnx, shapes=engine.parse_shapes(["input:4x3x32x32,8x3x32x32,16x3x32x32"]))
                ["path"])
    x = np.ones((8, 3, 32, 32), np.float32)
    with TrtRunner(path, RunnerOptions(device=Device.CUDA, cuda_graphs=True)) as r:
        r.infer({"input": x[:4]})
        r.infer({"input": x})  # a larger batch: the buffer grows, the old one is freed
        r.split_ms({"input": x}, 2)
        with pytest.raises(ConfigError, match=r"\[1, 3, 32, 32\] is outside the engine's profile"):
            r.infer({"input": x[:1]})
    assert cudart.MEM == {} and cudart.stats["cudaFree"] == cudart.stats["cudaMalloc"]
    assert cudart.stats["cudaStreamDestroy"] == 1 and cudart.stats["cudaEventDestroy"] == 4
    assert cudart.stats["cudaGraphDestroy"] == cudart.stats["cudaStreamBeginCapture"] == 2
    assert cudart.stats["cudaGraphExecDestroy"] == 2  # one replaced by the bigger buffers, one at exit


def test_runner_refuses_io_types_numpy_cannot_carry(use: Any, tmp_path: Path,
                                                    digits: dict[str, Path]) -> None:
    path = _engine(use, tmp_path, digits)
    use(V10, io_dtype="BF16")
    with pytest.raises(ConfigError, match="engine tensor 'input' is BF16"):
        TrtRunner(path, RunnerOptions(device=Device.CUDA)).__enter__()
    assert cudart.MEM == {}


def test_legacy_int8_without_calibration_or_qdq_is_refused(use: Any, tmp_path: Path,
                                                           digits: dict[str, Path]) -> None:
    trt = use(V10)
    with pytest.raises(ConfigError, match="needs calibration: the ONNX has no Q/DQ scales"):
        _build(_onnx(digits, tmp_path), precision="int8")
    assert not any(c[0] == "create_network" for c in trt.calls)


def test_cache_folders_are_checked_before_building(use: Any, tmp_path: Path,
                                                   digits: dict[str, Path]) -> None:
    from edgekit.errors import EdgekitError

    trt = use(V10)
    with pytest.raises(EdgekitError, match="does not exist"):
        _build(_onnx(digits, tmp_path), timing_cache=tmp_path / "no" / "t.cache")
    assert not any(c[0] == "build_serialized_network" for c in trt.calls)
