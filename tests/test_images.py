"""Images and their preprocessing (edgekit.images): the one image -> input function on known
images, the flags that state a recipe, the warning when ImageNet's recipe is assumed, the
contract inside the ONNX (edgekit.manifest) that carries it, and each convention against a
hand-written torchvision/PIL pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from PIL import Image
from support import FIX, digits_spec, run_cli
from support.digits import PREPROCESS

from edgekit import accuracy, manifest
from edgekit import profile as pf
from edgekit.errors import ConfigError
from edgekit.export import ExportOptions, export
from edgekit.images import (
    Preprocess,
    Stated,
    bundled_photos,
    list_images,
    load_rgb,
    photo_batch,
    preprocess,
)
from edgekit.quantize import QuantOptions, quantize
from edgekit.sources import Options
from edgekit.store import open_store

STATED = ("--input-size", "32", "--resize", "32", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5")


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained digits CNN as TorchScript: a file that cannot say how it was preprocessed."""
    import torch

    path = tmp_path_factory.mktemp("ts") / "digits.pt"
    torch.jit.save(torch.jit.script(_trained()), str(path))
    return path


def _trained() -> Any:
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("digits_model", FIX / "digits_model.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.digits_cnn_plain()
    net.load_state_dict(torch.load(FIX / "digits_cnn.pth", map_location="cpu"))
    return net.eval()


def torch_top1(test: Path) -> float:
    """Top-1 of the same network in torch, preprocessed by a hand-written torchvision pipeline
    with the fixture's true recipe (resize 32, no crop, mean/std 0.5)."""
    import torch
    from torchvision import transforms as T

    from edgekit.images import scan_image_folder

    model: Any = _trained()
    tf = T.Compose([T.Resize(PREPROCESS.resize), T.CenterCrop(PREPROCESS.height), T.ToTensor(),
                    T.Normalize(PREPROCESS.mean, PREPROCESS.std)])
    _, items, _ = scan_image_folder(test)
    x = torch.stack([tf(load_rgb(p)) for p, _ in items])
    with torch.inference_mode():
        pred = model(x).argmax(1).numpy()
    return 100.0 * float(np.mean(pred == np.array([y for _, y in items])))


def _top1(target: Path, test: Path) -> float:
    opts = pf.ProfileOptions(warmup=1, iterations=2, batches=(8,), data=test)  # type: ignore[call-arg]
    acc = pf.profile(str(target), opts).results[0].accuracy
    assert acc is not None
    return float(acc["top1"])


def test_the_32px_case(scripted: Path, digits: dict[str, Path], tmp_path: Path) -> None:
    stated = tmp_path / "stated.onnx"
    r = run_cli("export", str(scripted), "-o", str(stated), *STATED, "--json")
    assert r.returncode == 0, r.stderr
    assert "not stated" not in r.stderr
    pp = manifest.read(stated).preprocess
    assert pp is not None and (pp.resize, pp.mean, pp.assumed) == (32, (0.5,) * 3, False)
    ref = torch_top1(digits["test"])
    got = _top1(stated, digits["test"])
    print(f"32-px digits: torch top-1 {ref}, edgekit stated {got}")
    assert got == pytest.approx(ref, abs=1e-9) and ref >= 90.0

    assumed = tmp_path / "assumed.onnx"
    r = run_cli("export", str(scripted), "-o", str(assumed), "--input-size", "32", "--json")
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if "not stated" in ln]
    assert len(warnings) == 1 and "--mean/--std" in warnings[0] and "resize 36" in warnings[0]
    doc = json.loads(r.stdout)
    assert doc["manifest"]["preprocess"]["assumed"] is True
    wrong = _top1(assumed, digits["test"])
    print(f"32-px digits: edgekit with ImageNet's assumed recipe {wrong}")
    assert wrong < ref

    manifest.sidecar(stated).unlink()  # the contract inside the ONNX gives the same figures
    assert _top1(stated, digits["test"]) == pytest.approx(ref, abs=1e-9)


