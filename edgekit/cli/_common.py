"""What every command file shares: option aliases, value parsers and ``emit`` (one JSON object
or the human rendering on stdout). Command files import from here, never from each other or
from ``edgekit.cli`` (see ARCHITECTURE.md, "Imports point one way")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit.precision import Precision

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Exit 3 when any variant failed (default: only when nothing was measured)")]
CommitOpt = Annotated[str | None, typer.Option(
    help="The git commit measured (default: CI's variables, else git in the artifact's or this "
         "folder)")]
StoreOpt = Annotated[str, typer.Option(
    "--store", envvar="EDGEKIT_STORE", show_envvar=True,
    help="Results store: a folder (holds edgekit.db), sqlite:///PATH or postgresql://USER@HOST/DB "
         "(password from PGPASSWORD or ~/.pgpass)")]
LabOpt = Annotated[str, typer.Option(
    "--lab", envvar="EDGEKIT_LAB", show_envvar=True,
    help="The lab's PostgreSQL store and queue: postgresql://USER@HOST/DB (password from "
         "PGPASSWORD or ~/.pgpass)")]
AgreementOpt = Annotated[Path | None, typer.Option(
    "--agreement-data", help="Unlabelled images: the variant's top-1 agreement with its FP32 "
                             "parent on them bounds its accuracy (default: the bundled photos)")]
LabelsOpt = Annotated[Path | None, typer.Option(help="Class names, one per line, in index order")]
DataOpt = Annotated[Path | None, typer.Option(help="Labelled images: a folder per class (top-1), "
                                              "YOLO txt/COCO JSON boxes (mAP), index masks "
                                              "(mIoU)")]
IgnoreIndexOpt = Annotated[int | None, typer.Option(
    "--ignore-index", min=0, help="Segmenters' masks: the value that is no class (default 255)")]


def registry_row(get: Callable[[str], Any], name: str | None) -> str | None:
    """typer callback body: the value must name a row of a registry (``get`` raises
    ConfigError naming the rows for an unknown one)."""
    from edgekit.errors import ConfigError

    if name is None:
        return None
    try:
        return str(get(name).name)
    except ConfigError as e:
        raise typer.BadParameter(f"{e.message}; {e.hint}") from None


def known_task(name: str | None) -> str | None:
    """typer callback: a --task value must name a row of edgekit.tasks.REGISTRY."""
    from edgekit import tasks

    return registry_row(tasks.get, name)


TaskOpt = Annotated[str | None, typer.Option(
    "--task", callback=known_task, help="classify|detect|segment|tensor; default: the "
    "artifact's record, the ONNX's metadata (Ultralytics), else a classifier where the one "
    "output is [N, classes], else tensor")]
AgreeOpt = Annotated[float | None, typer.Option(
    "--min-agreement", min=0.0, max=1.0, help="YOLO detectors: keep nodes in FP32 until the "
    "F1 of the detections against FP32's is at least this (e.g. 0.95)")]
QuantHeadOpt = Annotated[bool, typer.Option(
    "--quantize-head", help="YOLO detectors: quantize the box/score decode too (by default it "
    "stays float: one INT8 scale for 0-640 px boxes and 0-1 scores rounds the scores to 0)")]
SqnrOpt = Annotated[float | None, typer.Option(
    "--min-sqnr-db", help="Models judged by SQNR (not classifiers): keep nodes in FP32 until "
    "every output's SQNR against FP32 is at least this (e.g. 20)")]
MeanOpt = Annotated[str | None, typer.Option(
    "--mean", help="Preprocessing: per-channel mean R,G,B in 0-1 units (default: the model's)")]
StdOpt = Annotated[str | None, typer.Option("--std", help="Preprocessing: per-channel std R,G,B")]
ResizeOpt = Annotated[int | None, typer.Option(
    "--resize", help="Shorter side before the centre crop; the input size means no crop")]
CropPctOpt = Annotated[float | None, typer.Option(
    "--crop-pct", help="Input size / resize (timm's crop_pct); conflicts with --resize")]
InterpOpt = Annotated[str | None, typer.Option(
    "--interpolation", help="Resize filter: bilinear, bicubic, nearest or area")]
ChannelOrderOpt = Annotated[str | None, typer.Option("--channel-order", help="rgb or bgr")]
ResizeModeOpt = Annotated[str | None, typer.Option(
    "--resize-mode", help="crop (shorter side, centre crop), stretch, or letterbox (aspect kept, "
                          "padded)")]
PadValueOpt = Annotated[str | None, typer.Option(
    "--pad-value", help="Letterbox pad: one value or R,G,B in 0-255 pixel units (default 114)")]
PadSideOpt = Annotated[str | None, typer.Option(
    "--pad-side", help="Letterbox pad: center, right, bottom or right-bottom (default center)")]
# the preprocessing flags, in the order --help shows them (``preprocess_flags``)
PREPROCESS_FLAGS = (("mean", MeanOpt), ("std", StdOpt), ("resize", ResizeOpt),
                    ("crop_pct", CropPctOpt), ("interpolation", InterpOpt),
                    ("channel_order", ChannelOrderOpt), ("resize_mode", ResizeModeOpt),
                    ("pad_value", PadValueOpt), ("pad_side", PadSideOpt))
RandomWeightsOpt = Annotated[bool, typer.Option(
    "--random-weights", help="Named models: random initialisation instead of the pretrained "
                             "weights (downloaded into torch's/Hugging Face's cache by default)")]
CalibOpt = Annotated[Path | None, typer.Option(
    "--calib", help="Image folder or preprocessed .npz; default: the bundled calibration/ photos")]


def emit(obj: dict[str, Any], json_out: bool, human: Any = None) -> None:
    """Print a result: one JSON object, or the human rendering on stdout."""
    if json_out:
        print(json.dumps(obj, default=str))
    elif human is not None:
        from rich.console import Console

        Console().print(human)


def finish(verdict: tuple[int, str | None]) -> None:
    """A run's verdict (``SweepReport.verdict``): its line on stderr, its exit code."""
    import sys

    code, line = verdict
    if line:
        print(f"{'error' if code else 'warning'}: {line}", file=sys.stderr)
    if code:
        raise typer.Exit(code)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"224"`` or ``"256,192"`` (or ``256x192``) -> (H, W)."""
    if not text:
        return None
    parts = text.lower().replace("x", ",").split(",")
    try:
        hw = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not H or H,W (e.g. 224 or 256,192)") from None
    if len(hw) not in (1, 2) or min(hw) < 1:
        raise typer.BadParameter(f"'{text}' is not H or H,W with positive sizes")
    return (hw[0], hw[-1])


def parse_batch(text: str) -> int | None:
    """``"dynamic"`` -> None, ``"8"`` -> 8."""
    if text == "dynamic":
        return None
    if not text.isdigit() or int(text) < 1:
        raise typer.BadParameter(f"'{text}' is not 'dynamic' or a positive batch size")
    return int(text)


def parse_batches(text: str) -> tuple[int, ...]:
    """``"1,8,32"`` -> (1, 8, 32), duplicates dropped."""
    try:
        out = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a list of batch sizes (e.g. 1,8,32)") from None
    if not out or min(out) < 1:
        raise typer.BadParameter(f"'{text}' is not a list of positive batch sizes")
    return tuple(dict.fromkeys(out))


def known_backend(name: str | None) -> str | None:
    """typer callback: a --backend value must name a row of edgekit.backends.REGISTRY."""
    from edgekit import backends

    return registry_row(backends.get, name)


def parse_backends(text: str) -> tuple[str, ...]:
    """``"ort,torch"`` -> ("ort", "torch"), each a known backend."""
    names = tuple(dict.fromkeys(b.strip() for b in text.split(",") if b.strip()))
    for n in names:
        known_backend(n)
    return names


def parse_precisions(text: str) -> tuple[Precision, ...]:
    try:
        out = Precision.parse_list(text)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    if not out:
        raise typer.BadParameter(f"'{text}': name one or more precisions, e.g. fp32,int8")
    return out


def preprocess_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a typer command every preprocessing flag (``PREPROCESS_FLAGS``) in place of its
    ``preprocess`` parameter, which it then receives as one checked ``images.Stated``: the
    flags are declared once, for export, quantize, profile and sweep alike."""
    import functools
    import inspect

    sig = inspect.signature(command, eval_str=True)  # typer reads the evaluated annotations
    kept = [p for p in sig.parameters.values() if p.name != "preprocess"]
    at = next((i for i, p in enumerate(kept) if p.name in ("json_out", "quiet")), len(kept))
    flags = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=opt) for name, opt in PREPROCESS_FLAGS]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        kwargs["preprocess"] = stated(**{name: kwargs.pop(name) for name, _ in PREPROCESS_FLAGS})
        return command(*args, **kwargs)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept]
    run.__signature__ = sig.replace(parameters=[*params[:at], *flags, *params[at:]])  # type: ignore[attr-defined]
    run.__annotations__ = {k: v for k, v in command.__annotations__.items() if k != "preprocess"}
    return run


