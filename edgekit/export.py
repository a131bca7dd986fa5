"""nn.Module (or ONNX) -> simplified, verified, single-file ONNX with a manifest.

Exporter choice is decided by verification: ``auto`` tries the TorchScript exporter first
(1-2 s for a CNN, what Ultralytics ships) and the dynamo exporter second (7-16x slower to
export here, and it has produced wrong ResNet outputs in recent torch releases); the first
whose ONNX Runtime outputs match torch's on real photos is kept. Every attempt is recorded.
"""

from __future__ import annotations

import enum
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import fuse, graph, manifest, preprocessing, tasks, tvdetect
from edgekit._io import check_writable_dir, scratch_cwd, silenced_fds
from edgekit._lazy import need, require
from edgekit.errors import ExportError, SourceError
from edgekit.images import Preprocess, Stated, photo_batch
from edgekit.opset import default_opset
from edgekit.precision import Precision
from edgekit.progress import Reporter
from edgekit.sources import Kind, Options, Source, resolve
from edgekit.tasks import EXPORT_TOLERANCE, Comparison, TaskInfo, detect
from edgekit.torchref import torch_forward

DEFAULT_OPSET = 18
VERIFY_IMAGES = 4
_MAX_PROTO_BYTES = 2_000_000_000


class Exporter(str, enum.Enum):
    AUTO = "auto"
    TORCHSCRIPT = "torchscript"
    DYNAMO = "dynamo"


@dataclass(kw_only=True)
class ExportOptions:
    output: Path | None = None
    input_size: tuple[int, int] | None = None
    batch: int | None = None  # None = dynamic batch axis
    opset: int = DEFAULT_OPSET
    exporter: Exporter = Exporter.AUTO
    simplify: bool = True
    verify: bool = True
    preprocess: Stated = field(default_factory=Stated)  # what the user's flags state
    fuse_preprocess: bool = False  # uint8 NHWC input, normalised inside the graph (fuse.py)
    task: str | None = None  # --task: classify | detect | segment | tensor (tasks.determine)


@dataclass(kw_only=True)
class ExportResult:
    path: Path
    manifest_path: Path
    manifest: manifest.Manifest = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "edgekit.export/1", "path": str(self.path),
                "manifest_path": str(self.manifest_path), "manifest": self.manifest.to_dict()}


def export(spec: str, opts: ExportOptions, source_opts: Options | None = None,
           rep: Reporter | None = None) -> ExportResult:
    rep = rep or Reporter()
    if not spec.lower().endswith(".onnx"):
        need("torch", "export")  # one line naming the extra, before any work
    if opts.output is not None:
        check_writable_dir(opts.output)  # before any download
    with rep.stage("resolve") as st:
        src = resolve(spec, source_opts)
        rec = src.weights_record
        st["note"] = f"{src.provider}:{src.name}, {rec.name or rec.kind} weights"
    out = opts.output or default_output(src)
    check_writable_dir(out)
    if src.kind is Kind.ONNX:
        return _export_onnx_source(src, out, opts, rep)
    pp = preprocessing.resolve(opts.preprocess, model=src.preprocess,
                               input_size=opts.input_size, rep=rep).preprocess
    _check_min_size(src, pp)
    if src.batch and opts.batch not in (None, src.batch):
        raise SourceError(f"{src.name} exports at batch {src.batch} only", "drop --batch",
                          path=spec)
    with rep.stage("reference"):
        x = _photos(pp, opts.batch or VERIFY_IMAGES)
        ref, params = torch_forward(src.model, x, src)
    task = _task(tasks.determine(opts.task, recorded=src.task, recorded_names=src.names,
                                 outputs=[list(ref.shape)]), rep)
    attempts: list[dict[str, Any]] = []
    model, cmp = None, None
    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as tmp:
        simplify_info: dict[str, Any] = {}
        for exporter in _candidates(opts.exporter, src):
            with rep.stage(f"export:{exporter.value}") as st:
                model, cmp, attempt, simplify_info = _try_export(exporter, src, x, [ref], opts,
                                                                 Path(tmp), rep, task.name)
                attempts.append(attempt)
                st["note"] = attempt.get("error", "") or _cmp_note(cmp)
            if attempt["ok"]:
                break
    if model is None or not attempts[-1]["ok"]:
        raise ExportError(f"no exporter produced a matching ONNX model ({_attempts_line(attempts)})",
                          "try --exporter dynamo/torchscript, another --opset, or --no-verify",
                          path=spec)
    base = {"exporter": attempts[-1]["exporter"], "opset": opts.opset,
            "batch": opts.batch or src.batch or "dynamic", "attempts": attempts}
    if src.symbolic_hw:
        base["second_size"] = _second_size(model, src, pp, opts, task.name)
    model, pp, cmp = _fused(model, pp, [ref], cmp, opts, rep, src.spec, base, task.name)
    return _finish(src, model, pp, out, opts, rep, base, cmp, simplify_info, "torch", params,
                   task, int(ref.shape[-1]))


