"""The compute-accuracy Pareto frontier of the results store: a pure frontier function, the
selection of points from the store, and the matplotlib plot (Agg).

"Choose on the compute-accuracy Pareto frontier, and never trust FLOPs: profile on the target."
``--x gmacs --y latency_p50_ms`` is the second half of that advice as a picture: FLOPs against
measured latency, with the pairs whose FLOPs ranking and latency ranking disagree marked.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError

X_METRICS = {"latency_p50_ms": "p50 latency (ms)", "latency_p99_ms": "p99 latency (ms)",
             "gmacs": "GMACs per image", "params_m": "parameters (M)", "size_mb": "size (MB)",
             "energy_mj": "energy per inference (mJ)"}
Y_METRICS = {"top1": "top-1 (%)", "top5": "top-5 (%)", "agreement": "top-1 agreement with FP32 (%)",
             "latency_p50_ms": "p50 latency (ms)"}


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


def y_value(row: dict[str, Any], y: str, accuracy: str) -> float | None:
    if y == "latency_p50_ms":
        return row.get("p50_ms")
    result = row.get("result") or {}
    if accuracy == "published":
        pub = (result.get("model") or {}).get("published") or {}
        v = pub.get(y)
        return None if v is None else float(v)
    if y == "agreement":
        if row.get("precision") == "fp32":
            return 100.0  # an FP32 artifact (or torch itself) is its own reference
        own = (result.get("settings") or {}).get("verification")  # a --dtype run's own check
        man = result.get("manifest") or {}
        same = man.get("precision", row.get("precision")) == row.get("precision")
        ver = own or (man.get("verification") if same else None) or {}
        return ver.get("top1_agreement")  # None where not measured
    v = row.get(y)
    return None if v is None else float(v)


def select(rows: list[dict[str, Any]], x: str, y: str, accuracy: str = "measured",
           device: str | None = None, backend: str | None = None,
           batch: int | None = None) -> tuple[list[Point], dict[str, Any]]:
    """Points from store rows (``Store.query(full=True)``, newest first): filtered, one per
    artifact x precision x backend x device x batch (the newest), frontier marked."""
    if x not in X_METRICS:
        raise ConfigError(f"--x {x} is not a metric", f"use one of {', '.join(X_METRICS)}")
    if y not in Y_METRICS:
        raise ConfigError(f"--y {y} is not a metric", f"use one of {', '.join(Y_METRICS)}")
    if y == "latency_p50_ms" and x != "gmacs":
        raise ConfigError("--y latency_p50_ms is the FLOPs-vs-latency view", "use it with --x gmacs")
    if not rows:
        raise ConfigError("the store holds no results", "run edgekit profile first")
    rows = [r for r in rows if (backend is None or r["backend"] == backend)
            and (device is None or fnmatch.fnmatchcase(str(r["device_name"]), device)
                 or r["device"] == device)]
    if not rows:
        raise ConfigError("no results match --device/--backend", "run edgekit results to see "
                          "what the store holds")
    if batch is None:
        batch = 1 if any(r["batch"] == 1 for r in rows) else min(r["batch"] for r in rows)
    rows = [r for r in rows if r["batch"] == batch]
    if not rows:
        raise ConfigError(f"no results at --batch {batch}", "pick a batch size the store holds")
    newest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:  # newest first: the first seen wins
        key = (r["artifact_sha256"] or r["artifact"], r["model"], r["precision"], r["backend"],
               r["device_name"], r["batch"])
        newest.setdefault(key, r)
    mixed = len({(r["backend"], r["device_name"]) for r in newest.values()}) > 1
    points = []
    for r in sorted(newest.values(), key=lambda r: r["id"]):
        label = f"{r['model']} {r['precision']}" + (f" ({r['backend']})" if mixed else "")
        points.append(Point(id=r["id"], label=label, model=str(r["model"]),
                            family=str(r["family"] or r["model"]), precision=str(r["precision"]),
                            backend=r["backend"], device_name=str(r["device_name"]),
                            batch=r["batch"], x=x_value(r, x), y=y_value(r, y, accuracy)))
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
            "missing": [p.id for p in points if p.x is None or p.y is None]}
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


    shown = [p for p in points if p.x is not None and p.y is not None]
    if not shown:
        raise ConfigError(f"nothing to plot: no result has both {meta['x']} and {meta['y']}",
                          "profile with --data DIR for measured accuracy, or use --accuracy "
                          "published for catalog models")
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=120)
    groups = sorted({getattr(p, color_by) for p in shown})
    cmap = plt.get_cmap("tab10")
    view = meta["y"] == "latency_p50_ms"
    for gi, g in enumerate(groups):
        mine = [p for p in shown if getattr(p, color_by) == g]
        color = cmap(gi % 10)
        if view:
            ax.scatter(*_xy(mine), s=50, color=color, label=str(g),
                       zorder=3)
            continue
        on = [p for p in mine if p.on_frontier]
        off = [p for p in mine if not p.on_frontier]
        if on:
            ax.scatter(*_xy(on), s=70, color=color,
                       edgecolors="black", label=str(g), zorder=3)
        if off:
            ax.scatter(*_xy(off), s=40, color=color, alpha=0.3,
                       label=None if on else str(g), zorder=2)
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
            ax.step(*_xy(front), where="post", color="black",
                    lw=1.4, label="Pareto frontier (faded: dominated)", zorder=1)
    _decorate(fig, ax, meta, view, log_x, color_by)
    _save(fig, out)
    return fig


def _decorate(fig: Any, ax: Any, meta: dict[str, Any], view: bool, log_x: bool,
              color_by: str) -> None:
    """Axes labels, title and legend, saying when the accuracy is published, not measured."""
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(X_METRICS[meta["x"]] + (" — lower is better" if not view else ""))
    ylab = Y_METRICS[meta["y"]]
    if meta["accuracy"] == "published" and not view:
        ylab = "published ImageNet " + ylab + " (FP32 weights)"
    ax.set_ylabel(ylab + (" — higher is better" if not view else ""))
    ax.grid(True, alpha=0.3)
    where = ", ".join(meta["devices"]) if len(meta["devices"]) <= 2 else "several devices"
    ax.set_title(f"{where} · {'/'.join(meta['backends'])} · batch {meta['batch']}", fontsize=10)
    fig.suptitle("FLOPs vs measured latency" if view else
                 f"{'Measured latency' if meta['x'].startswith('latency') else 'Compute'} vs "
                 f"{'published' if meta['accuracy'] == 'published' else 'measured'} accuracy",
                 fontsize=13)
    legend_title = {"precision": "precision", "family": "family"}[color_by]
    if meta["accuracy"] == "published" and not view:
        legend_title += "\n(accuracy: published, not measured)"
    ax.legend(title=legend_title, fontsize=8, title_fontsize=8, loc="best")
    fig.tight_layout()


def _save(fig: Any, out: Path) -> None:
    from edgekit._io import atomic_paths

    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "svg", "pdf"):
        raise ConfigError(f"cannot write a .{fmt} plot", "name the output .png, .svg or .pdf",
                          path=str(out))
    with atomic_paths(out) as (tmp,):
        fig.savefig(tmp, format=fmt)
