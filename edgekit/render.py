"""Human renderings (rich) of results for the terminal; --json prints the dicts instead.

rich is imported inside each function, so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit import tasks
from edgekit.identity import effective

if TYPE_CHECKING:
    from edgekit.manifest import Manifest


def group(items: list[Any]) -> Any:
    from rich.console import Group

    return Group(*items)


def quant_table(man: Manifest, path: Path) -> Any:
    from rich.table import Table

    m = man.sections
    v = man.verification.to_dict() if man.verification else {}
    t = Table(title=f"{man.precision.value} {path}", show_header=False, title_justify="left")
    t.add_row("size", f"{(man.artifact.size_bytes or 0) / 1e6:.2f} MB" if man.artifact else "-")
    if "quantization" in m:
        qd = m["quantization"]
        t.add_row("settings", f"{m['target']}: {qd['activation_type']} activations x "
                  f"{qd['weight_type']} weights, {qd['method']}, per-channel {qd['per_channel']}, "
                  f"reduce_range {qd['reduce_range']} (CPU VNNI: {qd['cpu']['vnni']})")
        t.add_row("quantizer", _quantizer_line(qd))
        t.add_row("calibration", f"{qd['calibration']['count']} images from "
                  f"{qd['calibration']['source']}")
        if qd.get("qdq"):
            s = qd["qdq"]
            t.add_row("Q/DQ", f"{s['activation_qdq_pairs']} activation pairs; residual Adds "
                      f"with 1 / 2 quantized inputs: {s['adds']['1']} / {s['adds']['2']}; logits "
                      f"{'float' if s['logits_float'] else 'quantized'}")
    t.add_row("vs FP32", f"{tasks.describe(v)} ({v['held_out']}); cosine mean "
              f"{v['cosine_mean']:.4f}; max abs diff {v['max_abs_diff']:.3g}")
    if "top1" in v:
        t.add_row("accuracy", f"top-1 {v['fp32_top1']:.2f} -> {v['top1']:.2f} "
                  f"({-v['top1_drop']:+.2f} points), top-5 {v['fp32_top5']:.2f} -> {v['top5']:.2f}")
    aa = m.get("accuracy_aware")
    if aa:
        t.add_row("kept in FP32", ", ".join(aa["fp32_nodes"]) + " (budget "
                  f"{aa.get('budget_text') or str(aa['budget']) + ' top-1 points'})")
        if aa.get("latency"):
            la = aa["latency"]["p50_ms"]
            t.add_row("latency cost", f"p50 batch {aa['latency']['batch']}: FP32 {la['fp32']:.3f} ms, "
                      f"INT8 {la['int8']:.3f} ms, with FP32 nodes {la['mixed']:.3f} ms "
                      f"({aa['latency']['mixed_vs_int8']:.2f}x INT8)")
    for r in (m.get("layer_report") or [])[:5]:
        t.add_row("where INT8 hurts", f"{r['node']} ({r['op_type']}): {r['sqnr_lost_db']:.1f} dB "
                  f"lost, SQNR {r['sqnr_db']:.1f} dB")
    return t


def _quantizer_line(qd: dict[str, Any]) -> str:
    """``modelopt 0.47.0 (onnxruntime 1.32.0), calibrated on cpu, rest in FP16``."""
    name = {"ort": "ONNX Runtime", "modelopt": "ModelOpt"}.get(qd.get("quantizer", "ort"), "?")
    rest = "FP16" if qd.get("fp16_rest") else "FP32"
    return (f"{name} {qd.get('quantizer_version') or ''} (onnxruntime "
            f"{qd.get('onnxruntime_version') or '?'}), calibrated on "
            f"{', '.join(qd.get('calibration_eps') or ['cpu'])}, unquantized layers in {rest}")


def export_table(man: Manifest, path: Path) -> Any:
    from rich.table import Table

    t = Table(title=f"exported {path}", show_header=False, title_justify="left")
    v = man.verification.to_dict() if man.verification else {"skipped": True}
    x, src, model, inp, art = (man.sections["export"], man.lineage.source or {}, man.model,
                               man.input, man.artifact)
    t.add_row("model", f"{model.name} ({src.get('provider')}, {src.get('weights')})")
    if inp is not None:
        t.add_row("input", f"{inp.name} {inp.shape} {inp.dtype}")
    if man.preprocess is not None and man.preprocess.fused:
        t.add_row("preprocess", "fused: resized/cropped uint8 pixels in; cast, 1/255, mean/std "
                  f"and NHWC->NCHW in the graph ({man.preprocess.channel_order.upper()} input)")
    if art is not None:
        t.add_row("size", f"{(art.size_bytes or 0) / 1e6:.2f} MB, sha256 {(art.sha256 or '')[:12]}")
    t.add_row("params / GMACs", f"{(model.params or 0) / 1e6:.2f} M / {model.gmacs or 0:.3f}")
    t.add_row("exporter", f"{x['exporter']} (opset {x['opset']}, batch {x['batch']})")
    simp = x["simplify"]
    t.add_row("simplify", f"{simp.get('nodes_before')} -> {simp.get('nodes_after')} nodes"
              if simp["applied"] else f"not applied: {simp.get('reason')}")
    t.add_row("verified" if v.get("passed") else "verification",
              "skipped" if v["skipped"] else
              f"{v['images']} photo outputs vs {v['reference']}: {tasks.describe(v)}, "
              f"max abs diff {v['max_abs_diff']:.2e}")
    t.add_row("task", f"{model.task or '-'} ({model.task_source or 'not recorded'})"
              + (f", {len(model.names)} class names" if model.names else ""))
    return t


def _accuracy_rows(info: Any, acc: dict[str, Any] | None, claim: dict[str, Any] | None) -> None:
    """What was measured on labels (top-1, a detector's mAP, a segmenter's mIoU), then the verdict every
    command shows (edgekit.accuracy)."""
    if acc and acc.get("map50_95") is not None:
        info.add_row("accuracy", f"mAP@[.5:.95] {acc['map50_95']:.2f} %, mAP@.5 "
                     f"{acc['map50']:.2f} % on {acc['images']} images, {acc['boxes']} boxes "
                     f"({acc['format']}; {acc['evaluator']}, maxDets {acc['max_dets']}, conf "
                     f"{acc['conf']:g}; {acc['folder']})")
    elif acc and acc.get("miou") is not None:
        info.add_row("accuracy", f"mIoU {acc['miou']:.2f} %, pixel accuracy "
                     f"{acc['pixel_accuracy']:.2f} % on {acc['images']} images, "
                     f"{acc['classes_present']} classes present (index masks, ignore "
                     f"{acc['ignore_index']}; one confusion matrix; {acc['folder']})")
    elif acc:
        info.add_row("accuracy", f"top-1 {acc['top1']:.2f} %, top-5 {acc['top5']:.2f} % on "
                     f"{acc['images']} images, {acc['classes']} classes ({acc['folder']})")
    if claim:
        info.add_row(f"verdict ({claim['kind']})", claim["text"])


def _f(v: Any, fmt: str = ".3f", none: str = "-") -> str:
    return none if v is None else format(v, fmt)


def profile_table(report: dict[str, Any]) -> Any:
    """One table per profile: a row per batch size, then what was measured once."""
    from rich.table import Table

    results = report["results"]
    r0 = results[0]
    m, lat0, mem = r0["model"], r0["latency"], r0["memory"]
    title = (f"{m['name']} {m['precision']} on {r0['backend']}/{r0['device']} "
             f"({r0['device_name']})")
    t = Table("batch", "p50", "p90", "p99", "mean", "std", "runs", "images/s", "GFLOP/s",
              title=title + "  [latency in ms]", title_justify="left")
    for r in results:
        lat = r["latency"]
        t.add_row(str(r["batch"]), _f(lat["p50_ms"]), _f(lat["p90_ms"]), _f(lat["p99_ms"]),
                  _f(lat["mean_ms"]), _f(lat["std_ms"]), str(lat["n"]),
                  _f(lat["images_per_s"], ".1f"), _f(r["gflops"], ".1f"))
    info = Table(show_header=False, box=None)
    info.add_row("artifact", f"{r0['artifact']['path']} ({_f(r0['artifact'].get('size_mb'), '.2f')}"
                 f" MB{', sha256 ' + r0['artifact']['sha256'][:12] if r0['artifact'].get('sha256') else ''})")
    info.add_row("cold", f"load {lat0['session_create_ms']:.1f} ms, first inference "
                 f"{lat0['first_infer_ms']:.2f} ms")
    info.add_row("memory", f"peak RSS +{mem['peak_rss_growth_mb']:.1f} MB ({mem['rss_method']})"
                 + (f", GPU {mem['gpu_peak_mb']:.1f} MB" if mem.get("gpu_peak_mb") else ""))
    for r in results:
        if r["latency"].get("split_ms"):
            s = r["latency"]["split_ms"]
            info.add_row(f"split, batch {r['batch']}", f"H2D {s['h2d_ms']:.3f} + compute "
                         f"{s['compute_ms']:.3f} + D2H {s['d2h_ms']:.3f} ms")
    for r in results:
        if r["latency"].get("end_to_end"):
            e = r["latency"]["end_to_end"]
            info.add_row(f"end to end, batch {r['batch']}", f"p50 {e['p50_ms']:.3f} ms = network "
                         f"{r['latency']['p50_ms']:.3f} + decode/NMS ~{e['decode_p50_ms']:.3f} ms; "
                         f"{e['detections_per_image']:g} detections per image at conf {e['conf']:g}")
    for r in results:
        if r.get("energy"):
            e = r["energy"]
            info.add_row(f"energy, batch {r['batch']}", f"{e['mean_power_w']:.2f} W ({e['rail']}), "
                         f"{e['mj_per_inference']:.2f} mJ per inference")
    _accuracy_rows(info, r0.get("accuracy"), (report.get("claims") or [None])[0])
    st = r0["settings"]
    knobs = {k: v for k, v in effective(st).items() if k != "runtime"}
    info.add_row("settings", ", ".join(f"{k} {v}" for k, v in knobs.items()))
    ver = st.get("verification")
    if ver:
        info.add_row(f"vs {ver['reference']}", tasks.describe(ver))
    if st.get("tune"):
        info.add_row("tuned", f"{len(st['tune']['trials'])} settings tried; chose "
                     f"{st['tune']['chosen']}")
    ids = [str(r["id"]) for r in results if r.get("id") is not None]
    info.add_row("saved", f"{report['store']} (id {', '.join(ids)})" if ids else "not stored")
    return group([t, info])


def results_table(rows: list[dict[str, Any]]) -> Any:
    from edgekit.fit import Column, FitTable

    tags = any(r["tag"] for r in rows)
    columns = [Column(header="id", cell=lambda r: str(r["id"]), priority=0, justify="right"),
               Column(header="model", cell=lambda r: str(r["model"]), priority=0),
               Column(header="prec", cell=lambda r: str(r["precision"]), priority=0),
               Column(header="runner", cell=lambda r: f"{r['backend']}/{r['device']}",
                      priority=0),
               Column(header="batch", cell=lambda r: str(r["batch"]), priority=1,
                      justify="right"),
               Column(header="p50 ms", cell=lambda r: _f(r["p50_ms"]), priority=1,
                      justify="right"),
               Column(header="top-1", cell=lambda r: _f(r["top1"], ".2f"), priority=2,
                      justify="right"),
               Column(header="created", cell=lambda r: str(r["created"])[5:16].replace("T", " "),
                      priority=3),
               Column(header="p99 ms", cell=lambda r: _f(r["p99_ms"]), priority=4,
                      justify="right"),
               Column(header="img/s", cell=lambda r: _f(r["images_per_s"], ".0f"), priority=5,
                      justify="right"),
               *([Column(header="tag", cell=lambda r: r["tag"] or "", priority=6)] if tags
                 else [])]
    return FitTable(columns, rows, title=f"{len(rows)} results")


def pareto_table(doc: dict[str, Any]) -> Any:
    from edgekit.fit import Column, FitTable

    view = doc["y"] == "latency_p50_ms"
    pts = doc["points"] if view else [p for p in doc["points"] if p["on_frontier"]]
    title = ("FLOPs vs measured latency" if view else "Pareto frontier") + f": plot {doc['plot']}"
    columns = [Column(header="id", cell=lambda p: str(p["id"]), priority=0, justify="right"),
               Column(header="model", cell=lambda p: str(p["model"]), priority=0),
               Column(header="precision", cell=lambda p: str(p["precision"]), priority=0),
               Column(header="backend", cell=lambda p: str(p["backend"]), priority=1),
               Column(header=doc["x"], cell=lambda p: _f(p["x"], ".4g"), priority=0,
                      justify="right"),
               Column(header=doc["y"], cell=lambda p: ("≥ " if p.get("accuracy_kind") ==
                                                       "lower_bound" else "") + _f(p["y"], ".4g"),
                      priority=0, justify="right"),
               *([Column(header="kind", cell=lambda p: str(p.get("accuracy_kind") or "-"),
                         priority=1)] if doc["y"] in ("top1", "top5") else [])]
    rows = sorted(pts, key=lambda p: (p["x"] is None, p["x"]))
    notes = [f"{len(doc['points'])} points, {len(doc['frontier'])} on the frontier"]
    if doc.get("kinds"):
        notes.append(f"accuracy kinds: {doc['kinds']}")
    notes += [f"id {p['id']} {p['label']}: {p['accuracy_text']}" for p in doc["points"]
              if p.get("accuracy_kind") == "lower_bound"]
    if doc.get("no_accuracy"):
        notes.append("no accuracy figure (nothing measured; none borrowed): ids "
                     f"{', '.join(map(str, doc['no_accuracy']))}")
    if doc["missing"]:
        notes.append(f"not plotted (no {doc['x']} or {doc['y']}): ids "
                     f"{', '.join(map(str, doc['missing']))}")
    if view:
        notes.append(f"{len(doc['discordant_pairs'])} pairs where FLOPs and latency disagree")
    return FitTable(columns, rows, title=title, notes=notes)


def points_csv(points: list[Any]) -> str:
    import csv
    import io

    buf = io.StringIO()
    rows = [p.to_dict() for p in points]
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["id"])
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def budget_table(outcomes: list[Any]) -> Any:
    from rich.table import Table

    t = Table("line", "budget", "status", "result", "checks", title="budgets",
              title_justify="left")
    for o in outcomes:
        checks = "\n".join(f"{c.name}: {_f(c.value, '.4g')} vs {c.limit:g}"
                            f"{'' if c.passed else '  BROKEN'} {c.note}".rstrip()
                            for c in o.checks) or o.message
        t.add_row(str(o.budget.line), o.budget.name,
                  "[green]pass[/]" if o.status == "pass" else "[red]FAIL[/]",
                  str(o.result_id) if o.result_id is not None else "-", checks)
    return t


def compare_table(d: dict[str, Any]) -> Any:
    """``edgekit compare``: each side's p50, and the verdict."""
    from rich.table import Table

    v = d["verdict"]
    colour = {"slower": "red", "faster": "green"}.get(v["verdict"], "white")
    t = Table("side", "artifact", "input", "p50 ms", "runs", title=f"compare: [{colour}]"
              f"{v['verdict']}[/] x{v['ratio']:.3f} ({v['change_pct']:+.1f} %)",
              title_justify="left")
    for side in ("base", "candidate"):
        s = d[side]
        t.add_row(side, s["target"], "; ".join(f"{k} {x}" for k, x in s["input_shapes"].items()),
                  f"{s['p50_ms']:.4f}", str(s["samples"]))
    p = "n/a" if v["p_value"] is None else f"{v['p_value']:.2g}"
    t.caption = (f"95 % interval x{v['low']:.3f}..x{v['high']:.3f}; Mann-Whitney p {p} on "
                 f"{v['blocks'][0]} vs {v['blocks'][1]} blocks; threshold {v['threshold_pct']:g} "
                 f"%, alpha {v['alpha']:g}; load {d['machine']['load_avg_before']}->"
                 f"{d['machine']['load_avg_after']}" + ("; REGRESSED" if d["regressed"] else ""))
    return t


