"""Image loading and classifier preprocessing (resize, center crop, mean/std, NCHW float32).

Needs only numpy and Pillow, so ``edgekit profile`` can use it on a Jetson without torch.
The preprocessing comes from the model's catalog entry or timm/torchvision config and is
written to every manifest (ARCHITECTURE.md, rule 8).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._data import data_path
from edgekit.errors import CalibrationError, ConfigError
from edgekit.resize import PAD_SIDES, RESIZE_MODES, Transform, geometry, place

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
_INTERP = {"bilinear": 2, "bicubic": 3, "nearest": 0, "area": 4}  # PIL.Image.Resampling values
CHANNEL_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    """How a model expects its input: resize the shorter side, center-crop, normalise. Built
    from parts only in ``edgekit.preprocessing`` (the resolver), by keyword."""

    height: int = 224
    width: int = 224
    resize: int = 256  # shorter side before the center crop
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels: int = 3
    layout: str = "NCHW"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    channel_order: str = "rgb"  # rgb | bgr: the order of the channels the model reads
    assumed: bool = False  # ImageNet's defaults, assumed because nothing stated the recipe
    # --fuse-preprocess: the graph casts, scales, normalises and transposes, so the model takes
    # the resized/cropped pixels as uint8 NHWC, in ``channel_order`` (ARCHITECTURE.md, rule 8)
    fused: bool = False
    resize_mode: str = "crop"  # crop | stretch | letterbox (edgekit.resize)
    pad_value: tuple[float, ...] = (114.0, 114.0, 114.0)  # letterbox: pixel units, model order
    pad_side: str = "center"  # letterbox: center | right | bottom | right-bottom

    def fused_form(self) -> Preprocess:
        """The same recipe with the normalisation inside the graph: uint8 NHWC input."""
        return replace(self, fused=True, layout="NHWC")

    def resized(self, height: int, width: int) -> Preprocess:
        """The same recipe at another input size, keeping the crop ratio."""
        if (height, width) == (self.height, self.width):
            return self
        ratio = self.resize / max(self.height, self.width)
        return replace(self, height=height, width=width,
                       resize=int(math.floor(max(height, width) * ratio)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d["mean"], d["std"], d["pad_value"] = list(self.mean), list(self.std), list(self.pad_value)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
        keys = {"height", "width", "resize", "interpolation", "mean", "std", "channels", "layout",
                "channel_order", "assumed", "fused", "resize_mode", "pad_value", "pad_side"}
        kw = {k: d[k] for k in keys if k in d}  # a dict written before a field existed loads
        for k in ("mean", "std", "pad_value"):
            if k in kw:
                kw[k] = tuple(float(v) for v in kw[k])
        return cls(**kw)


@dataclass(kw_only=True)
class Stated:
    """Preprocessing the user states with flags (--mean/--std/--resize/--crop-pct/
    --interpolation/--channel-order/--resize-mode/--pad-value/--pad-side); None leaves the
    model's own (or the default) value."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: int | None = None
    crop_pct: float | None = None
    interpolation: str | None = None
    channel_order: str | None = None
    resize_mode: str | None = None
    pad_value: tuple[float, ...] | None = None  # one value, or one per channel (pixel units)
    pad_side: str | None = None

    def any(self) -> bool:
        return any(v is not None for v in vars(self).values())

    def check(self) -> None:
        """Values a recipe cannot hold are one error line (exit 2)."""
        if self.resize is not None and self.crop_pct is not None:
            raise ConfigError("--resize and --crop-pct conflict (both set the resize)",
                              "pass one of them")
        for name in ("mean", "std"):
            v = getattr(self, name)
            if v is not None and (len(v) != 3 or (name == "std" and min(v) <= 0)):
                raise ConfigError(f"--{name} takes three values R,G,B"
                                  + (" above 0" if name == "std" else ""),
                                  f"e.g. --{name} 0.5,0.5,0.5 (0-1 units, as torchvision)")
        if self.resize is not None and self.resize < 1:
            raise ConfigError(f"--resize {self.resize} is not a positive size", "e.g. --resize 256")
        if self.crop_pct is not None and not 0 < self.crop_pct <= 1:
            raise ConfigError(f"--crop-pct {self.crop_pct} is not in (0, 1]", "e.g. --crop-pct 0.875")
        for flag, value, allowed in (("interpolation", self.interpolation, tuple(_INTERP)),
                                     ("channel-order", self.channel_order, CHANNEL_ORDERS),
                                     ("resize-mode", self.resize_mode, RESIZE_MODES),
                                     ("pad-side", self.pad_side, PAD_SIDES)):
            if value is not None and value not in allowed:
                raise ConfigError(f"unknown --{flag} '{value}'", f"use one of {', '.join(allowed)}")
        v = self.pad_value
        if v is not None and (len(v) not in (1, 3) or min(v) < 0 or max(v) > 255):
            raise ConfigError("--pad-value takes one value or three (R,G,B) in 0-255 pixel units",
                              "e.g. --pad-value 114 (Ultralytics' grey)")

    def apply(self, pp: Preprocess) -> Preprocess:
        """``pp`` (already at the model's input size) with the stated values; a recipe the
        flags state is no longer assumed."""
        self.check()
        if not self.any():
            return pp
        if pp.fused:
            _check_fused(self, pp)
        mode = self.resize_mode or pp.resize_mode
        if mode != "letterbox" and (self.pad_value is not None or self.pad_side is not None):
            raise ConfigError(f"--pad-value/--pad-side pad a letterboxed image; this recipe's "
                              f"--resize-mode is {mode}", "add --resize-mode letterbox")
        if mode != "crop" and (self.resize is not None or self.crop_pct is not None):
            raise ConfigError(f"--resize/--crop-pct set the crop; this recipe's --resize-mode "
                              f"is {mode}", "drop them, or add --resize-mode crop")
        size = max(pp.height, pp.width)
        resize = (self.resize if self.resize is not None else
                  int(math.floor(size / self.crop_pct)) if self.crop_pct is not None else pp.resize)
        if mode == "crop" and resize < min(pp.height, pp.width):
            raise ConfigError(f"--resize {resize} is smaller than the {pp.height}x{pp.width} input",
                              f"use --resize {min(pp.height, pp.width)} (no crop) or more")
        pad = tuple(float(v) for v in self.pad_value) if self.pad_value is not None else None
        return replace(pp, resize=resize, mean=self.mean or pp.mean, std=self.std or pp.std,
                       interpolation=self.interpolation or pp.interpolation,
                       channel_order=self.channel_order or pp.channel_order, assumed=False,
                       resize_mode=mode, pad_side=self.pad_side or pp.pad_side,
                       pad_value=(pad * 3 if pad and len(pad) == 1 else pad) or pp.pad_value)


