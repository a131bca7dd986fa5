"""The ``edgekit`` command line: parse, call ONE library function, print (STYLE.md §1).

Importing this module must not import torch, timm, onnxruntime, onnx or tensorrt: a test pins
it, so ``edgekit profile`` can run on a Jetson with numpy + onnxruntime/tensorrt only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit import __version__, render
from edgekit.errors import EXIT_INTERRUPTED, EXIT_USAGE, EdgekitError
from edgekit.export import Exporter, ExportOptions
from edgekit.progress import Reporter
from edgekit.quantize import Method, Precision, QuantOptions, Target

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Take an image classifier of any architecture to an edge device, and "
                       "measure what you get.")

CalibOpt = Annotated[Path | None, typer.Option(
    "--calib", help="Image folder or preprocessed .npz; default: the bundled calibration/ photos")]
CalibSizeOpt = Annotated[int | None, typer.Option("--calib-size", min=1)]
MethodOpt = Annotated[Method, typer.Option("--calib-method")]
PerChannelOpt = Annotated[bool, typer.Option("--per-channel/--per-tensor")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", help="Node kept in FP32 (repeat)")]
TargetOpt = Annotated[Target, typer.Option(help="Settings for this runtime")]
ValOpt = Annotated[Path | None, typer.Option("--val", help="ImageFolder with labels")]
LabelsOpt = Annotated[Path | None, typer.Option(help="Class names, one per line, in index order")]
DropOpt = Annotated[float | None, typer.Option(
    "--max-accuracy-drop", min=0.0, help="Top-1 points (agreement without labels)")]
ReportOpt = Annotated[int, typer.Option("--report", min=0, help="Worst nodes listed")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
StoreOpt = Annotated[Path, typer.Option("--store", help="Results folder (holds edgekit.db)")]


def _version(value: bool) -> None:
    if value:
        print(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    """edgekit: export -> quantize -> build -> profile -> pareto/budget."""


def emit(obj: dict[str, Any], json_out: bool, human: Any = None) -> None:
    """Print a result: one JSON object, or the human rendering on stdout."""
    if json_out:
        print(json.dumps(obj, default=str))
    elif human is not None:
        from rich.console import Console

        Console().print(human)


def _size(text: str | None) -> tuple[int, int] | None:
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


def _batch(text: str) -> int | None:
    if text == "dynamic":
        return None
    if not text.isdigit() or int(text) < 1:
        raise typer.BadParameter(f"'{text}' is not 'dynamic' or a positive batch size")
    return int(text)


@app.command()
def export(
    spec: Annotated[str, typer.Argument(help="Catalog name, timm:/torchvision: name, "
                                             "file.py:factory, TorchScript .pt/.ts, or .onnx")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output .onnx")] = None,
    input_size: Annotated[str | None, typer.Option(help="H[,W]; default: the model's")] = None,
    batch: Annotated[str, typer.Option(help="'dynamic' or a fixed N")] = "dynamic",
    opset: Annotated[int, typer.Option(min=13, max=23)] = 18,
    exporter: Annotated[Exporter, typer.Option(help="auto: the first that verifies")] = (
        Exporter.AUTO),
    no_simplify: Annotated[bool, typer.Option("--no-simplify")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify")] = False,
    weights: Annotated[Path | None, typer.Option(help="state_dict checkpoint to load")] = None,
    num_classes: Annotated[int | None, typer.Option(min=1, help="Adapt the head")] = None,
    pretrained: Annotated[bool, typer.Option(help="Use cached pretrained weights")] = False,
    trust_checkpoint: Annotated[bool, typer.Option(
        help="Unpickle --weights fully (runs code in it)")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also write NAME.int8.onnx")] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also write NAME.fp16.onnx")] = False,
    calib: CalibOpt = None,
    calib_size: CalibSizeOpt = None,
    calib_method: MethodOpt = Method.MINMAX,
    per_channel: PerChannelOpt = True,
    exclude: ExcludeOpt = None,
    target: TargetOpt = Target.CPU,
    val: ValOpt = None,
    labels: LabelsOpt = None,
    max_accuracy_drop: DropOpt = None,
    report: ReportOpt = 10,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a model to simplified, verified ONNX with a manifest (and INT8/FP16 from it)."""
    from edgekit import quantize as qz
    from edgekit.sources import Options

    rep = Reporter.for_cli(quiet, json_out)
    opts = ExportOptions(output, _size(input_size), _batch(batch), opset, exporter,
                         not no_simplify, not no_verify)
    variants = [QuantOptions(prec, None, calib, calib_size, calib_method, per_channel,
                             tuple(exclude or ()), target, val, labels, max_accuracy_drop, report)
                for flag, prec in ((int8, Precision.INT8), (fp16, Precision.FP16)) if flag]
    res, quantized = qz.export_and_quantize(
        spec, opts, Options(weights, num_classes, pretrained, trust_checkpoint), variants, rep)
    doc = res.to_dict()
    for q in quantized:
        doc[q.manifest["precision"]] = q.to_dict()
    emit(doc, json_out, render.group([render.export_table(res.manifest, res.path),
                                      *(render.quant_table(q.manifest, q.path) for q in quantized)]))


