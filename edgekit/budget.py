"""``edgekit budget``: latency/accuracy/memory budgets in YAML, checked against the store.

The YAML is read with line numbers, so every error points at its line; unknown keys are errors
with the closest valid key, never ignored. Each budget is checked against the newest matching
result; a budget that matches nothing fails (a CI gate must not pass because nothing was
measured).

Noise rule for ``max_regression_pct`` (documented in the README): each side is a set of runs,
the newest matching result plus the other results with its tag, artifact and settings
(repeated runs, at most 5), each cut into 10 blocks of consecutive samples. A block bootstrap
(1000 resamples of all blocks of a side) gives the distribution of
median(current) / median(baseline). The budget is broken only when even the low end of its
95 % interval (the 2.5th percentile) is above 1 + threshold: the regression exceeds the
threshold by more than the measured spread of both sides. A point estimate above the
threshold whose interval still reaches below it passes, reported as "within noise". One run
per side cannot show a shift of the whole machine between the runs (bench/run_to_run.py: the
medians of 8 profiles of one artifact spread by 12-49 % on our 2-core VM with ORT's default
threads): profile baseline and candidate alternately, several times each with the same tag,
on one thread for small models, or choose a threshold above the spread.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit import abstats, accuracy
from edgekit.errors import ConfigError
from edgekit.identity import device_matches, newest_per_variant

KEYS: dict[str, type] = {"model": str, "precision": str, "backend": str, "batch": int,
                         "device": str, "tag": str, "max_p50_ms": float, "max_p95_ms": float,
                         "max_p99_ms": float, "min_top1": float, "max_peak_mem_mb": float,
                         "max_regression_pct": float, "min_agreement": float,
                         "min_map50_95": float, "min_miou": float}
LIMITS = {"max_p50_ms": ("p50_ms", "p50 latency (ms)"), "max_p95_ms": ("p95_ms", "p95 latency (ms)"),
          "max_p99_ms": ("p99_ms", "p99 latency (ms)"), "min_top1": ("top1", "top-1 (%)"),
          "max_peak_mem_mb": ("peak_rss_mb", "peak RSS growth (MB)"),
          "min_agreement": ("", "agreement with FP32 (detection F1 or pixel agreement)"),
          "min_map50_95": ("", "mAP@[.5:.95] (%)"),  # a verdict's figure, not a column
          "min_miou": ("", "mIoU (%)")}  # likewise
BOOTSTRAP = 1000  # resamples
REPEATS = 5  # newest runs pooled per side
AGAINST_LAST = 10  # --against: the newest results of the series on the ref
AGAINST_MIN = 3  # --against: fewer is a failed check, never a silent pass


@dataclass
class Budget:
    line: int
    model: str
    precision: str | None = None
    backend: str | None = None
    batch: int | None = None
    device: str | None = None
    tag: str | None = None
    max_p50_ms: float | None = None
    max_p95_ms: float | None = None
    max_p99_ms: float | None = None
    min_top1: float | None = None
    max_peak_mem_mb: float | None = None
    max_regression_pct: float | None = None
    min_agreement: float | None = None  # a detector's F1 or a segmenter's pixel agreement
    min_map50_95: float | None = None  # a detector's mAP@[.5:.95] (%), measured with labels
    min_miou: float | None = None  # a segmenter's mIoU (%), measured with masks

    @property
    def name(self) -> str:
        parts = [self.model, self.precision, self.backend,
                 f"batch {self.batch}" if self.batch else None, self.device]
        return " ".join(p for p in parts if p)


@dataclass(kw_only=True)
class Check:
    name: str
    limit: float
    value: float | None
    passed: bool
    note: str = ""
    kind: str | None = None  # min_top1: the accuracy kind compared (edgekit.accuracy)


@dataclass(kw_only=True)
class Outcome:
    budget: Budget
    status: str  # pass | fail
    result_id: int | None
    baseline_id: int | None = None
    checks: list[Check] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["budget"]["name"] = self.budget.name
        return d


def _err(path: Path, line: int, msg: str, hint: str) -> ConfigError:
    return ConfigError(f"line {line}: {msg}", hint, path=str(path))


def load(path: Path) -> list[Budget]:
    import yaml

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read budgets ({getattr(e, 'strerror', None) or e})",
                          "pass a YAML file with a budgets: list", path=str(path)) from e
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise _err(path, line, f"not valid YAML ({getattr(e, 'problem', None) or e})",
                   "fix the YAML syntax there") from e
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ConfigError("has no budgets: list at the top", "write budgets:, then one "
                          "'- model: NAME' entry per budget", path=str(path))
    items = None
    for k, v in root.value:
        if k.value != "budgets":
            raise _err(path, k.start_mark.line + 1, f"unknown top-level key '{k.value}'",
                       "the file holds one key, budgets:")
        items = v
    if not isinstance(items, yaml.SequenceNode):
        raise ConfigError("budgets: must be a list", "write one '- model: NAME' entry per budget",
                          path=str(path))
    return [_budget(path, node, loader) for node in items.value]


def _budget(path: Path, node: Any, loader: Any) -> Budget:
    import yaml

    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise _err(path, line, "a budget must be a mapping", "write '- model: NAME' and limits")
    values: dict[str, Any] = {}
    for k, v in node.value:
        key, kline = str(k.value), k.start_mark.line + 1
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            raise _err(path, kline, f"unknown key '{key}'",
                       f"did you mean {close[0]}?" if close else f"keys: {', '.join(KEYS)}")
        if key in values:
            raise _err(path, kline, f"'{key}' is given twice in this budget", "keep one")
        try:
            value = loader.construct_object(v, deep=True)
        except yaml.YAMLError as e:  # e.g. a !!python tag, which the safe loader refuses
            raise _err(path, kline, f"{key}: cannot read the value ({getattr(e, 'problem', e)})",
                       f"write {key}: followed by a plain value") from e
        values[key] = _typed(path, kline, key, value)
    if "model" not in values:
        raise _err(path, line, "budget has no model", "every budget names a model (catalog "
                   "name, artifact file name or sha256 prefix)")
    return Budget(line=line, **values)


def _typed(path: Path, line: int, key: str, value: Any) -> Any:
    want = KEYS[key]
    if want is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _err(path, line, f"{key} must be text, got {value!r}", f"write {key}: NAME")
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        example = "8" if want is int else "12.5"
        raise _err(path, line, f"{key} must be a number, got {value!r}", f"write {key}: {example}")
    if want is int and (not float(value).is_integer() or value < 1):
        raise _err(path, line, f"{key} must be a positive whole number, got {value!r}",
                   f"write {key}: 1")
    if value < 0:
        raise _err(path, line, f"{key} must not be negative, got {value!r}", f"write {key}: 10")
    return int(value) if want is int else float(value)


def matches(b: Budget, row: dict[str, Any]) -> bool:
    if b.precision and row["precision"] != b.precision:
        return False
    if b.backend and row["backend"] != b.backend:
        return False
    if b.batch and row["batch"] != b.batch:
        return False
    if b.device and not device_matches(row, b.device):
        return False
    return _model_matches(b.model, row)


def _model_matches(m: str, row: dict[str, Any]) -> bool:
    from edgekit.catalog import load_catalog

    entry = load_catalog().get(m)
    names = {m, entry.short} if entry else {m}
    artifact = Path(str(row["artifact"] or ""))
    if row["model"] in names or artifact.name == m or artifact.stem == m:
        return True
    sha = str(row["artifact_sha256"] or "")
    return len(m) >= 6 and re.fullmatch(r"[0-9a-fA-F]+", m) is not None and sha.startswith(m.lower())


def regression(current: list[list[float]], baseline: list[list[float]], threshold_pct: float,
               seed: int = 0) -> Check:
    """The noise-aware regression check (see the module docstring); each side is one or more
    runs' per-iteration samples (``abstats.interval`` on their blocks)."""
    point, lo, hi = abstats.interval(abstats.blocks_of(baseline), abstats.blocks_of(current),
                                     seed, BOOTSTRAP)
    change, lo_pct, hi_pct = (point - 1) * 100, (lo - 1) * 100, (hi - 1) * 100
    broken = lo_pct > threshold_pct
    note = (f"p50 {change:+.1f} % (95 % interval {lo_pct:+.1f} % .. {hi_pct:+.1f} %, "
            f"{len([r for r in current if len(r)])} vs {len([r for r in baseline if len(r)])} "
            "runs)")
    if not broken and change > threshold_pct:
        note += ": within noise"
    return Check(name="regression (%)", limit=threshold_pct, value=round(change, 2),
                 passed=not broken, note=note)


