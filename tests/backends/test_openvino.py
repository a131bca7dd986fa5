"""The OpenVINO runner: outputs that match ONNX Runtime (FP32, INT8 QDQ), the f32 precision
hint set for every artifact and bf16 only when asked (verified, recorded as bf16), static and
dynamic batch, --tune through the runner, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support import run_cli

from edgekit import backends, manifest
from edgekit import profile as pf
from edgekit.backends import RunnerOptions
from edgekit.device import has_bf16
from edgekit.errors import ConfigError, SourceError, Unsupported
from edgekit.precision import Precision
from edgekit.reproduce import profile_command

pytest.importorskip("openvino")
OV = backends.get("openvino")
ORT = backends.get("ort")


def _x(batch: int) -> np.ndarray:
    from support.digits import PREPROCESS

    from edgekit.images import photo_batch

    return np.resize(photo_batch(PREPROCESS, 8), (batch, 3, 32, 32)).astype(np.float32)


def _both(path: Path, x: np.ndarray, opts: RunnerOptions | None = None
          ) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    with backends.runner(ORT, str(path), RunnerOptions()) as r:
        a = next(iter(r.infer({"input": x}).values()))
    with backends.runner(OV, str(path), opts or RunnerOptions()) as r:
        b = next(iter(r.infer({"input": x}).values()))
        settings = r.settings()
    return a, b, settings


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


def test_fp32_matches_onnx_runtime_and_runs_in_f32(digits: dict[str, Path]) -> None:
    for batch in (1, 5):
        a, b, settings = _both(digits["digits_cnn_plain"], _x(batch))
        assert b.shape == (batch, 10) and b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        assert settings["inference_precision"] == "f32"  # never OpenVINO's bf16 default
        assert settings["runtime"] == "openvino" and settings["openvino"]
        assert settings["threads"] and settings["streams"] and settings["performance_hint"]
        assert settings["compiled_batches"] == sorted({1, batch})  # reshaped per batch size


def test_int8_qdq_matches_onnx_runtime(digits_int8: dict[str, Path]) -> None:
    a, b, settings = _both(digits_int8["digits_cnn_plain"], _x(16))
    assert settings["inference_precision"] == "f32"  # the float parts of the QDQ graph
    assert _cosine(a, b) > 0.99 and (a.argmax(1) == b.argmax(1)).mean() >= 0.9


def test_a_static_batch_model_runs_at_its_batch(tmp_path: Path) -> None:
    from support import FIX, digits_spec

    from edgekit.export import ExportOptions, export
    from edgekit.sources import Options

    path = export(digits_spec(), ExportOptions(output=tmp_path / "b2.onnx", batch=2),
                  Options(weights=FIX / "digits_cnn.pth")).path
    a, b, settings = _both(path, _x(2))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    with backends.runner(OV, str(path), RunnerOptions()) as r:
        assert r.input_spec()[0].shape == (2, 3, 32, 32) and r.input_spec()[0].static_batch == 2
    assert settings["compiled_batches"] == [2]


@pytest.mark.skipif(not has_bf16(), reason="this CPU has no bf16 (the refusal is tested below)")
def test_bf16_only_when_asked_and_close_to_f32(digits: dict[str, Path]) -> None:
    x = _x(16)
    _, f32, _ = _both(digits["digits_cnn_plain"], x)
    _, low, settings = _both(digits["digits_cnn_plain"], x, RunnerOptions(dtype=Precision.BF16))
    assert settings["inference_precision"] == "bf16"
    assert not np.array_equal(low, f32)  # it really ran in bf16
    assert _cosine(low, f32) > 0.999 and (low.argmax(1) == f32.argmax(1)).mean() >= 0.9


def test_bf16_is_refused_on_a_cpu_without_it(digits: dict[str, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit import device

    plain = {**device.cpu_info(), "flags": ["avx2", "fma"]}
    monkeypatch.setattr(device, "cpu_info", lambda: plain)
    with pytest.raises(Unsupported, match="no bf16 instructions") as e:
        backends.runner(OV, str(digits["digits_cnn_plain"]), RunnerOptions(dtype=Precision.BF16))
    assert "\n" not in e.value.line()


@pytest.mark.skipif(not has_bf16(), reason="this CPU has no bf16")
def test_profile_bf16_is_verified_and_recorded_as_bf16(digits: dict[str, Path],
                                                       digits_int8: dict[str, Path]) -> None:
    opts = pf.ProfileOptions(backend="openvino", runner=RunnerOptions(dtype=Precision.BF16),
                             warmup=1, iterations=5, data=digits["test"])
    r = pf.profile(str(digits["digits_cnn_plain"]), opts).results[0]
    assert r.model["precision"] == "bf16" and r.settings["inference_precision"] == "bf16"
    ver = r.settings["verification"]
    assert ver["reference"] == "openvino fp32" and ver["images"] == 28
    assert ver["top1_agreement"] >= 90 and ver["cosine_min"] > 0.99
    assert r.accuracy is not None and r.accuracy["top1"] > 90  # measured like any runner


@pytest.mark.skipif(not has_bf16(), reason="this CPU has no bf16")
def test_int8_with_bf16_for_the_rest_is_its_own_precision_checked_against_fp32(
        digits: dict[str, Path], digits_int8: dict[str, Path], tmp_path: Path) -> None:
    """benchmark_app's default on a bf16 CPU: the INT8 artifact, its float rest in bf16. It is
    recorded as int8-bf16, never int8, and compared with the FP32 parent's outputs."""
    int8 = digits_int8["digits_cnn_plain"]
    opts = pf.ProfileOptions(backend="openvino", runner=RunnerOptions(dtype=Precision.BF16),
                             warmup=1, iterations=5)
    r = pf.profile(str(int8), opts).results[0]
    assert r.model["precision"] == "int8-bf16" and r.settings["inference_precision"] == "bf16"
    ver = r.settings["verification"]
    parent = manifest.for_artifact(int8).lineage.parent
    assert ver["reference"].startswith("openvino fp32 parent")
    assert ver["reference_sha256"] == parent.sha256 and ver["images"] == 28
    assert ver["top1_agreement"] >= 90
    row = {"backend": "openvino", "batch": 1, "precision": "int8-bf16", "result": r.to_dict()}
    assert " --dtype bf16" in profile_command(row)  # what reproduces it
    plain = pf.profile(str(int8), pf.ProfileOptions(backend="openvino", warmup=1,
                                                    iterations=5)).results[0]
    assert plain.model["precision"] == "int8"  # without --dtype: f32 for the rest, as before
    alone = tmp_path / "alone"  # the INT8 artifact whose parent is gone
    alone.mkdir()
    shutil.copy(int8, alone / int8.name)
    side = json.loads(manifest.sidecar(int8).read_text())
    side["lineage"]["parent"]["path"] = str(tmp_path / "gone.onnx")
    manifest.sidecar(alone / int8.name).write_text(json.dumps(side))
    with pytest.raises(SourceError, match="--dtype bf16: the FP32 parent .* is not there"):
        pf.profile(str(alone / int8.name), opts)


