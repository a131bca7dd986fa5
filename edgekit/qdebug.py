"""Calibrate once, quantize many times; find where INT8 hurts; keep the worst nodes in FP32.

Where INT8 hurts: both models are run with every intermediate tensor as an output (ONNX
Runtime's qdq_loss_debug), and each tensor's SQNR float-vs-INT8 is computed. Both run on the
same batch, the sums of squares are added up per tensor and the tensors dropped, so memory is
one batch's activations of the two models, never every image's (calibration is fed in chunks
for the same reason). A node's *jump* is
how many dB of SQNR are lost across it (its inputs' SQNR minus its output's): the node where the
error appears, not the last node it reaches. (A tensor's own Q/DQ noise, ORT's ``qdq_err``,
misses the classic failure: one huge channel that makes a per-tensor scale too coarse for all
the others, while the tensor's total SQNR still looks fine.)
"""

from __future__ import annotations

import contextlib
import difflib
import io
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import calib, fuse
from edgekit._io import scratch_cwd
from edgekit._lazy import require

_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
_EXTRA = {"entropy": {"num_bins": 2048, "num_quantized_bins": 128},  # ORT's default 128 bins
          "percentile": {"num_bins": 2048, "percentile": 99.999}}  # gives MinMax's scales
REPORT_IMAGES = 16
MAX_STEPS = 24
CALIB_CHUNK = 8  # images per calibration pass: ORT keeps a pass's activations until it ends


def suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.4)
    return f"did you mean {', '.join(close)}?" if close else "list node names with Netron or onnx"


def activation_bytes(model: Any) -> int:
    """Bytes of every intermediate tensor of one image (batch 1) in a shape-inferred model:
    what one batch of the per-layer pass holds per model. Unknown dimensions count as 1."""
    onnx = require("onnx")
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference fails on some graphs; then only what is annotated
        inferred = model
    total = 0
    for vi in [*inferred.graph.value_info, *inferred.graph.output]:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        n = 1
        for d in tt.shape.dim:
            n *= d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
        total += n * 4
    return total


def pass_memory_gb(model: Any) -> float:
    """Estimated peak of the per-layer pass beyond the sessions' weights: one batch's
    activations of the float and the INT8 model (each also outputs its dequantized copies),
    plus the float64 sums of one tensor at a time."""
    return round(3 * activation_bytes(model) / 2**30, 3)


