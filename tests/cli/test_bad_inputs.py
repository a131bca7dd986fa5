"""The bad-input corpus: every command, each bad input one line on stderr naming the file and
the fix, exit code 2, no traceback, and no new file anywhere (working folder or corpus).
Then hypothesis fuzzes the manifest and npz readers (the YAML reader: tests/test_budget.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import FIX, run_cli
from support.store_writer import fake_result

from edgekit import calib, manifest
from edgekit.errors import CalibrationError, ConfigError
from edgekit.images import Preprocess
from edgekit.store import Store

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
USER = FIX / "user_models.py"


@pytest.fixture(scope="module")
def corpus(digits: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from support import tiny_onnx

    from edgekit.export import ExportOptions, export
    from edgekit.images import bundled_photos
    from edgekit.quantize import QuantOptions, quantize
    from edgekit.sources import Options

    c = tmp_path_factory.mktemp("corpus")
    ok = c / "ok.onnx"
    shutil.copy(digits["digits_cnn_plain"], ok)
    shutil.copy(str(digits["digits_cnn_plain"]) + ".json", str(ok) + ".json")
    (c / "empty.onnx").write_bytes(b"")
    (c / "trunc.onnx").write_bytes(ok.read_bytes()[:200])
    (c / "png.onnx").write_bytes(PNG_BYTES)
    (c / "m.engine").write_bytes(b"\x00not an engine")
    tiny_onnx.write_two_inputs(c / "two.onnx")
    export(f"{FIX / 'digits_model.py'}:digits_cnn_plain", ExportOptions(output=c / "static.onnx", batch=1),
           Options(weights=FIX / "digits_cnn.pth"))
    quantize(ok, QuantOptions(output=c / "int8.onnx", calib=digits["train"], calib_size=16))
    photo = bundled_photos()[0]
    shutil.copy(photo, c / "photo.png")
    (c / "data_empty").mkdir()
    (c / "data_flat").mkdir()
    shutil.copy(photo, c / "data_flat" / "a.png")
    (c / "data_noimg" / "cls").mkdir(parents=True)
    (c / "data_noimg" / "cls" / "README.txt").write_text("no images here")
    (c / "data_corrupt" / "cls").mkdir(parents=True)
    shutil.copy(photo, c / "data_corrupt" / "cls" / "good.png")
    (c / "data_corrupt" / "cls" / "bad.png").write_bytes(PNG_BYTES)
    (c / "calib_empty").mkdir()
    (c / "calib_corrupt").mkdir()
    (c / "calib_corrupt" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    np.savez(c / "bad_shape.npz", x=np.zeros((4, 3, 8, 8), np.float32))
    torch.save({"not.a.key": torch.zeros(3)}, c / "wrong_keys.pth")
    (c / "typo.yaml").write_text("budgets:\n  - model: m\n    max_p50ms: 3\n")
    (c / "broken.yaml").write_text("budgets:\n  - model: m\n   max_p50_ms: [\n")
    (c / "existing.yaml").write_text("budgets: []\n")
    (c / "store_png").mkdir()
    (c / "store_png" / "edgekit.db").write_bytes(PNG_BYTES * 4)
    Store(c / "store_empty")
    Store(c / "store_one").add(fake_result("t", 0))
    return c


# (args, expected text in the error line, corpus file the line must name or None)
CASES = [
    # export
    (["export", "{c}/missing.onnx"], "ONNX file not found", "missing.onnx"),
    (["export", "{c}/empty.onnx"], "is empty", "empty.onnx"),
    (["export", "{c}/trunc.onnx"], "not a readable ONNX model (DecodeError)", "trunc.onnx"),
    (["export", "{c}/png.onnx"], "not a readable ONNX model (DecodeError)", "png.onnx"),
    (["export", "{c}/m.engine"], "is a TensorRT engine", "m.engine"),
    (["export", f"{USER}:nope"], "nope", "user_models.py"),
    (["export", f"{USER}:raises"], "factory exploded", "user_models.py"),
    (["export", f"{USER}:not_a_module"], "nn.Module", "user_models.py"),
    (["export", f"{USER}:tiny", "--weights", "{c}/wrong_keys.pth"], "missing", "wrong_keys.pth"),
    (["export", "resnet19"], "did you mean", "resnet19"),
    (["export", "torchvision:ssdlite320_mobilenet_v3_large", "--random-weights", "--batch", "4",
      "-o", "{c}/d.onnx"], "exports at batch 1 only", "ssdlite320_mobilenet_v3_large"),
    (["export", "torchvision:ssdlite320_mobilenet_v3_large", "--num-classes", "5"],
     "--num-classes cannot re-head", "ssdlite320_mobilenet_v3_large"),
    (["export", "inception_v3", "--random-weights", "--input-size", "32", "-o", "{c}/r.onnx"], "smaller than",
     "inception_v3"),
    (["export", f"{USER}:tiny", "-o", "/proc/edgekit-test.onnx"], "not writable", None),
    (["export", f"{USER}:tiny", "-o", "{c}/no/such/dir/m.onnx"], "does not exist", "m.onnx"),
    # quantize
    (["quantize", "{c}/ok.onnx", "--calib", "{c}/calib_empty"], "no images found",
     "calib_empty"),
    (["quantize", "{c}/ok.onnx", "--calib", "{c}/bad_shape.npz"], "shape", "bad_shape.npz"),
    (["quantize", "{c}/ok.onnx", "--calib", "{c}/calib_corrupt"], "cannot read image",
     "bad.jpg"),
    (["quantize", "{c}/ok.onnx", "--exclude", "/conv9/Conv"], "no node named", "ok.onnx"),
    (["quantize", "{c}/int8.onnx", "--fp16"], "already quantized", "int8.onnx"),
    (["quantize", "{c}/photo.png"], "takes an .onnx file", "photo.png"),
    # build
    (["build", "{c}/m.engine"], "takes an .onnx file", "m.engine"),
    (["build", "{c}/empty.onnx"], "not found or empty", "empty.onnx"),
    (["build", "{c}/ok.onnx", "--shapes", "input:abc"], "is not NAME:MIN,OPT,MAX", None),
    (["build", "{c}/ok.onnx", "--gpu-fallback"], "needs --dla-core", None),
    (["build", "{c}/ok.onnx"], 'pip install "edgekit[trt-cu12]"', None),
    # profile
    (["profile", "{c}/ok.onnx", "--data", "{c}/data_empty"], "no class subfolders", "data_empty"),
    (["profile", "{c}/ok.onnx", "--data", "{c}/data_flat"], "no class subfolders", "data_flat"),
    (["profile", "{c}/ok.onnx", "--data", "{c}/data_noimg"], "no images", "data_noimg"),
    (["profile", "{c}/ok.onnx", "--iterations", "3", "--data", "{c}/data_corrupt"],
     "cannot read image", "bad.png"),
    (["profile", "{c}/two.onnx"], "--input NAME", "two.onnx"),
    (["profile", "{c}/static.onnx", "--batch", "4"], "static batch of 1", "static.onnx"),
    (["profile", "{c}/ok.onnx", "--store", "{c}/store_png"], "not a usable SQLite", "edgekit.db"),
    (["profile", "{c}/trunc.onnx"], "cannot load the model", "trunc.onnx"),
    (["profile", "{c}/m.engine", "--device", "cpu"], "does not run on --device cpu", None),
    # results / pareto
    (["results", "--store", "{c}/nowhere"], "no results store here", "nowhere"),
    (["results", "--store", "{c}/store_one", "--where", "p50<3"], "unknown column 'p50'", None),
    (["pareto", "{c}/store_empty", "-o", "{c}/p.png"], "holds no results", None),
    # (was -o p.gif with an empty expected text: the .gif was never reached)
    (["pareto", "{c}/store_one", "-o", "{c}/p.png"],
     "nothing to plot: no result has both latency_p50_ms and top1 (no accuracy figure", None),
    (["pareto", "{c}/store_one", "-o", "{c}/p.png", "--accuracy", "published"],
     "published figure is used only for the catalog's FP32 weights", None),
    (["pareto", "{c}/store_one", "-o", "{c}/p.png", "--x", "speed"], "not a metric", None),
    # budget
    (["budget", "check", "{c}/typo.yaml", "--store", "{c}/store_one"], "did you mean max_p50_ms",
     "typo.yaml"),
    (["budget", "check", "{c}/broken.yaml", "--store", "{c}/store_one"], "not valid YAML",
     "broken.yaml"),
    (["budget", "check", "{c}/nothing.yaml", "--store", "{c}/store_one"], "cannot read budgets",
     "nothing.yaml"),
    (["budget", "init", "--store", "{c}/store_one", "-o", "{c}/existing.yaml"], "already exists",
     "existing.yaml"),
    # sweep
    (["sweep", f"{USER}:tiny", "--precisions", "fp64", "--out", "{c}/rep"], "unknown 'fp64'", None),
    (["sweep", f"{USER}:tiny", "--data", "{c}/data_flat", "--out", "{c}/rep"],
     "no class subfolders", "data_flat"),
    (["sweep", f"{USER}:tiny", "--calib", "{c}/none", "--out", "{c}/rep"], "not found", "none"),
]


def _tree(*folders: Path) -> list[str]:
    return sorted(str(p) for f in folders for p in f.rglob("*"))


@pytest.mark.parametrize("args,text,names", CASES,
                         ids=[f"{a[0]}-{i}" for i, (a, _, _) in enumerate(CASES)])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(args: list[str], text: str,
                                                         names: str | None, corpus: Path,
                                                         tmp_path: Path) -> None:
    before = _tree(corpus, tmp_path)
    r = run_cli(*[a.format(c=corpus) for a in args], cwd=tmp_path, env={"COLUMNS": "200"})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and text in lines[0], lines[0]
    if names:
        assert names in lines[0], lines[0]
    assert _tree(corpus, tmp_path) == before  # no new file, no temporary left


def test_the_corpus_is_big_enough() -> None:
    commands = {a[0] for a, _, _ in CASES}
    assert len(CASES) >= 25 and commands >= {"export", "quantize", "build", "profile", "results",
                                             "pareto", "budget", "sweep"}
    assert all(text for _, text, _ in CASES)  # "" is in every line: such a row checks nothing


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                              lambda c: st.lists(c, max_size=4) | st.dictionaries(
                                  st.text(max_size=8), c, max_size=4)).map(
                     lambda v: json.dumps(v).encode()),
                 st.fixed_dictionaries({"schema": st.just(manifest.SCHEMA),
                                        "preprocess": st.dictionaries(
                                            st.text(max_size=8), st.integers(), max_size=3)}
                                       ).map(lambda v: json.dumps(v).encode())))
def test_fuzzed_manifests_are_read_or_refused(tmp_path: Path, data: bytes) -> None:
    art = tmp_path / "m.onnx"
    manifest.sidecar(art).write_bytes(data)
    try:
        doc = manifest.read(art)
    except ConfigError as e:
        assert "\n" not in e.line()
    else:
        assert isinstance(doc, dict) and doc["schema"] == manifest.SCHEMA
    pp = manifest.preprocess_beside(art)  # never raises: None when unusable
    assert pp is None or isinstance(pp, Preprocess)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=200),
    st.tuples(st.integers(0, 3), st.integers(1, 4), st.integers(1, 40), st.integers(1, 40),
              st.sampled_from(["float32", "float64", "int8", "uint8"]))))
def test_fuzzed_npz_calibration_is_loaded_or_refused(tmp_path: Path, data: object) -> None:
    path = tmp_path / "c.npz"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        n, ch, h, w, dtype = data  # type: ignore[misc]
        np.savez(path, x=np.ones((n, ch, h, w), dtype=dtype))
    pp = Preprocess().resized(32, 32)
    try:
        cs = calib.load(path, pp)
    except CalibrationError as e:
        assert "\n" not in e.line() and str(path) in e.line()
    else:
        assert cs.data.shape[1:] == (3, 32, 32) and cs.data.dtype == np.float32 and len(cs.data)
