"""ONNX -> INT8 (QDQ, ONNX Runtime's static quantizer) or FP16 (onnxconverter-common), verified
against the FP32 parent. A thin wrapper: ORT does the quantizing; edgekit picks the settings per
target and CPU, calibrates once with a real histogram, and measures what it cost.
"""

from __future__ import annotations

import enum
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from edgekit import calib, evaluate, fuse, graph, images, manifest, opset, qcheck, qdebug, qdq
from edgekit._io import check_writable_dir
from edgekit._lazy import require
from edgekit.device import cpu_info, is_x86
from edgekit.errors import BackendUnavailable, CalibrationError, ConfigError, ExportError, SourceError
from edgekit.images import LabelledSet, Preprocess, Stated, load_image_folder
from edgekit.precision import Precision
from edgekit.preprocessing import resolve
from edgekit.progress import Reporter
from edgekit.tasks import detect, segment

# ops that overflow or lose too much in half precision: kept in FP32 by --fp16
FP16_BLOCK = ["Exp", "Pow", "Softmax", "LogSoftmax", "ReduceMean", "ReduceSum", "ReduceSumSquare",
              "ReduceL2", "ReduceLogSumExp", "LayerNormalization", "Sqrt", "Reciprocal", "Erf"]


class Method(str, enum.Enum):
    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


class Target(str, enum.Enum):
    CPU = "cpu"
    TENSORRT = "tensorrt"


class QuantizerKind(str, enum.Enum):
    """Which INT8 quantizer writes the Q/DQ graph (``--quantizer``)."""

    AUTO = "auto"  # tensorrt: ModelOpt when its extra is installed, else ORT; cpu: ORT
    ORT = "ort"
    MODELOPT = "modelopt"


@dataclass(kw_only=True)
class QuantOptions:
    precision: Precision = Precision.INT8
    output: Path | None = None
    calib: Path | None = None  # None: the bundled calibration/ photos
    calib_size: int | None = None
    method: Method = Method.MINMAX
    per_channel: bool = True
    exclude: tuple[str, ...] = ()
    target: Target = Target.CPU
    val: Path | None = None
    labels: Path | None = None
    agreement: Path | None = None  # unlabelled images for the check against FP32 (without --val)
    max_accuracy_drop: float | None = None  # classify: top-1 points (agreement without labels)
    min_sqnr_db: float | None = None  # other tasks: the fallback's target, lowest output SQNR
    min_agreement: float | None = None  # a YOLO detector: the fallback's target, detection F1
    float_head: bool = True  # a YOLO detector: its decode stays float (tasks.detect.float_head)
    task: str | None = None  # --task over the parent's (qcheck.task_of)
    report: int = 10  # worst tensors listed; 0 skips the per-layer pass
    max_memory_gb: float | None = None  # for the per-layer pass; None: half of physical RAM
    quantizer: QuantizerKind = QuantizerKind.AUTO
    fp16_rest: bool | None = None  # ModelOpt: unquantized layers in FP16; None: on for it
    preprocess: Stated = field(default_factory=Stated)  # the flags, over the parent's recipe


@dataclass(kw_only=True)
class QuantResult:
    path: Path
    manifest: manifest.Manifest = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "edgekit.quantize/1", "path": str(self.path),
                "manifest_path": str(manifest.sidecar(self.path)),
                "manifest": self.manifest.to_dict()}


def int8_settings(target: Target, cpu: dict[str, Any] | None = None) -> dict[str, Any]:
    """What each target needs (ORT's own guidance, and TensorRT's explicit-quantization rules)."""
    cpu = cpu or cpu_info()
    if target is Target.TENSORRT:  # symmetric s8 activations and weights, per-channel weights
        return {"activation_type": "QInt8", "weight_type": "QInt8", "reduce_range": False,
                "per_channel": True, "extra_options": {"ActivationSymmetric": True,
                                                       "WeightSymmetric": True},
                "why": "TensorRT explicit quantization: symmetric INT8 Q/DQ, per-channel weights"}
    if not is_x86(cpu):
        return {"activation_type": "QInt8", "weight_type": "QInt8", "reduce_range": False,
                "extra_options": {}, "why": "ARM: s8 activations x s8 weights"}
    vnni = bool(cpu.get("vnni"))
    return {"activation_type": "QUInt8", "weight_type": "QInt8", "reduce_range": not vnni,
            "extra_options": {},
            "why": "x86 with VNNI: u8 x s8, full range" if vnni else
                   "x86 without VNNI: u8 x s8 with reduce_range (7-bit weights) so the "
                   "int16 pair sums of vpmaddubsw cannot saturate"}