def test_contract_travels_into_quantized_and_fp16_children(digits: dict[str, Path],
                                                           tmp_path: Path) -> None:
    res = export(digits_spec(), ExportOptions(output=tmp_path / "d.onnx"),
                 Options(weights=FIX / "digits_cnn.pth"))
    keys = [p.key for p in onnx.load(str(res.path)).metadata_props]
    assert keys.count(manifest.CONTRACT_KEY) == 1
    manifest.sidecar(res.path).unlink()
    for prec in ("int8", "fp16"):
        from edgekit.precision import Precision

        q = quantize(res.path, QuantOptions(precision=Precision(prec),
                                            output=tmp_path / f"d.{prec}.onnx"))
        assert q.manifest.preprocess == PREPROCESS  # read from the parent's ONNX contract
        manifest.sidecar(q.path).unlink()
        man = manifest.for_artifact(q.path)
        assert man is not None and man.preprocess == PREPROCESS
        assert man.model.num_classes == 10 and man.lineage.source is not None
        assert man.lineage.source["weights"].startswith("checkpoint")


PHOTO_SETTINGS = [
    {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
    {"channel_order": "bgr", "mean": (0.406, 0.456, 0.485), "std": (0.225, 0.224, 0.229)},
    {"resize": 224},  # no crop
    {"interpolation": "bicubic"},
    {"interpolation": "nearest", "resize": 240},
]


@pytest.mark.parametrize("kw", PHOTO_SETTINGS)
def test_pipeline_matches_torchvision(kw: dict[str, object]) -> None:
    import torch
    from torchvision import transforms as T

    pp = Stated(**kw).apply(Preprocess())  # type: ignore[arg-type]
    modes = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC,
             "nearest": T.InterpolationMode.NEAREST}
    tf = T.Compose([T.Resize(pp.resize, interpolation=modes[pp.interpolation]),
                    T.CenterCrop(pp.height), T.ToTensor()])
    for path in bundled_photos()[:2]:
        x = tf(load_rgb(path))
        if pp.channel_order == "bgr":
            x = x.flip(0)
        ref = T.Normalize(pp.mean, pp.std)(x).numpy()
        got = preprocess(load_rgb(path), pp)
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-5, torch.__version__


def test_old_dicts_still_load_and_new_fields_round_trip() -> None:
    old = {"height": 32, "width": 32, "resize": 32, "interpolation": "bilinear",
           "mean": [0.5] * 3, "std": [0.5] * 3, "channels": 3, "layout": "NCHW"}
    assert Preprocess.from_dict(old) == PREPROCESS
    pp = Stated(channel_order="bgr", interpolation="area").apply(PREPROCESS)
    assert Preprocess.from_dict(pp.to_dict()) == pp and pp.channel_order == "bgr"


@pytest.mark.parametrize(("args", "message"), [
    (("--resize", "256", "--crop-pct", "0.9"), "--resize and --crop-pct conflict"),
    (("--mean", "0.5,0.5"), "--mean takes three values R,G,B"),
    (("--std", "a,b,c"), "--std 'a,b,c' is not three numbers"),
    (("--std", "0.5,0,0.5"), "--std takes three values R,G,B above 0"),
    (("--interpolation", "lanczos"), "unknown --interpolation 'lanczos'"),
    (("--channel-order", "gbr"), "unknown --channel-order 'gbr'"),
    (("--crop-pct", "1.5"), "--crop-pct 1.5 is not in"),
])
def test_bad_flags_are_one_line_exit_2(args: tuple[str, ...], message: str,
                                       tmp_path: Path) -> None:
    r = run_cli("export", digits_spec(), "-o", str(tmp_path / "x.onnx"), *args)
    assert r.returncode == 2 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.onnx").exists()


def test_resize_below_the_input_is_refused() -> None:
    with pytest.raises(ConfigError, match="--resize 16 is smaller than the 32x32 input"):
        Stated(resize=16).apply(PREPROCESS)


def _foreign(src: Path, out: Path) -> Path:
    """An ONNX that says nothing about itself: no sidecar, no contract."""
    model = onnx.load(str(src))
    del model.metadata_props[:]
    onnx.save(model, str(out))
    return out


