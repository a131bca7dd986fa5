"""``edgekit pick``: for each model on a device, the fastest stored variant (backend x precision
x settings) whose accuracy is within a budget of that model's FP32 reference; then, under a
latency limit, the most accurate model's pick. A pure function over store rows
(``Store.query(full=True)``): no timing, no runtime.

Accuracy: each variant's verdict is ``edgekit.accuracy``'s (the one judge every command
calls); pick reads only whether it is within the budget (``accuracy.eligible``): a classifier's
top-1 points below its FP32 reference (0 for FP32 itself; measured on the same labelled folder;
else the 95 % Wilson bound of its disagreement with FP32, shown with its sample size: 0 flips on
28 photos still bounds the drop only at 12 points), or, for any other task, the lowest SQNR of
its outputs against FP32 (``--min-sqnr-db``). A variant with neither is never picked.

Noise: the p50's 95 % interval from the stored samples (order statistics of the median). A
variant whose interval overlaps the fastest eligible one's is tied with it, and a tie is
decided for fewer moving parts (FP32 before bf16/FP16 before INT8; ONNX Runtime, the default
ONNX runtime, before the other backends in registry order), and the result says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit import accuracy
from edgekit.accuracy import Z95
from edgekit.backends import REGISTRY
from edgekit.errors import ConfigError
from edgekit.identity import device_matches, effective, newest_per_variant
from edgekit.reproduce import artifact_commands, profile_command
from edgekit.tasks import DEFAULT_MIN_AGREEMENT, DEFAULT_MIN_SQNR_DB

PRECISION_ORDER = ("fp32", "bf16", "fp16", "int8", "int8-bf16")  # fewer moving parts first


@dataclass(kw_only=True)
class PickOptions:
    device: str | None = None  # glob on the device name, or cpu/cuda
    batch: int = 1
    max_accuracy_drop: float = 1.0  # top-1 points below the model's FP32 reference
    min_sqnr_db: float = DEFAULT_MIN_SQNR_DB  # models that are not classifiers: output SQNR floor
    min_agreement: float = DEFAULT_MIN_AGREEMENT  # decoded detectors: F1 against FP32's boxes
    max_latency_ms: float | None = None  # p50


@dataclass(kw_only=True)
class Variant:
    """One stored result, judged."""

    id: int
    model: str
    backend: str
    precision: str
    device_name: str
    batch: int
    artifact: str
    p50_ms: float
    p50_interval_ms: list[float]  # 95 %, from the stored samples
    samples: int
    settings: dict[str, Any]  # what ran: threads, streams, inference precision, providers
    claim: dict[str, Any]  # its verdict (edgekit.accuracy.Claim): kind, metric, figure, drop
    eligible: bool
    why: str = ""  # why it was rejected, or how it was chosen
    commands: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}"


@dataclass(kw_only=True)
class ModelPick:
    model: str
    device_name: str
    batch: int
    pick: Variant | None
    rejected: list[Variant]  # faster than the pick, each with its reason
    fp32_ort_p50_ms: float | None  # the baseline the speedup is against
    speedup: float | None  # FP32 on ONNX Runtime p50 / the pick's p50
    accuracy: float | None  # the model's accuracy, for choosing between models
    accuracy_kind: str  # of the FP32 top-1: measured | published | none (edgekit.accuracy)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class PickReport:
    options: PickOptions
    models: list[ModelPick]
    choices: list[ModelPick]  # per device: under --max-latency-ms, the most accurate model
    unmet: list[str]  # devices where nothing meets --max-latency-ms

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "edgekit.pick/1", "options": asdict(self.options),
                "models": [m.to_dict() for m in self.models],
                "choices": [c.to_dict() for c in self.choices], "unmet": self.unmet}


def median_interval(samples: list[float], z: float = Z95) -> tuple[float, float]:
    """A distribution-free 95 % interval of the median: the order statistics n/2 -+ z*sqrt(n)/2."""
    xs = sorted(samples)
    n = len(xs)
    if n == 0:
        return (math.nan, math.nan)
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half) - 1)
    return (xs[lo], xs[hi])


def _settings(row: dict[str, Any]) -> dict[str, Any]:
    s = (row.get("result") or {}).get("settings") or {}
    out = effective(s)
    if s.get("tune"):
        out["tuned"] = (s["tune"] or {}).get("chosen")
    return out


def _simplicity(v: Variant) -> tuple[int, int, float]:
    order = ["ort", *(n for n in REGISTRY if n != "ort")]
    prec = PRECISION_ORDER.index(v.precision) if v.precision in PRECISION_ORDER else 9
    back = order.index(v.backend) if v.backend in order else 99
    return (prec, back, v.p50_ms)


def _variants(rows: list[dict[str, Any]], opts: PickOptions) -> list[Variant]:
    """One variant per artifact x settings (the newest row), judged, fastest first."""
    claims = accuracy.claims(rows)
    out = []
    for r in newest_per_variant(rows):
        if r["p50_ms"] is None:
            continue
        ok, why = accuracy.eligible(claims[r["id"]], opts.max_accuracy_drop, opts.min_sqnr_db,
                                    opts.min_agreement)
        samples = r.get("samples_ms") or []
        lo, hi = median_interval(samples) if samples else (r["p50_ms"], r["p50_ms"])
        out.append(Variant(id=r["id"], model=str(r["model"]), backend=r["backend"],
                           precision=str(r["precision"]), device_name=str(r["device_name"]),
                           batch=r["batch"], artifact=str(r["artifact"]), p50_ms=r["p50_ms"],
                           p50_interval_ms=[round(lo, 4), round(hi, 4)], samples=len(samples),
                           settings=_settings(r), claim=claims[r["id"]].to_dict(),
                           eligible=ok, why=why,
                           commands=[*artifact_commands(r), profile_command(r)]))
    return sorted(out, key=lambda v: (v.p50_ms, _simplicity(v)))


def _choose(variants: list[Variant]) -> tuple[Variant | None, str]:
    """The fastest eligible variant, or the simplest of those tied with it within the noise."""
    eligible = [v for v in variants if v.eligible]
    if not eligible:
        return None, "no variant within the accuracy budget"
    fastest = eligible[0]
    tied = [v for v in eligible if v.p50_interval_ms[0] <= fastest.p50_interval_ms[1]]
    pick = min(tied, key=_simplicity)
    if pick is fastest:
        return pick, "the fastest within the accuracy budget"
    pct = (pick.p50_ms / fastest.p50_ms - 1) * 100
    return pick, (f"{fastest.label} is {pct:.1f} % faster, within the measured noise (the p50 "
                  f"intervals overlap); {pick.label} has fewer moving parts")


def _model_accuracy(rows: list[dict[str, Any]]) -> tuple[float | None, str]:
    """The model's FP32 top-1 and its kind: measured, else published (the catalog's weights)."""
    claims = accuracy.claims([r for r in rows if r["precision"] == "fp32"])
    for kind in ("measured", "published"):
        for c in claims.values():
            if c.kind == kind:
                return c.top1, kind
    return None, "none"


def _pick_model(rows: list[dict[str, Any]], opts: PickOptions) -> ModelPick:
    variants = _variants(rows, opts)
    pick, why = _choose(variants)
    rejected = []
    for v in variants:
        if pick is not None and (v is pick or v.p50_ms >= pick.p50_ms):
            continue
        if v.eligible:
            v.why = (f"within the noise of {pick.label if pick else '-'}: fewer moving parts "
                     "preferred")
        rejected.append(v)
    if pick is not None:
        pick.why = why
    base = [v for v in variants if v.backend == "ort" and v.precision == "fp32"]
    base_ms = base[0].p50_ms if base else None
    acc, kind = _model_accuracy(rows)
    first = rows[0]
    return ModelPick(model=str(first["model"]), device_name=str(first["device_name"]),
                     batch=first["batch"], pick=pick, rejected=rejected,
                     fp32_ort_p50_ms=base_ms,
                     speedup=round(base_ms / pick.p50_ms, 3) if base_ms and pick else None,
                     accuracy=acc, accuracy_kind=kind, note=why if pick is None else "")


def pick(rows: list[dict[str, Any]], opts: PickOptions) -> PickReport:
    """Picks per model and device from store rows (``Store.query(full=True)``)."""
    if not rows:
        raise ConfigError("the store holds no results", "run edgekit sweep or profile first")
    mine = [r for r in rows if r["batch"] == opts.batch and device_matches(r, opts.device)]
    if not mine:
        raise ConfigError(f"no results at --batch {opts.batch}" +
                          (f" on --device {opts.device}" if opts.device else ""),
                          "run edgekit results to see what the store holds")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in sorted(mine, key=lambda r: -r["id"]):
        groups.setdefault((str(r["device_name"]), str(r["model"])), []).append(r)
    models = [_pick_model(g, opts) for _, g in sorted(groups.items())]
    choices, unmet = [], []
    if opts.max_latency_ms is not None:
        for device in sorted({m.device_name for m in models}):
            under = [m for m in models if m.device_name == device and m.pick is not None
                     and m.pick.p50_ms <= opts.max_latency_ms]
            if under:
                choices.append(max(under, key=_rank))
            else:
                unmet.append(device)
    return PickReport(options=opts, models=models, choices=choices, unmet=unmet)


def _rank(m: ModelPick) -> tuple[bool, float, float]:
    """Most accurate first (a known accuracy before an unknown one), then the faster."""
    return (m.accuracy is not None, m.accuracy or 0.0, -(m.pick.p50_ms if m.pick else 0.0))


def _variant_line(v: dict[str, Any]) -> str:
    lo, hi = v["p50_interval_ms"]
    return (f"{v['backend']} {v['precision']}: p50 {v['p50_ms']:.3f} ms (95 % {lo:.3f}-{hi:.3f}, "
            f"{v['samples']} runs)")


def describe(doc: dict[str, Any]) -> list[str]:
    """The pick report (``PickReport.to_dict()``) as plain lines, for the terminal and the
    sweep report."""
    o = doc["options"]
    out = [f"pick: fastest variant within {o['max_accuracy_drop']:g} points of FP32's top-1 "
           f"or mAP (without labels: a detector's F1 >= {o.get('min_agreement', 0.95):g}, "
           f"else SQNR >= {o.get('min_sqnr_db', 20):g} dB), batch {o['batch']}"]
    for m in doc["models"]:
        p = m["pick"]
        head = f"{m['model']} on {m['device_name']}: "
        if p is None:
            out.append(head + f"nothing picked ({m['note']})")
        else:
            speed = (f", {m['speedup']:.2f}x FP32 on ort ({m['fp32_ort_p50_ms']:.3f} ms)"
                     if m["speedup"] else "")
            out += [head + _variant_line(p) + speed,
                    f"  accuracy ({p['claim']['kind']}): {p['claim']['text']}; {p['why']}"]
        out += [f"  rejected, faster: {_variant_line(v)}: {v['why']}" for v in m["rejected"]]
        if p is not None:
            out += [f"  reproduce: {c}" for c in p["commands"]]
    for c in doc["choices"]:
        out.append(f"under {o['max_latency_ms']:g} ms on {c['device_name']}: {c['model']} "
                   f"(FP32 top-1 {c['accuracy_kind']} {_fmt(c['accuracy'])}), {c['pick']['backend']} "
                   f"{c['pick']['precision']} at {c['pick']['p50_ms']:.3f} ms")
    return out  # the devices nothing meets --max-latency-ms on are the caller's to say


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"
