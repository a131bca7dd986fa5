"""Honest accuracy: which top-1 figure a result may claim, and of what kind (ARCHITECTURE.md,
"Accuracy kinds"). The one place that decides it; ``result``, ``profile``, ``pick``, ``pareto``,
``budget`` and ``report`` all read it. Pure functions over result dicts and store rows.

- **measured**: top-1 on a labelled folder (``profile --data``).
- **published**: the catalog's figure, only for an FP32 result of the exact catalog weights
  (the manifest's ``model.published`` is set only then).
- **lower_bound**: a quantized, FP16 or ``--dtype`` variant without labels: its FP32 parent's
  accuracy (measured, newest on the same device and backend first; else published) minus the
  95 % Wilson upper bound of its top-1 disagreement with the parent on held-out images. Where
  the two agree the variant is right exactly when the parent is, so accuracy >= parent -
  disagreement rate; the bound is that with the sampling error of the disagreement rate.
- **none**: nothing measured: no figure at all, never a borrowed one.

Rows written before accuracy kinds existed are judged the same way on read.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

Z95 = 1.959963984540054  # statistics.NormalDist().inv_cdf(0.975): two-sided 95 %
KINDS = ("measured", "published", "lower_bound", "none")
NONE_TEXT = "no accuracy figure: no --data labels and no check against an FP32 parent"


@dataclass(kw_only=True)
class Claim:
    """The top-1 a result may claim. For a lower bound, ``top1`` is the bound and the interval
    runs from it up to ``parent_top1``."""

    kind: str = "none"  # one of KINDS
    top1: float | None = None  # %, the figure (the bound for lower_bound)
    parent_top1: float | None = None  # lower_bound: the FP32 parent's figure
    parent_kind: str | None = None  # lower_bound: measured | published
    parent: dict[str, Any] | None = None  # lower_bound: the parent artifact (and result id)
    images: int | None = None  # the sample: labelled images, or images compared with the parent
    disagreements: int | None = None  # lower_bound: images whose top-1 differs from the parent's
    bound_points: float | None = None  # lower_bound: 95 % Wilson upper bound of the disagreement
    held_out: str | None = None  # what the images were (a --data folder, the calibration photos)
    text: str = NONE_TEXT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Claim:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def wilson_upper(k: int, n: int, z: float = Z95) -> float:
    """The upper end of the Wilson score interval of a rate seen k times in n."""
    if n <= 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def precision(res: dict[str, Any]) -> str:
    """What ran: the result's own precision (a --dtype run's dtype, else the artifact's)."""
    return str((res.get("model") or {}).get("precision") or "fp32")


def verification(res: dict[str, Any]) -> dict[str, Any] | None:
    """The variant's own check against FP32: profile's (a --dtype run, or --agreement-data),
    else its artifact's (an INT8/FP16 ONNX; an FP32 artifact's manifest holds the export check,
    not this)."""
    own = (res.get("settings") or {}).get("verification")
    if isinstance(own, dict):
        return own
    man, prec = res.get("manifest") or {}, precision(res)
    if man.get("precision", prec) == prec != "fp32":
        ver = man.get("verification")
        return ver if isinstance(ver, dict) else None
    return None


def disagreement(ver: dict[str, Any] | None) -> tuple[int, int] | None:
    """(images whose top-1 differs from the reference's, images compared), from a check."""
    if not ver or ver.get("top1_agreement") is None or not ver.get("images"):
        return None
    n = int(ver["images"])
    return round((100.0 - float(ver["top1_agreement"])) / 100.0 * n), n


def catalog_top1(res: dict[str, Any]) -> float | None:
    """The catalog's published top-1 of the FP32 weights this artifact descends from."""
    pub = ((res.get("manifest") or {}).get("model") or {}).get("published") or {}
    return float(pub["top1"]) if pub.get("top1") is not None else None


def own_key(res: dict[str, Any]) -> str | None:
    art = res.get("artifact") or {}
    return art.get("sha256") or art.get("path")


def parent_key(res: dict[str, Any]) -> str | None:
    """The FP32 artifact a variant is relative to: the one profile compared it with (itself for
    a --dtype run), else its manifest's FP32 parent."""
    if precision(res) == "fp32":
        return None
    own = (res.get("settings") or {}).get("verification")
    if isinstance(own, dict):
        return own.get("reference_sha256") or own_key(res)
    lin = (res.get("manifest") or {}).get("lineage") or {}
    par = lin.get("parent") or {}
    if par and lin.get("parent_precision") in (None, "fp32"):
        return par.get("sha256") or par.get("path")
    return None