@app.command()
def quantize(
    model: Annotated[Path, typer.Argument(help="FP32 .onnx (from edgekit export)")],
    int8: Annotated[bool, typer.Option("--int8", help="INT8 QDQ (default)")] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="FP16 instead of INT8")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    calib: CalibOpt = None,
    calib_size: CalibSizeOpt = None,
    calib_method: MethodOpt = Method.MINMAX,
    per_channel: PerChannelOpt = True,
    exclude: ExcludeOpt = None,
    target: TargetOpt = Target.CPU,
    val: ValOpt = None,
    labels: LabelsOpt = None,
    max_accuracy_drop: DropOpt = None,
    report: ReportOpt = 10,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Quantize an ONNX model to INT8 (or convert to FP16), verified against its FP32 parent."""
    from edgekit import quantize as qz

    if int8 and fp16:
        raise typer.BadParameter("--int8 and --fp16 conflict; run quantize once for each")
    prec = Precision.FP16 if fp16 else Precision.INT8
    q = qz.quantize(model, QuantOptions(prec, output, calib, calib_size, calib_method, per_channel,
                                        tuple(exclude or ()), target, val, labels,
                                        max_accuracy_drop, report), Reporter.for_cli(quiet, json_out))
    emit(q.to_dict(), json_out, render.quant_table(q.manifest, q.path))


@app.command()
def models(json_out: JsonOpt = False) -> None:
    """List the catalog's short names with their published figures."""
    from rich.table import Table

    from edgekit.catalog import load_catalog

    cat = load_catalog()
    rows = [e.to_dict() for e in cat.entries.values()]
    t = Table("name", "family", "provider:name", "input", "top-1", "top-5", "params M", "GMACs")
    for e in cat.entries.values():
        t.add_row(e.short, e.family, f"{e.provider}:{e.name}", str(e.input_size),
                  f"{e.top1:.2f}" if e.top1 else "-", f"{e.top5:.2f}" if e.top5 else "-",
                  f"{e.params / 1e6:.1f}" if e.params else "-", f"{e.gmacs:.3f}" if e.gmacs else "-")
    emit({"schema": "edgekit.models/1", "models": rows, "aliases": cat.aliases}, json_out, t)


# the other commands live beside this module (one file per group); importing them registers them
from edgekit import cli_measure, cli_run  # noqa: E402,F401


def _fail(line: str, err: dict[str, str], code: int, json_out: bool) -> None:
    print(f"error: {line}", file=sys.stderr)
    if json_out:
        print(json.dumps({"error": err}))
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EDGEKIT_DEBUG") == "1"
    json_out = "--json" in args
    try:
        rc = app(args=args, prog_name="edgekit", standalone_mode=False)
        if isinstance(rc, int) and rc:  # typer.Exit(code) inside a command returns the code
            sys.exit(rc)
    except EdgekitError as e:
        if debug:
            raise
        _fail(e.line(), e.to_dict(), e.exit_code, json_out)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.TyperException as e:  # Click's usage errors: one line, exit 2
        if debug:
            raise
        ctx = getattr(e, "ctx", None)
        cmd = f" {ctx.info_name}" if ctx is not None and ctx.info_name != "edgekit" else ""
        msg = str(e.format_message() if hasattr(e, "format_message") else e)
        msg = msg.replace("\n", " ").rstrip(".")
        _fail(f"{msg}; see edgekit{cmd} --help",
              {"type": "UsageError", "message": msg, "hint": "see --help", "path": ""},
              EXIT_USAGE, json_out)
    except (KeyboardInterrupt, typer.Abort):
        print("error: interrupted; nothing was left half-written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
