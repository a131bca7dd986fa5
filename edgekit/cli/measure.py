"""``edgekit profile``, ``results`` and ``pareto``: measuring and reading results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit import render
from edgekit.backends import REGISTRY, Device, Provider, RunnerOptions
from edgekit.cli._common import (
    AgreementOpt,
    CommitOpt,
    DataOpt,
    IgnoreIndexOpt,
    JsonOpt,
    LabelsOpt,
    QuietOpt,
    RandomWeightsOpt,
    StoreOpt,
    emit,
    known_backend,
    parse_batches,
    parse_size,
    preprocess_flags,
)
from edgekit.precision import Precision
from edgekit.progress import Reporter

app = typer.Typer()


@app.command()
@preprocess_flags
def profile(
    artifact: Annotated[str, typer.Argument(help=".onnx, TensorRT engine, or a model spec "
                                                 "(runs on torch)")],
    backend: Annotated[str | None, typer.Option(
        callback=known_backend, help=f"{'|'.join(REGISTRY)}; default: ort for .onnx, "
                                     "tensorrt for engines, torch for specs")] = None,
    device: Annotated[Device | None, typer.Option(help="Default: cuda for engines, else cpu")] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes, e.g. 1,8,32")] = "1",
    threads: Annotated[int, typer.Option(min=0, help="0: the runtime's default")] = 0,
    warmup: Annotated[int, typer.Option(min=0)] = 10,
    iterations: Annotated[int | None, typer.Option(min=1, help="Timed runs per batch")] = None,
    duration: Annotated[float | None, typer.Option(
        min=0.0, help="Seconds of timed runs per batch (default 3, at least 10 runs)")] = None,
    data: DataOpt = None,
    labels: LabelsOpt = None,
    ignore_index: IgnoreIndexOpt = None,
    agreement_data: AgreementOpt = None,
    tune: Annotated[bool, typer.Option("--tune", help="Search the runtime's settings (ort: threads, "
                                                      "modes, opt levels; openvino: hint, threads, "
                                                      "streams)")] = False,
    provider: Annotated[Provider, typer.Option(help="ORT execution provider")] = Provider.AUTO,
    dtype: Annotated[Precision, typer.Option(help="Compute precision (torch; openvino: bf16, "
                                             "an INT8 ONNX in bf16: int8-bf16)")] = Precision.FP32,
    ov_device: Annotated[str, typer.Option("--ov-device", help="openvino: its device name "
                                                               "(GPU, NPU, ...)")] = "CPU",
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs", help="torch: replay a CUDA graph")] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="torch: torch.compile first")] = False,
    input_name: Annotated[str | None, typer.Option("--input", help="The image input's name")] = None,
    input_size: Annotated[str | None, typer.Option(help="torch: H[,W] instead of the model's")] = None,
    weights: Annotated[Path | None, typer.Option(help="torch: state_dict to load")] = None,
    num_classes: Annotated[int | None, typer.Option(min=1, help="torch: adapt the head")] = None,
    random_weights: RandomWeightsOpt = False,
    store: StoreOpt = "results",
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not save the result")] = False,
    tag: Annotated[str | None, typer.Option(help="Label saved with the result")] = None,
    commit: CommitOpt = None,
    conf: Annotated[float, typer.Option(min=0.0, max=1.0, help="Detectors: the score threshold "
                                        "of the end-to-end latency's decode + NMS")] = 0.25,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    preprocess: Any = None,  # the preprocessing flags, as one Stated (preprocess_flags)
) -> None:
    """Measure latency, memory and accuracy on one runner; save the result in the store."""
    from edgekit import profile as pf
    from edgekit.sources import Options

    if iterations is not None and duration is not None:
        raise typer.BadParameter("--iterations and --duration conflict; give one")
    if device is None:
        device = Device.CUDA if pf.artifact_kind(artifact) == "engine" else Device.CPU
    ropts = RunnerOptions(device=device, threads=threads, dtype=dtype, cuda_graphs=cuda_graphs,
                          compile=compile_, provider=provider,
                          source=Options(weights=weights, num_classes=num_classes,
                                         random_weights=random_weights,
                                         progress=not (quiet or json_out)),
                          input_size=parse_size(input_size), ov_device=ov_device)
    opts = pf.ProfileOptions(backend=backend, runner=ropts, batches=parse_batches(batch),
                             warmup=warmup, iterations=iterations,
                             duration_s=3.0 if duration is None else duration, data=data,
                             labels=labels, agreement=agreement_data, tune=tune,
                             input_name=input_name, ignore_index=ignore_index,
                             store=None if no_store else store, tag=tag, conf=conf,
                             preprocess=preprocess, commit=commit)
    rep = pf.profile(artifact, opts, Reporter.for_cli(quiet, json_out)).to_dict()
    emit(rep, json_out, render.profile_table(rep))


@app.command()
def results(
    store: StoreOpt = "results",
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="COLUMN OP VALUE, e.g. model=resnet18, batch>=8, device_name~*EPYC*")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Newest N")] = None,
    full: Annotated[bool, typer.Option("--full", help="--json: whole results with samples")] = False,
    commit: Annotated[str | None, typer.Option(help="Results of this git commit (a prefix)")] = None,
    branch: Annotated[str | None, typer.Option(help="Results of this git branch")] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV on stdout")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List and filter the results store."""
    from edgekit.identity import described
    from edgekit.store import Where, display, open_store, to_csv

    if csv_out and json_out:
        raise typer.BadParameter("--csv and --json conflict; give one")
    filters = [Where.parse(w) for w in where or []]
    filters += [Where("git_commit", "~", f"{commit}*")] if commit else []
    filters += [Where("git_branch", "=", branch)] if branch else []
    rows = open_store(store, create=False).query(filters, limit, full or json_out)
    rows = [described(r, keep_result=full) for r in rows] if json_out else rows
    if csv_out:
        sys.stdout.write(to_csv(rows))
        return
    emit({"schema": "edgekit.results/1", "store": display(store), "results": rows}, json_out,
         render.results_table(rows))


