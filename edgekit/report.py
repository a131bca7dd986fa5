"""The sweep's report folder: ``index.html`` (one static page: plots embedded, the table sortable
in the browser without a server), ``results.csv``, ``results.json`` and the plots as files."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit._io import atomic_paths
from edgekit.errors import ConfigError

if TYPE_CHECKING:
    from edgekit.sweep import SweepOptions, SweepReport, Variant

COLUMNS = ["model", "family", "precision", "backend", "status", "size_mb", "gmacs", "p50_ms",
           "p99_ms", "images_per_s", "accuracy", "accuracy_kind", "gflops", "pct_of_peak",
           "result_id", "error"]


def table(variants: list[Variant], rows: dict[int, dict[str, Any]], has_data: bool,
          peaks: dict[str, Any]) -> list[dict[str, Any]]:
    from edgekit.pareto import y_value
    from edgekit.peak import percent_of_peak

    out = []
    for v in variants:
        r = rows.get(v.result_id) if v.result_id is not None else None
        line: dict[str, Any] = {"model": v.model, "precision": v.precision, "backend": v.backend,
                                "status": v.status, "result_id": v.result_id, "error": v.error}
        if r is not None:
            acc = r["top1"] if has_data else y_value(r, "agreement", "measured")
            line.update(family=r["family"], size_mb=r["size_mb"], gmacs=r["gmacs"],
                        p50_ms=r["p50_ms"], p99_ms=r["p99_ms"], images_per_s=r["images_per_s"],
                        accuracy=acc, accuracy_kind="top-1 %" if has_data else
                        "top-1 agreement with FP32 %", gflops=r["gflops"],
                        pct_of_peak=percent_of_peak(r["gflops"], r["device"], peaks, v.precision))
        out.append({k: line.get(k) for k in COLUMNS})
    return out


def _plots(store_rows: list[dict[str, Any]], out: Path, has_data: bool) -> dict[str, str]:
    from edgekit import pareto

    files = {}
    for name, x, y, acc in (("pareto.png", "latency_p50_ms", "top1",
                             "measured" if has_data else "published"),
                            ("flops-vs-latency.png", "gmacs", "latency_p50_ms", "measured")):
        try:
            points, meta = pareto.select(store_rows, x, y, acc)
            fig = pareto.plot(points, meta, out / name, log_x=x == "gmacs")
        except ConfigError:
            continue  # nothing plottable (all variants failed); the page says so
        import matplotlib.pyplot as plt

        plt.close(fig)
        files[name] = str(out / name)
    return files


def write(variants: list[Variant], opts: SweepOptions) -> SweepReport:
    from edgekit.device import fingerprint
    from edgekit.peak import estimate
    from edgekit.store import Store
    from edgekit.sweep import SweepReport

    ids = [v.result_id for v in variants if v.result_id is not None]
    store_rows = [r for r in Store(opts.store).query(full=True) if r["id"] in ids] if ids else []
    by_id = {r["id"]: r for r in store_rows}
    fp = fingerprint()
    peaks = estimate(fp)
    rows = table(variants, by_id, opts.data is not None, peaks)
    out = opts.out
    files = _plots(store_rows, out, opts.data is not None)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    rep = SweepReport(variants, str(opts.store), str(out), {}, rows, peaks)
    page = _html(rows, files, fp, peaks, opts)
    with atomic_paths(out / "results.csv", out / "results.json", out / "index.html") as (c, j, h):
        c.write_text(buf.getvalue())
        j.write_text(json.dumps({**rep.to_dict(), "device": fp}, indent=2, default=str) + "\n")
        h.write_text(page)
    rep.files = {**files, "csv": str(out / "results.csv"), "json": str(out / "results.json"),
                 "html": str(out / "index.html")}
    return rep


_JS = """
document.querySelectorAll('th').forEach((th, i) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
  const key = tr => { const t = tr.cells[i].dataset.v ?? tr.cells[i].textContent;
                      const n = parseFloat(t); return isNaN(n) ? t : n; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); }).forEach(r => body.appendChild(r));
}));
"""
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #ddd}
th{cursor:pointer;background:#f4f4f4;text-align:left}td.n{text-align:right}
.fail{color:#b00}.ok{color:#070}img{max-width:100%;border:1px solid #eee;margin:8px 0}
.note{color:#555;font-size:13px}"""


def _cell(k: str, v: Any) -> str:
    if v is None:
        return "<td data-v=''>-</td>"
    if isinstance(v, float):
        return f"<td class='n' data-v='{v}'>{v:.4g}</td>"
    cls = ""
    if k == "status":
        cls = " class='ok'" if v in ("ok", "resumed") else " class='fail'" if "fail" in v else ""
    return f"<td{cls}>{html.escape(str(v))}</td>"


def _html(rows: list[dict[str, Any]], plots: dict[str, str], fp: dict[str, Any],
          peaks: dict[str, Any], opts: SweepOptions) -> str:
    cpu = peaks["cpu"]
    imgs = "".join(
        f"<img alt='{html.escape(n)}' src='data:image/png;base64,"
        f"{base64.b64encode(Path(p).read_bytes()).decode()}'>" for n, p in plots.items())
    acc_note = ("Accuracy: top-1 measured on " + html.escape(str(opts.data)) if opts.data else
                "Accuracy in the table: top-1 agreement of each variant with its FP32 export on "
                "held-out photos. The Pareto plot uses the catalog's <b>published</b> ImageNet "
                "top-1 (FP32 weights), not a measurement on this machine.")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(_cell(k, r[k]) for k in COLUMNS) + "</tr>" for r in rows)
    return f"""<!doctype html><html><head><meta charset='utf-8'>
<title>{html.escape(opts.title)}</title><style>{_CSS}</style></head><body>
<h1>{html.escape(opts.title)}</h1>
<p class='note'>{html.escape(fp['cpu']['model'])} ({fp['cpu']['machine']},
{fp['cpu']['logical_cores']} logical cores, flags {html.escape(' '.join(fp['cpu']['flags']))}),
{fp['ram_gb']} GB RAM; {html.escape(fp['os'])}. Estimated CPU peak:
{cpu['peak_gflops']} GFLOP/s ({html.escape(cpu['how'])}); copy bandwidth
{cpu.get('bandwidth_gbs')} GB/s ({html.escape(cpu.get('bandwidth_how', ''))}).
Batch {opts.batch}. Latency measured on this machine.</p>
<p class='note'>{acc_note}</p>
{imgs or "<p class='fail'>No variant produced a result to plot.</p>"}
<h2>Variants</h2><p class='note'>Click a column to sort.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<script>{_JS}</script></body></html>
"""