def on_ref(row: dict[str, Any], ref: str) -> bool:
    """Whether a row was measured on REF: its branch, a commit prefix, or its tag."""
    commit = str(row.get("git_commit") or "")
    return (row.get("git_branch") == ref or row.get("tag") == ref
            or (len(ref) >= 4 and commit.startswith(ref)))


def against(b: Budget, row: dict[str, Any], rows: list[dict[str, Any]], ref: str,
            last: int = AGAINST_LAST, min_results: int = AGAINST_MIN) -> Check:
    """The newest result (and its repeats) against the last ``last`` results of its series on
    ``ref``, by ``abstats.decide``; fewer than ``min_results`` there fails, saying how many."""
    limit = b.max_regression_pct if b.max_regression_pct is not None else abstats.THRESHOLD_PCT
    series = row.get("series_key")
    history = sorted([r for r in rows if series and r.get("series_key") == series
                      and r["id"] != row["id"] and on_ref(r, ref)], key=lambda r: -r["id"])[:last]
    name = f"vs {ref} (%)"
    if series is None or len(history) < min_results:
        why = ("the result has no series (stored before edgekit recorded one)" if series is None
               else f"found {len(history)} result(s) of its series on {ref}; --against needs "
                    f"at least {min_results}")
        return Check(name=name, limit=limit, value=None, passed=False, note=why)
    v = abstats.decide(abstats.blocks_of([r["samples_ms"] or [r["p50_ms"]] for r in history]),
                       abstats.blocks_of(_runs(rows, row)))
    broken = v.verdict == "slower" and v.change_pct > limit
    return Check(name=name, limit=limit, value=round(v.change_pct, 2), passed=not broken,
                 note=f"{v.describe()}; {len(history)} results on {ref}")


