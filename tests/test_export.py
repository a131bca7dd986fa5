"""Export + verify across every catalog family and every kind of source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from support import ROOT

from edgekit import graph
from edgekit._io import sha256_file
from edgekit.catalog import load_catalog
from edgekit.errors import EdgekitError, ExportError
from edgekit.export import Exporter, ExportOptions, export
from edgekit.images import Preprocess, photo_batch
from edgekit.manifest import SCHEMA, read
from edgekit.sources import Options

USER = ROOT / "tests" / "fixtures" / "user_models.py"
RANDOM = Options(random_weights=True)  # no downloads in tests: tests/test_weights.py has those

# one model of every catalog family, at a small input the architecture accepts
FAMILIES = {"alexnet": 64, "vgg11": 32, "googlenet": 64, "inception_v3": 80, "resnet18": 64,
            "resnext50_32x4d": 64, "densenet121": 64, "mobilenet_v2": 64,
            "mobilenetv3": 64, "efficientnet_b0": 64, "squeezenet1_1": 64,
            "shufflenet_v2_x1_0": 64, "mnasnet1_0": 64, "regnet_y_400mf": 64,
            "convnext_tiny": 64, "inception_v4": 96, "xception": 96}


def test_families_cover_the_catalog() -> None:
    families = {e.family for e in load_catalog().entries.values()}
    tested = {load_catalog().get(n).family for n in FAMILIES}  # type: ignore[union-attr]
    assert families == tested


def _check_artifact(path: Path) -> dict:
    assert path.is_file()
    onnx.checker.check_model(str(path), full_check=True)
    m = read(path).to_dict()
    assert m["schema"] == SCHEMA and m["artifact"]["sha256"] == sha256_file(path)
    assert m["verification"]["passed"] is True
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "temp files left"
    return m


SLOW_FAMILIES = {"vgg11", "alexnet", "inception_v4", "convnext_tiny", "inception_v3",
                 "resnext50_32x4d"}  # 3-17 s each here: outside the fast lane (-m "not slow")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FAMILIES
                                  else n for n in FAMILIES])
def test_every_family_exports_and_verifies(name: str, tmp_path: Path) -> None:
    size = FAMILIES[name]
    res = export(name, ExportOptions(output=tmp_path / f"{name}.onnx", input_size=(size, size)), RANDOM)
    m = _check_artifact(res.path)
    entry = load_catalog().get(name)
    assert entry is not None
    assert m["model"]["family"] == entry.family
    expected = entry.params
    if name == "inception_v3":  # its published count includes the training-only AuxLogits head
        import torchvision

        aux = torchvision.models.inception_v3(init_weights=False).AuxLogits
        expected -= sum(p.numel() for p in aux.parameters())
    assert m["model"]["params"] == pytest.approx(expected, rel=0.005)
    assert m["input"]["shape"] == ["batch", 3, size, size]
    assert m["preprocess"]["mean"] == list(entry.preprocess.mean)
    assert m["export"]["exporter"] in ("torchscript", "dynamo")


def test_gmacs_are_computed_from_the_graph_and_match_published(tmp_path: Path) -> None:
    for name in ("resnet18", "mobilenet_v2"):
        m = export(name, ExportOptions(output=tmp_path / f"{name}.onnx"), RANDOM).manifest.to_dict()
        pub = load_catalog().get(name).gmacs  # type: ignore[union-attr]
        assert m["model"]["gmacs"] == pytest.approx(pub, rel=0.02)


@pytest.mark.slow
def test_auto_falls_back_to_dynamo_when_torchscript_fails_and_records_both(tmp_path: Path) -> None:
    # AlexNet's adaptive pool at 64 px is not exportable by the TorchScript exporter
    m = export("alexnet", ExportOptions(output=tmp_path / "a.onnx", input_size=(64, 64)),
               RANDOM).manifest.to_dict()
    attempts = m["export"]["attempts"]
    assert [a["exporter"] for a in attempts] == ["torchscript", "dynamo"]
    assert not attempts[0]["ok"] and "torchscript exporter failed" in attempts[0]["error"]
    assert attempts[1]["ok"] and m["export"]["exporter"] == "dynamo"


@pytest.mark.slow
def test_dynamo_exporter_with_fixed_batch(tmp_path: Path) -> None:
    res = export("resnet18", ExportOptions(output=tmp_path / "r.onnx", input_size=(32, 32), batch=2,
                                           exporter=Exporter.DYNAMO), RANDOM)
    m = _check_artifact(res.path)
    assert m["input"]["shape"] == [2, 3, 32, 32] and m["export"]["exporter"] == "dynamo"


def test_timm_name_and_explicit_provider(tmp_path: Path) -> None:
    m = export("timm:test_efficientnet", ExportOptions(output=tmp_path / "t.onnx"),
               RANDOM).manifest.to_dict()
    src = m["lineage"]["source"]
    assert src["provider"] == "timm" and src["name"] == "test_efficientnet"
    assert m["preprocess"]["height"] == 160  # from timm's pretrained config
    m = export("torchvision:squeezenet1_1", ExportOptions(output=tmp_path / "s.onnx",
                                                          input_size=(48, 48)),
               RANDOM).manifest.to_dict()
    assert m["lineage"]["source"]["kind"] == "torchvision"


def test_user_factory_with_num_classes(tmp_path: Path) -> None:
    res = export(f"{USER}:tiny", ExportOptions(output=tmp_path / "u.onnx", input_size=(32, 32)),
                 Options(num_classes=7))
    m = _check_artifact(res.path)
    assert m["outputs"][0]["shape"] == ["batch", 7] and m["model"]["num_classes"] == 7


def test_torchscript_file(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("um", USER)
    um = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(um)  # type: ignore[union-attr]
    ts = tmp_path / "tiny.ts"
    torch.jit.save(torch.jit.script(um.tiny(5).eval()), str(ts))
    res = export(str(ts), ExportOptions(output=tmp_path / "ts.onnx", input_size=(32, 32)))
    m = _check_artifact(res.path)
    assert m["lineage"]["source"]["kind"] == "torchscript" and m["model"]["num_classes"] == 5


def test_onnx_file_is_checked_simplified_and_keeps_preprocessing(tmp_path: Path) -> None:
    first = export("timm:test_resnet", ExportOptions(output=tmp_path / "r.onnx", simplify=False),
                   RANDOM)
    res = export(str(first.path), ExportOptions(output=tmp_path / "r2.onnx"))
    m = _check_artifact(res.path)
    assert m["lineage"]["source"]["kind"] == "onnx" and m["export"]["simplify"]["applied"]
    assert m["preprocess"] == first.manifest.to_dict()["preprocess"]
    assert m["verification"]["reference"].startswith("onnxruntime")


def test_checkpoint_weights_are_really_loaded(tmp_path: Path) -> None:
    import torchvision

    ref_model = torchvision.models.resnet18(num_classes=10).eval()
    ckpt = tmp_path / "ft.pth"
    torch.save({"state_dict": ref_model.state_dict()}, ckpt)
    res = export("resnet18", ExportOptions(output=tmp_path / "ft.onnx", input_size=(32, 32)),
                 Options(weights=ckpt, num_classes=10))
    x = photo_batch(Preprocess.from_dict(res.manifest.to_dict()["preprocess"]), count=2)
    with torch.no_grad():
        expected = ref_model(torch.from_numpy(x)).numpy()
    got = graph.ort_run(graph.ort_session(res.path), x)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    assert res.manifest.to_dict()["lineage"]["source"]["weights"] == f"checkpoint:{ckpt}"


def test_missing_pretrained_weights_name_the_cache_and_a_bad_cached_copy_is_refused(
        tmp_path: Path) -> None:
    import torchvision

    url = torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1.url
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    with pytest.raises(EdgekitError, match="cannot download the pretrained weights") as e:
        export("squeezenet1_1", ExportOptions(output=tmp_path / "p.onnx"))
    assert str(cache) in e.value.line() and url in e.value.line()
    # a file put in the cache whose sha256 does not start with the prefix in its name
    cache.mkdir(parents=True, exist_ok=True)
    bad = cache / url.rsplit("/", 1)[1]
    torch.save(torchvision.models.squeezenet1_1().state_dict(), bad)
    try:
        with pytest.raises(EdgekitError, match="do not match the sha256 prefix in their name"):
            export("squeezenet1_1", ExportOptions(output=tmp_path / "p.onnx"))
    finally:
        bad.unlink()
    assert not (tmp_path / "p.onnx").exists()


def test_simplifier_that_changes_outputs_is_rejected_loudly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxslim
    from onnx import numpy_helper

    real = onnxslim.slim

    def broken(model: onnx.ModelProto) -> onnx.ModelProto:
        out = real(model)
        init = out.graph.initializer[0]
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 3, init.name))
        return out

    monkeypatch.setattr(onnxslim, "slim", broken)
    m = export("resnet18", ExportOptions(output=tmp_path / "r.onnx", input_size=(32, 32)),
               RANDOM).manifest.to_dict()
    simp = m["export"]["simplify"]
    assert simp["applied"] is False and "differ" in simp["reason"]
    assert m["verification"]["passed"]


def test_verification_failure_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no exporter produced a matching ONNX model"):
        export(f"{USER}:noisy", ExportOptions(output=tmp_path / "n.onnx", input_size=(32, 32)))
    assert list(tmp_path.iterdir()) == []


def test_interrupt_while_writing_leaves_no_partial_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import edgekit._io as io

    def interrupted(path: Path) -> str:  # Ctrl-C while the artifact is being written
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "sha256_file", interrupted)
    with pytest.raises(KeyboardInterrupt, match="^$"):  # ours, not one raised elsewhere
        export(f"{USER}:tiny", ExportOptions(output=tmp_path / "k.onnx", input_size=(32, 32)))
    assert list(tmp_path.iterdir()) == []


def test_same_model_exports_to_the_same_bytes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = export(f"{USER}:tiny", ExportOptions(output=tmp_path / "a.onnx", input_size=(32, 32)))
    torch.manual_seed(0)
    b = export(f"{USER}:tiny", ExportOptions(output=tmp_path / "b.onnx", input_size=(32, 32)))
    assert a.manifest.to_dict()["artifact"]["sha256"] == b.manifest.to_dict()["artifact"]["sha256"]
    assert json.loads(Path(str(a.path) + ".json").read_text())["model"]["params"] > 0