def _status(r: dict[str, Any]) -> str:
    st = r["status"]
    style = "green" if st in ("ok", "resumed") else "red" if "fail" in st else "yellow"
    return f"[{style}]{st}[/]"


def _acc_cell(r: dict[str, Any]) -> str:
    """The verdict's figure: top-1 %, '≥' for a lower bound, 'mAP' for a detector's, else the
    agreement (a detector's F1 'F1 0.96')."""
    if r.get("accuracy") is not None:
        return (("≥" if r.get("accuracy_kind") == "lower_bound" else "") + _f(r["accuracy"], ".2f")
                + (" mAP" if str(r.get("accuracy_metric") or "").startswith("mAP") else ""))
    if r.get("agreement_metric") == "detection F1":
        return f"F1 {r['agreement']:.3f}"
    return "-"


def sweep_table(doc: dict[str, Any]) -> Any:
    from edgekit.fit import Column, FitTable

    def num(key: str, fmt: str) -> Any:
        return lambda r: _f(r[key], fmt)

    columns = [Column(header="model", cell=lambda r: str(r["model"]), priority=0),
               Column(header="prec", cell=lambda r: str(r["precision"]), priority=0),
               Column(header="backend", cell=lambda r: str(r["backend"]), priority=0),
               *([Column(header="kind", cell=lambda r: str(r.get("device_kind") or "-"),
                         priority=0)] if any(r.get("device_kind") for r in doc["table"]) else []),
               Column(header="status", cell=_status, plain=lambda r: r["status"], priority=0),
               Column(header="p50 ms", cell=num("p50_ms", ".3f"), priority=1, justify="right"),
               Column(header="acc", cell=_acc_cell, priority=2, justify="right"),
               Column(header="MB", cell=num("size_mb", ".1f"), priority=3, justify="right"),
               Column(header="p99 ms", cell=num("p99_ms", ".3f"), priority=4, justify="right"),
               Column(header="img/s", cell=num("images_per_s", ".0f"), priority=5,
                      justify="right"),
               Column(header="GMACs", cell=num("gmacs", ".3f"), priority=6, justify="right"),
               Column(header="% peak", cell=num("pct_of_peak", ".1f"), priority=7,
                      justify="right")]
    errors: dict[str, list[str]] = {}
    for r in doc["table"]:
        if r["error"] and r["status"] != "unsupported":
            errors.setdefault(r["error"], []).append(f"{r['model']} {r['precision']}/{r['backend']}")
    lines = [f"[red]{', '.join(v)}[/]: {e}" for e, v in errors.items()]
    blank = {f"{r['precision']}/{r['backend']}": r["pct_of_peak_note"] for r in doc["table"]
             if r.get("pct_of_peak_note") and r.get("gflops")}
    lines += [f"% peak blank for {k}: {why}" for k, why in blank.items()]
    from edgekit.accuracy import summary

    kinds = summary([str(r.get("accuracy_kind")) for r in doc["table"]])
    notes = [f"acc: top-1 % by kind: {kinds} (≥: a lower bound, FP32's figure minus the 95 % "
             "bound of the disagreement with it; agreement: checked against FP32 only, by "
             "SQNR for a model that is not a classifier; none: nothing measured)"] if kinds else []
    return FitTable(columns, doc["table"], title=f"sweep: {doc['ok']} ok, {doc['failed']} failed",
                    notes=[*notes, *lines, *_pick_lines(doc.get("picks"), doc["store"]),
                           f"report: {doc['files'].get('html')}"])


