"""The sweep's report folder: ``index.html`` (one static page: plots embedded, the table sortable
in the browser without a server), ``results.csv``, ``results.json`` and the plots as files.

Takes plain data (variant dicts, store rows, the page's facts) and never builds its caller's
types, so the sweep depends on the report and not the other way round (ARCHITECTURE.md)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit._io import atomic_paths
from edgekit.errors import ConfigError

COLUMNS = ["model", "family", "precision", "backend", "device_kind", "status", "size_mb", "gmacs",
           "p50_ms",
           "p99_ms", "images_per_s", "accuracy", "accuracy_metric", "accuracy_kind",
           "accuracy_note", "agreement", "agreement_metric",
           "gflops", "pct_of_peak", "pct_of_peak_note", "picked", "result_id", "error"]


@dataclass(kw_only=True)
class Page:
    """What the page says besides the table: title, batch, the --data folder, the machine."""

    title: str
    batch: int
    data: Path | None
    device: dict[str, Any]  # edgekit.device.fingerprint()
    peaks: dict[str, Any]  # edgekit.peak.estimate()
    picks: list[str] = field(default_factory=list)  # edgekit.pick.describe() lines


def table(variants: list[dict[str, Any]], rows: dict[int, dict[str, Any]],
          peaks: dict[str, Any], picked: set[int] | None = None) -> list[dict[str, Any]]:
    """One line per variant (``model, backend, precision, status, error, result_id``), with
    its stored result's figures; ``picked``: the result ids ``edgekit pick`` chose. The
    accuracy is the top-1 the result may claim, with its kind (``edgekit.accuracy``)."""
    from edgekit.accuracy import LABELLED, claims
    from edgekit.peak import percent_of_peak

    judged = claims(list(rows.values()))
    out = []
    for v in variants:
        rid = v.get("result_id")
        r = rows.get(rid) if rid is not None else None
        line: dict[str, Any] = {k: v.get(k) for k in ("model", "precision", "backend", "status",
                                                      "result_id", "error", "device_kind")}
        line["picked"] = "pick" if rid is not None and rid in (picked or set()) else None
        if r is not None:
            c = judged[r["id"]]
            pct, why = percent_of_peak(r["gflops"], r["device"], peaks,
                                       str(r.get("precision") or v["precision"]))
            line.update(family=r["family"], size_mb=r["size_mb"], gmacs=r["gmacs"],
                        p50_ms=r["p50_ms"], p99_ms=r["p99_ms"], images_per_s=r["images_per_s"],
                        accuracy=c.value if c.metric in LABELLED else None,
                        accuracy_metric=LABELLED.get(str(c.metric)), accuracy_kind=str(c.kind),
                        accuracy_note=c.text, gflops=r["gflops"], **_agreement(r, c.task),
                        pct_of_peak=pct, pct_of_peak_note=why)
        out.append({k: line.get(k) for k in COLUMNS})
    return out


def _agreement(r: dict[str, Any], task: str | None) -> dict[str, Any]:
    """The variant's agreement with FP32 in its task's terms: a detector's F1, a segmenter's
    pixel agreement, a classifier's top-1 agreement (100 for FP32 itself); none otherwise."""
    from edgekit.accuracy import verification
    from edgekit.pareto import y_value

    ver = verification(r.get("result") or {}) or {}
    if ver.get("f1") is not None:
        return {"agreement": ver["f1"], "agreement_metric": "detection F1"}
    if ver.get("pixel_agreement") is not None:
        return {"agreement": ver["pixel_agreement"], "agreement_metric": "pixel agreement"}
    v = y_value(r, "agreement") if task in (None, "classify") else None
    return {"agreement": v, "agreement_metric": "top-1 agreement %" if v is not None else None}


def _plots(store_rows: list[dict[str, Any]], out: Path) -> dict[str, str]:
    from edgekit import pareto

    files = {}
    for name, x, y, acc in (("pareto.png", "latency_p50_ms", "top1", "best"),  # classifiers
                            ("pareto-detect.png", "latency_p50_ms", "map50_95", "best"),
                            ("pareto-segment.png", "latency_p50_ms", "miou", "best"),
                            ("flops-vs-latency.png", "gmacs", "latency_p50_ms", "best")):
        try:
            points, meta = pareto.select(store_rows, x, y, acc)
            fig = pareto.plot(points, meta, out / name, log_x=x == "gmacs")
        except ConfigError:
            continue  # nothing plottable (all variants failed); the page says so
        import matplotlib.pyplot as plt

        plt.close(fig)
        files[name] = str(out / name)
    return files


def write(rows: list[dict[str, Any]], stored: list[dict[str, Any]], page: Page, out: Path,
          doc: dict[str, Any]) -> dict[str, str]:
    """Plots, then ``results.csv``, ``results.json`` (``doc`` with the files and the device)
    and ``index.html`` together (atomic); returns the files written by kind."""
    files = _plots(stored, out)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    files = {**files, "csv": str(out / "results.csv"), "json": str(out / "results.json"),
             "html": str(out / "index.html")}
    html_page = _html(rows, {k: v for k, v in files.items() if k.endswith(".png")}, page)
    with atomic_paths(out / "results.csv", out / "results.json", out / "index.html") as (c, j, h):
        c.write_text(buf.getvalue())
        j.write_text(json.dumps({**doc, "files": files, "device": page.device}, indent=2,
                                default=str) + "\n")
        h.write_text(html_page)
    return files


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


def _picks(lines: list[str]) -> str:
    if not lines:
        return ""
    return ("<h2>Picks</h2><p class='note'>edgekit pick: per model, the fastest variant within "
            "the accuracy budget, and why each faster one was rejected.</p><pre>" +
            html.escape("\n".join(lines)) + "</pre>")


def _html(rows: list[dict[str, Any]], plots: dict[str, str], page: Page) -> str:
    fp, cpu, opts = page.device, page.peaks["cpu"], page
    imgs = "".join(
        f"<img alt='{html.escape(n)}' src='data:image/png;base64,"
        f"{base64.b64encode(Path(p).read_bytes()).decode()}'>" for n, p in plots.items())
    kinds = sorted({r["accuracy_kind"] for r in rows if r.get("accuracy_kind")})
    acc_note = ("Accuracy (top-1 %), each figure labelled with its kind (" +
                ", ".join(kinds or ["none"]) + "): <b>measured</b> on " +
                (html.escape(str(opts.data)) if opts.data else "labelled data (none given)") +
                "; <b>published</b> only for the catalog's exact FP32 weights; <b>lower_bound"
                "</b> for a variant: its FP32 parent's figure minus the 95 % Wilson bound of "
                "its top-1 disagreement with it (the sample is in accuracy_note); <b>none</b>: "
                "nothing measured, no figure. The agreement column is the top-1 agreement with "
                "FP32 on held-out photos.")
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
{_picks(page.picks)}
<h2>Variants</h2><p class='note'>Click a column to sort.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<script>{_JS}</script></body></html>
"""
