"""The command line: laziness, one-line errors with exit 2, --json, a real subprocess run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from PIL import Image
from support import ROOT, run_cli, run_proc

from edgekit.cli import main

USER = ROOT / "tests" / "fixtures" / "user_models.py"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit, match=r"^\d*$|^None$") as e:  # an exit code, not a message
        main([*args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def test_importing_the_cli_imports_no_heavy_library() -> None:
    code = ("import sys, edgekit.cli, edgekit.export, edgekit.sources, edgekit.graph;"
            "heavy = {'torch', 'timm', 'onnxruntime', 'onnx', 'tensorrt', 'torchvision',"
            " 'matplotlib', 'onnxslim', 'psycopg', 'procrastinate', 'modelopt',"
            " 'onnx_graphsurgeon', 'polygraphy', 'openvino'};"
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_m_edgekit_help_and_a_real_export(tmp_path: Path) -> None:
    assert run_cli("--help").returncode == 0
    r = run_cli("export", "mobilenetv3", "--random-weights", "-o", str(tmp_path / "m.onnx"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # exactly one JSON object on stdout
    assert doc["schema"] == "edgekit.export/1" and Path(doc["path"]).is_file()
    onnx.checker.check_model(doc["path"], full_check=True)
    assert doc["manifest"]["model"]["gmacs"] == pytest.approx(0.217, rel=0.02)


def test_models_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "models", "--json")
    doc = json.loads(out)
    names = {m["short"] for m in doc["models"]}
    assert code == 0 and doc["schema"] == "edgekit.models/1"
    assert {"alexnet", "vgg19_bn", "inception_v4", "xception", "efficientnet_b7"} <= names
    assert doc["aliases"]["mobilenetv3"] == "mobilenet_v3_large"


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    (tmp / "empty.onnx").write_bytes(b"")
    (tmp / "corrupt.onnx").write_bytes(b"\x08\x07garbage" * 10)
    Image.new("RGB", (8, 8)).save(tmp / "photo.png")
    (tmp / "photo.onnx").write_bytes((tmp / "photo.png").read_bytes())
    (tmp / "m.engine").write_bytes(b"engine")
    (tmp / "notes.txt").write_text("x")
    (tmp / "corrupt").mkdir()
    (tmp / "corrupt" / "x.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    import torch
    import torchvision

    torch.save(torchvision.models.squeezenet1_1(num_classes=3).state_dict(), tmp / "sq3.pth")
    torch.save({"a": torch.zeros(1)}, tmp / "wrongkeys.pth")
    out = ["-o", str(tmp / "out.onnx")]
    return [
        (["export", "resnt18", *out], "did you mean"),
        (["export", str(tmp / "missing.onnx"), *out], "not found"),
        (["export", f"{tmp / 'missing.py'}:f", *out], "not found"),
        (["export", f"{USER}:nope", *out], "has no factory 'nope'"),
        (["export", f"{USER}:raises", *out], "factory exploded"),
        (["export", f"{USER}:not_a_module", *out], "not an nn.Module"),
        (["export", str(tmp / "empty.onnx"), *out], "is empty"),
        (["export", str(tmp / "corrupt.onnx"), *out], "not a readable ONNX model"),
        (["export", str(tmp / "photo.onnx"), *out], "not a readable ONNX model"),
        (["export", str(tmp / "m.engine"), *out], "TensorRT engine"),
        (["export", "squeezenet1_1", "--weights", str(tmp / "wrongkeys.pth"), *out],
         "checkpoint does not fit"),
        (["export", "squeezenet1_1", "--weights", str(tmp / "sq3.pth"), *out],
         "--num-classes 3"),
        (["export", "inception_v3", "--random-weights", "--input-size", "32", *out], "minimum 75x75"),
        (["export", "resnet18", "-o", str(tmp / "nodir" / "r.onnx")], "does not exist"),
        (["export", "resnet18", "-o", str(tmp / "notes.txt" / "r.onnx")], "does not exist"),
        (["export", "resnet18", "-o", "/proc/r.onnx"], "is not writable"),
        (["export", "resnet18", "--pretrained", "--random-weights", *out], "conflict"),
        (["export", "resnet18", "--pretrained", *out], "cannot download the pretrained weights"),
        (["export", "resnet18", "--batch", "zero", *out], "not 'dynamic' or a positive"),
        (["export", "resnet18", "--input-size", "a,b", *out], "not H or H,W"),
        (["export", "foo:resnet18", *out], "unknown provider"),
        (["exprot", "resnet18"], "No such command"),
        (["quantize", str(tmp / "missing.onnx")], "not found"),
        (["quantize", str(tmp / "photo.png")], "takes an .onnx file"),
        (["quantize", str(tmp / "photo.onnx")], "not a readable ONNX model"),
        (["quantize", "--int8", "--fp16", str(tmp / "photo.onnx")], "conflict"),
        (["export", f"{USER}:tiny", "--int8", "--calib", str(tmp / "nodir"), *out],
         "calibration data not found"),
        (["export", f"{USER}:tiny", "--int8", "--calib", str(tmp / "corrupt"), *out],
         "cannot read image"),  # fails after the FP32 export: that file is removed too
    ]


def test_bad_inputs_give_one_line_exit_2_and_leave_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _bad_inputs(tmp_path)
    before = set(tmp_path.iterdir())
    for args, expected in cases:
        code, out, err = cli(capsys, *args)
        lines = [ln for ln in err.strip().splitlines()  # tiny states no preprocessing
                 if not ln.startswith("warning: preprocessing not stated")]
        assert code == 2, (args, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, err)
        assert expected in lines[0], (args, lines[0])
        assert "Traceback" not in err
        assert set(tmp_path.iterdir()) == before, f"{args} left a file behind"


def test_error_names_the_file_and_json_error_object(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.onnx"
    code, out, err = cli(capsys, "export", str(missing), "--json")
    assert code == 2 and str(missing) in err
    assert json.loads(out)["error"]["type"] == "SourceError"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = run_proc("--debug", "export", str(tmp_path / "missing.onnx"))
    assert r.returncode != 0 and "Traceback" in r.stderr
