"""Render the README's benchmark tables from ``bench/results/*.json`` (written by the bench
scripts, each with the machine fingerprint and date), between marker comments:

    <!-- table:NAME -->
    ...generated...
    <!-- /table:NAME -->

    python scripts/readme_tables.py          # rewrite README.md
    python scripts/readme_tables.py --check  # exit 1 when README.md differs from the rendering

``tests/test_readme_tables.py`` runs the check, so a figure typed into a table by hand, or a
result file changed without re-rendering, fails the suite. A cell with nothing timed says so.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BLOCK = re.compile(r"(<!-- table:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)",
                   re.S)


def _machine(doc: dict[str, Any]) -> str:
    fp = doc.get("fingerprint") or {}
    cpu = fp.get("cpu") or {}
    gpus = ", ".join(g.get("name", "?") for g in fp.get("gpus") or []) or "no GPU"
    command = str(doc["command"]).split(" --note")[0]  # the note is shown on its own
    text = (f"Produced by `{command}` on {doc['date']}: {cpu.get('model', '?')}, "
            f"{cpu.get('logical_cores', '?')} logical cores, flags {' '.join(cpu.get('flags', []))}"
            f" (VNNI: {'yes' if cpu.get('vnni') else 'no'}), {gpus}; "
            f"`bench/results/{doc['name']}.json`.")
    if doc.get("timing"):
        text += f" Timing: {doc['timing']}."
    if doc.get("note"):
        text += f" Note: {doc['note'].rstrip('.')}."
    return text


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _ratio(a: float | None, b: float | None, fmt: str = ".2f") -> str:
    return "untimed" if a is None or b is None or b == 0 else format(a / b, fmt)


def quantize(doc: dict[str, Any]) -> str:
    rows = [[r["model"], f"{r['fp32_ms']:.2f}", f"{r['int8_ms']:.2f}", f"{r['fp16_ms']:.2f}",
             _ratio(r["int8_ms"], r["fp32_ms"]), _ratio(r["fp16_ms"], r["fp32_ms"]),
             f"{r['activation_type']}×{r['weight_type']}, reduce_range "
             f"{'on' if r['reduce_range'] else 'off'}",
             f"{r['worst_op'] or '-'} ({r['worst_db_lost'] or 0:.1f})"] for r in doc["rows"]]
    return _table(["model", "FP32 ms", "INT8 ms", "FP16 ms", "INT8/FP32", "FP16/FP32",
                   "INT8 settings", "worst node (dB lost)"], rows)


def profile_overhead(doc: dict[str, Any]) -> str:
    def f(v: Any, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt)

    rows = [[r["model"], r["precision"], r["runtime"], f"{r['bare_p50_ms']:.3f} ({r['bare_best']})",
             f"{r['edgekit_p50_ms']:.3f}", f"{r['ratio']:.3f}", f(r.get("benchmark_app_p50_ms")),
             f(r.get("ratio_vs_tool"))] for r in doc["rows"]]
    return _table(["model", "precision", "runtime", "bare best loop p50 ms", "edgekit p50 ms",
                   "edgekit / bare", "benchmark_app median ms", "edgekit / benchmark_app"], rows)


def performance(doc: dict[str, Any]) -> str:
    rows = [[r["model"], _ratio(r["p1_edgekit_p50_ms"], r["p1_bare_p50_ms"], ".3f"),
             "untimed: `--tune` kept the defaults" if r["p2_speedup"] is None
             else f"{r['p2_speedup']:.3f}", r["tune_chose"] or "the defaults",
             f"{r['p3_edgekit_s']:.1f}", f"{r['p3_bare_s']:.1f}",
             _ratio(r["p3_edgekit_s"], r["p3_bare_s"])] for r in doc["rows"]]
    text = _table(["model", "P1 edgekit/bare p50 (goal ≤ 1.02)",
                   "P2 speed-up of `--tune` (goal ≥ 1.0)", "`--tune` chose",
                   "P3 edgekit export s", "bare `torch.onnx.export` s", "P3 ratio (goal ≤ 1.5)"],
                  rows)
    p4 = doc.get("p4")
    text += ("\n\nP4: `edgekit quickstart` took **" + f"{p4['quickstart_s']:.0f} s** wall "
             f"(goal < 10 min; {p4['status']})." if p4 else
             "\n\nP4 (`edgekit quickstart` wall time): untimed in this run.")
    return text


def memory(doc: dict[str, Any]) -> str:
    def cell(r: dict[str, Any] | None) -> list[str]:
        if r is None:
            return ["not run", "-"]
        gb = f"{r['peak_rss_gb']}" if r["exit_code"] == 0 else f"failed ({r['error']})"
        return [gb, f"{r['wall_s']}"]

    by: dict[str, dict[bool, dict[str, Any]]] = {}
    for r in doc["rows"]:
        by.setdefault(r["model"], {})[bool(r["int8"])] = r
    rows = [[m, *cell(v.get(False)), *cell(v.get(True))] for m, v in by.items()]
    return _table(["model", "export: peak GB", "export: s", "`export --int8`: peak GB",
                   "`export --int8`: s"], rows)


def lab(doc: dict[str, Any]) -> str:
    rows = [[str(r["agents"]), f"{r['jobs_per_s']}", f"{r['enqueue_ms_per_job']} ms",
             f"{r['enqueue_to_start_ms']} ms" if r["agents"] == 1
             else f"({r['enqueue_to_start_ms']} ms)", f"{r['result_to_visible_ms']} ms",
             f"{r['job_ms']} ms"] for r in doc["rows"]]
    return _table(["agents", "jobs/s", "enqueue per job", "enqueue -> start",
                   "result -> visible", "job (fetch, profile, write)"], rows)


def quantize_tensorrt(doc: dict[str, Any]) -> str:
    def row(r: dict[str, Any]) -> list[str]:
        if "error" in r:
            return [r["model"], r["quantizer"], f"failed ({r['error']})", *["-"] * 6]
        return [r["model"], f"{r['quantizer']} {r['version']} (ORT {r['onnxruntime']})",
                str(r["qdq_pairs"]), f"{r['adds']['1']} / {r['adds']['2']}",
                "float" if r["logits_float"] else "INT8 Q/DQ",
                f"{r['agreement_pct']:.1f} ({r['held_out']})",
                f"{r['calibrate_quantize_verify_s']:.1f}", f"{r['wall_s']:.1f}",
                f"{r['peak_rss_gb']}"]

    return _table(["model", "quantizer", "activation Q/DQ pairs", "residual Adds 1 / 2 inputs "
                   "quantized", "logits", "top-1 agreement with FP32 %", "calibrate+quantize+"
                   "verify s", "process s", "peak RSS GB"], [row(r) for r in doc["rows"]])


def runtimes(doc: dict[str, Any]) -> str:
    labels = list(doc["rows"][0]["p50_ms"])
    rows = [[r["model"], *(f"{r['p50_ms'][k]:.2f}" for k in labels), r["fastest"],
             f"{r['speedup_fp32_or_bf16']:.2f}x", f"{r['speedup_any']:.2f}x",
             f"{r['load_avg_before']:.2f}"] for r in doc["rows"]]
    return _table(["model", *(f"{k} p50 ms" for k in labels), "fastest",
                   "ORT FP32 / best FP32-or-bf16", "ORT FP32 / best of all", "load avg"], rows)


def pareto_example(doc: dict[str, Any]) -> str:
    def check(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    rows = [[r["label"].split(":", 1)[1], f"{r['p50_ms']:.4f}", r["accuracy_kind"],
             ("≥ " if r["accuracy_kind"] == "lower_bound" else "") + f"{r['top1']:.2f}",
             "—" if r["disagreements"] is None else f"{r['disagreements']}/{r['images']}",
             "yes" if r["on_frontier"] else "no", check(r["measured_top1_check"])]
            for r in doc["rows"]]
    return _table(["artifact", "p50 ms", "accuracy_kind", "top-1 % (claimed)",
                   "disagree / n", "on frontier", "top-1 % with labels (check, not plotted)"],
                  rows)


def fuse_preprocess(doc: dict[str, Any]) -> str:
    rows = [[r["artifact"], r["input"], f"{r['max_abs_diff']:.2g}", f"{r['top1']:.2f}",
             str(r["images"]), f"{r['p50_ms']:.4f}"] for r in doc["rows"]]
    return _table(["artifact", "input", "max abs logit diff vs its reference", "top-1 %",
                   "images", "p50 ms"], rows)


def foreign_onnx(doc: dict[str, Any]) -> str:
    def top1(v: float | None) -> str:
        return f"{v:.1f}" if v is not None else "no labels"

    rows = [[f"`{r['model']}`", r["what"], "x".join(str(d) for d in r["input"][2:]), r["opset"],
             f"{r['gmacs']:.4f}", f"{r['fp32_p50_ms']:.2f}", f"{r['int8_p50_ms']:.2f}",
             _ratio(r["int8_p50_ms"], r["fp32_p50_ms"]),
             f"{top1(r['fp32_top1'])} / {top1(r['int8_top1'])}"
             + (f" ({r['images']} lines)" if r["images"] else "")] for r in doc["rows"]]
    return _table(["model", "what", "input H x W", "opset (for INT8)", "GMACs", "FP32 p50 ms",
                   "INT8 p50 ms", "INT8/FP32", "top-1 % FP32 / INT8"], rows)


def yolo_int8(doc: dict[str, Any]) -> str:
    def f(v: Any, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt)

    fixture = [[r["variant"], f(r["float_nodes"], "d"), f(r["map50_95"], ".2f"), f(r["map50"], ".2f"),
                f(r["precision"]), f(r["recall"]), f(r["f1"]), f(r["mean_iou"]),
                f(r["p50_ms"], ".2f"), f(r["e2e_p50_ms"], ".2f")]
               for r in doc["rows"] if r["part"] == "fixture"]
    speed = [[r["model"], f"{r['gmacs']:.3f}", f"{r['fp32_p50_ms']:.2f}", f"{r['int8_p50_ms']:.2f}",
              f"{r['int8_speedup']:.2f}x", f"{r['fp32_e2e_p50_ms']:.2f}",
              f"{r['int8_e2e_p50_ms']:.2f}", f"{r['int8_e2e_speedup']:.2f}x"]
             for r in doc["rows"] if r["part"] == "speed"]
    return (_table(["`yolo_digits.onnx`", "float nodes", "mAP@[.5:.95] %", "mAP@.5 %",
                    "P vs FP32", "R vs FP32", "F1 vs FP32", "mean IoU", "p50 ms",
                    "end-to-end p50 ms"], fixture) + "\n\n" +
            _table(["model", "GMACs", "FP32 p50 ms", "INT8 p50 ms", "INT8 speedup",
                    "FP32 end-to-end p50 ms", "INT8 end-to-end p50 ms", "end-to-end speedup"],
                   speed))


def tv_detect(doc: dict[str, Any]) -> str:
    def f(v: Any, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt)

    def int8(r: dict[str, Any]) -> str:
        return (f"yes (F1 vs FP32 {f(r.get('int8_f1_vs_fp32'))})" if r.get("int8")
                else r.get("int8_error") or "-")

    exports = [[f"`{r['model']}`", "yes" if r["exported"] else r.get("error", "no"),
                "x".join(map(str, r.get("size") or [])) or "-", f(r.get("gmacs")),
                f(r.get("f1")) + f" ({r.get('boxes')} boxes)" if r["exported"] else "-",
                (f"{f(r.get('second_f1'))} at {'x'.join(map(str, r['second_size']))}"
                 if r.get("second_size") else "-"), int8(r) if r["exported"] else "-"]
               for r in doc["rows"] if r["part"] == "export"]
    speed = [[f"`{r['model']}`, {r['weights']}", f(r.get("nms_candidates"), "d"),
              f"{r['gmacs']:.3f}", f"{r['fp32_p50_ms']:.2f}",
              f"{r['int8_p50_ms']:.2f}", f"{r['int8_speedup']:.2f}x",
              f(r.get("fp32_e2e_p50_ms"), ".2f"), f(r.get("int8_e2e_p50_ms"), ".2f"),
              f(r.get("int8_e2e_speedup"), ".2f") + "x"]
             for r in doc["rows"] if r["part"] == "speed"]
    return (_table(["torchvision detector", "exports", "input", "GMACs",
                    "F1 vs torch (recipe size)", "F1 vs torch (second size)", "INT8 (ORT)"],
                   exports) + "\n\n" +
            _table(["model", "anchor-class scores > 0.001", "GMACs", "FP32 p50 ms",
                    "INT8 p50 ms", "INT8 speedup", "FP32 end-to-end p50 ms",
                    "INT8 end-to-end p50 ms", "end-to-end speedup"],
                   speed))


def segment_int8(doc: dict[str, Any]) -> str:
    def f(v: Any, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt)

    fixture = [[r["variant"], f(r["float_nodes"], "d"), f(r["miou"], ".2f"),
                f(r["pixel_accuracy"], ".2f"), f(r.get("miou_drop"), ".2f"),
                f(r["pixel_agreement"], ".4f"), f(r["miou_vs_fp32"], ".2f"),
                {True: "yes", False: "no"}.get(r.get("goals_met"), "-"), f(r["p50_ms"], ".2f")]
               for r in doc["rows"] if r["part"] == "fixture"]
    speed = [[r["model"], f"{r['gmacs']:.3f}", f"{r['fp32_p50_ms']:.2f}",
              f"{r['int8_p50_ms']:.2f}", f"{r['int8_speedup']:.2f}x"]
             for r in doc["rows"] if r["part"] == "speed"]
    return (_table(["`seg_digits.onnx`", "float nodes", "mIoU %", "pixel accuracy %",
                    "mIoU drop (points)", "pixel agreement vs FP32", "mIoU vs FP32's masks %",
                    "goals met", "p50 ms"], fixture) + "\n\n" +
            _table(["model", "GMACs", "FP32 p50 ms", "INT8 p50 ms", "INT8 speedup"], speed))


def compare(doc: dict[str, Any]) -> str:
    rows = [[r["pair"], f"{r['model']} {r['size']} px", f"x{r['mac_ratio']:g}", r["want"],
             f"**{r['right']} / {r['trials']}**",
             ", ".join(f"{k} {v}" for k, v in r["verdicts"].items() if v),
             f"x{r['ratio_min']:.3f} .. x{r['ratio_max']:.3f}", str(r["over_10pct"]),
             f"{r['wall_s_median']:.1f} / {r['wall_s_max']:.1f}",
             f"{r['load_min']:.2f} .. {r['load_max']:.2f}"] for r in doc["rows"]]
    return _table(["pair", "candidate", "MACs", "goal verdict", "right (goal ≥ 19 / 20)",
                   "verdicts", "ratio of medians", "trials over x1.10 (exit 3 at 10 %)",
                   "wall s median / max (goal ≤ 30)", "load average"], rows)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "runtimes": runtimes, "pareto_example": pareto_example, "fuse_preprocess": fuse_preprocess,
    "lab": lab, "quantize": quantize, "quantize_tensorrt": quantize_tensorrt,
    "profile_overhead": profile_overhead, "performance": performance, "memory": memory,
    "foreign_onnx": foreign_onnx, "yolo_int8": yolo_int8, "tv_detect": tv_detect,
    "segment_int8": segment_int8, "compare": compare}


def render(name: str, results: Path = RESULTS) -> str:
    path = results / f"{name}.json"
    if not path.is_file():
        return (f"No result file `bench/results/{name}.json`: nothing measured, so no figures.\n")
    doc = json.loads(path.read_text())
    return f"{_machine(doc)}\n\n{RENDERERS[name](doc)}\n"


def update(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked table re-rendered; an unknown table name is an error."""
    def one(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in RENDERERS:
            raise KeyError(f"README table '{name}' has no renderer; known: {sorted(RENDERERS)}")
        return m.group(1) + render(name, results) + m.group(4)

    return BLOCK.sub(one, text)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args()
    text = args.readme.read_text()
    new = update(text)
    if args.check:
        if new != text:
            print(f"{args.readme}: tables differ from bench/results; run "
                  "python scripts/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
