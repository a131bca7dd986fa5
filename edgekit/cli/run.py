"""``edgekit sweep``, ``quickstart`` and ``device``: the main job on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit import render
from edgekit.backends import REGISTRY
from edgekit.cli._common import (
    AgreementOpt,
    CalibOpt,
    CommitOpt,
    JsonOpt,
    LabelsOpt,
    QuietOpt,
    RandomWeightsOpt,
    StoreOpt,
    StrictOpt,
    TaskOpt,
    emit,
    finish,
    parse_backends,
    parse_precisions,
    parse_size,
    preprocess_flags,
)
from edgekit.precision import Precision
from edgekit.progress import Reporter

app = typer.Typer()


@app.command()
@preprocess_flags
def sweep(
    models: Annotated[list[str], typer.Argument(help="Model specs (catalog names, timm:/"
                                                    "torchvision: names, file.py:factory, ...)")],
    precisions: Annotated[str, typer.Option(
        help="fp32,fp16,int8 (torch: bf16; openvino: bf16, int8-bf16)")] = "fp32,int8",
    backends_: Annotated[str | None, typer.Option(
        "--backends", help=f"Some of {','.join(REGISTRY)}; default: every installed CPU "
                           "runtime")] = None,
    batch: Annotated[int, typer.Option(min=1)] = 1,
    input_size: Annotated[str | None, typer.Option(help="H[,W]; default: each model's")] = None,
    calib: CalibOpt = None,
    data: Annotated[Path | None, typer.Option(help="ImageFolder for top-1/top-5")] = None,
    labels: LabelsOpt = None,
    agreement_data: AgreementOpt = None,
    store: StoreOpt = "results",
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("report"),
    resume: Annotated[bool, typer.Option("--resume", help="Skip variants already stored")] = False,
    duration: Annotated[float, typer.Option(min=0.0, help="Seconds of timed runs per variant")] = 2.0,
    threads: Annotated[int, typer.Option(min=0)] = 0,
    tag: Annotated[str | None, typer.Option()] = None,
    commit: CommitOpt = None,
    lab: Annotated[str | None, typer.Option(
        "--lab", help="Fan out to device agents: postgresql://USER@HOST/DB (the store too)")] = None,
    device_kinds: Annotated[str | None, typer.Option(
        "--device-kinds", help="With --lab: e.g. jetson-orin-nano,x86-avx512")] = None,
    stall_after: Annotated[float, typer.Option(
        min=1.0, help="With --lab: seconds without a heartbeat before an agent counts as gone "
                      "and its job is retried")] = 30.0,
    random_weights: RandomWeightsOpt = False,
    allow_random: Annotated[bool, typer.Option(
        "--allow-random", help="Pretrained weights that cannot be downloaded: go on with random "
                               "ones (one notice; their accuracy is then meaningless)")] = False,
    strict: StrictOpt = False,
    task: TaskOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    preprocess: Any = None,  # the preprocessing flags, as one Stated (preprocess_flags)
) -> None:
    """Export, quantize, verify, profile and store every model x precision x backend; report.

    Exit 0: at least one variant measured (failed ones are named on stderr; --strict makes
    them exit 3). Exit 3: nothing was measured. Exit 2: bad input."""
    from edgekit import sweep as sw

    opts = sw.SweepOptions(precisions=parse_precisions(precisions),
                           backends=parse_backends(backends_) if backends_ else None,
                           batch=batch, input_size=parse_size(input_size), calib=calib, data=data,
                           labels=labels, agreement=agreement_data, store=store, out=out,
                           resume=resume, duration_s=duration, threads=threads, tag=tag, commit=commit,
                           random_weights=random_weights, allow_random=allow_random,
                           strict=strict, preprocess=preprocess, task=task)
    if (lab is None) != (device_kinds is None):
        raise typer.BadParameter("--lab and --device-kinds go together")
    if lab is not None and device_kinds is not None:
        from edgekit import lab_sweep as ls

        kinds = tuple(k.strip() for k in device_kinds.split(",") if k.strip())
        lopts = ls.LabOptions(url=lab, kinds=kinds, stall_s=stall_after)
        report = ls.lab_sweep(models, opts, lopts, Reporter.for_cli(quiet, json_out))
    else:
        report = sw.sweep(models, opts, Reporter.for_cli(quiet, json_out))
    rep = report.to_dict()
    emit(rep, json_out, render.sweep_table(rep))
    finish(report.verdict())


QUICKSTART = ("mobilenet_v3_small", "resnet18", "efficientnet_b0", "squeezenet1_1")


@app.command()
def quickstart(
    store: StoreOpt = "results",
    out: Annotated[Path, typer.Option(help="Report folder")] = Path("report"),
    strict: StrictOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """A first sweep on this CPU: four classic models, FP32 and INT8, on ONNX Runtime (random
    weights, with one notice, where the pretrained ones cannot be downloaded).

    Exit 0: at least one variant measured; 3: nothing was measured (or, with --strict, any
    variant failed)."""
    from edgekit import sweep as sw

    opts = sw.SweepOptions(precisions=(Precision.FP32, Precision.INT8), backends=("ort",),
                           store=store, out=out, duration_s=1.5, tag="quickstart",
                           title="edgekit quickstart: measured latency on this CPU vs "
                                 "accuracy by kind", allow_random=True, strict=strict)
    report = sw.sweep(list(QUICKSTART), opts, Reporter.for_cli(quiet, json_out))
    rep = report.to_dict()
    accuracy = ("no accuracy for random weights (see the notice)" if rep["notices"] else
                "accuracy (no --data): FP32 published ImageNet top-1 where the weights are the "
                "catalog's, INT8 a lower bound below it (its disagreement with FP32)")
    emit(rep, json_out, render.group([render.sweep_table(rep),
                                      f"latency: measured here; {accuracy}"]))
    finish(report.verdict())


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