@app.command()
def pareto(
    store: Annotated[str, typer.Argument(
        envvar="EDGEKIT_STORE", help="Results store: a folder, sqlite:///PATH or "
                                     "postgresql://USER@HOST/DB")] = "results",
    output: Annotated[Path, typer.Option("-o", "--output", help=".png, .svg or .pdf")] = Path(
        "pareto.png"),
    x: Annotated[str, typer.Option("--x", help="latency_p50_ms|latency_p99_ms|gmacs|params_m|"
                                               "size_mb|energy_mj")] = "latency_p50_ms",
    y: Annotated[str, typer.Option("--y", help="top1|top5|map50_95|miou|agreement (latency_p50_ms with "
                                               "--x gmacs)")] = "top1",
    device: Annotated[str | None, typer.Option(help="Glob on the device name, or cpu/cuda")] = None,
    backend: Annotated[str | None, typer.Option(callback=known_backend)] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Default: 1 if stored")] = None,
    accuracy: Annotated[str, typer.Option(
        help="best: each point its best honest kind (measured, published for the catalog's FP32 "
             "weights, else a lower bound from its FP32 parent); measured: only measured")] = "best",
    color: Annotated[str, typer.Option(help="precision|family")] = "precision",
    log_x: Annotated[bool, typer.Option("--log-x")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Every point as CSV on stdout")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Plot the compute-accuracy Pareto frontier of the results store."""
    from edgekit import pareto as pa
    from edgekit.store import display, open_store

    if csv_out and json_out:
        raise typer.BadParameter("--csv and --json conflict; give one")
    if color not in ("precision", "family"):
        raise typer.BadParameter(f"--color {color}: use precision or family")
    rows = open_store(store, create=False).query(full=True)
    points, meta = pa.select(rows, x, y, accuracy, device, backend, batch)
    pa.plot(points, meta, output, log_x, color)
    doc = {"schema": "edgekit.pareto/1", "store": display(store), "plot": str(output), **meta,
           "points": [p.to_dict() for p in points],
           "frontier": [p.id for p in points if p.on_frontier],
           "discordant_pairs": pa.discordant_pairs(points) if y == "latency_p50_ms" else []}
    if csv_out:
        sys.stdout.write(render.points_csv(points))
        return
    emit(doc, json_out, render.pareto_table(doc))
