"""The compute-accuracy Pareto frontier of the results store: a pure frontier function, the
selection of points from the store, and the matplotlib plot (Agg).

"Choose on the compute-accuracy Pareto frontier, and never trust FLOPs: profile on the target."
``--x gmacs --y latency_p50_ms`` is the second half of that advice as a picture: FLOPs against
measured latency, with the pairs whose FLOPs ranking and latency ranking disagree marked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgekit import accuracy as acc
from edgekit.errors import ConfigError
from edgekit.identity import device_matches, newest_per_variant

X_METRICS = {"latency_p50_ms": "p50 latency (ms)", "latency_p99_ms": "p99 latency (ms)",
             "gmacs": "GMACs per image", "params_m": "parameters (M)", "size_mb": "size (MB)",
             "energy_mj": "energy per inference (mJ)"}
MARKERS = {"measured": "o", "published": "s", "lower_bound": "^"}
KIND_LEGEND = {"measured": "measured top-1 (--data)",
               "published": "published (the catalog's FP32 weights)",
               "lower_bound": "lower bound: FP32 - 95 % Wilson bound of the\n"
                              "disagreement with it (bar: up to FP32's figure)"}
Y_METRICS = {"top1": "top-1 (%)", "top5": "top-5 (%)", "map50_95": "mAP@[.5:.95] (%)",
             "miou": "mIoU (%)", "agreement": "top-1 agreement with FP32 (%)",
             "latency_p50_ms": "p50 latency (ms)"}
TASK_OF_Y = {"top1": "classify", "top5": "classify", "map50_95": "detect",  # one task a plot
             "miou": "segment"}


@dataclass(kw_only=True)
class Point:
    id: int
    label: str
    model: str
    family: str
    precision: str
    backend: str
    device_name: str
    batch: int
    x: float | None
    y: float | None
    on_frontier: bool = False
    accuracy_kind: str | None = None  # top1/top5: measured | published | lower_bound | none
    y_parent: float | None = None  # lower_bound: the FP32 parent's figure (the interval's top)
    images: int | None = None  # the sample behind the figure
    disagreements: int | None = None  # lower_bound: images whose top-1 differs from FP32's
    accuracy_text: str = ""
    task: str = "classify"  # the verdict's task: only a classifier has a top-1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def frontier(xy: list[tuple[float | None, float | None]]) -> list[bool]:
    """Which points are on the frontier (lower x and higher y are better).

    A point with a missing coordinate is never on it. Among points with equal x, only the
    highest y can be; among exact duplicates, only the first in input order.
    """
    order = sorted((i for i, (x, y) in enumerate(xy) if x is not None and y is not None),
                   key=lambda i: (xy[i][0], -xy[i][1], i))  # type: ignore[operator]
    member = [False] * len(xy)
    best: float | None = None
    for i in order:
        y = xy[i][1]
        assert y is not None
        if best is None or y > best:
            member[i], best = True, y
    return member


def discordant_pairs(points: list[Point]) -> list[tuple[int, int]]:
    """Pairs (a, b) where a has fewer MACs (x) but a higher latency (y) than b: FLOPs would rank
    them the other way round. Only within one precision and backend (an INT8 MAC is not an
    FP32 MAC); ids of the points; only pairs with both figures."""
    have = [p for p in points if p.x is not None and p.y is not None]
    return [(a.id, b.id) for a in have for b in have
            if (a.precision, a.backend) == (b.precision, b.backend)
            and a.x < b.x and a.y > b.y]  # type: ignore[operator]


def x_value(row: dict[str, Any], x: str) -> float | None:
    if x == "energy_mj":
        energy = (row.get("result") or {}).get("energy") or {}
        return energy.get("mj_per_inference")
    column = {"latency_p50_ms": "p50_ms", "latency_p99_ms": "p99_ms"}.get(x, x)
    v = row.get(column)
    return None if v is None else float(v)


def y_value(row: dict[str, Any], y: str) -> float | None:
    """A metric that is not a top-1/top-5 claim: latency, or agreement with FP32."""
    if y == "latency_p50_ms":
        return row.get("p50_ms")
    if y == "agreement":
        if row.get("precision") == "fp32":
            return 100.0  # an FP32 artifact (or torch itself) is its own reference
        ver = acc.verification(row.get("result") or {}) or {}
        return ver.get("top1_agreement")  # None where not measured
    v = row.get(y)
    return None if v is None else float(v)


def _accuracy(p: Point, row: dict[str, Any], y: str, claim: acc.Claim, mode: str) -> None:
    """The point's figure and its kind: top-1 takes the row's claim (a variant's lower bound,
    never its parent's figure); top-5 only a measured or published one."""
    if mode == "measured" and claim.kind != "measured":
        claim = acc.Claim(text="not measured with --data (--accuracy measured)")
    figure = claim.value if claim.metric == (y if y in ("map50_95", "miou") else "top1") else None
    if y == "top5":
        man = ((row.get("result") or {}).get("manifest") or {}).get("model") or {}
        figure = (row.get("top5") if claim.kind == "measured" else
                  (man.get("published") or {}).get("top5") if claim.kind == "published" else None)
        if figure is None:
            claim = acc.Claim(text="no top-5 figure: a lower bound covers top-1 only")
    p.accuracy_kind, p.accuracy_text, p.y = str(claim.kind), claim.text, figure
    p.task = claim.task
    p.y_parent, p.images, p.disagreements = claim.parent_top1, claim.images, claim.disagreements


def _of_task(rows: list[dict[str, Any]], y: str, claims: dict[int, acc.Claim]
             ) -> list[dict[str, Any]]:
    """An accuracy axis is one task's figure: the rows of that task (a classifier's top-1, a
    detector's mAP); one line when the selection holds none."""
    task = TASK_OF_Y.get(y)
    if task is None:
        return rows
    mine = [r for r in rows if claims[r["id"]].task == task]
    if not mine:
        others = sorted({claims[r["id"]].task for r in rows})
        hint = ("plot a detector's mAP with --y map50_95" if "detect" in others else
                "plot a segmenter's mIoU with --y miou" if "segment" in others else
                "plot --x gmacs --y latency_p50_ms")
        raise ConfigError(f"--y {y} is a {task} figure; the results here are "
                          f"{'/'.join(others)} models ({'/'.join(others)} models have no "
                          f"{Y_METRICS[y].split(' (')[0]})", hint)
    return mine


def select(rows: list[dict[str, Any]], x: str, y: str, accuracy: str = "best",
           device: str | None = None, backend: str | None = None,
           batch: int | None = None) -> tuple[list[Point], dict[str, Any]]:
    """Points from store rows (``Store.query(full=True)``, newest first): filtered, one per
    variant (``identity.newest_per_variant``: artifact x settings, the newest), frontier marked.
    ``accuracy``: best (each point its best honest kind: measured, else published for the
    catalog's FP32 weights, else a lower bound from its FP32 parent) or measured (only)."""
    if x not in X_METRICS:
        raise ConfigError(f"--x {x} is not a metric", f"use one of {', '.join(X_METRICS)}")
    if y not in Y_METRICS:
        raise ConfigError(f"--y {y} is not a metric", f"use one of {', '.join(Y_METRICS)}")
    if y == "latency_p50_ms" and x != "gmacs":
        raise ConfigError("--y latency_p50_ms is the FLOPs-vs-latency view", "use it with --x gmacs")
    if accuracy not in ("best", "measured"):
        raise ConfigError(f"--accuracy {accuracy}: a published figure is used only for the "
                          "catalog's FP32 weights, and a variant gets a lower bound, never its "
                          "parent's figure", "use --accuracy best (the default) or measured")
    if not rows:
        raise ConfigError("the store holds no results", "run edgekit profile first")
    claims = acc.claims(rows)  # before filtering: a variant's parent may be on another runner
    rows = [r for r in rows if (backend is None or r["backend"] == backend)
            and device_matches(r, device)]
    if not rows:
        raise ConfigError("no results match --device/--backend", "run edgekit results to see "
                          "what the store holds")
    rows = _of_task(rows, y, claims)
    if batch is None:
        batch = 1 if any(r["batch"] == 1 for r in rows) else min(r["batch"] for r in rows)
    rows = [r for r in rows if r["batch"] == batch]
    if not rows:
        raise ConfigError(f"no results at --batch {batch}", "pick a batch size the store holds")
    newest = newest_per_variant(rows)
    mixed = len({(r["backend"], r["device_name"]) for r in newest}) > 1
    points = []
    for r in sorted(newest, key=lambda r: r["id"]):
        label = f"{r['model']} {r['precision']}" + (f" ({r['backend']})" if mixed else "")
        p = Point(id=r["id"], label=label, model=str(r["model"]),
                  family=str(r["family"] or r["model"]), precision=str(r["precision"]),
                  backend=r["backend"], device_name=str(r["device_name"]), batch=r["batch"],
                  x=x_value(r, x), y=None)
        if y in TASK_OF_Y:
            _accuracy(p, r, y, claims[r["id"]], accuracy)
        else:
            p.y = y_value(r, y)
        points.append(p)
    if x == "energy_mj" and all(p.x is None for p in points):
        raise ConfigError("no selected result has an energy figure",
                          "energy is measured on a Jetson (tegrastats); pick another --x")
    if y != "latency_p50_ms":
        for p, on in zip(points, frontier([(p.x, p.y) for p in points]), strict=True):
            p.on_frontier = on
    devices = sorted({p.device_name for p in points})
    backends = sorted({p.backend for p in points})
    meta = {"x": x, "y": y, "accuracy": accuracy, "batch": batch, "devices": devices,
            "backends": backends, "mixed": mixed,
            "missing": [p.id for p in points if p.x is None or p.y is None],
            "no_accuracy": [p.id for p in points if p.accuracy_kind == "none"],
            "kinds": acc.summary([p.accuracy_kind for p in points if p.accuracy_kind])}
    return points, meta


def _xy(points: list[Point]) -> tuple[list[float], list[float]]:
    """Coordinates of points that have both (the plotted ones)."""
    have = [(p.x, p.y) for p in points if p.x is not None and p.y is not None]
    return [float(x) for x, _ in have], [float(y) for _, y in have]


_OFFSETS = [(5, 4, "left"), (5, -11, "left"), (-5, 4, "right"), (-5, -11, "right"),
            (5, 15, "left"), (5, -22, "left"), (-5, 15, "right"), (-5, -22, "right")]


def _place_labels(fig: Any, ax: Any, shown: list[Point], view: bool) -> None:
    """Label every point at the first offset where it overlaps no label placed before
    (frontier points first, so theirs get the best places)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for p in sorted(shown, key=lambda p: (not p.on_frontier, p.x, p.y)):
        text: Any = None
        for dx, dy, ha in _OFFSETS:
            if text is not None:
                text.remove()
            text = ax.annotate(p.label, (p.x, p.y), xytext=(dx, dy), textcoords="offset points",
                               fontsize=7, ha=ha, alpha=1.0 if p.on_frontier or view else 0.55)
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(b) for b in placed):
                break
        placed.append(text.get_window_extent(renderer))


def plot(points: list[Point], meta: dict[str, Any], out: Path, log_x: bool = False,
         color_by: str = "precision") -> Any:
    """Draw and save atomically (png/svg/pdf by suffix); returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    shown = [p for p in points if p.x is not None and p.y is not None]
    if not shown:
        none = (f" (no accuracy figure, nothing measured: ids "
                f"{', '.join(map(str, meta['no_accuracy']))})" if meta.get("no_accuracy") else "")
        raise ConfigError(f"nothing to plot: no result has both {meta['x']} and {meta['y']}"
                          + none, "profile the FP32 model with --data DIR (labelled images): "
                          "its variants then get lower bounds from it")
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=120)
    groups = sorted({getattr(p, color_by) for p in shown})
    cmap = plt.get_cmap("tab10")
    view = meta["y"] == "latency_p50_ms"
    handles: list[Any] = []
    for gi, g in enumerate(groups):
        mine = [p for p in shown if getattr(p, color_by) == g]
        color = cmap(gi % 10)
        if view:
            ax.scatter(*_xy(mine), s=50, color=color, label=str(g),
                       zorder=3)
            continue
        _kinds(ax, mine, color)
        handles.append(Line2D([], [], marker="o", linestyle="", color=color, label=str(g)))
    _place_labels(fig, ax, shown, view)
    if view:
        by_id = {p.id: p for p in shown}
        for n, (a, b) in enumerate(discordant_pairs(shown)):
            pa, pb = by_id[a], by_id[b]
            ax.plot(*_xy([pa, pb]), "--", color="red", lw=0.8, alpha=0.6,
                    label="FLOPs and latency rank them differently\n(same precision)"
                    if n == 0 else None)
    else:
        front = sorted((p for p in shown if p.on_frontier), key=lambda p: p.x)  # type: ignore
        if front:
            handles += ax.step(*_xy(front), where="post", color="black",
                               lw=1.4, label="Pareto frontier (faded: dominated)", zorder=1)
        handles += [Line2D([], [], marker=MARKERS[k], linestyle="", color="dimgray",
                           markerfacecolor="none" if k == "lower_bound" else "dimgray",
                           label=KIND_LEGEND[k])
                    for k in KIND_LEGEND if any(p.accuracy_kind == k for p in shown)]
    _decorate(fig, ax, meta, view, log_x, color_by, handles)
    _save(fig, out)
    return fig