def preflight(opts: QuantOptions) -> None:
    """Cheap checks of the options and their paths, before any work."""
    if opts.precision not in (Precision.INT8, Precision.FP16):
        raise ConfigError(f"quantize makes INT8 or FP16, not {opts.precision.value}",
                          "use --int8 or --fp16")
    for flag, p in (("--calib", opts.calib), ("--val", opts.val), ("--labels", opts.labels)):
        if p is not None and not p.exists():
            raise CalibrationError(f"{flag}: {'calibration data' if flag == '--calib' else 'path'}"
                                   " not found", "check the path", path=str(p))
    if opts.agreement is not None:
        images.unlabelled_paths(opts.agreement)
    if opts.precision is Precision.INT8:
        choose_quantizer(opts)


def choose_quantizer(opts: QuantOptions) -> tuple[QuantizerKind, bool, str | None]:
    """The one place ``--quantizer`` is decided: (quantizer, FP16 rest, a line for the user
    when ``auto`` fell back). ModelOpt's Q/DQ graphs are for TensorRT (on ONNX Runtime CPU they
    run slower than FP32), so ``--target cpu`` always uses ORT's quantizer."""
    from edgekit import modelopt_q

    asked = opts.quantizer
    if opts.target is Target.CPU and asked is QuantizerKind.MODELOPT:
        raise ConfigError("--quantizer modelopt --target cpu: ModelOpt places Q/DQ for TensorRT, "
                          "and its graphs run slower than FP32 on ONNX Runtime CPU",
                          "use --target tensorrt, or drop --quantizer (CPU uses ORT's quantizer)")
    missing = modelopt_q.missing() if opts.target is Target.TENSORRT else []
    if asked is QuantizerKind.MODELOPT and missing:
        raise BackendUnavailable(f"--quantizer modelopt needs the modelopt extra ({missing[0]} "
                                 "is not installed)", modelopt_q.INSTALL)
    use_mo = opts.target is Target.TENSORRT and (
        asked is QuantizerKind.MODELOPT or (asked is QuantizerKind.AUTO and not missing))
    kind = QuantizerKind.MODELOPT if use_mo else QuantizerKind.ORT
    if opts.fp16_rest and not use_mo:
        raise ConfigError("--fp16-rest needs the ModelOpt quantizer (--target tensorrt "
                          "--quantizer modelopt)", "drop --fp16-rest")
    if use_mo and opts.method is Method.PERCENTILE:
        raise ConfigError("--calib-method percentile: ModelOpt calibrates with minmax (its "
                          "'max') or entropy", "use one of those, or --quantizer ort")
    note = None
    if asked is QuantizerKind.AUTO and opts.target is Target.TENSORRT and not use_mo:
        note = ("--target tensorrt: quantizing with ONNX Runtime's quantizer (ModelOpt is not "
                f"installed); for NVIDIA's Q/DQ placement: {modelopt_q.INSTALL}")
    return kind, use_mo and opts.fp16_rest is not False, note


def export_and_quantize(spec: str, export_opts: Any, source_opts: Any,
                        variants: list[QuantOptions], rep: Reporter | None = None
                        ) -> tuple[Any, list[QuantResult]]:
    """``edgekit export SPEC --int8/--fp16``: export, then each variant; all or nothing."""
    from edgekit.export import export

    rep = rep or Reporter()
    for v in variants:
        preflight(v)
    res = export(spec, export_opts, source_opts, rep)
    done: list[QuantResult] = []
    try:
        for v in variants:
            done.append(quantize(res.path, v, rep))
    except BaseException:  # a failed step removes what this command wrote
        for path in [res.path, *(d.path for d in done)]:
            path.unlink(missing_ok=True)
            manifest.sidecar(path).unlink(missing_ok=True)
        raise
    return res, done


