"""Calibrate once, quantize many times; find where INT8 hurts; keep the worst nodes in FP32.

Where INT8 hurts: both models are run with every intermediate tensor as an output (ONNX
Runtime's qdq_loss_debug), and each tensor's SQNR float-vs-INT8 is computed. A node's *jump* is
how many dB of SQNR are lost across it (its inputs' SQNR minus its output's): the node where the
error appears, not the last node it reaches. (A tensor's own Q/DQ noise, ORT's ``qdq_err``,
misses the classic failure: one huge channel that makes a per-tensor scale too coarse for all
the others, while the tensor's total SQNR still looks fine.)
"""

from __future__ import annotations

import difflib
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import calib
from edgekit._lazy import require

_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
_EXTRA = {"entropy": {"num_bins": 2048, "num_quantized_bins": 128},  # ORT's default 128 bins
          "percentile": {"num_bins": 2048, "percentile": 99.999}}  # gives MinMax's scales
REPORT_IMAGES = 16
MAX_STEPS = 24


def suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.4)
    return f"did you mean {', '.join(close)}?" if close else "list node names with Netron or onnx"


class Quantizer:
    """Holds the pre-processed model and its calibration ranges (ORT's JSON range cache)."""

    def __init__(self, path: Path, tmp: Path, cs: calib.CalibSet, method: str,
                 settings: dict[str, Any]) -> None:
        self.q, self.onnx = require("onnxruntime.quantization"), require("onnx")
        self.tmp, self.settings, self.method = tmp, settings, method
        self.pre = tmp / "pre.onnx"
        try:
            self.q.quant_pre_process(str(path), str(self.pre))
            self.pre_process_note = "quant_pre_process: shape inference + ORT optimisation"
        except Exception as e:  # symbolic shape inference fails on some graphs
            shutil.copyfile(path, self.pre)
            self.pre_process_note = f"skipped ({type(e).__name__}: {str(e)[:120]})"
        pre = self.onnx.load(str(self.pre))
        self.float_model = pre
        self.node_names = [n.name for n in pre.graph.node]
        inits = {i.name for i in pre.graph.initializer}
        self.input_name = next(i.name for i in pre.graph.input if i.name not in inits)
        self.feeds = cs.feeds(self.input_name)
        self.ranges = tmp / "ranges.json"
        self._count = 0
        cal = self.q.create_calibrator(
            self.pre, None, augmented_model_path=str(tmp / "augmented.onnx"),
            calibrate_method=self._method_enum(), extra_options=_EXTRA.get(method, {}))
        cal.collect_data(calib.ort_reader(self.feeds))
        self.q.calibrate.save_tensors_data(cal.compute_data(), self.ranges)
        self._float_acts: dict[str, list[np.ndarray]] | None = None

    def _method_enum(self) -> Any:
        return getattr(self.q.CalibrationMethod, _METHODS[self.method])

    def quantize(self, exclude: list[str] | tuple[str, ...]) -> Any:
        self._count += 1
        out = self.tmp / f"int8-{self._count}.onnx"
        s = self.settings
        self.q.quantize_static(
            str(self.pre), str(out), calibration_data_reader=None,
            calibration_cache_path=str(self.ranges), quant_format=self.q.QuantFormat.QDQ,
            per_channel=bool(s.get("per_channel", True)), reduce_range=bool(s["reduce_range"]),
            activation_type=getattr(self.q.QuantType, s["activation_type"]),
            weight_type=getattr(self.q.QuantType, s["weight_type"]),
            nodes_to_exclude=list(exclude), calibrate_method=self._method_enum(),
            extra_options=dict(s.get("extra_options", {})))
        return self.onnx.load(str(out))

    def _acts(self, path: Path) -> dict[str, list[np.ndarray]]:
        dbg = require("onnxruntime.quantization.qdq_loss_debug")
        aug = path.with_suffix(".aug.onnx")
        dbg.modify_model_output_intermediate_tensors(str(path), str(aug))
        return dict(dbg.collect_activations(str(aug), calib.ort_reader(
            self.feeds[:REPORT_IMAGES])))

    def report(self, qmodel: Any, worst: int) -> list[dict[str, Any]]:
        """Nodes ranked by the SQNR (dB) lost across them, float vs this INT8 model."""
        if self._float_acts is None:
            self._float_acts = self._acts(self.pre)
        qpath = self.tmp / "report-int8.onnx"
        self.onnx.save(qmodel, str(qpath))
        qacts = self._acts(qpath)
        suffix = require("onnxruntime.quantization.quant_utils").DEQUANT_OUTPUT_SUFFIX
        # what consumers see in the INT8 graph: the dequantized tensor where there is one
        seen = {t: qacts.get(t + suffix, qacts.get(t)) for t in self._float_acts}
        sqnr = {t: _sqnr(self._float_acts[t], q) for t, q in seen.items()
                if q is not None and np.issubdtype(np.asarray(q[0]).dtype, np.floating)}
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
            if not outs:  # fused away in the INT8 graph: counted at the node that ends the fusion
                continue
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


def _sqnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    x = np.concatenate([np.asarray(v, np.float64).ravel() for v in a])
    y = np.concatenate([np.asarray(v, np.float64).ravel() for v in b])
    if x.shape != y.shape:
        return 100.0
    noise = float(np.linalg.norm(x - y))
    signal = max(float(np.linalg.norm(x)), 1e-30)
    return 100.0 if noise == 0 else min(100.0, 20 * math.log10(signal / noise))


def accuracy_aware(q: Quantizer, exclude: list[str], first: dict[str, Any], budget: float,
                   verify: Callable[[Any], dict[str, Any]],
                   drop: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
    """Keep the nodes where INT8 hurts most in FP32, greedily, until the drop is within budget.

    Each step re-ranks on the current model, takes the worst node not yet excluded, adds it and
    the producers of its inputs to the FP32 set, re-quantizes (ranges are cached) and measures.
    """
    kept = list(exclude)
    steps = [{"fp32_nodes": [], "drop": round(drop(first), 3)}]
    best_model, best_ver, best_kept = None, first, list(exclude)
    model = q.quantize(kept)
    for _ in range(MAX_STEPS):
        ranked = [r for r in q.report(model, worst=len(q.node_names)) if r["node"] not in kept]
        ranked = [r for r in ranked if r["sqnr_lost_db"] > 0 and r["node"] in q.node_names]
        if not ranked:
            break
        add = [n for n in q.producers_and_self(ranked[0]["node"]) if n not in kept]
        kept += add
        model = q.quantize(kept)
        ver = verify(model)
        steps.append({"fp32_nodes": add, "drop": round(drop(ver), 3),
                      "sqnr_lost_db": ranked[0]["sqnr_lost_db"]})
        if best_model is None or drop(ver) < drop(best_ver):
            best_model, best_ver, best_kept = model, ver, list(kept)
        if drop(ver) <= budget:
            break
    return {"budget": budget, "met": drop(best_ver) <= budget, "steps": steps,
            "fp32_nodes": best_kept, "verification": best_ver,
            "model": best_model if best_model is not None else q.quantize(exclude)}