def _task(info: TaskInfo, rep: Reporter) -> TaskInfo:
    """The task (``tasks.determine``), and the one line saying how it was decided when nothing
    stated it and the outputs were not a classifier's."""
    if info.note:
        rep.warn_once(info.note)
    return info


def default_output(src: Source) -> Path:
    if src.kind is Kind.ONNX:
        return Path(f"{src.name}.opt.onnx")  # the file's stem (its dots kept: v2.0_cls)
    stem = src.spec.split(":")[-1] if src.kind in (Kind.TIMM, Kind.TORCHVISION) else src.name
    if src.kind is Kind.CATALOG:
        stem = src.spec.lower()
    return Path(stem.replace(":", "_").replace("/", "_") + ".onnx")


def _check_min_size(src: Source, pp: Preprocess) -> None:
    min_h, min_w = src.min_size
    if pp.height < min_h or pp.width < min_w:
        raise SourceError(f"input size {pp.height}x{pp.width} is smaller than {src.name}'s "
                          f"minimum {min_h}x{min_w}", f"use --input-size {max(min_h, min_w)} "
                          "or more", path=src.spec)


def _photos(pp: Preprocess, batch: int) -> np.ndarray:
    x = photo_batch(pp, count=batch)
    reps = -(-batch // len(x))
    return np.ascontiguousarray(np.concatenate([x] * reps)[:batch])


def _candidates(choice: Exporter, src: Source) -> list[Exporter]:
    if choice is not Exporter.AUTO:
        return [choice]
    if src.kind is Kind.TORCHSCRIPT or src.symbolic_hw:  # torch.export cannot trace a
        return [Exporter.TORCHSCRIPT]  # ScriptModule, nor torchvision's detectors (tvdetect)
    return [Exporter.TORCHSCRIPT, Exporter.DYNAMO]


def _try_export(exporter: Exporter, src: Source, x: np.ndarray, ref: list[np.ndarray],
                opts: ExportOptions, tmp: Path, rep: Reporter, task: str
                ) -> tuple[Any, Comparison | None, dict[str, Any], dict[str, Any]]:
    attempt: dict[str, Any] = {"exporter": exporter.value, "ok": False}
    try:
        model = _torch_to_onnx(exporter, src, x, opts, tmp / f"{exporter.value}.onnx")
        model, cmp, simplify_info = _simplified_and_checked(model, x, ref, opts, rep, task)
    except ExportError as e:
        attempt["error"] = e.message
        return None, None, attempt, {}
    attempt["verification"] = tasks.record(task, cmp)
    attempt["ok"] = cmp.passes(EXPORT_TOLERANCE) or not opts.verify
    if not attempt["ok"]:
        attempt["error"] = "outputs differ from torch: " + cmp.failure(EXPORT_TOLERANCE)
    return model, cmp, attempt, simplify_info


def _torch_to_onnx(exporter: Exporter, src: Source, x: np.ndarray, opts: ExportOptions,
                   path: Path) -> Any:
    torch, onnx = require("torch"), require("onnx")
    example, module = (torch.from_numpy(x[:src.batch or len(x)]),), src.model
    kw: dict[str, Any] = {"input_names": ["input"], "output_names": list(src.outputs),
                          "opset_version": opts.opset}
    dims = _dynamic_dims(src, opts)
    if exporter is Exporter.DYNAMO:
        kw.update(dynamo=True, external_data=False, optimize=True, verbose=False)
        if dims:
            kw["dynamic_shapes"] = ({k: torch.export.Dim(v, min=1, max=4096)
                                     for k, v in dims.items()},)
    else:
        kw.update(dynamo=False, do_constant_folding=True)
        if dims:
            kw["dynamic_axes"] = {"input": dims, **({src.outputs[0]: {0: "batch"}}
                                                    if 0 in dims else {})}
    try:
        path = Path(path).resolve()
        with warnings.catch_warnings(), torch.no_grad(), silenced_fds(), scratch_cwd(path.parent):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, str(path), **kw)
        model = onnx.load(str(path))
        if src.symbolic_hw:  # the padded detections: [1, K, 6] whatever the input size
            tvdetect.set_output_shape(model, tvdetect.max_detections(src.model.detector))
        return model
    except Exception as e:
        msg = str(e).strip().splitlines()[0][:240] if str(e).strip() else type(e).__name__
        raise ExportError(f"{exporter.value} exporter failed: {type(e).__name__}: {msg}") from e