def _check_fused(stated: Stated, pp: Preprocess) -> None:
    """Mean, std and channel order are inside a fused graph: a flag that says otherwise would
    describe another model (resize, crop and interpolation still happen outside)."""
    for flag, said, has in (("--mean", stated.mean, pp.mean), ("--std", stated.std, pp.std)):
        if said is not None and tuple(said) != tuple(has):
            _fused_refusal(flag, ",".join(f"{v:g}" for v in has))
    if stated.channel_order is not None and stated.channel_order != pp.channel_order:
        _fused_refusal("--channel-order", pp.channel_order)
    if stated.pad_value is not None and any(v != int(v) for v in stated.pad_value):
        raise ConfigError("--pad-value: a fused model takes uint8 pixels, so the pad is a whole "
                          "pixel value", "e.g. --pad-value 114")


def _fused_refusal(flag: str, shown: str) -> None:
    raise ConfigError(f"{flag}: the model's preprocessing is fused into its graph "
                      f"({flag.lstrip('-')} {shown}); a flag cannot change it",
                      f"drop {flag}, or re-export with --fuse-preprocess {flag} VALUE")


def assumed_warning(pp: Preprocess) -> str:
    """The one warning line for a recipe nothing stated (ImageNet's, assumed)."""
    return (f"preprocessing not stated: assumed ImageNet's (resize {pp.resize}, centre crop "
            f"{pp.height}x{pp.width}, ImageNet mean/std, {pp.interpolation}, RGB); state it with "
            "--mean/--std, --resize or --crop-pct, --interpolation, --channel-order")


def load_rgb(path: Path) -> Any:
    """Open an image file as RGB (a PIL image); a corrupt file is an error naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise CalibrationError(f"cannot read image ({e.__class__.__name__}: {e})",
                               "remove or replace the file", path=str(path)) from e


def preprocess(image: Any, pp: Preprocess) -> np.ndarray:
    """One PIL image -> the model's input for one image, exactly as ``pp`` says: float32 CHW,
    or for a fused model (``pp.fused``) the resized/cropped or letterboxed uint8 HWC pixels.
    Every reader (export, calibration, profile, evaluation, verification) goes through here."""
    return preprocess_with_transform(image, pp)[0]


def preprocess_with_transform(image: Any, pp: Preprocess) -> tuple[np.ndarray, Transform]:
    """``preprocess`` and the image's ``resize.Transform``: the scale and offset it applied,
    which map boxes and masks from the model's input back to the original picture."""
    from PIL import Image

    t = geometry(image.size, height=pp.height, width=pp.width, mode=pp.resize_mode,
                 resize=pp.resize, pad_side=pp.pad_side)
    image = image.resize(t.resized, Image.Resampling(_INTERP.get(pp.interpolation, 2)))
    pixels = np.asarray(image, dtype=np.uint8)
    if pp.channel_order == "bgr":  # mean/std (and the pad value) are in the model's order
        pixels = pixels[..., ::-1]
    if pp.fused:  # the graph does the rest; a fused letterbox pads with whole pixel values
        return np.ascontiguousarray(place(pixels, t, pp.pad_value)), t
    x = place(pixels.astype(np.float32), t, pp.pad_value) / np.float32(255.0)
    mean, std = np.asarray(pp.mean, np.float32), np.asarray(pp.std, np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1), dtype=np.float32), t


