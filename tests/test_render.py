"""Output a person can read: other libraries' warnings folded into one line, a SPEC that is not
a model named for what it is, and tables that fit 80 columns."""

from __future__ import annotations

import json
import logging
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support import run_cli

from edgekit import noise


@pytest.mark.slow
def test_a_vit_export_with_q_prints_nothing_on_stderr(tmp_path: Path) -> None:
    # ONNX Runtime's quantizer logs "Axis 1 is out-of-range ..." per LayerNorm weight of a ViT
    r = run_cli("export", "timm:test_vit", "--random-weights", "--int8", "--calib-size", "8", "-q", "-o",
                str(tmp_path / "vit.onnx"), cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr[-2000:]
    plain = run_cli("quantize", str(tmp_path / "vit.onnx"), "--calib-size", "8", "-o",
                    str(tmp_path / "again.onnx"), cwd=tmp_path)
    assert plain.returncode == 0
    notes = plain.stderr.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("note: ") and "onnxruntime.quantization" in (
        notes[0]) and notes[0].endswith("--verbose shows them")
    verbose = run_cli("quantize", str(tmp_path / "vit.onnx"), "--calib-size", "8", "--verbose",
                      "-o", str(tmp_path / "v.onnx"), cwd=tmp_path)
    assert verbose.returncode == 0 and "Axis 1 is out-of-range" in verbose.stderr


def test_an_error_with_q_is_exactly_one_line(tmp_path: Path) -> None:
    photo = tmp_path / "cat.jpg"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    r = run_cli("export", str(photo), "-q", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"error: {photo}: is a JPEG image, not a model; SPEC takes")


def _checkpoint(path: Path) -> Path:
    import torch

    torch.save({"w": torch.zeros(2)}, path)
    return path


@pytest.mark.parametrize("make,what", [
    (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "a text file"),
    (lambda d: d, "a folder"),
    (lambda d: _zip(d / "m.zip"), "a zip archive"),
    (lambda d: _checkpoint(d / "w.pt"), "a PyTorch checkpoint (torch.save), not TorchScript"),
    (lambda d: _png(d / "x.pt"), "a PNG image"),
])
def test_a_spec_that_is_not_a_model_says_what_it_is(tmp_path: Path, make, what: str) -> None:
    from edgekit.errors import SourceError
    from edgekit.sources import resolve

    target = make(tmp_path)
    with pytest.raises(SourceError, match="not a model") as e:
        resolve(str(target))
    assert what in e.value.message and "file.py:factory" in e.value.hint


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not a model")
    return path


def _png(path: Path) -> Path:
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, format="PNG")
    return path


def test_folding_counts_and_deduplicates_by_library() -> None:
    with noise.folded() as caught:
        for _ in range(3):
            logging.getLogger("onnxruntime.quantization").warning("Axis 1 is out-of-range")
        logging.getLogger("torch.onnx").warning("one")
        warnings.warn("torch.jit.load is deprecated", FutureWarning, stacklevel=1)
        logging.getLogger("edgekit.export").warning("ours: not folded")
    assert caught.caught[("onnxruntime.quantization", "Axis 1 is out-of-range")] == 3
    assert sum(caught.caught.values()) == 5
    line = caught.summary()
    assert line is not None and line.startswith("5 warnings from other libraries: 3 from "
                                                "onnxruntime.quantization (1 kind)")
    with noise.folded("all") as nothing:
        logging.getLogger("x").warning("shown as is")
    assert not nothing.caught


def test_the_sweep_table_fits_80_columns_without_cutting_a_cell() -> None:
    from rich.console import Console

    from edgekit import render

    rows = [{"model": m, "precision": p, "backend": b, "status": "ok", "size_mb": 21.9876,
             "gmacs": 0.2198, "p50_ms": 12.3456, "p99_ms": 15.6789, "images_per_s": 81.2,
             "accuracy": 75.274, "accuracy_kind": "top-1 %", "pct_of_peak": 12.34, "error": None}
            for m in ("mobilenet_v3_large", "efficientnet_b0", "timm:convnext_nano")
            for p in ("fp32", "int8") for b in ("ort", "openvino")]
    rows[0].update(status="quantize failed", error="calibration data not found")
    doc = {"ok": 11, "failed": 1, "table": rows, "files": {"html": "report/index.html"},
           "store": "results"}
    console = Console(width=80, record=True, force_terminal=False, color_system=None)
    console.print(render.sweep_table(doc))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for r in rows:
        assert r["model"] in text
    for figure in ("12.346", "75.27", "quantize failed"):
        assert figure in text
    assert json.dumps(doc)  # --json keeps every column


def test_the_pareto_table_fits_80_columns_without_cutting_a_cell() -> None:
    from rich.console import Console

    from edgekit import render

    pts = [{"id": i, "model": f"timm:efficientvit_m{i}.r224_in1k", "precision": "int8",
            "backend": "openvino", "x": 12.3456 + i, "y": 75.5 - i, "on_frontier": True}
           for i in range(3)]
    doc = {"x": "latency_p50_ms", "y": "top1", "points": pts, "frontier": [0, 1, 2],
           "plot": "pareto.png", "accuracy": "measured", "missing": [], "discordant_pairs": []}
    console = Console(width=80, record=True, force_terminal=False, color_system=None)
    console.print(render.pareto_table(doc))
    text = console.export_text()
    assert "…" not in text and all(p["model"] in text for p in pts) and "13.35" in text