def _dynamic_dims(src: Source, opts: ExportOptions) -> dict[int, str]:
    """The input's symbolic axes: the batch unless fixed, height and width where the model
    takes any size (torchvision's detectors resize inside)."""
    dims = {} if opts.batch or src.batch else {0: "batch"}
    return {**dims, 2: "height", 3: "width"} if src.symbolic_hw else dims


def _second_size(model: Any, src: Source, pp: Preprocess, opts: ExportOptions,
                 task: str) -> dict[str, Any]:
    """A model with symbolic height and width checked again at a second, non-square size
    (3/4 of the height), against torch on the same photos."""
    other = pp.resized(max(32, pp.height * 3 // 4 // 32 * 32), pp.width)
    x = _photos(other, VERIFY_IMAGES)
    ref, _ = torch_forward(src.model, x, src)
    cmp = _check_outputs(model, x, [ref], task)
    if opts.verify and not cmp.passes(EXPORT_TOLERANCE):
        raise ExportError(f"at {other.height}x{other.width} the ONNX outputs differ from torch: "
                          + cmp.failure(EXPORT_TOLERANCE), "export with --no-verify to keep it "
                          "anyway", path=src.spec)
    return {"input_size": [other.height, other.width], **tasks.record(task, cmp),
            "passed": cmp.passes(EXPORT_TOLERANCE)}


def _check_outputs(model: Any, x: np.ndarray, ref: list[np.ndarray], task: str) -> Comparison:
    """ONNX Runtime on the batch (and on batch 1 when the batch is dynamic) vs the reference's
    outputs (torch's first, or every output of the input ONNX), by the task's comparison."""
    sess = graph.ort_session(model)
    try:
        out = graph.ort_run_all(sess, x)[:len(ref)]
        dims = sess.get_inputs()[0].shape
        if len(x) > 1 and not isinstance(dims[0], int):
            one = graph.ort_run_all(sess, x[:1])
            out = [np.concatenate([o, b]) for o, b in zip(out, one, strict=False)]
            ref = [np.concatenate([r, r[:1]]) for r in ref]
        return tasks.compare(task, ref, out, [o.name for o in sess.get_outputs()])
    except (ValueError, RuntimeError) as e:
        raise ExportError(f"ONNX Runtime run failed: {str(e).splitlines()[0][:200]}") from e
    except Exception as e:  # onnxruntime's own exception types
        raise ExportError(f"ONNX Runtime run failed: {str(e).splitlines()[0][:200]}") from e


def _cmp_note(cmp: Comparison | None) -> str:
    return cmp.note() if cmp else ""


def _attempts_line(attempts: list[dict[str, Any]]) -> str:
    return "; ".join(f"{a['exporter']}: {a.get('error', 'ok')}" for a in attempts)


def _simplified_and_checked(model: Any, x: np.ndarray, ref: list[np.ndarray],
                            opts: ExportOptions, rep: Reporter, task: str
                            ) -> tuple[Any, Comparison, dict[str, Any]]:
    """Simplify (onnxslim) and check against the reference. The simplified graph is checked
    first; only if simplification fails or changes the outputs is the original checked too
    (and kept), so a normal export runs ONNX Runtime once."""
    info: dict[str, Any] = {"tool": "onnxslim", "applied": False,
                            "nodes_before": len(model.graph.node)}
    if not opts.simplify:
        info = {"applied": False, "reason": "--no-simplify"}
        return model, _check_outputs(model, x, ref, task), info
    try:
        slim = require("onnxslim")
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp, scratch_cwd(tmp):
            warnings.simplefilter("ignore")
            simple = slim.slim(model)
        cmp = _check_outputs(simple, x, ref, task)
    except Exception as e:  # onnxslim raises many types; never fail the export for it
        info["reason"] = f"onnxslim failed: {type(e).__name__}: {str(e)[:160]}"
    else:
        if cmp.passes(EXPORT_TOLERANCE):
            info.update(applied=True, nodes_after=len(simple.graph.node))
            return simple, cmp, info
        info["reason"] = "simplified outputs differ: " + cmp.failure(EXPORT_TOLERANCE)
    original = _check_outputs(model, x, ref, task)
    if original.passes(EXPORT_TOLERANCE) or not opts.verify:
        rep.warn(f"simplification skipped, kept the unsimplified graph ({info['reason']})")
    return model, original, info


def _fused(model: Any, pp: Preprocess, ref: list[np.ndarray], cmp: Comparison | None,
           opts: ExportOptions, rep: Reporter, where: str, info: dict[str, Any], task: str
           ) -> tuple[Any, Preprocess, Comparison | None]:
    """With --fuse-preprocess: the graph with the normalisation inside, verified on the same
    photos as uint8 pixels against the unfused reference (torch, or the input ONNX) fed them
    normalised; the unfused ONNX's own check is kept in the export section."""
    if not opts.fuse_preprocess:
        return model, pp, cmp
    fpp = pp.fused_form()
    with rep.stage("fuse preprocess") as st:
        fused = fuse.fuse(model, pp, where)
        fcmp = _check_outputs(fused, _photos(fpp, len(ref[0])), ref, task)
        st["note"] = f"uint8 N x {pp.height} x {pp.width} x 3 input; {_cmp_note(fcmp)}"
    info["fuse_preprocess"] = {"nodes": fuse.nodes_of(fused), "input": fuse.INPUT,
                               "unfused_verification": tasks.record(task, cmp) if cmp else None}
    if opts.verify and not fcmp.passes(EXPORT_TOLERANCE):
        raise ExportError("the fused graph's outputs differ from the unfused model's: "
                          + fcmp.failure(EXPORT_TOLERANCE), "export without --fuse-preprocess",
                          path=where)
    return fused, fpp, fcmp


def _export_onnx_source(src: Source, out: Path, opts: ExportOptions,
                        rep: Reporter) -> ExportResult:
    assert src.onnx_path is not None  # set by sources._onnx
    if out.resolve() == src.onnx_path.resolve():
        raise ExportError("output would overwrite the input ONNX", "pass another -o",
                          path=str(out))
    with rep.stage("check"):
        model = graph.load_checked(src.onnx_path)
    inp = graph.io_spec(model)["inputs"]
    if len(inp) != 1:
        raise SourceError(graph.inputs_line(inp, "exports"), "profile it as it is (edgekit "
                          "profile MODEL.onnx --input IMAGE_INPUT fills the others with zeros)",
                          path=str(src.onnx_path))
    shape = inp[0]["shape"]
    if len(shape) != 4:
        raise SourceError(f"input '{inp[0]['name']}' has shape {shape}, not N x C x H x W",
                          "export an NCHW image model", path=str(src.onnx_path))
    hw = shape[1:3] if src.preprocess.fused else shape[2:]  # a fused ONNX takes N x H x W x 3
    static_hw = tuple(hw) if all(isinstance(d, int) and d > 0 for d in hw) else None
    if static_hw and opts.input_size and tuple(opts.input_size) != static_hw:
        raise SourceError(f"--input-size {opts.input_size[0]}x{opts.input_size[1]} conflicts with "
                          f"the model's fixed {static_hw[0]}x{static_hw[1]}",
                          "drop --input-size", path=str(src.onnx_path))
    if static_hw is None:  # a stated --input-size fixes it, else the recipe's size stands
        graph.size_symbolic_input(model, inp[0]["name"], hw, opts.input_size,
                                  nhwc=src.preprocess.fused,
                                  known=not src.preprocess.assumed, where=str(src.onnx_path))
    if opts.fuse_preprocess:  # refused now (one line), not after the simplification
        fuse.check_input(model, str(src.onnx_path))
    h, w = static_hw or opts.input_size or (src.preprocess.height, src.preprocess.width)
    pp = preprocessing.resolve(opts.preprocess, artifact=src.preprocess,  # manifest/contract,
                               input_size=(int(h), int(w)), rep=rep).preprocess  # or ImageNet's
    nb = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    if opts.batch and nb and opts.batch != nb:
        raise SourceError(f"--batch {opts.batch} conflicts with the model's fixed batch {nb}",
                          "drop --batch", path=str(src.onnx_path))
    x = _photos(pp, nb or VERIFY_IMAGES)
    ref = graph.ort_run_all(graph.ort_session(model), x)
    task = _task(tasks.determine(opts.task, recorded=src.task, recorded_names=src.names,
                                 props={p.key: p.value for p in model.metadata_props},
                                 outputs=[o["shape"] for o in graph.io_spec(model)["outputs"]]),
                 rep)
    base: dict[str, Any] = {"exporter": "none (ONNX input)", "opset": default_opset(model) or None,
                            "batch": nb or "dynamic",
            "attempts": []}
    with rep.stage("simplify") as st:
        model, cmp, simplify_info = _simplified_and_checked(model, x, ref, opts, rep, task.name)
        st["note"] = (f"{simplify_info['nodes_before']} -> {simplify_info.get('nodes_after')} nodes"
                      if simplify_info["applied"] else "kept the graph as it was")
    model, pp, fcmp = _fused(model, pp, ref, cmp, opts, rep, str(src.onnx_path), base, task.name)
    return _finish(src, model, pp, out, opts, rep, base, fcmp, simplify_info,
                   "onnxruntime (the input ONNX)", graph.count_params(model), task,
                   int(ref[0].shape[-1]))


def _finish(src: Source, model: Any, pp: Preprocess, out: Path, opts: ExportOptions,
            rep: Reporter, export_info: dict[str, Any], cmp: Comparison | None,
            simplify_info: dict[str, Any], reference: str, params: int, task: TaskInfo,
            last_dim: int) -> ExportResult:
    onnx = require("onnx")
    if model.ByteSize() > _MAX_PROTO_BYTES:
        raise ExportError("the model is over 2 GB; single-file ONNX cannot hold it",
                          "models over 2 GB are not supported yet", path=src.spec)
    with rep.stage("check"):
        try:
            onnx.checker.check_model(model, full_check=True)
        except Exception as e:
            raise ExportError(f"exported model fails onnx.checker: {str(e).splitlines()[0]}",
                              "try another --opset or --exporter", path=str(out)) from e
    info = graph.io_spec(model)
    verification: dict[str, Any] = {"skipped": not opts.verify, "reference": reference,
                                    "tolerance": {k: v for k, v in vars(EXPORT_TOLERANCE).items()
                                                  if task.spec.top1 or "top1" not in k}}
    if cmp is not None:
        verification.update(tasks.record(task.name, cmp), passed=cmp.passes(EXPORT_TOLERANCE))
    entry, (n_macs, no_macs) = src.entry, graph.macs(model)
    man = manifest.Manifest(
        kind="onnx", precision=Precision.FP32,
        model=manifest.ModelInfo(name=entry.short if entry else src.name, family=src.family,
                                 num_classes=(last_dim if task.name == "classify" else
                                              len(task.names) if task.names else None),
                                 task=task.name, task_source=task.source, names=task.names,
                                 params=params,
                                 gmacs=round(n_macs / 1e9, 4) if n_macs is not None else None,
                                 published=src.published()),
        input=manifest.InputInfo(**info["inputs"][0], dynamic_axes={} if src.kind is Kind.ONNX
                                 else {str(k): v for k, v in _dynamic_dims(src, opts).items()}),
        outputs=info["outputs"], preprocess=pp, lineage=manifest.Lineage(source=src.to_dict()),
        verification=manifest.Verification.from_dict(verification), stages=rep.stages,
        sections={"export": {**export_info, "simplify": simplify_info,
                             **({"macs_unknown": no_macs} if no_macs else {})},
                  **({"detect": detect.layout(model)} if task.name == "detect" else {})})
    manifest.embed(model, man)  # the contract travels inside the ONNX (ARCHITECTURE.md, rule 8)
    data = model.SerializeToString()
    with rep.stage("write") as st:
        doc = manifest.write(out, data, man)
        st["note"] = str(out)
    return ExportResult(path=out, manifest_path=manifest.sidecar(out), manifest=doc)
