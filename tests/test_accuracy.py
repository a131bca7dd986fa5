"""No borrowed accuracy: every result's top-1 is measured, published (only the catalog's exact
FP32 weights), a lower bound (a variant: its FP32 parent's figure minus the 95 % Wilson bound of
its measured disagreement with it) or none. On real measurements of the digits CNN (FP32 with
labels, its INT8 child without) and on rows built by hand for the pure function."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest
from support import run_cli
from support.store_writer import fake_result

from edgekit import accuracy, pareto, report
from edgekit import budget as bd
from edgekit import profile as pf
from edgekit.backends import RunnerOptions
from edgekit.store import Store

NAME = "digits_cnn_plain"


def wilson_upper(k: int, n: int) -> float:
    """The Wilson score interval's upper end, written out here (z for 95 %, two-sided)."""
    z = NormalDist().inv_cdf(0.975)
    p = k / n
    return (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
        1 + z * z / n)


@pytest.fixture(scope="module")
def store(digits: dict[str, Path], digits_int8: dict[str, Path],
          tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FP32 digits CNN profiled with labels (--data), its INT8 child without."""
    folder = tmp_path_factory.mktemp("kinds") / "results"
    quick = {"runner": RunnerOptions(threads=1), "warmup": 2, "iterations": 20, "store": folder}
    pf.profile(str(digits[NAME]), pf.ProfileOptions(data=digits["test"], **quick))  # type: ignore[arg-type]
    pf.profile(str(digits_int8[NAME]), pf.ProfileOptions(**quick))  # type: ignore[arg-type]
    return folder


def _int8_check(digits_int8: dict[str, Path]) -> tuple[int, int]:
    """(disagreements, images) from the INT8 manifest's check against FP32, by hand."""
    ver = json.loads(Path(str(digits_int8[NAME]) + ".json").read_text())["verification"]
    n = int(ver["images"])
    return round((100 - ver["top1_agreement"]) / 100 * n), n


def test_pareto_json_gives_the_int8_variant_a_lower_bound_below_its_parent(
        store: Path, digits_int8: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "pareto.png"
    r = run_cli("pareto", str(store), "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by = {p["precision"]: p for p in doc["points"]}
    fp32, int8 = by["fp32"], by["int8"]
    assert fp32["accuracy_kind"] == "measured" and fp32["images"] == 450
    assert int8["accuracy_kind"] == "lower_bound" and int8["y_parent"] == fp32["y"]
    k, n = _int8_check(digits_int8)
    assert (int8["disagreements"], int8["images"]) == (k, n)
    assert fp32["y"] - int8["y"] >= 100 * k / n  # at least the measured disagreement
    assert fp32["y"] - int8["y"] == pytest.approx(100 * wilson_upper(k, n), abs=1e-9)
    assert f"{k}/{n} disagree, n={n}" in int8["accuracy_text"]
    # the frontier is built on the bound, never on the parent's figure
    xy = [(p["x"], p["y"]) for p in doc["points"]]
    assert doc["frontier"] == [p["id"] for p, on in zip(doc["points"], pareto.frontier(xy),
                                                        strict=True) if on]
    assert doc["kinds"] == "measured 1, lower_bound 1" and out.stat().st_size > 10_000


def test_profile_shows_the_verdict_on_read_and_agreement_data_tightens_it(
        store: Path, digits: dict[str, Path], digits_int8: dict[str, Path],
        tmp_path: Path) -> None:
    stored = Store(store, create=False).query(full=True)
    int8 = next(r for r in stored if r["precision"] == "int8")
    assert "accuracy_kind" not in int8["result"] and "accuracy_claim" not in int8["result"]
    first = accuracy.claims(stored)[int8["id"]]
    assert first.kind == "lower_bound"
    assert first.parent and first.parent["result_id"] == next(
        r["id"] for r in stored if r["precision"] == "fp32")
    copy_ = tmp_path / "results"
    shutil.copytree(store, copy_)
    rep = pf.profile(str(digits_int8[NAME]), pf.ProfileOptions(
        runner=RunnerOptions(threads=1), warmup=2, iterations=20, store=copy_,
        agreement=digits["test"]))
    ver = rep.results[0].settings["verification"]
    assert ver["held_out"] == f"--agreement-data {digits['test']}" and ver["images"] == 450
    (claim,) = rep.claims  # judged on read, with the parent the store holds
    assert claim.kind == "lower_bound" and claim.images == 450 > (first.images or 0)
    assert claim.bound_points is not None and claim.bound_points < (first.bound_points or 0)
    assert claim.bound_points == pytest.approx(
        100 * wilson_upper(claim.disagreements or 0, 450), abs=1e-9)
    assert "n=450" in claim.text and claim.drop == claim.bound_points


def test_a_stale_stored_claim_is_ignored_and_every_command_shows_the_same_verdict(
        store: Path, tmp_path: Path) -> None:
    """A row written by an older edgekit carries a claim ('measured 99.9 %') that the judge no
    longer gives: profile's, pick's, pareto's, budget's and the report's verdicts are all the
    judge's, and equal."""
    from edgekit import pick as pk

    copy_ = tmp_path / "results"
    shutil.copytree(store, copy_)
    s = Store(copy_, create=False)
    rows = s.query(full=True)
    int8 = copy.deepcopy(next(r for r in rows if r["precision"] == "int8")["result"])
    int8.update(uid=None, id=None, accuracy_kind="measured",
                accuracy_claim={"kind": "measured", "top1": 99.9, "text": "99.90 % (measured)"})
    planted = s.add(int8)
    rows = s.query(full=True)
    for r in rows:  # the planted row the fastest, so pick shows it
        if r["id"] == planted:
            r["p50_ms"], r["samples_ms"] = 1e-6, []
    judge = accuracy.claims(rows)[planted]
    assert judge.kind == "lower_bound" and judge.top1 is not None and judge.top1 < 99.9
    pick = next(m.pick for m in pk.pick(rows, pk.PickOptions(max_accuracy_drop=100.0)).models
                if m.pick is not None and m.pick.id == planted)
    points, _ = pareto.select(rows, "latency_p50_ms", "top1")
    point = next(p for p in points if p.id == planted)
    (check,) = bd.check([bd.Budget(line=1, model=f"{NAME}.int8", min_top1=1.0)], rows, None,
                        Path("budgets.yaml"))[0].checks
    line = next(t for t in report.table(
        [{"model": "m", "precision": "int8", "backend": "ort", "status": "ok",
          "result_id": planted, "error": None}], {r["id"]: r for r in rows},
        {"cpu": {"peak_gflops": None}, "gpus": []}))
    assert pick.claim["kind"] == point.accuracy_kind == check.kind == line["accuracy_kind"] \
        == "lower_bound"
    assert pick.claim["top1"] == point.y == line["accuracy"] == judge.top1
    assert check.value == round(judge.top1, 3)
    r = run_cli("pareto", str(copy_), "-o", str(tmp_path / "p.png"), "--json")
    shown = [(p["accuracy_kind"], p["accuracy_text"]) for p in json.loads(r.stdout)["points"]
             if p["id"] == planted]
    assert shown == [("lower_bound", judge.text)] and "99.90 % (measured)" not in r.stdout


def _fp32(published: float | None, manifest_published: float | None, **over: Any
          ) -> dict[str, Any]:
    r = fake_result("k", 0)
    r["model"]["published"] = {"top1": published} if published is not None else None
    r["manifest"] = {"precision": "fp32",
                     "model": {"published": {"top1": manifest_published, "top5": 93.0}
                               if manifest_published is not None else None}}
    r.update(over)
    return r


def _int8(parent_sha: str, agreement: float | None, published: float | None = None
          ) -> dict[str, Any]:
    r = fake_result("k", 1)
    r["model"]["precision"], r["batch"] = "int8", 1
    r["artifact"]["sha256"] = "ab" * 32
    r["manifest"] = {"precision": "int8",
                     "model": {"published": {"top1": published} if published else None},
                     "lineage": {"parent": {"path": "m.onnx", "sha256": parent_sha},
                                 "parent_precision": "fp32"},
                     "verification": None if agreement is None else
                     {"top1_agreement": agreement, "images": 200, "held_out": "photos"}}
    return r


def test_the_kinds_of_hand_built_results() -> None:
    catalog = accuracy.judge(_fp32(None, 76.13))
    assert (catalog.kind, catalog.top1) == ("published", 76.13)
    # random weights: the result's model record carries the catalog's figure, the manifest not
    assert accuracy.judge(_fp32(76.13, None)).kind == "none"
    assert accuracy.judge(_fp32(None, 76.13, accuracy={"top1": 70.5, "images": 9})).kind == (
        "measured")
    # an INT8 child of the catalog weights, without labels: below the published parent
    low = accuracy.judge(_int8("00" * 32, 99.0, published=76.13))
    assert low.kind == "lower_bound" and low.parent_kind == "published"
    assert low.top1 == pytest.approx(76.13 - 100 * wilson_upper(2, 200), abs=1e-9)
    assert accuracy.judge(_int8("00" * 32, None, published=76.13)).kind == "none"  # unchecked
    agree = accuracy.judge(_int8("00" * 32, 99.0))  # no parent figure: agreement, never top-1
    assert (agree.kind, agree.metric, agree.top1) == ("agreement", "top1_agreement", None)
    assert agree.value == 99.0 and agree.drop == pytest.approx(100 * wilson_upper(2, 200))
    # a --dtype run: its own check against the same artifact in FP32
    dtype = _fp32(None, 76.13, settings={"verification": {"top1_agreement": 100.0,
                                                          "images": 28}})
    dtype["model"]["precision"] = "bf16"
    got = accuracy.judge(dtype)
    assert got.kind == "lower_bound" and got.bound_points == pytest.approx(
        100 * wilson_upper(0, 28), abs=1e-9)


def test_a_detector_shows_torchvisions_published_map_only_for_its_exact_fp32_weights() -> None:
    pub = {"map50_95": 21.3, "dataset": "COCO-val2017", "source": "torchvision's weights metadata",
           "weights": "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"}
    fp32 = _fp32(None, None)
    fp32["manifest"] = {"precision": "fp32", "model": {"task": "detect", "published": pub}}
    got = accuracy.judge(fp32)
    assert (got.kind, got.metric, got.value, got.top1) == ("published", "map50_95", 21.3, None)
    assert got.text == ("mAP@[.5:.95] 21.30 % (published for SSDLite320_MobileNet_V3_Large_"
                        "Weights.COCO_V1 on COCO-val2017, not measured here)")
    child = _int8("00" * 32, None)  # its INT8 child: its own detection agreement, never the mAP
    child["manifest"]["model"] = {"task": "detect", "published": pub}
    child["manifest"]["verification"] = {"f1": 0.97, "images": 14, "metric": "f1"}
    low = accuracy.judge(child)
    assert (low.kind, low.metric) == ("agreement", "f1") and low.value != 21.3


def test_old_rows_without_kinds_load_and_pareto_borrows_nothing(tmp_path: Path) -> None:
    s = Store(tmp_path / "old")
    random_fp32 = _fp32(77.0, None)  # written before this change: no accuracy_kind
    random_fp32["artifact"]["sha256"] = "01" * 32
    measured = _fp32(None, None, accuracy={"top1": 90.0, "top5": 99.0, "images": 300})
    child = _int8(measured["artifact"]["sha256"], 98.0)
    ids = [s.add(r) for r in (random_fp32, measured, child)]
    for r in (random_fp32, measured, child):
        assert "accuracy_kind" not in r
    rows = s.query(full=True)
    claims = accuracy.claims(rows)
    assert [claims[i].kind for i in ids] == ["none", "measured", "lower_bound"]
    assert claims[ids[2]].parent and claims[ids[2]].parent["result_id"] == ids[1]
    points, meta = pareto.select(rows, "latency_p50_ms", "top1")
    assert meta["no_accuracy"] == [ids[0]] and next(p for p in points if p.id == ids[0]).y is None
    r = run_cli("pareto", str(tmp_path / "old"), "-o", str(tmp_path / "p.png"),
                env={"COLUMNS": "200"})
    assert r.returncode == 0 and f"no accuracy figure (nothing measured; none borrowed): ids " \
        f"{ids[0]}" in r.stdout
    only = Store(tmp_path / "random")
    only.add(copy.deepcopy(random_fp32))
    r = run_cli("pareto", str(tmp_path / "random"), "-o", str(tmp_path / "q.png"))
    assert r.returncode == 2 and "no accuracy figure, nothing measured" in r.stderr


def test_budget_and_the_sweep_report_label_the_kinds(store: Path) -> None:
    rows = Store(store, create=False).query(full=True)
    b = bd.Budget(line=1, model=f"{NAME}.int8", precision="int8", min_top1=50.0)
    (o,) = bd.check([b], rows, None, Path("budgets.yaml"))
    (c,) = o.checks
    assert c.kind == "lower_bound" and c.note.startswith("lower_bound: ≥ ") and c.passed
    tight = bd.check([bd.Budget(line=1, model=f"{NAME}.int8", min_top1=99.9)], rows, None,
                     Path("budgets.yaml"))[0]
    assert tight.status == "fail" and "a bound, not a measurement" in tight.checks[0].note
    variants = [{"model": r["model"], "precision": r["precision"], "backend": "ort",
                 "status": "ok", "result_id": r["id"], "error": None} for r in rows]
    table = report.table(variants, {r["id"]: r for r in rows},
                         {"cpu": {"peak_gflops": None}, "gpus": []})
    assert {(t["precision"], t["accuracy_kind"]) for t in table} == {
        ("fp32", "measured"), ("int8", "lower_bound")}


def test_the_plot_draws_lower_bounds_as_open_triangles_with_the_interval(
        store: Path, tmp_path: Path) -> None:
    from matplotlib.collections import LineCollection, PathCollection

    points, meta = pareto.select(Store(store, create=False).query(full=True),
                                 "latency_p50_ms", "top1")
    fig = pareto.plot(points, meta, tmp_path / "p.png")
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert pareto.KIND_LEGEND["lower_bound"] in legend and pareto.KIND_LEGEND["measured"] in legend
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    hollow = [c for c in scatters if len(c.get_facecolors()) == 0 or c.get_facecolors()[0][3] == 0]
    assert len(scatters) == 2 and len(hollow) == 1  # the INT8 bound, open; FP32 filled
    low = next(p for p in points if p.accuracy_kind == "lower_bound")
    (bar,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    (seg,) = bar.get_segments()
    assert seg[0][1] == pytest.approx(low.y) and seg[1][1] == pytest.approx(low.y_parent)


def test_quantize_checks_against_fp32_on_the_agreement_data(digits: dict[str, Path],
                                                            tmp_path: Path) -> None:
    out = tmp_path / "d.int8.onnx"
    r = run_cli("quantize", str(digits[NAME]), "-o", str(out), "--report", "0",
                "--agreement-data", str(digits["test"]), "--json")
    assert r.returncode == 0, r.stderr
    ver = json.loads(r.stdout)["manifest"]["verification"]
    assert ver["images"] == 450 and ver["held_out"] == f"--agreement-data {digits['test']}"
    r = run_cli("quantize", str(digits[NAME]), "-o", str(out), "--agreement-data",
                str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "--agreement-data: folder not found" in r.stderr