def mirrored(x: np.ndarray, pp: Preprocess) -> np.ndarray:
    """A batch of model inputs flipped left-right (the width axis of NCHW or, fused, NHWC)."""
    return np.ascontiguousarray(np.flip(x, axis=2 if pp.fused else 3))


def list_images(folder: Path) -> tuple[list[Path], int]:
    """Image files under ``folder`` (recursive, sorted) and the count of other files skipped."""
    images, skipped = [], 0
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            if p.suffix.lower() in IMAGE_SUFFIXES:
                images.append(p)
            else:
                skipped += 1
    return images, skipped


def bundled_photos() -> list[Path]:
    """The real photos in the repository's ``calibration/`` folder."""
    folder = data_path("calibration")
    photos, _ = list_images(folder) if folder.is_dir() else ([], 0)
    if not photos:
        raise CalibrationError("the bundled calibration photos are missing",
                               "reinstall edgekit or pass --calib DIR", path=str(folder))
    return photos


def photo_batch(pp: Preprocess, count: int = 4, paths: Sequence[Path] | None = None) -> np.ndarray:
    """A batch of ``count`` real photos preprocessed by ``pp`` (N x C x H x W float32, or
    N x H x W x C uint8 for a fused model)."""
    chosen = list(paths or bundled_photos())[:count]
    return np.stack(list(_preprocessed(chosen, pp)))


def _preprocessed(paths: Iterable[Path], pp: Preprocess) -> Iterable[np.ndarray]:
    for p in paths:
        yield preprocess(load_rgb(p), pp)


@dataclass(frozen=True)
class LabelledSet:
    """An ImageFolder set: images preprocessed (N x C x H x W) and their class indices."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    folder: str
    skipped: int

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "images": int(len(self.y)), "classes": len(self.classes),
                "skipped_files": self.skipped}


def scan_image_folder(folder: Path, labels: Path | None = None
                      ) -> tuple[list[str], list[tuple[Path, int]], int]:
    """Check an ImageFolder without decoding it: (class names, (image, class index) pairs,
    non-image files skipped). The errors are the ones a user can fix."""
    if not folder.is_dir():
        raise CalibrationError("data folder not found", "pass an ImageFolder: DIR/<class>/<image>",
                               path=str(folder))
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise CalibrationError("has no class subfolders",
                               "arrange images as DIR/<class>/<image> (ImageFolder layout)",
                               path=str(folder))
    classes = [d.name for d in subdirs]
    if labels is not None:
        try:
            classes = [ln.strip() for ln in labels.read_text().splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise CalibrationError(f"cannot read labels ({getattr(e, 'strerror', None) or e})",
                                   "pass a text file, one class name per line",
                                   path=str(labels)) from e
        unknown = [d.name for d in subdirs if d.name not in classes]
        if unknown:
            raise CalibrationError(f"folder '{unknown[0]}' is not a class in the labels file",
                                   "list every class folder name, one per line", path=str(labels))
    items, skipped = [], 0
    for d in subdirs:
        paths, skip = list_images(d)
        skipped += skip
        items += [(p, classes.index(d.name)) for p in paths]
    if not items:
        raise CalibrationError(f"no images in its {len(subdirs)} class folders",
                               "add .jpg/.png/.bmp/.webp images", path=str(folder))
    return classes, items, skipped


def load_image_folder(folder: Path, pp: Preprocess, labels: Path | None = None) -> LabelledSet:
    """ImageFolder layout (one subfolder per class); class index from sorted folder names,
    or from ``labels`` (one class name per line, in index order)."""
    classes, items, skipped = scan_image_folder(folder, labels)
    xs = np.stack([preprocess(load_rgb(p), pp) for p, _ in items])
    return LabelledSet(xs, np.asarray([y for _, y in items]), classes, str(folder), skipped)


def unlabelled_paths(folder: Path) -> list[Path]:
    """The images of an ``--agreement-data`` folder (any layout, recursive); checked before
    any work."""
    paths, skipped = list_images(folder) if folder.is_dir() else ([], 0)
    if not paths:
        raise CalibrationError("--agreement-data: " + ("folder not found" if not folder.exists()
                               else f"no images found ({skipped} other files skipped)"),
                               "pass a folder of .jpg/.png/.bmp/.webp images (labels are not "
                               "needed)", path=str(folder))
    return paths


def load_unlabelled(folder: Path, pp: Preprocess) -> np.ndarray:
    """Every image under ``folder`` as model input (``preprocess``: NCHW float32, or fused NHWC uint8)."""
    return np.stack(list(_preprocessed(unlabelled_paths(folder), pp)))
