"""The one place a preprocessing recipe is decided (ARCHITECTURE.md, rule 8).

``resolve`` answers "how does an image become this model's input?" for every reader (export,
quantize, profile, sweep, the lab agent, fuse, the TensorRT build and its calibrator), field by
field in one fixed order, the way timm's ``resolve_data_config(args, pretrained_cfg, model)``
does:

1. what the user's flags state (``images.Stated``: mean, std, resize or crop-pct,
   interpolation, channel order);
2. the artifact's own record: its manifest, or the contract embedded in the ONNX;
3. the source's own config: a catalog entry, timm's pretrained config (height from
   ``input_size[-2]``, width from ``input_size[-1]``), torchvision's weights transforms, or
   a runner that knows its model;
4. ImageNet's recipe at the input size (224 where the input is dynamic; a uint8 N x H x W x 3
   input is fed pixels, as a fused model), marked ``assumed``.

The size comes from a requested ``input_size`` (``--input-size``), else the chosen recipe. The
warning that ImageNet's recipe was assumed is decided here too, and said once per command
(``Reporter.warn_once``). Every ``Preprocess`` built from parts is built in this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgekit import graph
from edgekit.images import IMAGENET_MEAN, IMAGENET_STD, Preprocess, Stated, assumed_warning

DEFAULT_SIZE = 224
DEFAULT_CROP_PCT = 0.875  # 224 of 256: ImageNet's resize before the centre crop


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """The recipe and where it came from: ``flags``, ``artifact``, ``model`` or ``default``
    (the base the flags went over; ``assumed`` when ImageNet's recipe stands unstated)."""

    preprocess: Preprocess
    base: str

    @property
    def assumed(self) -> bool:
        return self.preprocess.assumed


def resolve(stated: Stated | None = None, *, artifact: Preprocess | None = None,
            model: Preprocess | None = None, input_shape: Sequence[int | str] | None = None,
            input_dtype: str | None = None, input_size: tuple[int, int] | None = None,
            input_name: str | None = None, where: str = "", rep: Any = None,
            warn: bool = True) -> Resolved:
    """The recipe, in the order of the module's docstring. ``rep``: where the assumed-recipe
    warning goes (once per command); ``warn=False`` where nothing depends on the recipe.
    ``input_name``: where nothing states the recipe, a symbolic height or width of that input
    is one line naming it (``where``: the file), not a guessed 224."""
    if artifact is not None:
        pp, base = artifact, "artifact"
    elif model is not None:
        pp, base = model, "model"
    else:
        if input_name is not None and input_size is None and input_shape is not None:
            graph.require_size(input_name, _image_hw(input_shape, input_dtype)[0], where)
        pp, base = default_for(input_shape, input_dtype), "default"
    if input_size is not None:
        pp = pp.resized(*input_size)
    stated = stated or Stated()
    pp = stated.apply(pp)
    out = Resolved(preprocess=pp, base="flags" if stated.any() else base)
    if out.assumed and warn and rep is not None:
        rep.warn_once(assumed_warning(pp))
    return out


def default_for(shape: Sequence[int | str] | None = None, dtype: str | None = None
                ) -> Preprocess:
    """ImageNet's recipe at an NCHW input's static size (224 where it is dynamic), marked
    assumed. A uint8 N x H x W x 3 input takes pixels and normalises inside its graph: it is
    fed as a fused model."""
    dims, pixels = _image_hw(shape, dtype)
    h, w = (d if isinstance(d, int) and d > 0 else DEFAULT_SIZE
            for d in (dims or [DEFAULT_SIZE, DEFAULT_SIZE]))
    pp = imagenet(assumed=True).resized(h, w)
    return pp.fused_form() if pixels else pp


def _image_hw(shape: Sequence[int | str] | None, dtype: str | None
              ) -> tuple[list[int | str], bool]:
    """An image input's height and width (empty where the shape is not 4-D), and whether it
    takes uint8 N x H x W x 3 pixels (the fused layout) rather than N x C x H x W."""
    if shape is None or len(shape) != 4:
        return [], False
    pixels = dtype == "uint8" and shape[-1] == 3
    return list(shape[1:3] if pixels else shape[2:4]), pixels


def imagenet(*, assumed: bool = False) -> Preprocess:
    """ImageNet's recipe at 224: resize 256, centre crop, bilinear, ImageNet mean/std, RGB."""
    return Preprocess(height=DEFAULT_SIZE, width=DEFAULT_SIZE,
                      resize=int(DEFAULT_SIZE / DEFAULT_CROP_PCT), interpolation="bilinear",
                      mean=IMAGENET_MEAN, std=IMAGENET_STD, assumed=assumed)


def from_timm_cfg(cfg: Mapping[str, Any]) -> Preprocess | None:
    """A timm (pretrained/data) config -> its recipe: ``input_size`` is (C, H, W), so the
    height is ``input_size[-2]`` and the width ``input_size[-1]``; the resize keeps timm's
    ``crop_pct`` of the longer side. None when the config has no input size."""
    if "input_size" not in cfg:
        return None
    h, w = int(cfg["input_size"][-2]), int(cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or DEFAULT_CROP_PCT)
    return Preprocess(height=h, width=w, resize=int(max(h, w) / crop_pct),
                      interpolation=str(cfg.get("interpolation") or "bilinear"),
                      mean=tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN)),
                      std=tuple(float(v) for v in cfg.get("std", IMAGENET_STD)))


