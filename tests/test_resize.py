"""Resize modes (edgekit.resize, through images.preprocess): crop, stretch and letterbox
against plain PIL/numpy pipelines written here, on the bundled photos (landscape, and portrait
by transposing them) at square and non-square sizes; the inverse transform on a drawn box;
letterbox carried in the ONNX's contract and honoured by calibration, --data and a fused
model; the flags' errors; Ultralytics' own LetterBox where it is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support import import_ultralytics, run_cli

from edgekit import calib, manifest
from edgekit.images import (
    Preprocess,
    Stated,
    bundled_photos,
    load_rgb,
    preprocess,
    preprocess_with_transform,
)
from edgekit.lab_job import options_from_dict, options_to_dict
from edgekit.profile import ProfileOptions
from edgekit.resize import geometry

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZES = [(64, 64), (48, 192), (96, 40)]  # H, W: square, PP-OCR-like wide, tall


def _photos() -> list[Image.Image]:
    """Landscape photos and, transposed, the same as portraits."""
    land = [load_rgb(p) for p in bundled_photos() if p.stem in ("chelsea", "coffee", "text")]
    return land + [im.transpose(Image.Transpose.TRANSPOSE) for im in land]


def _normalise(pixels: np.ndarray) -> np.ndarray:
    x = pixels.astype(np.float32) / 255.0
    return ((x - np.float32(MEAN)) / np.float32(STD)).transpose(2, 0, 1)


def _by_hand(im: Image.Image, mode: str, h: int, w: int, pad: float = 114.0,
             side: str = "center", resize: int = 0) -> np.ndarray:
    """The three recipes written out with PIL and numpy, independently of edgekit.resize."""
    W0, H0 = im.size
    if mode == "stretch":
        return _normalise(np.asarray(im.resize((w, h), Image.Resampling.BILINEAR)))
    if mode == "crop":
        s = resize / min(W0, H0)
        nw, nh = max(w, round(W0 * s)), max(h, round(H0 * s))
        r = im.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - w) // 2, (nh - h) // 2
        return _normalise(np.asarray(r.crop((left, top, left + w, top + h))))
    r = min(h / H0, w / W0)
    nw, nh = int(round(W0 * r)), int(round(H0 * r))
    small = np.asarray(im.resize((nw, nh), Image.Resampling.BILINEAR)).astype(np.float32)
    canvas = np.full((h, w, 3), pad, np.float32)
    dw, dh = (w - nw) / 2, (h - nh) / 2
    left = 0 if side in ("right", "right-bottom") else int(round(dw - 0.1))
    top = 0 if side in ("bottom", "right-bottom") else int(round(dh - 0.1))
    canvas[top:top + nh, left:left + nw] = small
    return _normalise(canvas)


def _pp(mode: str, h: int, w: int, **kw: Any) -> Preprocess:
    return Stated(resize_mode=mode, **kw).apply(Preprocess(height=h, width=w, resize=max(h, w)))


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("mode,kw", [("crop", {}), ("stretch", {}), ("letterbox", {}),
                                     ("letterbox", {"pad_side": "right"}),
                                     ("letterbox", {"pad_side": "bottom", "pad_value": (0.0,)}),
                                     ("letterbox", {"pad_side": "right-bottom"})])
def test_each_mode_equals_a_hand_written_pipeline(mode: str, kw: dict[str, Any], h: int,
                                                  w: int) -> None:
    pp = _pp(mode, h, w, **kw)
    for im in _photos():
        got = preprocess(im, pp)
        want = _by_hand(im, mode, h, w, pad=(kw.get("pad_value") or (114.0,))[0],
                        side=kw.get("pad_side", "center"), resize=pp.resize)
        assert got.shape == (3, h, w) and np.abs(got - want).max() < 1e-5, (mode, kw, im.size)


def test_a_box_maps_into_the_letterbox_and_back() -> None:
    """A white box drawn on a grey 640x480 picture is found where ``to_model`` puts it in the
    320x320 letterboxed input (within a pixel of resampling blur), and maps back within 0.5 px."""
    a = np.full((480, 640, 3), 60, np.uint8)
    box = np.array([[100.0, 40.0, 300.0, 200.0]])  # x1, y1, x2, y2 (pixel edges)
    a[40:200, 100:300] = 255
    pp = _pp("letterbox", 320, 320, mean=(0.0,) * 3, std=(1.0,) * 3)
    x, t = preprocess_with_transform(Image.fromarray(a), pp)
    assert (t.offset_x, t.offset_y, t.resized) == (0, 40, (320, 240))
    mapped = t.to_model(box)[0]
    white = np.argwhere(x[0] > 0.9)  # rows, cols of the box in the model input
    found = [white[:, 1].min(), white[:, 0].min(), white[:, 1].max() + 1, white[:, 0].max() + 1]
    assert np.abs(np.array(found) - mapped).max() <= 1.0, (found, mapped)
    assert np.abs(t.to_original(t.to_model(box)) - box).max() <= 0.5
    assert np.abs(t.to_original([found]) - box).max() <= 1.0 / t.scale_x  # one model pixel
    assert (x[0, :40] == np.float32(114 / 255)).all()  # the centred pad above


@pytest.mark.parametrize("mode", ["crop", "stretch", "letterbox"])
def test_the_transform_of_each_mode_inverts(mode: str) -> None:
    t = geometry((451, 300), height=48, width=192, mode=mode, resize=192, pad_side="right")
    boxes = np.array([[0.0, 0.0, 451.0, 300.0], [10.5, 20.25, 200.0, 150.0]])
    assert np.abs(t.to_original(t.to_model(boxes)) - boxes).max() < 1e-9
    if mode == "letterbox":  # the whole picture fills the resized part, from the left
        assert t.to_model(boxes[:1])[0].tolist() == [0.0, t.offset_y, *t.resized[:1],
                                                     t.offset_y + t.resized[1]]


def test_letterbox_is_carried_by_the_recipe_and_its_readers(tmp_path: Path) -> None:
    pp = _pp("letterbox", 48, 192, pad_side="right", pad_value=(0.0, 127.0, 255.0))
    assert Preprocess.from_dict(json.loads(json.dumps(pp.to_dict()))) == pp
    cs = calib.load(None, pp)  # the bundled photos, letterboxed for calibration
    want = np.stack([preprocess(load_rgb(p), pp) for p in bundled_photos()])
    assert np.array_equal(cs.data, want) and cs.data.shape[1:] == (3, 48, 192)
    popts = ProfileOptions(backend="ort", preprocess=Stated(resize_mode="letterbox",
                                                            pad_value=(114.0,), pad_side="right"))
    back = options_from_dict(json.loads(json.dumps(options_to_dict(popts))))
    assert back.preprocess == popts.preprocess  # a lab job carries the flags


def test_fused_letterbox_feeds_letterboxed_pixels() -> None:
    pp = _pp("letterbox", 64, 64, mean=(0.5,) * 3, std=(0.25,) * 3)
    fused = pp.fused_form()
    for im in _photos()[:2]:
        pixels = preprocess(im, fused)
        assert pixels.dtype == np.uint8 and pixels.shape == (64, 64, 3)
        x = (pixels.astype(np.float32) / 255 - 0.5) / 0.25
        assert np.abs(x.transpose(2, 0, 1) - preprocess(im, pp)).max() < 1e-5
    with pytest.raises(Exception, match="whole pixel value"):
        Stated(pad_value=(127.5,)).apply(fused)


@pytest.mark.parametrize("flags,message", [
    (["--pad-value", "114"], "--pad-value/--pad-side pad a letterboxed image"),
    (["--resize-mode", "letterbox", "--resize", "40"], "--resize/--crop-pct set the crop"),
    (["--resize-mode", "squash"], "unknown --resize-mode 'squash'"),
    (["--resize-mode", "letterbox", "--pad-value", "1,2"], "--pad-value takes one value or three"),
    (["--resize-mode", "letterbox", "--pad-side", "left"], "unknown --pad-side 'left'"),
])
def test_bad_letterbox_flags_are_one_line(flags: list[str], message: str, tmp_path: Path,
                                          digits: dict[str, Path]) -> None:
    r = run_cli("profile", str(digits["digits_cnn_plain"]), *flags, "--no-store",
                "--iterations", "1", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_export_letterbox_int8_records_it_in_the_contract(tmp_path: Path,
                                                          digits: dict[str, Path]) -> None:
    """The issue's command on a foreign ONNX: the contract inside the INT8 ONNX says letterbox,
    and --data profiles it with letterboxed images (the fused twin agrees on every image)."""
    import onnx

    src = tmp_path / "det.onnx"
    model = onnx.load(str(digits["digits_cnn_plain"]))
    del model.metadata_props[:]
    onnx.save(model, str(src))
    flags = ["--resize-mode", "letterbox", "--pad-value", "114", "--mean", "0.5,0.5,0.5",
             "--std", "0.5,0.5,0.5"]
    r = run_cli("export", str(src), *flags, "--int8", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    int8 = tmp_path / "det.opt.int8.onnx"
    emb = manifest.embedded(int8)
    assert emb is not None and emb.preprocess is not None
    assert (emb.preprocess.resize_mode, emb.preprocess.pad_value) == ("letterbox", (114.0,) * 3)
    r = run_cli("export", str(src), *flags, "--fuse-preprocess", "-o", str(tmp_path / "f.onnx"),
                "--quiet")
    assert r.returncode == 0, r.stderr
    fused = manifest.read(tmp_path / "f.onnx").preprocess
    assert fused is not None and fused.fused and fused.resize_mode == "letterbox"
    from edgekit import reproduce

    row = {"result": {"artifact": {"kind": "onnx", "path": "i.onnx"},
                      "manifest": manifest.read(int8).to_dict()}}
    again = reproduce.artifact_commands(row)[0]  # the recipe travels in the reproduce line
    assert "--resize-mode letterbox --pad-value 114,114,114 --pad-side center" in again
    assert "--mean 0.5,0.5,0.5 --std 0.5,0.5,0.5" in again and "--resize " not in again
    import shlex

    args = shlex.split(again)[1:]
    args[args.index("-o") + 1] = str(tmp_path / "again.onnx")
    r = run_cli(*args, "--quiet")  # replayed, it makes the same recipe
    assert r.returncode == 0, r.stderr
    assert manifest.read(tmp_path / "again.onnx").preprocess == \
        manifest.read(tmp_path / "det.opt.onnx").preprocess
    tops = []
    for art in (tmp_path / "det.opt.onnx", tmp_path / "f.onnx"):
        r = run_cli("profile", str(art), "--data", str(digits["test"]), "--iterations", "2",
                    "--no-store", "--json")
        assert r.returncode == 0, r.stderr
        tops.append(json.loads(r.stdout)["results"][0]["accuracy"]["top1"])
    assert tops[0] == tops[1]


def test_ultralytics_letterbox_places_the_image_where_edgekit_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ultralytics' own LetterBox (OpenCV's resize, so pixels differ at edges by resampling):
    the same padding to the pixel, and the same image inside within the resampling noise."""
    augment = import_ultralytics("ultralytics.data.augment", monkeypatch)
    for im in _photos():
        for h, w in ((320, 320), (256, 416)):
            bgr = np.ascontiguousarray(np.asarray(im)[..., ::-1])
            theirs = augment.LetterBox(new_shape=(h, w), auto=False, scaleup=True)(image=bgr)
            ours = preprocess(im, _pp("letterbox", h, w, mean=(0.0,) * 3, std=(1 / 255,) * 3))
            ours = ours.transpose(1, 2, 0)[..., ::-1]  # to BGR pixels
            pad_theirs = (theirs == 114).all(axis=2)
            pad_ours = (np.abs(ours - 114) < 1e-3).all(axis=2)
            inside = ~pad_theirs & ~pad_ours
            assert theirs.shape == ours.shape == (h, w, 3)
            rows_t, rows_o = np.where(~pad_theirs.all(axis=1))[0], np.where(~pad_ours.all(axis=1))[0]
            cols_t, cols_o = np.where(~pad_theirs.all(axis=0))[0], np.where(~pad_ours.all(axis=0))[0]
            assert (rows_t[[0, -1]] == rows_o[[0, -1]]).all(), im.size
            assert (cols_t[[0, -1]] == cols_o[[0, -1]]).all(), im.size
            assert np.abs(theirs[inside].astype(float) - ours[inside]).mean() < 6.0
