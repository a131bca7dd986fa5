"""The Pareto frontier (a pure function, checked against brute force), the selection of points
from the store, and the plot's artists (not its pixels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import run_cli
from support.store_writer import fake_result

from edgekit import pareto
from edgekit.errors import ConfigError
from edgekit.store import Store


def brute(xy: list[tuple[float | None, float | None]]) -> list[bool]:
    out = []
    for i, (x, y) in enumerate(xy):
        if x is None or y is None:
            out.append(False)
            continue
        dominated = any(xj is not None and yj is not None and xj <= x and yj >= y
                        and (xj, yj) != (x, y) for xj, yj in xy)
        earlier_twin = any(xy[j] == (x, y) for j in range(i))
        out.append(not dominated and not earlier_twin)
    return out


def test_frontier_edge_cases() -> None:
    assert pareto.frontier([]) == []
    assert pareto.frontier([(1.0, 50.0)]) == [True]  # a single point
    assert pareto.frontier([(1.0, None), (None, 3.0)]) == [False, False]  # missing accuracy
    assert pareto.frontier([(2.0, 70.0), (2.0, 75.0)]) == [False, True]  # tie in x
    assert pareto.frontier([(1.0, 70.0), (3.0, 70.0)]) == [True, False]  # tie in y
    assert pareto.frontier([(2.0, 70.0), (2.0, 70.0)]) == [True, False]  # duplicates
    assert pareto.frontier([(1.0, 60.0), (2.0, 70.0), (3.0, 65.0), (4.0, 80.0)]) == [
        True, True, False, True]


coord = st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.0, 3.0]), st.floats(0, 10))


@given(st.lists(st.tuples(coord, coord), max_size=30))
def test_frontier_matches_brute_force(xy: list[tuple[float | None, float | None]]) -> None:
    assert pareto.frontier(xy) == brute(xy)


def _row(tag: str, i: int, **over: Any) -> dict[str, Any]:
    r = fake_result(tag, i)
    r.update({k: v for k, v in over.items() if k in r and k not in ("model", "latency",
                                                                     "artifact")})
    r["model"] = {**r["model"], **over.get("model", {})}
    r["latency"] = {**r["latency"], **over.get("latency", {})}
    r["artifact"] = {**r["artifact"], **over.get("artifact", {})}
    if "accuracy" in over:
        r["accuracy"] = over["accuracy"]
    if "manifest" in over:
        r["manifest"] = over["manifest"]
    return r


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Five models at batch 1 (one measured twice), one at batch 8, one without accuracy."""
    s = Store(tmp_path / "res")
    spec = [("a", "fp32", 2.0, 70.0), ("a", "int8", 1.0, 69.0), ("b", "fp32", 5.0, 76.0),
            ("c", "fp32", 6.0, 72.0), ("d", "fp32", 1.5, None)]
    for i, (name, prec, p50, top1) in enumerate(spec):
        s.add(_row("t", i, batch=1, model={"name": name, "precision": prec, "family": name,
                                           "published": {"top1": top1 + 1 if top1 else 60.0}},
                   latency={"p50_ms": p50}, artifact={"sha256": f"{i:064x}"},
                   accuracy={"top1": top1, "top5": 90.0} if top1 else None,
                   manifest={"verification": {"top1_agreement": 97.5}}))
    s.add(_row("t", 0, batch=1, model={"name": "a", "precision": "fp32", "family": "a"},
               latency={"p50_ms": 2.2}, artifact={"sha256": f"{0:064x}"},
               accuracy={"top1": 70.0, "top5": 90.0}))  # a newer run of the first artifact
    s.add(_row("t", 9, batch=8, model={"name": "e", "precision": "fp32"}, latency={"p50_ms": 0.1},
               accuracy={"top1": 99.0, "top5": 99.0}))
    return s


def test_select_takes_the_newest_run_at_batch_1_and_marks_the_frontier(store: Store) -> None:
    points, meta = pareto.select(store.query(full=True), "latency_p50_ms", "top1")
    assert meta["batch"] == 1 and len(points) == 5  # a's two runs collapse to the newest
    by = {(p.model, p.precision): p for p in points}
    assert by[("a", "fp32")].x == 2.2
    assert {k for k, p in by.items() if p.on_frontier} == {("a", "int8"), ("a", "fp32"),
                                                          ("b", "fp32")}
    assert by[("d", "fp32")].y is None and meta["missing"] == [by[("d", "fp32")].id]