class QuantizerBase:
    """What every quantizer behind the seam shares (ARCHITECTURE.md, "Where to add"): the float
    model and its node names, the calibration feeds, and the streamed per-layer SQNR pass, so
    ``quantize`` verifies, reports and falls back the same way whichever quantizer runs. A
    subclass sets ``name`` and implements ``quantize(exclude)`` and ``facts()``."""

    name = ""

    def _use_float(self, pre: Path, tmp: Path, cs: calib.CalibSet) -> None:
        """The float model the per-layer pass compares against, and what it is fed."""
        self.onnx = require("onnx")
        self.tmp, self.pre = tmp, pre
        self.float_model = self.onnx.load(str(pre))
        self.node_names = [n.name for n in self.float_model.graph.node]
        self.kept_float = fuse.nodes_of(self.float_model)  # --fuse-preprocess's nodes
        inits = {i.name for i in self.float_model.graph.initializer}
        self.input_name = next(i.name for i in self.float_model.graph.input
                               if i.name not in inits)
        self.feeds = cs.feeds(self.input_name)
        self._float_session: Any = None

    def quantize(self, exclude: list[str] | tuple[str, ...]) -> Any:
        """An INT8 Q/DQ ``onnx.ModelProto`` with the nodes named in ``exclude`` left in float."""
        raise NotImplementedError

    def excluded(self, exclude: list[str] | tuple[str, ...]) -> list[str]:
        """``exclude`` and the fused preprocessing nodes: quantizing the 0-255 pixels and the
        folded scale/bias adds error (the per-layer report showed ~46 dB lost at the
        Transpose); the first Q/DQ then sits where the unfused model's input one does."""
        return [*exclude, *(n for n in self.kept_float if n not in exclude)]

    def caveat(self, parent_logits: np.ndarray) -> str | None:
        """A warning about this quantizer's output for these FP32 logits, or None."""
        return None

    def facts(self) -> dict[str, Any]:
        """What the manifest records about this quantizer (name, versions, settings)."""
        raise NotImplementedError


    def _session(self, path: Path) -> Any:
        """An ONNX Runtime session over ``path`` with every intermediate tensor as an output."""
        dbg = require("onnxruntime.quantization.qdq_loss_debug")
        ort = require("onnxruntime")
        aug = path.with_suffix(".aug.onnx")
        dbg.modify_model_output_intermediate_tensors(str(path), str(aug))
        so = ort.SessionOptions()  # as collect_activations: unfused, so every tensor is there
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(str(aug), so, providers=["CPUExecutionProvider"])

    @staticmethod
    def _run(sess: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The saved intermediate tensors of one batch, by their own names."""
        post = require("onnxruntime.quantization.qdq_loss_debug")._TENSOR_SAVE_POSTFIX
        names = [o.name for o in sess.get_outputs()]
        return {n[: -len(post)]: v for n, v in zip(names, sess.run(None, feed), strict=True)
                if n.endswith(post)}

    def sqnr(self, qmodel: Any) -> dict[str, float]:
        """SQNR (dB) of every float tensor the INT8 model also computes, streamed: per batch,
        both models run, sums of squares are added, the activations are dropped."""
        if self._float_session is None:
            self._float_session = self._session(self.pre)
        qpath = self.tmp / "report-int8.onnx"
        self.onnx.save(qmodel, str(qpath))
        qsess = self._session(qpath)
        suffix = require("onnxruntime.quantization.quant_utils").DEQUANT_OUTPUT_SUFFIX
        signal: dict[str, float] = {}
        noise: dict[str, float] = {}
        for feed in self.feeds[:REPORT_IMAGES]:
            f_out, q_out = self._run(self._float_session, feed), self._run(qsess, feed)
            for t, x in f_out.items():
                y = q_out.get(t + suffix, q_out.get(t))  # what consumers see in the INT8 graph
                if (y is None or not np.issubdtype(np.asarray(x).dtype, np.floating)
                        or not np.issubdtype(np.asarray(y).dtype, np.floating)):
                    continue
                if np.shape(x) != np.shape(y):  # not comparable: counted as exact
                    signal[t], noise[t] = 1.0, 0.0
                    continue
                x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
                signal[t] = signal.get(t, 0.0) + float(np.sum(x64 * x64))
                noise[t] = noise.get(t, 0.0) + float(np.sum((x64 - y64) ** 2))
            del f_out, q_out
        return {t: _sqnr_db(signal[t], noise[t]) for t in signal}

    def report(self, qmodel: Any, worst: int) -> list[dict[str, Any]]:
        """Nodes ranked by the SQNR (dB) lost across them, float vs this INT8 model (none, and
        no pass over the models, for ``worst`` 0)."""
        if worst <= 0:
            return []
        sqnr = self.sqnr(qmodel)
        by_out = {o: n for n in self.float_model.graph.node for o in n.output}

        def upstream(t: str, depth: int = 0) -> float:
            """SQNR of a tensor, or of its nearest comparable ancestors (ORT fuses Conv+Relu and
            drops the Conv's output name); graph inputs and weights count as exact."""
            if t in sqnr:
                return sqnr[t]
            if t not in by_out or depth > 50:
                return 100.0
            return min((upstream(i, depth + 1) for i in by_out[t].input if i), default=100.0)

        rows = []
        for node in self.float_model.graph.node:
            outs = [sqnr[t] for t in node.output if t in sqnr]
            if not outs or node.name in self.kept_float:  # fused away in the INT8 graph
                continue  # (counted where the fusion ends); fused preprocessing: its output is
                # the unfused model's input, whose Q/DQ no node is charged with either
            before = min((upstream(t) for t in node.input if t), default=100.0)
            rows.append({"node": node.name or f"(unnamed, output {node.output[0]})",
                         "op_type": node.op_type, "tensor": node.output[0],
                         "sqnr_db": round(min(outs), 2),
                         "sqnr_lost_db": round(max(0.0, before - min(outs)), 2)})
        rows.sort(key=lambda r: -r["sqnr_lost_db"])
        return rows[:worst]

    def producers_and_self(self, node_name: str) -> list[str]:
        """A node plus the nodes producing its activation inputs (their Q/DQ feeds it)."""
        by_out = {o: n.name for n in self.float_model.graph.node for o in n.output}
        node = next(n for n in self.float_model.graph.node if n.name == node_name)
        return [node_name, *[by_out[i] for i in node.input if i in by_out]]


class Quantizer(QuantizerBase):
    """ONNX Runtime's ``quantize_static``: holds the pre-processed model and its calibration
    ranges (ORT's JSON range cache), so each ``quantize`` only writes a new graph."""

    name = "ort"

    def __init__(self, path: Path, tmp: Path, cs: calib.CalibSet, method: str,
                 settings: dict[str, Any]) -> None:
        self.q = require("onnxruntime.quantization")
        self.settings, self.method = settings, method
        path, tmp = Path(path).resolve(), Path(tmp).resolve()
        pre = tmp / "pre.onnx"
        with scratch_cwd(tmp):  # ORT's scratch files land in tmp, never the user's folder
            self.pre_process_note = self._pre_process(path, pre)
            self._use_float(pre, tmp, cs)
            self.ranges = tmp / "ranges.json"
            self._count = 0
            cal = self.q.create_calibrator(
                self.pre, None, augmented_model_path=str(tmp / "augmented.onnx"),
                calibrate_method=self._method_enum(), extra_options=_EXTRA.get(method, {}))
            with contextlib.redirect_stdout(io.StringIO()):  # ORT's histogram calibrators
                for i in range(0, len(self.feeds), CALIB_CHUNK):  # print() progress: never
                    cal.collect_data(calib.ort_reader(self.feeds[i:i + CALIB_CHUNK]))  # on
                ranges = cal.compute_data()  # the command's stdout (--json is one object)
            self.q.calibrate.save_tensors_data(ranges, self.ranges)

    def _pre_process(self, path: Path, pre: Path) -> str:
        """ORT's ``quant_pre_process``. Its symbolic shape inference fails on some graphs
        (swin, PP-OCR's detector; microsoft/onnxruntime#21330): then again without it (ONNX's
        own shape inference and ORT's optimisation), and only if that fails too, the model as
        it is."""
        try:
            self.q.quant_pre_process(str(path), str(pre))
            return "quant_pre_process: shape inference + ORT optimisation"
        except Exception as e:
            first = f"{type(e).__name__}: {str(e)[:120]}"
        try:
            self.q.quant_pre_process(str(path), str(pre), skip_symbolic_shape=True)
            return (f"quant_pre_process without symbolic shape inference ({first}): ONNX shape "
                    "inference + ORT optimisation")
        except Exception as e:
            shutil.copyfile(path, pre)
            return f"skipped ({first}; without it: {type(e).__name__}: {str(e)[:120]})"

    def _method_enum(self) -> Any:
        return getattr(self.q.CalibrationMethod, _METHODS[self.method])

    def facts(self) -> dict[str, Any]:
        from edgekit.manifest import versions

        ort = versions(("onnxruntime",))["onnxruntime"]
        return {"quantizer": self.name, "quantizer_version": ort, "onnxruntime_version": ort,
                "tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                "calibration_eps": ["cpu"], "fp16_rest": False,
                **{k: v for k, v in self.settings.items()},
                "pre_process": self.pre_process_note}

    def quantize(self, exclude: list[str] | tuple[str, ...]) -> Any:
        self._count += 1
        out = self.tmp / f"int8-{self._count}.onnx"
        s = self.settings
        with scratch_cwd(self.tmp):
            self._quantize_static(out, s, exclude)
        return self.onnx.load(str(out))

    def _quantize_static(self, out: Path, s: dict[str, Any], exclude: Any) -> None:
        self.q.quantize_static(
            str(self.pre), str(out), calibration_data_reader=None,
            calibration_cache_path=str(self.ranges), quant_format=self.q.QuantFormat.QDQ,
            per_channel=bool(s.get("per_channel", True)), reduce_range=bool(s["reduce_range"]),
            activation_type=getattr(self.q.QuantType, s["activation_type"]),
            weight_type=getattr(self.q.QuantType, s["weight_type"]),
            nodes_to_exclude=self.excluded(exclude), calibrate_method=self._method_enum(),
            extra_options=dict(s.get("extra_options", {})))


def _sqnr_db(signal_sq: float, noise_sq: float) -> float:
    """10 log10(sum x^2 / sum (x - y)^2), capped at 100 dB (exact)."""
    if noise_sq == 0:
        return 100.0
    return min(100.0, 10 * math.log10(max(signal_sq, 1e-60) / noise_sq))


def accuracy_aware(q: QuantizerBase, exclude: list[str], first: dict[str, Any], budget: Any,
                   verify: Callable[[Any], dict[str, Any]], cost: Callable[[dict[str, Any]], float],
                   figure: Callable[[dict[str, Any]], dict[str, float]]) -> dict[str, Any]:
    """Keep the nodes where INT8 hurts most in FP32, greedily, until ``cost`` (the task's: top-1
    points lost, or minus the SQNR) is within ``budget.limit``; ``figure`` is what each step
    records (the drop, or the SQNR).

    Each step re-ranks on the current model, takes the worst node not yet excluded, adds it and
    the producers of its inputs to the FP32 set, re-quantizes (ranges are cached) and measures.
    """
    kept = list(exclude)
    steps = [{"fp32_nodes": [], **figure(first)}]
    best_model, best_ver, best_kept = None, first, list(exclude)
    model = q.quantize(kept)
    for _ in range(MAX_STEPS):
        ranked = [r for r in q.report(model, worst=len(q.node_names)) if r["node"] not in kept]
        ranked = [r for r in ranked if r["sqnr_lost_db"] > 0 and r["node"] in q.node_names
                  and r["node"] not in q.kept_float]
        if not ranked:
            break
        add = [n for n in q.producers_and_self(ranked[0]["node"]) if n not in kept]
        kept += add
        model = q.quantize(kept)
        ver = verify(model)
        steps.append({"fp32_nodes": add, **figure(ver), "sqnr_lost_db": ranked[0]["sqnr_lost_db"]})
        if best_model is None or cost(ver) < cost(best_ver):
            best_model, best_ver, best_kept = model, ver, list(kept)
        if cost(ver) <= budget.limit:
            break
    return {"budget": budget.stated, "budget_text": budget.text,
            "met": cost(best_ver) <= budget.limit, "steps": steps, "fp32_nodes": best_kept,
            "verification": best_ver,
            "model": best_model if best_model is not None else q.quantize(exclude)}
