"""``edgekit build``: a TensorRT engine for this GPU or Jetson (edgekit/trt/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit import render
from edgekit.cli._common import JsonOpt, QuietOpt, emit
from edgekit.progress import Reporter

app = typer.Typer()


@app.command()
def build(
    model: Annotated[Path, typer.Argument(help="ONNX to build (NAME.fp16.onnx / NAME.int8.onnx "
                                               "carry their precision)")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="NAME.engine")] = None,
    precision: Annotated[str | None, typer.Option(
        help="Legacy builder flags fp16|int8|best (TensorRT < 11 only)")] = None,
    shapes: Annotated[list[str] | None, typer.Option(
        "--shapes", help="NAME:MIN,OPT,MAX e.g. input:1x3x224x224,8x3x224x224,32x3x224x224")] = None,
    workspace: Annotated[int | None, typer.Option(min=1, help="Workspace pool, MiB")] = None,
    timing_cache: Annotated[Path | None, typer.Option(help="Loaded and saved back")] = None,
    opt_level: Annotated[int | None, typer.Option(min=0, max=5, help="Builder optimisation "
                                                                     "level (default 3)")] = None,
    dla_core: Annotated[int | None, typer.Option(min=0)] = None,
    gpu_fallback: Annotated[bool, typer.Option("--gpu-fallback")] = False,
    hardware_compatible: Annotated[str, typer.Option(help="none|ampere+|same-cc")] = "none",
    version_compatible: Annotated[bool, typer.Option("--version-compatible")] = False,
    calib: Annotated[Path | None, typer.Option(help="Legacy INT8 calibration images")] = None,
    calib_cache: Annotated[Path | None, typer.Option(help="Legacy INT8 calibration cache")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="TensorRT's verbose log")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build a TensorRT engine for this GPU or Jetson, with a manifest of what it really is."""
    from edgekit.trt import engine

    opts = engine.BuildOptions(output=output, precision=precision,
                               shapes=engine.parse_shapes(shapes or []), workspace_mib=workspace,
                               timing_cache=timing_cache, opt_level=opt_level, dla_core=dla_core,
                               gpu_fallback=gpu_fallback, hardware_compatible=hardware_compatible,
                               version_compatible=version_compatible, calib=calib,
                               calib_cache=calib_cache, verbose=verbose)
    doc = engine.build(model, opts, Reporter.for_cli(quiet, json_out))
    emit({"schema": "edgekit.build/1", **doc}, json_out, render.engine_table(doc))