def quantize(model_path: Path, opts: QuantOptions, rep: Reporter | None = None) -> QuantResult:
    rep = rep or Reporter()
    preflight(opts)
    parent, base, inp = _load_parent(model_path)
    pp = resolve(opts.preprocess, artifact=base.preprocess, input_shape=inp["shape"],
                 input_dtype=inp["dtype"], input_name=inp["name"], where=str(model_path),
                 rep=rep).preprocess  # calibration reads it
    out = opts.output or model_path.with_name(
        model_path.name.removesuffix(".onnx") + f".{opts.precision.value}.onnx")
    check_writable_dir(out)
    task = qcheck.task_of(base, parent, opts.task)
    if task.note:
        rep.warn_once(task.note)
    base.model.task, base.model.names = task.name, task.names  # (the source as first found:)
    base.model.task_source = task.source.removeprefix("manifest: ")
    _goal(opts, task, parent, model_path)  # a budget in another task's terms: one line now
    val = _labelled(opts, pp, task, model_path)
    with tempfile.TemporaryDirectory(prefix="edgekit-quant-") as tmp:
        if opts.precision is Precision.FP16:
            return _fp16(model_path, parent, pp, val, out, opts, rep, base, task)
        return _int8(model_path, parent, pp, val, out, opts, rep, Path(tmp), base, task)


def _load_parent(path: Path) -> tuple[Any, manifest.Manifest, dict[str, Any]]:
    """The FP32 parent: its graph, the manifest its children derive from (its own, or one made
    from the graph for an ONNX without a manifest), and its image input (name, shape, dtype)."""
    if path.suffix.lower() != ".onnx":
        raise SourceError("quantize takes an .onnx file", "export it first: edgekit export SPEC",
                          path=str(path))
    if not path.is_file():
        raise SourceError("ONNX file not found", "check the path", path=str(path))
    model = graph.load_checked(path, full=False)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger")
           for n in model.graph.node):
        raise SourceError("model is already quantized (it holds QuantizeLinear/QLinear nodes)",
                          "quantize or convert its FP32 parent instead", path=str(path))
    inp = graph.io_spec(model)["inputs"]
    if any(i["dtype"] == "float16" for i in inp) or any(
            t.data_type == 10 for t in model.graph.initializer):
        raise SourceError("model is already FP16", "quantize or convert its FP32 parent instead",
                          path=str(path))
    if len(inp) != 1:
        raise SourceError(graph.inputs_line(inp, "quantizes"), "profile it as it is (--input "
                          "IMAGE_INPUT)", path=str(path))
    man = manifest.for_artifact(path)  # a parent without a manifest is fine; a wrong one is not
    if man is None:
        io = graph.io_spec(model)
        man = manifest.Manifest(kind="onnx", model=manifest.ModelInfo(name=path.stem),
                                input=manifest.InputInfo(**io["inputs"][0]),
                                outputs=io["outputs"])
    return model, man, inp[0]


def _goal(opts: QuantOptions, task: qcheck.TaskInfo, parent: Any, path: Path
          ) -> qcheck.Budget | None:
    return qcheck.budget(task, opts.max_accuracy_drop, opts.min_sqnr_db, str(path),
                         opts.min_agreement,
                         qcheck.decodes(task, parent) or qcheck.segments(task, parent))


def _labelled(opts: QuantOptions, pp: Preprocess, task: qcheck.TaskInfo,
              where: Path) -> LabelledSet | None:
    if opts.val is None:
        if opts.labels is not None:
            raise CalibrationError("--labels needs --val DIR", "add --val or drop --labels")
        return None
    if not task.spec.top1:
        raise ConfigError(f"--val measures top-1 with class labels; this model's task is "
                          f"{task.name} ({task.source})", "drop --val: the variant is checked "
                          "against FP32 by SQNR (--agreement-data DIR for other images)",
                          path=str(where))
    return load_image_folder(opts.val, pp, opts.labels)