def test_no_borrowed_published_accuracy_and_agreement(store: Store) -> None:
    """A figure in the result's model record is not the manifest's (the exact catalog
    weights): d, never measured, gets no accuracy at all; agreement is unchanged."""
    rows = store.query(full=True)
    pts, meta = pareto.select(rows, "latency_p50_ms", "top1")
    d = next(p for p in pts if p.model == "d")
    assert d.y is None and d.accuracy_kind == "none" and meta["no_accuracy"] == [d.id]
    assert {p.accuracy_kind for p in pts if p.model != "d"} == {"measured"}
    with pytest.raises(ConfigError, match="published figure is used only for the catalog"):
        pareto.select(rows, "latency_p50_ms", "top1", accuracy="published")
    agree, _ = pareto.select(rows, "gmacs", "agreement")
    assert {(p.model, p.precision): p.y for p in agree}[("a", "int8")] == 97.5
    assert {(p.model, p.precision): p.y for p in agree}[("b", "fp32")] == 100.0


def test_select_filters_and_refuses(store: Store, tmp_path: Path) -> None:
    rows = store.query(full=True)
    points, meta = pareto.select(rows, "latency_p50_ms", "top1", batch=8)
    assert [p.model for p in points] == ["e"]
    assert pareto.select(rows, "latency_p50_ms", "top1", device="test*")[1]["devices"] == ["test cpu"]
    for kw, msg in [({"device": "*H100*"}, "no results match"), ({"batch": 4}, "no results at"),
                    ({"x": "speed"}, "not a metric"), ({"y": "latency_p50_ms"}, "with --x gmacs"),
                    ({"x": "energy_mj"}, "no selected result has an energy")]:
        args = {"x": "latency_p50_ms", "y": "top1", **kw}
        with pytest.raises(ConfigError, match=msg):
            pareto.select(rows, **args)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="holds no results"):
        pareto.select([], "latency_p50_ms", "top1")


def test_the_plot_has_every_point_and_the_frontier(store: Store, tmp_path: Path) -> None:
    points, meta = pareto.select(store.query(full=True), "latency_p50_ms", "top1")
    fig = pareto.plot(points, meta, tmp_path / "p.png")
    ax = fig.axes[0]
    plotted = sum(len(c.get_offsets()) for c in ax.collections)
    assert plotted == 4  # d has no accuracy
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("Pareto frontier")]
    assert len(line.get_xdata()) == 3
    assert len(ax.texts) == 4 and {t.get_text() for t in ax.texts} >= {"a int8", "b fp32"}
    assert "test cpu" in ax.get_title() and "batch 1" in ax.get_title()
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert not list(tmp_path.glob("*.tmp*"))


def test_the_plot_names_the_accuracy_kinds_and_svg_works(store: Store, tmp_path: Path) -> None:
    points, meta = pareto.select(store.query(full=True), "latency_p50_ms", "top1")
    fig = pareto.plot(points, meta, tmp_path / "p.svg", log_x=True, color_by="family")
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert pareto.KIND_LEGEND["measured"] in legend and "family" in (
        ax.get_legend().get_title().get_text())
    assert "measured 4, none 1" in fig._suptitle.get_text() and ax.get_xscale() == "log"
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ConfigError, match="cannot write a .gif plot"):
        pareto.plot(points, meta, tmp_path / "p.gif")


def test_flops_vs_latency_marks_rank_disagreements() -> None:
    pts = [pareto.Point(id=i, label=f"m{i}", model=f"m{i}", family="f", precision=prec,
                         backend="ort", device_name="cpu", batch=1, x=x, y=y)
           for i, (prec, x, y) in enumerate([("fp32", 1.0, 5.0), ("fp32", 2.0, 3.0),
                                             ("fp32", 3.0, 9.0), ("int8", 0.5, 8.0)])]
    assert pareto.discordant_pairs(pts) == [(0, 1)]  # int8 is not compared with fp32


def test_cli_pareto_json_csv_and_plot(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    r = run_cli("pareto", str(store.folder), "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "edgekit.pareto/1" and len(doc["frontier"]) == 3 and out.is_file()
    r = run_cli("pareto", str(store.folder), "-o", str(out), "--csv")
    assert r.returncode == 0 and r.stdout.startswith("id,label,model") and len(
        r.stdout.splitlines()) == 6
    r = run_cli("pareto", str(store.folder), "-o", str(tmp_path / "f.png"), "--x", "gmacs",
                "--y", "latency_p50_ms", env={"COLUMNS": "150"})
    assert r.returncode == 0 and "pairs where FLOPs and latency disagree" in r.stdout
    r = run_cli("pareto", str(tmp_path / "none"))
    assert r.returncode == 2 and "no results store here" in r.stderr
