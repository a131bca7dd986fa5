"""The one accuracy verdict (ARCHITECTURE.md, "Accuracy verdict"): what a result may claim,
of what kind, in its task's own metric, and how far below its FP32 reference it may be. Every
reader (profile, pick, pareto, budget, report, render, sweep) calls ``claims``/``judge`` on
read; nothing stores a verdict, so every command shows the same one. Pure functions over
result dicts and store rows.

- **measured**: top-1 on a labelled folder (``profile --data``; classifiers).
- **published**: the catalog's figure, only for an FP32 result of the exact catalog weights
  (the manifest's ``model.published`` is set only then).
- **lower_bound**: a classifier's quantized, FP16 or ``--dtype`` variant without labels: its
  FP32 parent's top-1 (measured, newest on the same device and backend first; else published)
  minus the 95 % Wilson upper bound of its top-1 disagreement with the parent on held-out
  images. Where the two agree the variant is right exactly when the parent is, so accuracy >=
  parent - disagreement rate; the bound is that with the sampling error of the rate.
- **agreement**: a variant checked against FP32 with no absolute figure to bound: a
  classifier's top-1 agreement (its parent has no figure), or, for any other task, the lowest
  SQNR over its outputs (dB). Never a top-1.
- **none**: nothing measured: no figure at all, never a borrowed one.

``drop`` is how many top-1 points below its FP32 reference a classifier's result is, at most:
0 for the reference itself, measured (both on the same labelled folder), or the Wilson bound.
``pick`` reads only that (and the SQNR of an ``agreement`` claim) through ``eligible``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from edgekit import tasks

Z95 = 1.959963984540054  # statistics.NormalDist().inv_cdf(0.975): two-sided 95 %
NONE_TEXT = "no accuracy figure: no --data labels and no check against an FP32 parent"


class Kind(str, enum.Enum):
    MEASURED = "measured"
    PUBLISHED = "published"
    LOWER_BOUND = "lower_bound"
    AGREEMENT = "agreement"
    NONE = "none"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


KINDS = tuple(k.value for k in Kind)


@dataclass(kw_only=True)
class Claim:
    """What a result may claim. For a lower bound, ``value`` is the bound and the interval runs
    from it up to ``parent_top1``."""

    kind: Kind = Kind.NONE
    task: str = "classify"
    metric: str | None = None  # top1 | top1_agreement | sqnr_db (tasks.Metric.key)
    unit: str | None = None  # % | dB
    value: float | None = None  # the figure (the bound for lower_bound)
    drop: float | None = None  # top-1 points below the FP32 reference, at most
    drop_kind: str | None = None  # reference | measured | bound
    parent_top1: float | None = None  # lower_bound: the FP32 parent's figure
    parent_kind: str | None = None  # lower_bound: measured | published
    parent: dict[str, Any] | None = None  # the parent artifact (and result id)
    images: int | None = None  # the sample: labelled images, or images compared with the parent
    disagreements: int | None = None  # images whose top-1 differs from the parent's
    bound_points: float | None = None  # 95 % Wilson upper bound of the disagreement
    held_out: str | None = None  # what the images were (a --data folder, the calibration photos)
    text: str = NONE_TEXT

    @property
    def top1(self) -> float | None:
        """The top-1 figure (%) where the claim is one (measured, published, lower bound)."""
        return self.value if self.metric == "top1" else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": Kind(self.kind).value, "top1": self.top1}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Claim:
        got = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        return cls(**{**got, "kind": Kind(got.get("kind", "none"))})


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


def task_of(res: dict[str, Any]) -> str:
    """The result's task: its check's, else its manifest's; a result recorded before tasks
    existed is a classifier (all edgekit judged then)."""
    ver = verification(res) or {}
    model = (res.get("manifest") or {}).get("model") or {}
    name = ver.get("task") or model.get("task") or "classify"
    return name if name in tasks.REGISTRY else "tensor"


def disagreement(ver: dict[str, Any] | None) -> tuple[int, int] | None:
    """(images whose top-1 differs from the reference's, images compared), from a check."""
    if not ver or ver.get("top1_agreement") is None or not ver.get("images"):
        return None
    n = int(ver["images"])
    return round((100.0 - float(ver["top1_agreement"])) / 100.0 * n), n


LABELLED = {"top1": "top-1", "map50_95": "mAP@[.5:.95]", "miou": "mIoU"}  # metric -> its name


def labelled(acc: dict[str, Any] | None) -> tuple[str, float] | None:
    """The figure measured on labels (``profile --data``), and its metric: a classifier's
    top-1, a detector's mAP@[.5:.95] (%)."""
    for key in LABELLED:
        if (acc or {}).get(key) is not None:
            return key, float((acc or {})[key])
    return None


def published(res: dict[str, Any], metric: str = "top1") -> float | None:
    """The published ``metric`` (top1, map50_95) of the FP32 weights this artifact descends
    from: the catalog's, or the library's own (torchvision's box mAP), only for exactly them."""
    pub = ((res.get("manifest") or {}).get("model") or {}).get("published") or {}
    return float(pub[metric]) if pub.get(metric) is not None else None


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


def _bound(ver: dict[str, Any] | None) -> tuple[int, int, float] | None:
    """(disagreements, images, the 95 % Wilson bound of the top-1 drop in points)."""
    kn = disagreement(ver)
    return None if kn is None else (kn[0], kn[1], wilson_upper(*kn) * 100)


def judge(res: dict[str, Any], parent: Claim | None = None) -> Claim:
    """The claim of one result (``Result.to_dict()``); ``parent``: its FP32 parent's measured
    claim where one was found, else the catalog's published figure is the parent's."""
    task = task_of(res)
    spec, acc, prec = tasks.get(task), res.get("accuracy") or {}, precision(res)
    if labelled(acc) is not None:
        return _measured(res, task, acc, parent)
    if prec == "fp32":
        key = spec.labelled.key if spec.labelled else None
        pub = published(res, key) if key else None
        if pub is not None and key is not None:
            return Claim(kind=Kind.PUBLISHED, task=task, metric=key, unit="%", value=pub,
                         drop=0.0, drop_kind="reference", text=_published_text(res, key, pub))
        return Claim(task=task, drop=0.0, drop_kind="reference",
                     text="FP32, the reference: no accuracy figure (no --data labels)")
    ver = verification(res)
    if not spec.top1:
        return _agreement(task, ver)
    bound = _bound(ver)
    if bound is None:
        return Claim(task=task, text="no accuracy figure: no --data labels, and no check "
                                     "against its FP32 parent")
    k, n, pts = bound
    pub = published(res)
    if parent is None or parent.top1 is None:
        parent = Claim(kind=Kind.PUBLISHED, metric="top1", value=pub,
                       parent=_parent_ref(res)) if pub is not None else None
    common: dict[str, Any] = {"task": task, "drop": pts, "drop_kind": "bound", "images": n,
              "disagreements": k, "bound_points": pts, "held_out": (ver or {}).get("held_out")}
    if parent is None or parent.top1 is None:
        agree = 100.0 * (n - k) / n
        return Claim(kind=Kind.AGREEMENT, metric="top1_agreement", unit="%", value=agree,
                     parent=_parent_ref(res), **common,
                     text=f"top-1 agreement with FP32 {agree:.1f} % ({k}/{n} disagree): at most "
                          f"{pts:.1f} points below it (95 % bound, n={n}); its FP32 parent has "
                          "no measured or published figure")
    low = max(0.0, parent.top1 - pts)
    return Claim(kind=Kind.LOWER_BOUND, metric="top1", unit="%", value=low,
                 parent_top1=parent.top1, parent_kind=Kind(parent.kind).value,
                 parent=parent.parent or _parent_ref(res), **common,
                 text=f"≥ {low:.1f} % (lower bound: FP32 {parent.top1:.1f} % "
                      f"{Kind(parent.kind).value} − {pts:.1f} pts, {k}/{n} disagree, n={n})")


def _published_text(res: dict[str, Any], metric: str, value: float) -> str:
    if metric == "top1":
        return f"{value:.2f} % (published for the catalog's FP32 weights, not measured here)"
    pub = ((res.get("manifest") or {}).get("model") or {}).get("published") or {}
    return (f"{LABELLED.get(metric, metric)} {value:.2f} % (published for {pub.get('weights')} "
            f"on {pub.get('dataset')}, not measured here)")


def _measured(res: dict[str, Any], task: str, acc: dict[str, Any], parent: Claim | None) -> Claim:
    """Top-1 on labels; its drop against the FP32 parent measured on the same folder, else the
    bound from its check, else none (0 for FP32 itself)."""
    metric, value = labelled(acc) or ("top1", 0.0)
    n, name = acc.get("images"), LABELLED[metric]
    extra = (f", mAP@.5 {acc['map50']:.2f} %" if acc.get("map50") is not None else
             f", pixel accuracy {acc['pixel_accuracy']:.2f} %"
             if acc.get("pixel_accuracy") is not None else "")
    c = Claim(kind=Kind.MEASURED, task=task, metric=metric, unit="%", value=value, images=n,
              held_out=acc.get("folder"),
              text=f"{name} {value:.2f} %{extra} (measured on {n} labelled images)")
    if precision(res) == "fp32":
        c.drop, c.drop_kind = 0.0, "reference"
    elif (parent is not None and parent.kind == Kind.MEASURED and parent.metric == metric
          and parent.value is not None and (parent.held_out, parent.images) == (c.held_out, n)):
        c.drop, c.drop_kind, c.parent_top1 = parent.value - value, "measured", parent.value
        c.parent_kind, c.parent = "measured", parent.parent
        c.text += (f"; FP32 {parent.value:.2f} % on the same images: drop {c.drop:.2f} "
                   f"{name} points")
    elif (bound := _bound(verification(res))) is not None:
        c.drop, c.drop_kind, c.bound_points, c.disagreements = bound[2], "bound", bound[2], bound[0]
        c.text += (f"; no FP32 top-1 on the same images: at most {bound[2]:.1f} points below FP32 "
                   f"({bound[0]}/{bound[1]} disagree, 95 % bound)")
    return c


def _agreement(task: str, ver: dict[str, Any] | None) -> Claim:
    """A non-classifier's variant: its detection F1 against FP32's detections where they are
    decoded, else the lowest SQNR of its outputs against FP32; never a top-1."""
    if ver and ver.get("f1") is not None:
        return Claim(kind=Kind.AGREEMENT, task=task, metric="f1", unit="", value=float(ver["f1"]),
                     images=ver.get("images"), held_out=ver.get("held_out"),
                     text=f"{tasks.describe(ver)} (a {task} model: its detections against FP32's)")
    if ver and ver.get("pixel_agreement") is not None:
        return Claim(kind=Kind.AGREEMENT, task=task, metric="pixel_agreement", unit="",
                     value=float(ver["pixel_agreement"]), images=ver.get("images"),
                     held_out=ver.get("held_out"),
                     text=f"{tasks.describe(ver)} (a {task} model: its masks against FP32's)")
    if not ver or ver.get("sqnr_db") is None:
        return Claim(task=task, text=f"no accuracy figure: a {task} model's variant with no "
                                     "check against its FP32 parent")
    v = float(ver["sqnr_db"])
    return Claim(kind=Kind.AGREEMENT, task=task, metric="sqnr_db", unit="dB", value=v,
                 images=ver.get("images"), held_out=ver.get("held_out"),
                 text=f"{tasks.describe(ver)} against FP32 (a {task} model: judged by SQNR)")


def eligible(c: Claim, max_drop: float, min_sqnr_db: float = tasks.DEFAULT_MIN_SQNR_DB,
             min_agreement: float = tasks.DEFAULT_MIN_AGREEMENT) -> tuple[bool, str]:
    """Whether a result is within an accuracy budget (top-1 points below FP32 for a classifier,
    the detection F1 against FP32 for a decoded detector, the lowest output SQNR for the
    rest), and why not."""
    if c.drop is not None:
        return c.drop <= max_drop, ("" if c.drop <= max_drop else
                                    f"over the accuracy budget ({max_drop:g} points): {c.text}")
    if c.metric in ("f1", "pixel_agreement") and c.value is not None:
        ok = c.value >= min_agreement
        what = "F1" if c.metric == "f1" else "pixel agreement"
        return ok, "" if ok else f"under the agreement floor ({what} {min_agreement:g}): {c.text}"
    if c.metric == "sqnr_db" and c.value is not None:
        ok = c.value >= min_sqnr_db
        return ok, "" if ok else f"under the SQNR floor ({min_sqnr_db:g} dB): {c.text}"
    return False, c.text


def claims(rows: list[dict[str, Any]]) -> dict[int, Claim]:
    """Every row's claim (``Store.query(full=True)`` rows), a variant's parent looked up among
    the rows: its measured FP32 result on the same labelled folder, device and backend first,
    then ORT's, the newest first."""
    fp32: dict[str, list[dict[str, Any]]] = {}
    by_model: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        res = r.get("result") or {}
        if precision(res) == "fp32" and labelled(res.get("accuracy")) is not None:
            if key := own_key(res):
                fp32.setdefault(key, []).append(r)
            by_model.setdefault(r.get("model"), []).append(r)
    out = {}
    for r in rows:
        res = r.get("result") or {}
        key = parent_key(res)
        acc = res.get("accuracy") or {}
        data = (acc.get("folder"), acc.get("images")) if labelled(acc) is not None else None
        cands = fp32.get(key, []) if key else []
        if not cands and data is not None and precision(res) != "fp32":  # no lineage: the
            cands = by_model.get(r.get("model"), [])  # model's FP32 on the same labelled folder
        out[r["id"]] = judge(res, parent_claim(cands, r["device_name"], r["backend"], data))
    return out


def claims_of(results: list[dict[str, Any]], parents: list[dict[str, Any]]) -> list[Claim]:
    """The claims of results not in a store yet (``Result.to_dict()``), judged like stored
    rows (``claims``) with their FP32 parents' stored rows."""
    own: list[dict[str, Any]] = [
        {"id": -1 - i, "device_name": d.get("device_name"), "backend": d.get("backend"),
         "model": (d.get("model") or {}).get("name"), "result": d}
           for i, d in enumerate(results)]
    judged = claims(parents + own)
    return [judged[row["id"]] for row in own]


def parent_claim(candidates: list[dict[str, Any]], device_name: str, backend: str,
                 data: tuple[Any, Any] | None = None) -> Claim | None:
    """The measured claim of a variant's FP32 parent among its stored results (rows with
    ``result``): on the same labelled folder (``data``) first, then the same device and
    backend, then ORT's, the newest first."""
    have = [p for p in candidates if labelled((p.get("result") or {}).get("accuracy"))]
    if not have:
        return None

    def same_data(p: dict[str, Any]) -> bool:
        acc = p["result"]["accuracy"]
        return data is not None and (acc.get("folder"), acc.get("images")) == data

    best = min(have, key=lambda p: (not same_data(p), p["device_name"] != device_name,
                                    p["backend"] != backend, p["backend"] != "ort", -p["id"]))
    parent = judge(best["result"])
    art = best["result"].get("artifact") or {}
    parent.parent = {"artifact": art.get("path"), "sha256": art.get("sha256"),
                     "result_id": best["id"], "folder": parent.held_out, "images": parent.images}
    return parent


def summary(kinds: list[str]) -> str:
    """'measured 2, lower_bound 2' for a set of claims, in KINDS order."""
    return ", ".join(f"{k} {kinds.count(k)}" for k in KINDS if kinds.count(k))
