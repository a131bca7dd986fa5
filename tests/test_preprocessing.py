"""The one preprocessing resolver (edgekit.preprocessing): each field in one order (the flags,
the artifact's manifest or contract, the model's own config, ImageNet's at the input size), a
non-square timm config kept H x W through export, quantize, profile and the TensorRT build,
and the assumed-recipe warning said once per command, never when the recipe was stated or
found."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import pytest
from support import FIX, run_cli, tiny_onnx
from support.trt import V10, build

from edgekit import manifest, preprocessing
from edgekit.images import Preprocess, Stated
from edgekit.preprocessing import resolve

NONSQUARE = f"{FIX / 'user_models.py'}:nonsquare"
ARTIFACT = Preprocess(height=40, width=40, resize=44, interpolation="bicubic",
                      mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6), channel_order="bgr")
MODEL = Preprocess(height=40, width=40, resize=48, interpolation="nearest",
                   mean=(0.7, 0.7, 0.7), std=(0.8, 0.8, 0.8))
FLAGS = {"mean": (0.25, 0.25, 0.25), "std": (0.75, 0.75, 0.75), "resize": 50,
         "interpolation": "area", "channel_order": "rgb"}
FIELDS = {"mean": "mean", "std": "std", "resize": "resize", "interpolation": "interpolation",
          "channel_order": "channel_order"}


@pytest.mark.parametrize("field", list(FIELDS))
def test_each_field_flags_over_artifact_over_model_over_default(field: str) -> None:
    stated = Stated(**{field: FLAGS[field]})  # type: ignore[arg-type]
    key = FIELDS[field]
    assert getattr(resolve(stated, artifact=ARTIFACT, model=MODEL).preprocess, key) == \
        FLAGS[field]
    assert getattr(resolve(artifact=ARTIFACT, model=MODEL).preprocess, key) == getattr(ARTIFACT,
                                                                                      key)
    assert getattr(resolve(model=MODEL).preprocess, key) == getattr(MODEL, key)
    default = resolve(input_shape=["n", 3, 40, 40])
    assert default.assumed and default.base == "default"
    assert getattr(default.preprocess, key) == getattr(preprocessing.default_for(
        ["n", 3, 40, 40]), key)
    assert getattr(resolve(stated, input_shape=["n", 3, 40, 40]).preprocess, key) == FLAGS[field]


def test_the_size_comes_from_the_request_else_the_recipe_else_the_input() -> None:
    assert (resolve(model=MODEL, input_size=(24, 16)).preprocess.height,
            resolve(model=MODEL, input_size=(24, 16)).preprocess.width) == (24, 16)
    pp = resolve(model=MODEL).preprocess
    assert (pp.height, pp.width) == (40, 40)
    pp = resolve(input_shape=["n", 3, 48, 32]).preprocess
    assert (pp.height, pp.width, pp.assumed) == (48, 32, True)
    pp = resolve(input_shape=["n", 3, "h", "w"]).preprocess
    assert (pp.height, pp.width) == (224, 224)
    pp = resolve(input_shape=["n", 48, 32, 3], input_dtype="uint8").preprocess  # pixels in
    assert pp.fused and (pp.height, pp.width) == (48, 32)


def test_stating_every_field_is_not_assumed_and_a_found_recipe_never_is() -> None:
    everything = Stated(mean=(0.5,) * 3, std=(0.5,) * 3, resize=40, interpolation="bilinear",
                        channel_order="rgb")
    assert resolve(everything, input_shape=["n", 3, 32, 32]).assumed is False
    assert resolve(model=MODEL).assumed is False and resolve(artifact=ARTIFACT).assumed is False
    said: list[str] = []
    rep = SimpleNamespace(warn_once=said.append)
    resolve(model=MODEL, rep=rep)
    resolve(everything, input_shape=["n", 3, 32, 32], rep=rep)
    resolve(input_shape=["n", 3, 32, 32], rep=rep, warn=False)  # nothing depends on it
    assert said == []
    resolve(input_shape=["n", 3, 32, 32], rep=rep)
    assert len(said) == 1 and said[0].startswith("preprocessing not stated: assumed ImageNet's")


def test_timm_and_torchvision_configs_keep_height_and_width() -> None:
    pp = preprocessing.from_timm_cfg({"input_size": (3, 48, 32), "crop_pct": 0.8,
                                      "interpolation": "bicubic", "mean": (0.5,) * 3,
                                      "std": (0.5,) * 3})
    assert pp is not None and (pp.height, pp.width, pp.resize) == (48, 32, 60)
    assert preprocessing.from_timm_cfg({"mean": (0.5,) * 3}) is None
    t = SimpleNamespace(crop_size=[48, 32], resize_size=[56], mean=[0.5] * 3, std=[0.5] * 3,
                        interpolation=SimpleNamespace(value="bilinear"))
    pp = preprocessing.from_torchvision(t)
    assert (pp.height, pp.width, pp.resize, pp.interpolation) == (48, 32, 56, "bilinear")


def _hw(path: Path) -> tuple[Any, Any]:
    pp = manifest.read(path).preprocess
    assert pp is not None
    return pp.height, pp.width


def test_a_non_square_timm_config_is_h_by_w_everywhere(use: Any, tmp_path: Path,
                                                      digits: dict[str, Path]) -> None:
    """48 high, 32 wide through export (the ONNX's input and its manifest), quantize (its
    calibration feeds the 48x32 ONNX), profile with --data (the feeds must fit the static
    input) and the TensorRT build with legacy calibration (fakes)."""
    out = tmp_path / "ns.onnx"
    r = run_cli("export", NONSQUARE, "-o", str(out), "--batch", "1", "--int8", "--calib",
                str(digits["train"]), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    shape = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1, 3, 48, 32]
    int8 = tmp_path / "ns.int8.onnx"
    assert _hw(out) == _hw(int8) == (48, 32)
    assert "preprocessing not stated" not in r.stderr  # found in the model's config
    for art in (out, int8):
        r = run_cli("profile", str(art), "--data", str(digits["test"]), "--iterations", "3",
                    "--no-store", "--json")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)["results"][0]
        assert res["accuracy"]["images"] > 0 and res["manifest"]["preprocess"]["height"] == 48
    trt = use(V10)
    doc = build(out, output=tmp_path / "ns.engine", precision="int8", calib=digits["test"])
    assert (doc["preprocess"]["height"], doc["preprocess"]["width"]) == \
        (48, 32)
    (calibrator,) = [v for k, v in trt.calls if k == "config.int8_calibrator"]
    assert all(np.asarray(b).shape[1:] == (3, 48, 32) for b in calibrator.batches)


def test_the_assumed_warning_is_said_once_per_command(tmp_path: Path) -> None:
    """A foreign ONNX (no manifest, no contract) through export --int8: the export and the
    quantization both resolve the recipe, one warning line; stated, none."""
    src = tiny_onnx.write(tmp_path / "foreign.onnx")
    work = tmp_path / "w"
    work.mkdir()
    r = run_cli("export", str(src), "--int8", cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("preprocessing not stated") == 1, r.stderr
    r = run_cli("export", str(src), "--int8", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5",
                "--resize", "16", "--interpolation", "bilinear", "--channel-order", "rgb",
                "-o", str(work / "stated.onnx"))
    assert r.returncode == 0, r.stderr
    assert "preprocessing not stated" not in r.stderr
    r = run_cli("profile", str(src), "--data", str(tmp_path / "none"), "--no-store")
    assert r.returncode == 2  # (a bad folder still fails first, in one line)


def test_a_timm_model_with_a_non_square_config_exports_h_by_w(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """timm's resolved data config of a non-square model (input_size (3, 48, 32)) through
    ``checkpoints.build_timm``, which once took the height from ``input_size[-1]`` too."""
    timm = pytest.importorskip("timm")
    real = timm.data.resolve_model_data_config

    def nonsquare(model: Any, *a: Any, **kw: Any) -> dict[str, Any]:
        return {**real(model, *a, **kw), "input_size": (3, 48, 32)}

    monkeypatch.setattr(timm.data, "resolve_model_data_config", nonsquare)
    out = tmp_path / "r.onnx"
    r = run_cli("export", "timm:resnet18", "--random-weights", "--batch", "1", "-o", str(out),
                "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    shape = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1, 3, 48, 32] and _hw(out) == (48, 32)