def stated(*, mean: str | None = None, std: str | None = None, resize: int | None = None,
           crop_pct: float | None = None, interpolation: str | None = None,
           channel_order: str | None = None, resize_mode: str | None = None,
           pad_value: str | None = None, pad_side: str | None = None) -> Any:
    """The preprocessing flags -> ``images.Stated``, checked (malformed values: one line)."""
    from edgekit.errors import ConfigError
    from edgekit.images import Stated

    def numbers(name: str, text: str | None, what: str, example: str) -> tuple[float, ...] | None:
        if text is None:
            return None
        try:
            return tuple(float(p) for p in text.split(","))
        except ValueError:
            raise ConfigError(f"--{name} '{text}' is not {what}", f"e.g. --{name} {example}"
                              ) from None

    out = Stated(mean=numbers("mean", mean, "three numbers R,G,B", "0.5,0.5,0.5"),
                 std=numbers("std", std, "three numbers R,G,B", "0.5,0.5,0.5"), resize=resize,
                 crop_pct=crop_pct, interpolation=interpolation and interpolation.lower(),
                 channel_order=channel_order and channel_order.lower(),
                 resize_mode=resize_mode and resize_mode.lower(),
                 pad_value=numbers("pad-value", pad_value, "one number or R,G,B", "114"),
                 pad_side=pad_side and pad_side.lower())
    out.check()
    return out