def _kinds(ax: Any, mine: list[Point], color: Any) -> None:
    """One group's points, a marker per accuracy kind (a lower bound: an open triangle with a
    bar up to its FP32 parent's figure); dominated points faded."""
    for kind in sorted({p.accuracy_kind or "" for p in mine}):
        for front in (True, False):
            pts = [p for p in mine if (p.accuracy_kind or "") == kind and p.on_frontier == front]
            if not pts:
                continue
            hollow = kind == "lower_bound"
            ax.scatter(*_xy(pts), s=70 if front else 40, marker=MARKERS.get(kind, "o"),
                       facecolors="none" if hollow else color,
                       edgecolors=color if hollow or not front else "black",
                       linewidths=1.6 if hollow else 1.0, alpha=1.0 if front else 0.35,
                       zorder=3 if front else 2)
    bars = [p for p in mine if p.accuracy_kind == "lower_bound" and p.y_parent is not None]
    if bars:
        up = [float(p.y_parent or 0.0) - float(p.y or 0.0) for p in bars]
        ax.errorbar(*_xy(bars), yerr=[[0.0] * len(bars), up],
                    fmt="none", ecolor=color, elinewidth=1.0, capsize=3, alpha=0.7, zorder=2)


def _decorate(fig: Any, ax: Any, meta: dict[str, Any], view: bool, log_x: bool,
              color_by: str, handles: list[Any]) -> None:
    """Axes labels, title and legend: which accuracy kinds the points have."""
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(X_METRICS[meta["x"]] + (" — lower is better" if not view else ""))
    ylab = Y_METRICS[meta["y"]]
    ax.set_ylabel(ylab + (" — higher is better" if not view else ""))
    ax.grid(True, alpha=0.3)
    where = ", ".join(meta["devices"]) if len(meta["devices"]) <= 2 else "several devices"
    ax.set_title(f"{where} · {'/'.join(meta['backends'])} · batch {meta['batch']}", fontsize=10)
    lead = "Measured latency" if meta["x"].startswith("latency") else "Compute"
    fig.suptitle("FLOPs vs measured latency" if view else
                 f"{lead} vs top-1 agreement with FP32" if meta["y"] == "agreement" else
                 f"{lead} vs accuracy ({meta.get('kinds') or 'no figures'})", fontsize=13)
    legend_title = {"precision": "precision", "family": "family"}[color_by]
    if view:
        ax.legend(title=legend_title, fontsize=8, title_fontsize=8, loc="best")
    else:
        ax.legend(handles=handles, title=legend_title, fontsize=8, title_fontsize=8,
                  loc="best")
    fig.tight_layout()


def _save(fig: Any, out: Path) -> None:
    from edgekit._io import atomic_paths

    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "svg", "pdf"):
        raise ConfigError(f"cannot write a .{fmt} plot", "name the output .png, .svg or .pdf",
                          path=str(out))
    with atomic_paths(out) as (tmp,):
        fig.savefig(tmp, format=fmt)