def _int8(path: Path, parent: Any, pp: Preprocess, val: LabelledSet | None, out: Path,
          opts: QuantOptions, rep: Reporter, tmp: Path, base: manifest.Manifest,
          task: qcheck.TaskInfo) -> QuantResult:
    if opts.target is Target.TENSORRT and not opts.per_channel:
        raise CalibrationError("--per-tensor conflicts with --target tensorrt",
                               "TensorRT takes per-channel weights; drop --per-tensor")
    ready, converted = opset.for_int8(path, tmp, pp)  # per-channel Q/DQ needs opset 13
    with rep.stage("calibrate") as st:
        cs = calib.load(opts.calib, pp, opts.calib_size)
        q = _quantizer(ready, opts, cs, tmp, rep)
        st["note"] = f"{len(cs.data)} images, {opts.method.value}, quantizer {q.name}"
    head = _float_head(q, task, parent, opts)
    unknown = [n for n in opts.exclude if n not in q.node_names]
    if unknown:
        raise CalibrationError(f"--exclude: no node named '{unknown[0]}'",
                               qdebug.suggest(unknown[0], q.node_names), path=str(path))
    x_held, what = qcheck.held_out(cs, val, opts.agreement, pp)
    parent_outs = evaluate.predict_all(parent, x_held)
    check = partial(qcheck.verify, task, parent_outs, x=x_held, what=what, val=val)
    with rep.stage("quantize"):
        model = q.quantize(opts.exclude)
        ver = check(model)
    if caveat := q.caveat(parent_outs[0]):
        rep.warn(caveat)
    too_big = _pass_too_big(q, opts)
    search: dict[str, Any] | None = None
    goal = _goal(opts, task, parent, path)
    cost = task.spec.cost
    if goal is not None and cost(ver) > goal.limit:
        if too_big:
            raise CalibrationError(f"--max-accuracy-drop ranks nodes with the per-layer pass, and "
                                   f"{too_big}", "raise --max-memory-gb, or keep nodes in FP32 "
                                   "by hand with --exclude NODE", path=str(path))
        with rep.stage("fallback") as st:
            search = qdebug.accuracy_aware(q, list(opts.exclude), ver, goal, check, cost,
                                           partial(qcheck.step_figure, task))
            first, model, ver = model, search.pop("model"), search["verification"]
            st["note"] = f"{len(search['fp32_nodes'])} nodes kept in FP32"
        with rep.stage("latency cost") as st:
            search["latency"] = qcheck.latency_cost(parent, first, model, x_held)
            st["note"] = f"{search['latency']['mixed_vs_int8']:.2f}x all-INT8 latency"
    with rep.stage("report") as st:
        report = q.report(model, opts.report if not too_big else 0)
        if too_big and opts.report:
            st["note"] = f"skipped: {too_big}"
            rep.warn(f"per-layer report skipped: {too_big}; --max-memory-gb N allows it")
    body = _child(base, path, Precision.INT8, pp, ver, rep, {
        "target": opts.target.value,
        "quantization": {**q.facts(), "method": opts.method.value,
                         "exclude": list(opts.exclude), "calibration": cs.to_dict(),
                         "float_head": head,
                         "cpu": cpu_info(), "qdq": qdq.summary(model)},
        "accuracy_aware": search, "layer_report": report,
        "layer_report_skipped": too_big if opts.report else None, **converted,
        **({"detect": detect.layout(model)} if task.name == "detect" else {})})
    if search is not None and not search["met"]:
        best = out.with_name(out.name.removesuffix(".onnx") + ".best.onnx")
        _write(model, best, body, rep)
        raise ExportError(f"could not meet {search['budget_text']}: best "
                          f"{qcheck.figure_text(task, ver)} with {len(search['fp32_nodes'])} nodes "
                          f"in FP32; kept as {best}", "raise the budget, add calibration data, or "
                          "use FP16", path=str(path))
    return QuantResult(path=out, manifest=_write(model, out, body, rep))


def _float_head(q: qdebug.QuantizerBase, task: qcheck.TaskInfo, parent: Any,
                opts: QuantOptions) -> dict[str, Any] | None:
    """The nodes kept float in every quantization of this run, and why: a YOLO detector's
    decode (one shared scale for 0-640 px boxes and 0-1 scores rounds every score to 0); a
    segmenter's final upsampling and what follows it (the argmax reads it)."""
    if qcheck.decodes(task, parent):
        nodes, why = detect.float_head(q.float_model), ("downstream of the last Conv of each "
                                                        "output path: the box/score decode "
                                                        "stays float")
    elif qcheck.segments(task, parent):
        nodes, why = segment.float_tail(q.float_model), ("the last Resize on each output path "
                                                         "and what follows it: the upsampled "
                                                         "class scores stay float")
    else:
        return None
    if not opts.float_head:
        return {"nodes": [], "why": "--quantize-head: quantized too"}
    q.kept_float = [*q.kept_float, *(n for n in nodes if n not in q.kept_float)]
    return {"nodes": nodes, "why": why}


