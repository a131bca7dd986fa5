"""The typed manifest: /1 files written before it still load (real ones, kept as fixtures),
lineage is resolved by the writer, and a round trip keeps every field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import FIX

from edgekit import manifest
from edgekit.errors import ConfigError
from edgekit.manifest import Manifest
from edgekit.precision import Precision

V1 = FIX / "manifest_v1"  # written by edgekit at e347e40 (schema /1): export + quantize --int8


def test_a_v1_export_manifest_loads_typed() -> None:
    m = manifest.read(V1 / "digits_v1.onnx")
    assert m.schema == manifest.SCHEMA and m.kind == "onnx" and m.precision is Precision.FP32
    assert m.model.name == "digits_model:digits_cnn_plain" and m.model.params == 24346
    assert m.input is not None and m.input.shape == ["batch", 3, 32, 32]
    assert m.preprocess is not None and (m.preprocess.height, m.preprocess.resize) == (32, 32)
    assert m.lineage.source is not None and m.lineage.source["provider"] == "file"
    assert m.lineage.parent is None
    assert m.verification is not None and m.verification.passed is True
    assert m.sections["export"]["exporter"] == "torchscript"


def test_a_v1_int8_manifest_gets_its_lineage_from_the_old_parent_block() -> None:
    parent = manifest.read(V1 / "digits_v1.onnx")
    m = manifest.read(V1 / "digits_v1.int8.onnx")
    assert m.precision is Precision.INT8
    assert m.model == parent.model and m.input == parent.input  # resolved from /1's parent
    assert m.lineage.source == parent.lineage.source
    assert m.lineage.parent is not None and parent.artifact is not None
    assert m.lineage.parent.sha256 == parent.artifact.sha256
    assert m.lineage.parent_precision is Precision.FP32
    assert m.verification is not None and m.verification.top1_agreement is not None
    assert m.sections["quantization"]["format"] == "QDQ"


def test_a_v1_engine_manifest_walks_its_nested_source_once() -> None:
    int8 = json.loads((V1 / "digits_v1.int8.onnx.json").read_text())
    old_engine = {"schema": "edgekit.manifest/1", "kind": "engine", "precision": "int8",
                  "tensorrt": "10.3.0", "build": {"version_compatible": False},
                  "preprocess": int8["preprocess"],
                  "source": {"path": "/data/digits_v1.int8.onnx", "sha256": "ab" * 32,
                             "manifest": int8}}  # the shape edgekit/engine.py wrote at /1
    m = Manifest.from_dict(old_engine)
    assert m.model.name == "digits_model:digits_cnn_plain"  # two levels down in /1
    assert m.lineage.parent is not None and m.lineage.parent.path == "/data/digits_v1.int8.onnx"
    assert m.lineage.parent_precision is Precision.INT8
    assert m.sections["tensorrt"] == "10.3.0" and m.input is not None


def test_profile_reads_a_v1_artifact(tmp_path: Path, digits: dict[str, Path]) -> None:
    from edgekit import profile as pf

    for f in V1.iterdir():
        shutil.copy(f, tmp_path / f.name)
    r = pf.profile(str(tmp_path / "digits_v1.int8.onnx"), pf.ProfileOptions(
        iterations=3, warmup=1, data=digits["test"])).results[0]
    assert r.model["name"] == "digits_model:digits_cnn_plain" and r.model["precision"] == "int8"
    assert r.accuracy is not None and r.accuracy["top1"] > 90  # 32-px preprocessing from /1
    assert r.manifest is not None and r.manifest["schema"] == manifest.SCHEMA


def test_round_trip_and_derive(tmp_path: Path) -> None:
    base = manifest.read(V1 / "digits_v1.onnx")
    again = Manifest.from_dict(json.loads(json.dumps(base.to_dict())))
    assert again == base
    child = base.derive(kind="onnx", precision=Precision.FP16,
                        parent=manifest.ref(V1 / "digits_v1.onnx", base))
    written = manifest.write(tmp_path / "c.onnx", b"onnx bytes", child)
    back = manifest.for_artifact(tmp_path / "c.onnx")
    assert back == written and back.model == base.model and back.preprocess == base.preprocess
    assert back.lineage.parent_manifest is True and back.lineage.source == base.lineage.source
    assert back.artifact is not None and back.artifact.size_bytes == len(b"onnx bytes")


@pytest.mark.parametrize("doc,message", [
    ({"schema": "edgekit.manifest/2", "kind": "onnx", "precision": "fp64"}, "malformed manifest"),
    ({"schema": "edgekit.manifest/2"}, "malformed manifest"),
    ({"schema": "edgekit.manifest/9", "kind": "onnx"}, "not an edgekit manifest"),
])
def test_a_bad_manifest_is_one_clear_error(tmp_path: Path, doc: dict[str, object],
                                           message: str) -> None:
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "m.onnx.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=message) as e:
        manifest.read(tmp_path / "m.onnx")
    assert "m.onnx.json" in e.value.line()
