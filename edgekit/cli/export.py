"""``edgekit export``, ``quantize`` and ``models``: making artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit import render
from edgekit.cli._common import (
    AgreementOpt,
    AgreeOpt,
    CalibOpt,
    JsonOpt,
    LabelsOpt,
    QuantHeadOpt,
    QuietOpt,
    RandomWeightsOpt,
    SqnrOpt,
    TaskOpt,
    emit,
    parse_batch,
    parse_size,
    preprocess_flags,
)
from edgekit.export import Exporter, ExportOptions
from edgekit.precision import Precision
from edgekit.progress import Reporter
from edgekit.quantize import Method, QuantizerKind, QuantOptions, Target

app = typer.Typer()

CalibSizeOpt = Annotated[int | None, typer.Option("--calib-size", min=1)]
MethodOpt = Annotated[Method, typer.Option("--calib-method")]
PerChannelOpt = Annotated[bool, typer.Option("--per-channel/--per-tensor")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", help="Node kept in FP32 (repeat)")]
TargetOpt = Annotated[Target, typer.Option(help="Settings for this runtime")]
ValOpt = Annotated[Path | None, typer.Option("--val", help="ImageFolder with labels")]
DropOpt = Annotated[float | None, typer.Option(
    "--max-accuracy-drop", min=0.0, help="Classifiers: keep nodes in FP32 until the top-1 "
    "drop (agreement without labels) is at most this many points")]
ReportOpt = Annotated[int, typer.Option("--report", min=0,
                                         help="Worst nodes listed; 0 skips the per-layer pass")]
QuantizerOpt = Annotated[QuantizerKind, typer.Option(
    "--quantizer", help="INT8 quantizer; auto: ModelOpt for --target tensorrt when installed, "
                        "else ONNX Runtime's")]
Fp16RestOpt = Annotated[bool | None, typer.Option(
    "--fp16-rest/--fp32-rest", help="ModelOpt: unquantized layers in FP16 (default for it)")]
FuseOpt = Annotated[bool, typer.Option(
    "--fuse-preprocess", help="The ONNX takes resized/cropped uint8 N x H x W x 3 pixels and "
                              "casts, scales, normalises and transposes inside the graph")]
PretrainedOpt = Annotated[bool, typer.Option("--pretrained", hidden=True,
                                           help="The default now; kept for old scripts")]
MemOpt = Annotated[float | None, typer.Option(
    "--max-memory-gb", min=0.0001, help="Memory for the per-layer pass (default: half the RAM)")]


@app.command()
@preprocess_flags
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
    random_weights: RandomWeightsOpt = False,
    pretrained: PretrainedOpt = False,
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
    agreement_data: AgreementOpt = None,
    max_accuracy_drop: DropOpt = None,
    min_sqnr_db: SqnrOpt = None,
    min_agreement: AgreeOpt = None,
    quantize_head: QuantHeadOpt = False,
    task: TaskOpt = None,
    report: ReportOpt = 10,
    max_memory_gb: MemOpt = None,
    quantizer: QuantizerOpt = QuantizerKind.AUTO,
    fp16_rest: Fp16RestOpt = None,
    fuse_preprocess: FuseOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    preprocess: Any = None,  # the preprocessing flags, as one Stated (preprocess_flags)
) -> None:
    """Export a model to simplified, verified ONNX with a manifest (and INT8/FP16 from it)."""
    from edgekit import quantize as qz

    rep = Reporter.for_cli(quiet, json_out)
    opts = ExportOptions(output=output, input_size=parse_size(input_size),
                         batch=parse_batch(batch), opset=opset, exporter=exporter,
                         simplify=not no_simplify, verify=not no_verify,
                         preprocess=preprocess, fuse_preprocess=fuse_preprocess, task=task)
    variants = [QuantOptions(
        precision=prec, calib=calib, calib_size=calib_size, method=calib_method,
        per_channel=per_channel, exclude=tuple(exclude or ()), target=target, val=val,
        labels=labels, agreement=agreement_data, max_accuracy_drop=max_accuracy_drop,
        min_sqnr_db=min_sqnr_db, min_agreement=min_agreement, task=task,
        float_head=not quantize_head, report=report, max_memory_gb=max_memory_gb,
        quantizer=quantizer, fp16_rest=fp16_rest)
        for flag, prec in ((int8, Precision.INT8), (fp16, Precision.FP16)) if flag]
    source = _source_options(weights, num_classes, random_weights, pretrained, trust_checkpoint,
                             progress=not (quiet or json_out))
    res, quantized = qz.export_and_quantize(spec, opts, source, variants, rep)
    doc = {**res.to_dict(), **{q.manifest.precision.value: q.to_dict() for q in quantized}}
    emit(doc, json_out, render.group([
        render.export_table(res.manifest, res.path),
        *(render.quant_table(q.manifest, q.path) for q in quantized)]))


def _source_options(weights: Path | None, num_classes: int | None, random_weights: bool,
                    pretrained: bool, trust_checkpoint: bool, progress: bool) -> Any:
    from edgekit.sources import Options

    if pretrained and random_weights:
        raise typer.BadParameter("--pretrained and --random-weights conflict; pretrained weights "
                                 "are the default, drop --pretrained")
    return Options(weights=weights, num_classes=num_classes, random_weights=random_weights,
                   trust_checkpoint=trust_checkpoint, progress=progress)


@app.command()
@preprocess_flags
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
    agreement_data: AgreementOpt = None,
    max_accuracy_drop: DropOpt = None,
    min_sqnr_db: SqnrOpt = None,
    min_agreement: AgreeOpt = None,
    quantize_head: QuantHeadOpt = False,
    task: TaskOpt = None,
    report: ReportOpt = 10,
    max_memory_gb: MemOpt = None,
    quantizer: QuantizerOpt = QuantizerKind.AUTO,
    fp16_rest: Fp16RestOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    preprocess: Any = None,  # the preprocessing flags, as one Stated (preprocess_flags)
) -> None:
    """Quantize an ONNX model to INT8 (or convert to FP16), verified against its FP32 parent."""
    from edgekit import quantize as qz

    if int8 and fp16:
        raise typer.BadParameter("--int8 and --fp16 conflict; run quantize once for each")
    prec = Precision.FP16 if fp16 else Precision.INT8
    opts = QuantOptions(precision=prec, output=output, calib=calib, calib_size=calib_size,
                        method=calib_method, per_channel=per_channel,
                        exclude=tuple(exclude or ()), target=target, val=val, labels=labels,
                        agreement=agreement_data, max_accuracy_drop=max_accuracy_drop,
                        min_sqnr_db=min_sqnr_db, min_agreement=min_agreement, task=task,
                        float_head=not quantize_head, report=report,
                        max_memory_gb=max_memory_gb, quantizer=quantizer, fp16_rest=fp16_rest,
                        preprocess=preprocess)
    q = qz.quantize(model, opts, Reporter.for_cli(quiet, json_out))
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