def _quantizer(path: Path, opts: QuantOptions, cs: calib.CalibSet, tmp: Path,
               rep: Reporter) -> qdebug.QuantizerBase:
    """The quantizer ``choose_quantizer`` picks, calibrated on ``cs`` (the one seam: both
    implement ``qdebug.QuantizerBase``)."""
    kind, fp16_rest, note = choose_quantizer(opts)
    if note:
        rep.warn(note)
    if kind is QuantizerKind.MODELOPT:
        from edgekit import modelopt_q

        return modelopt_q.ModelOptQuantizer(path, tmp, cs, opts.method.value,
                                            fp16_rest=fp16_rest)
    settings = int8_settings(opts.target)
    if opts.target is Target.CPU:
        settings["per_channel"] = opts.per_channel
    return qdebug.Quantizer(path, tmp, cs, opts.method.value, settings)


def memory_limit_gb(opts: QuantOptions) -> float:
    if opts.max_memory_gb is not None:
        return opts.max_memory_gb
    import psutil

    return round(psutil.virtual_memory().total / 2 / 2**30, 1)


def _pass_too_big(q: qdebug.QuantizerBase, opts: QuantOptions) -> str | None:
    """Why the per-layer pass would not fit --max-memory-gb (None when it fits or is off)."""
    if not opts.report and opts.max_accuracy_drop is None and opts.min_sqnr_db is None:
        return None
    need, limit = qdebug.pass_memory_gb(q.float_model), memory_limit_gb(opts)
    return None if need <= limit else (f"it needs ~{need:.1f} GB, over --max-memory-gb "
                                       f"{limit:g}")


def _fp16(path: Path, parent: Any, pp: Preprocess, val: LabelledSet | None, out: Path,
          opts: QuantOptions, rep: Reporter, base: manifest.Manifest,
          task: qcheck.TaskInfo) -> QuantResult:
    f16 = require("onnxconverter_common.float16")
    with rep.stage("convert"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # "truncated to 1e-07" per clamped constant: counted
        try:
            model = f16.convert_float_to_float16(
                parent, keep_io_types=True, node_block_list=fuse.nodes_of(parent),  # in FP32
                op_block_list=sorted(set(f16.DEFAULT_OP_BLOCK_LIST) | set(FP16_BLOCK)))
        except Exception as e:  # the converter raises many types
            raise ExportError(f"FP16 conversion failed ({type(e).__name__}: {str(e)[:160]})",
                              "report the model; use INT8 or FP32", path=str(path)) from e
    cs = calib.load(opts.calib, pp, opts.calib_size)
    x_held, what = qcheck.held_out(cs, val, opts.agreement, pp)
    with rep.stage("verify"):
        ver = qcheck.verify(task, evaluate.predict_all(parent, x_held), model, x_held, what, val)
    body = _child(base, path, Precision.FP16, pp, ver, rep, {
        "target": opts.target.value,
        "conversion": {"tool": "onnxconverter_common.float16", "keep_io_types": True,
                       "op_block_list": FP16_BLOCK,
                       "constants_clamped": sum("truncated" in str(w.message) for w in caught)}})
    return QuantResult(path=out, manifest=_write(model, out, body, rep))


def _child(base: manifest.Manifest, path: Path, precision: Precision, pp: Preprocess,
           ver: dict[str, Any], rep: Reporter, sections: dict[str, Any]) -> manifest.Manifest:
    return base.derive(kind="onnx", precision=precision, parent=manifest.ref(path, base),
                       preprocess=pp, verification=manifest.Verification.from_dict(ver),
                       stages=rep.stages, sections=sections)


def _write(model: Any, out: Path, body: manifest.Manifest, rep: Reporter) -> manifest.Manifest:
    onnx = require("onnx")
    onnx.checker.check_model(model)
    manifest.embed(model, body)  # the contract travels inside the child ONNX too
    data = model.SerializeToString()
    with rep.stage("write") as st:
        doc = manifest.write(out, data, body)
        st["note"] = str(out)
    return doc