def _pick_lines(picks: dict[str, Any] | None, store: str) -> list[Any]:
    """The sweep's picks, without the reproducing commands (``edgekit pick`` prints them)."""
    from rich.text import Text

    from edgekit.pick import describe

    if not picks:
        return []
    return [Text(ln) for ln in describe(picks) if not ln.startswith("  reproduce:")] + [
        Text(f"the commands that reproduce each pick: edgekit pick {store}")]


def device_table(doc: dict[str, Any]) -> Any:
    from rich.table import Table

    fp, pk = doc["fingerprint"], doc["peak"]
    t = Table(show_header=False, title="this device", title_justify="left")
    cpu = fp["cpu"]
    t.add_row("CPU", f"{cpu['model']} ({cpu['machine']}), {cpu['physical_cores']} cores / "
              f"{cpu['logical_cores']} threads, flags {' '.join(cpu['flags'])}")
    t.add_row("RAM", f"{fp['ram_gb']} GB")
    t.add_row("CPU peak", f"{_f(pk['cpu']['peak_gflops'], '.1f')} GFLOP/s FP32 ({pk['cpu']['how']})")
    for prec, row in (pk["cpu"].get("precisions") or {}).items():
        if prec != "fp32":
            t.add_row(f"CPU {prec}", f"{_f(row['peak_gflops'], '.1f')} G{'OP' if prec == 'int8' else 'FLOP'}"
                      f"/s ({row['unit']})" if row.get("peak_gflops") else f"no peak: {row['why']}")
    if pk["cpu"].get("bandwidth_gbs"):
        t.add_row("CPU memory", f"{pk['cpu']['bandwidth_gbs']} GB/s ({pk['cpu']['bandwidth_how']})")
    for g in pk["gpus"]:
        t.add_row("GPU", f"{g['name']}: " + (f"{g['peak_gflops'] / 1000:.1f} TFLOP/s FP32, "
                  f"{g['bandwidth_gbs']} GB/s ({g['source']})" if g.get("peak_gflops")
                  else "not in edgekit's table"))
    if not pk["gpus"]:
        t.add_row("GPU", "none found (nvidia-smi)")
    if fp.get("jetson"):
        t.add_row("Jetson", f"{fp['jetson']['model']}, {fp['jetson']['l4t']}, power mode "
                  f"{fp['jetson']['power_mode']}")
    t.add_row("versions", ", ".join(f"{k} {v}" for k, v in fp["versions"].items() if v))
    return t