def from_torchvision(transforms: Any) -> Preprocess:
    """torchvision's weights transforms (``Weights.transforms()``, e.g. ImageClassification)
    -> the recipe: crop_size is [H] or [H, W], resize_size the shorter side."""
    crop = [int(v) for v in transforms.crop_size]
    return Preprocess(height=crop[0], width=crop[-1], resize=int(transforms.resize_size[0]),
                      interpolation=str(transforms.interpolation.value),
                      mean=tuple(float(v) for v in transforms.mean),
                      std=tuple(float(v) for v in transforms.std))


def from_ultralytics(height: int, width: int) -> Preprocess:
    """Ultralytics YOLO's recipe (the ``detect`` row's): letterbox to the model's size with
    pad 114, centred, pixels / 255, RGB, no mean/std."""
    return Preprocess(height=height, width=width, resize=max(height, width),
                      interpolation="bilinear", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                      resize_mode="letterbox", pad_value=(114.0, 114.0, 114.0),
                      pad_side="center")


def stretched_imagenet(size: int) -> Preprocess:
    """ImageNet's normalisation, the image stretched to ``size`` x ``size`` (no crop): a
    torchvision segmenter's evaluation preset at one fixed size (``edgekit.tvsegment``)."""
    return Preprocess(height=size, width=size, resize=size, interpolation="bilinear",
                      mean=IMAGENET_MEAN, std=IMAGENET_STD, resize_mode="stretch")


def detector_input(height: int, width: int, mode: str, pad: tuple[float, ...]) -> Preprocess:
    """A torchvision detector's recipe before its graph (``edgekit.tvdetect``): resized by
    ``mode`` (stretch | letterbox, padded right and bottom with ``pad``), pixels / 255, RGB, no
    mean/std (the graph normalises)."""
    return Preprocess(height=height, width=width, resize=max(height, width),
                      interpolation="bilinear", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                      resize_mode=mode, pad_value=pad, pad_side="right-bottom")


def from_catalog(entry: Mapping[str, Any]) -> Preprocess:
    """A ``models/catalog.yaml`` entry -> its recipe (square ``input_size``)."""
    size = int(entry["input_size"])
    return Preprocess(height=size, width=size, resize=int(entry["resize"]),
                      interpolation=str(entry["interpolation"]),
                      mean=tuple(float(v) for v in entry["mean"]),
                      std=tuple(float(v) for v in entry["std"]))