def _parent_ref(res: dict[str, Any]) -> dict[str, Any]:
    own = (res.get("settings") or {}).get("verification")
    if isinstance(own, dict) and not own.get("reference_sha256"):
        art = res.get("artifact") or {}
        return {"artifact": art.get("path"), "sha256": art.get("sha256")}
    par = ((res.get("manifest") or {}).get("lineage") or {}).get("parent") or {}
    return {"artifact": par.get("path"), "sha256": par.get("sha256")}


def judge(res: dict[str, Any], parent: Claim | None = None) -> Claim:
    """The claim of one result (``Result.to_dict()``); ``parent``: its FP32 parent's claim
    where one was found (measured), else the catalog's published figure is the parent's."""
    acc = res.get("accuracy") or {}
    if acc.get("top1") is not None:
        top1, n = float(acc["top1"]), acc.get("images")
        return Claim(kind="measured", top1=top1, images=n, held_out=acc.get("folder"),
                     text=f"{top1:.2f} % (measured on {n} labelled images)")
    prec = precision(res)
    pub = catalog_top1(res)
    if prec == "fp32":
        if pub is not None:
            return Claim(kind="published", top1=pub, text=f"{pub:.2f} % (published for the "
                         "catalog's FP32 weights, not measured here)")
        return Claim()
    ver = verification(res)
    kn = disagreement(ver)
    if parent is None or parent.top1 is None:
        parent = Claim(kind="published", top1=pub, parent=_parent_ref(res)) if pub is not None \
            else None
    if kn is None or parent is None or parent.top1 is None:
        why = ("no check against its FP32 parent" if kn is None else
               "its FP32 parent has no measured or published figure")
        return Claim(text=f"no accuracy figure: no --data labels, and {why}")
    k, n = kn
    bound = wilson_upper(k, n) * 100
    low = max(0.0, parent.top1 - bound)
    return Claim(kind="lower_bound", top1=low, parent_top1=parent.top1,
                 parent_kind=parent.kind, parent=parent.parent or _parent_ref(res), images=n,
                 disagreements=k, bound_points=bound, held_out=(ver or {}).get("held_out"),
                 text=f"≥ {low:.1f} % (lower bound: FP32 {parent.top1:.1f} % {parent.kind} "
                      f"− {bound:.1f} pts, {k}/{n} disagree, n={n})")


def claims(rows: list[dict[str, Any]]) -> dict[int, Claim]:
    """Every row's claim (``Store.query(full=True)`` rows), a variant's parent looked up among
    the rows: its measured FP32 result on the same device and backend first, then ORT's, the
    newest first."""
    fp32: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        res = r.get("result") or {}
        key = own_key(res)
        if key and precision(res) == "fp32" and (res.get("accuracy") or {}).get("top1") is not None:
            fp32.setdefault(key, []).append(r)
    out = {}
    for r in rows:
        res = r.get("result") or {}
        key = parent_key(res)
        parent = parent_claim(fp32.get(key, []) if key else [], r["device_name"], r["backend"])
        out[r["id"]] = judge(res, parent)
    return out


def parent_claim(candidates: list[dict[str, Any]], device_name: str, backend: str
                 ) -> Claim | None:
    """The measured claim of a variant's FP32 parent among its stored results (rows with
    ``result``): on the same device and backend first, then ORT's, the newest first."""
    have = [p for p in candidates if ((p.get("result") or {}).get("accuracy") or {}).get("top1")
            is not None]
    if not have:
        return None
    best = min(have, key=lambda p: (p["device_name"] != device_name, p["backend"] != backend,
                                    p["backend"] != "ort", -p["id"]))
    parent = judge(best["result"])
    art = best["result"].get("artifact") or {}
    parent.parent = {"artifact": art.get("path"), "sha256": art.get("sha256"),
                     "result_id": best["id"], "folder": parent.held_out, "images": parent.images}
    return parent


def summary(kinds: list[str]) -> str:
    """'measured 2, lower_bound 2' for a set of claims, in KINDS order."""
    return ", ".join(f"{k} {kinds.count(k)}" for k in KINDS if kinds.count(k))