def _runs(rows: list[dict[str, Any]], newest: dict[str, Any]) -> list[list[float]]:
    """Repeated runs: the newest result and the others with its tag, artifact and settings
    (at most REPEATS, newest first); a result without a tag stands alone."""
    same = [r for r in rows if newest["tag"] is not None and r["tag"] == newest["tag"]
            and r["artifact_sha256"] == newest["artifact_sha256"]
            and r["settings_key"] == newest["settings_key"]] or [newest]
    same = sorted(same, key=lambda r: -r["id"])[:REPEATS]
    return [r["samples_ms"] or [r["p50_ms"]] for r in same]


def check(budgets: list[Budget], rows: list[dict[str, Any]], baseline: str | None,
          budgets_path: Path, against_ref: str | None = None) -> list[Outcome]:
    """Each budget against the newest matching result (``rows``: Store.query(full=True));
    ``against_ref``: also against its series' last results on that branch, tag or commit."""
    claims = (accuracy.claims(rows) if any(getattr(b, k) is not None for b in budgets
                                           for k in VERDICT_CHECKS) else {})
    out = []
    for b in budgets:
        if b.max_regression_pct is not None and baseline is None and against_ref is None:
            raise _err(budgets_path, b.line, "max_regression_pct needs a baseline",
                       "run budget check with --baseline TAG or --against BRANCH")
        matching = [r for r in rows if matches(b, r)]
        mine = [r for r in matching if b.tag is None or r["tag"] == b.tag]
        current = [r for r in mine if baseline is None or r["tag"] != baseline]
        if not current:
            out.append(Outcome(budget=b, status="fail", result_id=None,
                               message="no result matches this budget: nothing was measured "
                                       "for it"))
            continue
        row = max(current, key=lambda r: r["id"])
        o = Outcome(budget=b, status="pass", result_id=row["id"])
        for key, (column, label) in LIMITS.items():
            limit = getattr(b, key)
            if limit is None:
                continue
            if key in VERDICT_CHECKS:
                o.checks.append(VERDICT_CHECKS[key](limit, claims.get(row["id"])
                                                    or accuracy.Claim()))
                continue
            v = row.get(column)
            ok = v is not None and (v >= limit if key.startswith("min_") else v <= limit)
            o.checks.append(Check(name=label, limit=limit, value=v, passed=ok,
                                  note="" if v is not None else "not measured"))
        if b.max_regression_pct is not None and baseline is not None:
            o.checks.append(_vs_baseline(b, o, matching, current, row, baseline))
        if against_ref is not None:
            o.checks.append(against(b, row, rows, against_ref))
        failed = [c for c in o.checks if not c.passed]
        if failed:
            o.status = "fail"
            o.message = "; ".join(_fail_text(c) for c in failed)
        out.append(o)
    return out


def _vs_baseline(b: Budget, o: Outcome, matching: list[dict[str, Any]],
                 current: list[dict[str, Any]], row: dict[str, Any], baseline: str) -> Check:
    base = [r for r in matching if r["tag"] == baseline]  # not limited by `tag:`
    if not base:
        return Check(name="regression (%)", limit=b.max_regression_pct or 0.0, value=None,
                     passed=False, note=f"no result tagged {baseline} matches this budget")
    brow = max(base, key=lambda r: r["id"])
    o.baseline_id = brow["id"]
    return regression(_runs(current, row), _runs(base, brow), b.max_regression_pct or 0.0)


