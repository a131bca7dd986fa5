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
from edgekit.backends import Backend, Device, Dtype, Provider, RunnerOptions
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


def _batches(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a list of batch sizes (e.g. 1,8,32)") from None
    if not out or min(out) < 1:
        raise typer.BadParameter(f"'{text}' is not a list of positive batch sizes")
    return tuple(dict.fromkeys(out))


StoreOpt = Annotated[Path, typer.Option("--store", help="Results folder (holds edgekit.db)")]


@app.command()
def profile(
    artifact: Annotated[str, typer.Argument(help=".onnx, TensorRT engine, or a model spec "
                                                 "(runs on torch)")],
    backend: Annotated[Backend | None, typer.Option(
        help="Default: ort for .onnx, tensorrt for engines, torch for specs")] = None,
    device: Annotated[Device | None, typer.Option(help="Default: cuda for engines, else cpu")] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes, e.g. 1,8,32")] = "1",
    threads: Annotated[int, typer.Option(min=0, help="0: the runtime's default")] = 0,
    warmup: Annotated[int, typer.Option(min=0)] = 10,
    iterations: Annotated[int | None, typer.Option(min=1, help="Timed runs per batch")] = None,
    duration: Annotated[float | None, typer.Option(
        min=0.0, help="Seconds of timed runs per batch (default 3, at least 10 runs)")] = None,
    data: Annotated[Path | None, typer.Option(help="ImageFolder for top-1/top-5")] = None,
    labels: LabelsOpt = None,
    tune: Annotated[bool, typer.Option("--tune", help="Search ORT threads/modes/opt levels")] = False,
    provider: Annotated[Provider, typer.Option(help="ORT execution provider")] = Provider.AUTO,
    dtype: Annotated[Dtype, typer.Option(help="torch compute precision")] = Dtype.FP32,
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs", help="torch: replay a CUDA graph")] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="torch: torch.compile first")] = False,
    input_name: Annotated[str | None, typer.Option("--input", help="The image input's name")] = None,
    input_size: Annotated[str | None, typer.Option(help="torch: H[,W] instead of the model's")] = None,
    weights: Annotated[Path | None, typer.Option(help="torch: state_dict to load")] = None,
    num_classes: Annotated[int | None, typer.Option(min=1, help="torch: adapt the head")] = None,
    store: StoreOpt = Path("results"),
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not save the result")] = False,
    tag: Annotated[str | None, typer.Option(help="Label saved with the result")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure latency, memory and accuracy on one runner; save the result in the store."""
    from edgekit import profile as pf
    from edgekit.sources import Options

    if iterations is not None and duration is not None:
        raise typer.BadParameter("--iterations and --duration conflict; give one")
    if device is None:
        device = Device.CUDA if pf.artifact_kind(artifact) == "engine" else Device.CPU
    ropts = RunnerOptions(device, threads, dtype, cuda_graphs, compile_, provider,
                          source=Options(weights, num_classes), input_size=_size(input_size))
    opts = pf.ProfileOptions(backend, ropts, _batches(batch), warmup, iterations,
                             3.0 if duration is None else duration, data, labels, tune, input_name,
                             None if no_store else store, tag)
    rep = pf.profile(artifact, opts, Reporter.for_cli(quiet, json_out)).to_dict()
    emit(rep, json_out, render.profile_table(rep))


@app.command()
def results(
    store: StoreOpt = Path("results"),
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="COLUMN OP VALUE, e.g. model=resnet18, batch>=8, device_name~*EPYC*")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Newest N")] = None,
    full: Annotated[bool, typer.Option("--full", help="--json: whole results with samples")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV on stdout")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List and filter the results store."""
    from edgekit.store import Store, Where, to_csv

    if csv_out and json_out:
        raise typer.BadParameter("--csv and --json conflict; give one")
    rows = Store(store, create=False).query([Where.parse(w) for w in where or []], limit, full)
    if csv_out:
        sys.stdout.write(to_csv(rows))
        return
    emit({"schema": "edgekit.results/1", "store": str(store), "results": rows}, json_out,
         render.results_table(rows))


@app.command()
def pareto(
    store: Annotated[Path, typer.Argument(help="Results folder (holds edgekit.db)")] = Path("results"),
    output: Annotated[Path, typer.Option("-o", "--output", help=".png, .svg or .pdf")] = Path(
        "pareto.png"),
    x: Annotated[str, typer.Option("--x", help="latency_p50_ms|latency_p99_ms|gmacs|params_m|"
                                               "size_mb|energy_mj")] = "latency_p50_ms",
    y: Annotated[str, typer.Option("--y", help="top1|top5|agreement (latency_p50_ms with "
                                               "--x gmacs)")] = "top1",
    device: Annotated[str | None, typer.Option(help="Glob on the device name, or cpu/cuda")] = None,
    backend: Annotated[Backend | None, typer.Option()] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Default: 1 if stored")] = None,
    accuracy: Annotated[str, typer.Option(help="measured|published")] = "measured",
    color: Annotated[str, typer.Option(help="precision|family")] = "precision",
    log_x: Annotated[bool, typer.Option("--log-x")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Every point as CSV on stdout")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Plot the compute-accuracy Pareto frontier of the results store."""
    from edgekit import pareto as pa
    from edgekit.store import Store

    if csv_out and json_out:
        raise typer.BadParameter("--csv and --json conflict; give one")
    if accuracy not in ("measured", "published"):
        raise typer.BadParameter(f"--accuracy {accuracy}: use measured or published")
    if color not in ("precision", "family"):
        raise typer.BadParameter(f"--color {color}: use precision or family")
    rows = Store(store, create=False).query(full=True)
    points, meta = pa.select(rows, x, y, accuracy, device, backend.value if backend else None, batch)
    pa.plot(points, meta, output, log_x, color)
    doc = {"schema": "edgekit.pareto/1", "store": str(store), "plot": str(output), **meta,
           "points": [p.to_dict() for p in points],
           "frontier": [p.id for p in points if p.on_frontier],
           "discordant_pairs": pa.discordant_pairs(points) if y == "latency_p50_ms" else []}
    if csv_out:
        sys.stdout.write(render.points_csv(points))
        return
    emit(doc, json_out, render.pareto_table(doc))


budget_app = typer.Typer(help="Latency, accuracy and memory budgets checked against the store.",
                         no_args_is_help=True)
app.add_typer(budget_app, name="budget")


@budget_app.command("check")
def budget_check(
    budgets: Annotated[Path, typer.Argument(help="budgets.yaml")],
    store: StoreOpt = Path("results"),
    baseline: Annotated[str | None, typer.Option(help="Tag of the results to compare with")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every budget against the newest matching result: exit 0 pass, 3 broken, 2 bad file."""
    from edgekit import budget as bd
    from edgekit import ci_report
    from edgekit.errors import EXIT_BUDGET
    from edgekit.store import Store

    items = bd.load(budgets)
    if junit is not None:
        from edgekit._io import check_writable_dir

        check_writable_dir(junit)
    rows = Store(store, create=False).query(full=True)
    outcomes = bd.check(items, rows, baseline, budgets)
    if junit is not None:
        ci_report.junit(outcomes, junit, budgets)
    ci_report.github(outcomes, budgets)
    failed = sum(o.status == "fail" for o in outcomes)
    emit({"schema": "edgekit.budget/1", "budgets": str(budgets), "store": str(store),
          "baseline": baseline, "passed": failed == 0, "failed": failed,
          "outcomes": [o.to_dict() for o in outcomes]}, json_out, render.budget_table(outcomes))
    if failed:
        raise typer.Exit(EXIT_BUDGET)


@budget_app.command("init")
def budget_init(
    store: StoreOpt = Path("results"),
    output: Annotated[Path, typer.Option("-o", "--output")] = Path("budgets.yaml"),
    headroom: Annotated[float, typer.Option(min=0.0, help="% over today's figures")] = 20.0,
    accuracy_margin: Annotated[float, typer.Option(min=0.0, help="top-1 points below today's")] = 1.0,
    max_regression: Annotated[float | None, typer.Option(
        "--max-regression", min=0.0, help="Also a regression limit in % (check needs --baseline)")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="Only these results")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a budgets file from the newest results, with headroom."""
    import yaml

    from edgekit import budget as bd
    from edgekit._io import atomic_paths, check_writable_dir
    from edgekit.errors import ConfigError
    from edgekit.store import Store, Where

    if output.exists() and not force:
        raise ConfigError("already exists", "pass --force to overwrite it, or -o another file",
                          path=str(output))
    check_writable_dir(output)
    rows = Store(store, create=False).query([Where.parse(w) for w in where or []])
    if not rows:
        raise ConfigError("no results to make budgets from", "run edgekit profile first",
                          path=str(store))
    items = bd.init(rows, headroom, accuracy_margin, max_regression)
    text = (f"# edgekit budgets, written by `edgekit budget init --headroom {headroom:g}` from "
            f"{store}\n" + yaml.safe_dump({"budgets": items}, sort_keys=False))
    with atomic_paths(output) as (tmp,):
        tmp.write_text(text)
    emit({"schema": "edgekit.budget_init/1", "path": str(output), "budgets": items}, json_out,
         f"wrote {len(items)} budgets to {output}")


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
    from edgekit import engine

    opts = engine.BuildOptions(output, precision, engine.parse_shapes(shapes or []), workspace,
                               timing_cache, opt_level, dla_core, gpu_fallback,
                               hardware_compatible, version_compatible, calib, calib_cache, verbose)
    doc = engine.build(model, opts, Reporter.for_cli(quiet, json_out))
    emit({"schema": "edgekit.build/1", **doc}, json_out, render.engine_table(doc))


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