def test_a_dtype_that_makes_no_precision_is_refused(digits: dict[str, Path],
                                                    tmp_path: Path) -> None:
    from edgekit.quantize import QuantOptions, quantize

    fp16 = quantize(digits["digits_cnn_plain"],
                    QuantOptions(precision=Precision.FP16, output=tmp_path / "d.fp16.onnx")).path
    opts = pf.ProfileOptions(backend="openvino", runner=RunnerOptions(dtype=Precision.BF16),
                             warmup=1, iterations=5)
    with pytest.raises(ConfigError, match="--dtype bf16 runs an FP32 artifact; this one is fp16"):
        pf.profile(str(fp16), opts)
    assert Precision.of_run(Precision.INT8, Precision.BF16) is Precision.INT8_BF16
    assert Precision.INT8_BF16.parts() == (Precision.INT8, Precision.BF16)
    assert OV.sweep_target(Precision.INT8_BF16) == (Precision.INT8, Precision.BF16)
    assert OV.sweep_target(Precision.BF16) == (Precision.FP32, Precision.BF16)
    assert ORT.sweep_target(Precision.INT8) == (Precision.INT8, Precision.FP32)
    with pytest.raises(ValueError, match="fp16 artifact does not compute in bf16"):
        Precision.of_run(Precision.FP16, Precision.BF16)


@pytest.mark.slow
def test_tune_searches_openvino_settings(digits: dict[str, Path]) -> None:
    opts = pf.ProfileOptions(backend="openvino", tune=True, warmup=1, iterations=5)
    r = pf.profile(str(digits["digits_cnn_plain"]), opts).results[0]
    tune = r.settings["tune"]
    assert len(tune["trials"]) >= 4
    assert {"hint", "threads", "streams"} <= set(tune["trials"][0])
    keys = ("threads", "streams", "hint")
    chosen = next(t for t in tune["trials"] if {k: t[k] for k in keys} == tune["chosen"])
    assert chosen["p50_ms"] == min(t["p50_ms"] for t in tune["trials"])  # ties: either
    assert r.settings["requested"] == tune["chosen"]


def test_profile_cli_records_openvino(digits: dict[str, Path], tmp_path: Path) -> None:
    r = run_cli("profile", str(digits["digits_cnn_plain"]), "--backend", "openvino",
                "--iterations", "5", "--store", str(tmp_path / "r"), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"][0]
    assert res["backend"] == "openvino" and res["model"]["precision"] == "fp32"
    assert res["device_info"]["versions"]["openvino"]
    assert res["settings"]["inference_precision"] == "f32"


@pytest.mark.parametrize("args,message", [
    (["--ov-device", "FOO"], "OpenVINO has no device 'FOO' (it has CPU"),
    (["--ov-device", "GPU", "--backend", "ort"], "--ov-device applies to --backend openvino"),
    (["--dtype", "fp16"], "does not compute in --dtype fp16"),
])
def test_bad_requests_give_one_line_exit_2(digits: dict[str, Path], args: list[str],
                                           message: str) -> None:
    r = run_cli("profile", str(digits["digits_cnn_plain"]), "--backend", "openvino",
                "--no-store", "--iterations", "3", *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert message in lines[0]


def test_a_corrupt_model_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    r = run_cli("profile", str(bad), "--backend", "openvino", "--no-store")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: {bad}: OpenVINO cannot read the model")