def min_top1(limit: float, c: accuracy.Claim) -> Check:
    """A top-1 floor against the figure the result may claim, saying which kind it compared:
    a lower bound passes only when the bound itself is above the floor; nothing measured
    fails."""
    if c.top1 is None:
        note = ("no accuracy figure: nothing measured (profile with --data DIR)"
                if c.kind == "none" else f"no top-1 figure: {c.text}")
        return Check(name="top-1 (%)", limit=limit, value=None, passed=False, kind=str(c.kind),
                     note=note)
    ok = c.top1 >= limit
    note = f"{c.kind}: {c.text}"
    if c.kind == "lower_bound" and not ok:
        note += "; a bound, not a measurement: profile with --data DIR to settle it"
    return Check(name="top-1 (%)", limit=limit, value=round(c.top1, 3), passed=ok, note=note,
                 kind=str(c.kind))


def floor_on(metrics: tuple[str, ...], name: str, missing: str
             ) -> Callable[[float, accuracy.Claim], Check]:
    """A floor on the verdict's figure where it is one of ``metrics`` (a detector's F1 against
    FP32's detections or a segmenter's pixel agreement; an mAP or mIoU with labels); a verdict
    in another metric fails, saying ``missing``."""
    def check(limit: float, c: accuracy.Claim) -> Check:
        if c.metric not in metrics or c.value is None:
            return Check(name=name, limit=limit, value=None, passed=False, kind=str(c.kind),
                         note=f"{missing}: {c.text}")
        return Check(name=name, limit=limit, value=round(c.value, 4), passed=c.value >= limit,
                     note=f"{c.kind}: {c.text}", kind=str(c.kind))
    return check


VERDICT_CHECKS = {"min_top1": min_top1,
                  "min_agreement": floor_on(("f1", "pixel_agreement"), "agreement with FP32",
                                            "no detection or pixel agreement with FP32"),
                  "min_map50_95": floor_on(("map50_95",), "mAP@[.5:.95] (%)", "no mAP measured "
                                           "(profile --data DIR with detection labels)"),
                  "min_miou": floor_on(("miou",), "mIoU (%)", "no mIoU measured (profile --data "
                                       "DIR with masks)")}


def _fail_text(c: Check) -> str:
    if c.value is None:
        return f"{c.name}: {c.note or 'not measured'}"
    if c.name.startswith("regression"):
        return f"regression {c.note}, limit {c.limit:g} %"
    kind = f" ({c.kind})" if c.kind else ""
    return f"{c.name} {c.value:g} breaks the limit {c.limit:g}{kind}"


def picked(rows: list[dict[str, Any]], max_accuracy_drop: float = 1.0) -> list[dict[str, Any]]:
    """The rows ``edgekit pick`` chooses (per model, device and batch size stored), for
    ``budget init --from-pick``: budgets for the variants to deploy, not for every variant
    tried (``rows``: Store.query(full=True))."""
    from edgekit.pick import PickOptions, pick

    ids: set[int] = set()
    for b in sorted({r["batch"] for r in rows}):
        rep = pick(rows, PickOptions(batch=b, max_accuracy_drop=max_accuracy_drop))
        ids |= {m.pick.id for m in rep.models if m.pick is not None}
    return [r for r in rows if r["id"] in ids]


def init(rows: list[dict[str, Any]], headroom_pct: float, accuracy_margin: float,
         regression_pct: float | None = None) -> list[dict[str, Any]]:
    """Budgets from the newest result of each model x precision x backend x batch x device:
    latency and memory limits at (1 + headroom) x today's figure, top-1 at today's minus the
    margin, and (if asked) a regression limit, which needs --baseline when checked."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in newest_per_variant(rows):  # newest first
        seen.setdefault((r["model"], r["precision"], r["backend"], r["batch"], r["device_name"]), r)
    f = 1 + headroom_pct / 100
    out = []
    for (model, prec, backend, batch, device), r in sorted(seen.items(), key=lambda kv: str(kv[0])):
        b: dict[str, Any] = {"model": model, "precision": prec, "backend": backend, "batch": batch,
                             "device": device}
        for key, (column, _) in LIMITS.items():
            v = r.get(column)
            if v is None:
                continue
            b[key] = round(v - accuracy_margin, 2) if key == "min_top1" else round(v * f, 3)
        if regression_pct is not None:
            b["max_regression_pct"] = regression_pct
        out.append(b)
    return out