def engine_table(doc: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(show_header=False, title=f"engine {doc['path']}", title_justify="left")
    gpu = doc.get("gpu") or {}
    typing = "strongly typed" if doc["strongly_typed"] else "weakly typed: builder flags"
    t.add_row("TensorRT", f"{doc['tensorrt']} ({typing})")
    t.add_row("GPU", f"{gpu.get('name')} (sm {gpu.get('compute_capability')})")
    t.add_row("size", f"{doc['artifact']['size_bytes'] / 1e6:.2f} MB, built in {doc['build_seconds']} s")
    t.add_row("profiles", ", ".join(f"{k}: {v[0]} / {v[1]} / {v[2]}" for k, v in doc["profiles"].items())
              or "static shapes")
    lay = doc["layers"]
    if lay.get("layers"):
        pct = ", ".join(f"{k} {v} %" for k, v in sorted(lay["percent"].items(), key=lambda kv: -kv[1]))
        t.add_row("layers", f"{lay['layers']} ({pct}); {lay['reformat_layers']} reformat layers")
    else:
        t.add_row("layers", lay.get("note", "no layer information"))
    if doc.get("qdq_nodes"):
        t.add_row("Q/DQ", f"{doc['qdq_nodes']} QuantizeLinear/DequantizeLinear nodes in the ONNX")
    return t
