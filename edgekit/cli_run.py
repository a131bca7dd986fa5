"""``edgekit sweep``, ``quickstart``, ``device`` and ``build``: the main job and the engine.

Registered on ``edgekit.cli.app``; like cli.py, parse, call one library function, print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit import render
from edgekit.backends import Backend
from edgekit.cli import CalibOpt, JsonOpt, LabelsOpt, QuietOpt, StoreOpt, app, emit
from edgekit.progress import Reporter


def _precisions(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def _backends(text: str) -> tuple[Backend, ...]:
    try:
        return tuple(dict.fromkeys(Backend(b.strip()) for b in text.split(",") if b.strip()))
    except ValueError:
        raise typer.BadParameter(f"'{text}': backends are ort, torch, tensorrt") from None


@app.command()
def sweep(
    models: Annotated[list[str], typer.Argument(help="Model specs (catalog names, timm:/"
                                                    "torchvision: names, file.py:factory, ...)")],
    precisions: Annotated[str, typer.Option(help="fp32,fp16,int8 (torch: bf16)")] = "fp32,int8",
    backends_: Annotated[str, typer.Option("--backends", help="ort[,torch,tensorrt]")] = "ort",
    batch: Annotated[int, typer.Option(min=1)] = 1,
    input_size: Annotated[int | None, typer.Option(min=8, help="Square input size")] = None,
    calib: CalibOpt = None,
    data: Annotated[Path | None, typer.Option(help="ImageFolder for top-1/top-5")] = None,
    labels: LabelsOpt = None,
    store: StoreOpt = Path("results"),
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("report"),
    resume: Annotated[bool, typer.Option("--resume", help="Skip variants already stored")] = False,
    duration: Annotated[float, typer.Option(min=0.0, help="Seconds of timed runs per variant")] = 2.0,
    threads: Annotated[int, typer.Option(min=0)] = 0,
    tag: Annotated[str | None, typer.Option()] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export, quantize, verify, profile and store every model x precision x backend; report."""
    from edgekit import sweep as sw

    opts = sw.SweepOptions(_precisions(precisions), _backends(backends_), batch, input_size, calib,
                           data, labels, store, out, resume, duration_s=duration, threads=threads,
                           tag=tag)
    rep = sw.sweep(models, opts, Reporter.for_cli(quiet, json_out)).to_dict()
    emit(rep, json_out, render.sweep_table(rep))


QUICKSTART = ("mobilenet_v3_small", "resnet18", "efficientnet_b0", "squeezenet1_1")


@app.command()
def quickstart(
    store: StoreOpt = Path("results"),
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("report"),
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """A first sweep on this CPU: four classic models, FP32 and INT8, on ONNX Runtime."""
    from edgekit import sweep as sw

    opts = sw.SweepOptions(("fp32", "int8"), (Backend.ORT,), store=store, out=out,
                           duration_s=1.5, tag="quickstart", title="edgekit quickstart: "
                           "measured latency on this CPU vs published accuracy")
    rep = sw.sweep(list(QUICKSTART), opts, Reporter.for_cli(quiet, json_out)).to_dict()
    emit(rep, json_out, render.group([render.sweep_table(rep), "latency: measured here; accuracy "
                                      "on the report's Pareto plot: published ImageNet top-1, "
                                      "not measured"]))


@app.command()
def device(
    no_bandwidth: Annotated[bool, typer.Option("--no-bandwidth", help="Skip the copy test")] = False,
    json_out: JsonOpt = False,
) -> None:
    """This machine's fingerprint and its estimated peak FLOP/s and memory bandwidth."""
    from edgekit.device import fingerprint
    from edgekit.peak import estimate

    fp = fingerprint()
    doc = {"schema": "edgekit.device/1", "fingerprint": fp,
           "peak": estimate(fp, measure_bandwidth=not no_bandwidth)}
    emit(doc, json_out, render.device_table(doc))


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

    opts = engine.BuildOptions(output, precision, engine.parse_shapes(shapes or []), workspace,
                               timing_cache, opt_level, dla_core, gpu_fallback,
                               hardware_compatible, version_compatible, calib, calib_cache, verbose)
    doc = engine.build(model, opts, Reporter.for_cli(quiet, json_out))
    emit({"schema": "edgekit.build/1", **doc}, json_out, render.engine_table(doc))