def test_foreign_onnx_takes_the_flags_in_profile_and_quantize(digits: dict[str, Path],
                                                              tmp_path: Path) -> None:
    bare = _foreign(digits["digits_cnn_plain"], tmp_path / "bare.onnx")
    assert manifest.for_artifact(bare) is None
    stated = Stated(resize=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    opts = pf.ProfileOptions(warmup=1, iterations=2, batches=(8,), data=digits["test"],
                             preprocess=stated)
    acc = pf.profile(str(bare), opts).results[0].accuracy
    assert acc is not None and acc["top1"] == pytest.approx(torch_top1(digits["test"]), abs=1e-9)

    r = run_cli("quantize", str(bare), "--fp16", "-o", str(tmp_path / "b16.onnx"),
                "--resize", "32", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--json")
    assert r.returncode == 0 and "not stated" not in r.stderr, r.stderr
    assert manifest.read(tmp_path / "b16.onnx").preprocess == PREPROCESS
    r = run_cli("quantize", str(bare), "--fp16", "-o", str(tmp_path / "a16.onnx"))
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stderr.splitlines() if "not stated" in ln][0].count("resize 36") == 1
    pp = manifest.read(tmp_path / "a16.onnx").preprocess
    assert pp is not None and pp.assumed


def test_engine_built_without_the_sidecar_carries_the_contract(use: Any, tmp_path: Path,
                                                                digits: dict[str, Path]) -> None:
    from support.trt import V10, build, onnx_copy

    use(V10)  # the fake TensorRT (no GPU here)
    src = onnx_copy(digits, tmp_path)
    manifest.sidecar(src).unlink()
    doc = build(src, workspace_mib=256)
    m = json.loads(manifest.sidecar(Path(doc["path"])).read_text())
    assert Preprocess.from_dict(m["preprocess"]) == PREPROCESS
    assert m["model"]["num_classes"] == 10 and m["lineage"]["parent_manifest"] is False


def test_profile_warns_about_assumed_preprocessing_only_when_it_measures_accuracy(
        digits: dict[str, Path], tmp_path: Path) -> None:
    bare = _foreign(digits["digits_cnn_plain"], tmp_path / "bare.onnx")
    timing_only = run_cli("profile", str(bare), "--iterations", "3", "--no-store")
    assert timing_only.returncode == 0 and "not stated" not in timing_only.stderr
    with_data = run_cli("profile", str(bare), "--iterations", "3", "--no-store", "--data",
                        str(digits["test"]))
    assert with_data.returncode == 0
    assert len([ln for ln in with_data.stderr.splitlines() if "not stated" in ln]) == 1


def test_sweep_states_the_preprocessing_of_a_foreign_onnx(digits: dict[str, Path],
                                                         tmp_path: Path) -> None:
    """``sweep`` takes the same flags: a foreign ONNX swept with them measures torch's top-1."""
    bare = _foreign(digits["digits_cnn_plain"], tmp_path / "bare.onnx")
    r = run_cli("sweep", str(bare), "--precisions", "fp32", "--backends", "ort", "--data",
                str(digits["test"]), "--duration", "0.05", "--store", str(tmp_path / "results"),
                "--out", str(tmp_path / "report"), "--json", "--resize", "32",
                "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5")
    assert r.returncode == 0 and "not stated" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert [v["status"] for v in doc["variants"]] == ["ok"]
    row = open_store(str(tmp_path / "results")).query(full=True)[0]
    assert row["result"]["manifest"]["preprocess"]["resize"] == 32
    assert row["top1"] == pytest.approx(torch_top1(digits["test"]), abs=1e-9)
    assert accuracy.judge(row["result"]).kind == "measured"


def test_preprocess_resizes_crops_and_normalises_a_known_image() -> None:
    # 40x20 image: left half red, right half blue; shorter side 20 -> 32, crop 16x16 centre
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20, 0] = 255
    a[:, 20:, 2] = 255
    pp = Preprocess(height=16, width=16, resize=32, interpolation="nearest", mean=(0.5, 0.5, 0.5),
                    std=(0.5, 0.5, 0.5))
    x = preprocess(Image.fromarray(a), pp)
    assert x.shape == (3, 16, 16) and x.dtype == np.float32
    assert np.allclose(x[0, :, :8], 1.0) and np.allclose(x[2, :, 8:], 1.0)
    assert np.allclose(x[1], -1.0)


def test_resized_keeps_the_crop_ratio() -> None:
    pp = Preprocess(height=224, width=224, resize=256).resized(64, 64)
    assert (pp.height, pp.width, pp.resize) == (64, 64, 73)
    assert Preprocess.from_dict(pp.to_dict()) == pp


def test_bundled_photos_are_real_images(tmp_path) -> None:
    photos = bundled_photos()
    assert len(photos) >= 8
    x = photo_batch(Preprocess(height=32, width=32, resize=36), count=3)
    assert x.shape == (3, 3, 32, 32) and np.isfinite(x).all() and x.std() > 0.1


def test_list_images_skips_and_counts_other_files(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.PNG")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "README").write_text("hi")
    images, skipped = list_images(tmp_path)
    assert [p.name for p in images] == ["x.PNG"] and skipped == 2
