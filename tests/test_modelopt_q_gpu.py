"""ORT's and ModelOpt's INT8 files for TensorRT, built with real TensorRT and compared: both
build strongly typed, and ModelOpt's (NVIDIA's placement, FP16 rest) runs INT8 layers and is
not slower than ORT's. Needs an NVIDIA GPU and TensorRT (``gpu`` marker: skipped here with the
reason; the README's "What ran on a GPU" says whether it has run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgekit.quantize import QuantizerKind, QuantOptions, Target, quantize
from edgekit.sources import Options


@pytest.mark.gpu
@pytest.mark.slow
def test_modelopt_engine_fuses_and_is_not_slower_than_orts(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed")
    from edgekit.export import ExportOptions, export
    from edgekit.profile import ProfileOptions, profile
    from edgekit.trt import engine

    fp32 = export("torchvision:resnet18", ExportOptions(output=tmp_path / "r18.onnx"),
                  Options(random_weights=True)).path
    built: dict[str, dict[str, Any]] = {}
    for kind in (QuantizerKind.ORT, QuantizerKind.MODELOPT):
        q = quantize(fp32, QuantOptions(output=tmp_path / f"r18.{kind.value}.int8.onnx",
                                        target=Target.TENSORRT, quantizer=kind, report=0))
        doc = engine.build(q.path, engine.BuildOptions(
            output=tmp_path / f"r18.{kind.value}.engine"))
        assert doc["strongly_typed"] is True and doc["quantized_by"]["quantizer"] == kind.value
        built[kind.value] = {"layers": doc["layers"],
                             "p50": profile(doc["path"], ProfileOptions(store=tmp_path / "store")
                                            ).results[0].latency["p50_ms"]}
    ort, mo = built["ort"], built["modelopt"]
    assert mo["layers"]["by_precision"].get("int8", 0) > 0
    assert mo["layers"]["layers"] <= ort["layers"]["layers"]  # fewer Q/DQ: more fusion
    assert mo["p50"] <= ort["p50"] * 1.05, built
