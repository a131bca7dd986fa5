"""edgekit pick on a store of real measurements (two tiny models x ORT and OpenVINO x FP32 and
INT8): the accuracy budget is never broken, a variant without labels is picked over one with
them only where its bound allows, ties within the noise go to fewer moving parts, the commands
reproduce the pick, and a latency limit nothing meets is exit 3."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support import run_cli

from edgekit import pick as pk
from edgekit import profile as pf
from edgekit.backends import RunnerOptions
from edgekit.store import Store

pytest.importorskip("openvino")
MODELS = ("digits_cnn", "digits_cnn_plain")


@pytest.fixture(scope="module")
def store(digits: dict[str, Path], digits_int8: dict[str, Path],
          tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 results with measured top-1 (--data), then the INT8 ones again without labels."""
    folder = tmp_path_factory.mktemp("pick") / "results"
    for name in MODELS:
        for path in (digits[name], digits_int8[name]):
            for backend in ("ort", "openvino"):
                pf.profile(str(path), pf.ProfileOptions(
                    backend=backend, runner=RunnerOptions(threads=1), warmup=2, iterations=30,
                    data=digits["test"], store=folder))
    for name in MODELS:
        pf.profile(str(digits_int8[name]), pf.ProfileOptions(
            backend="ort", warmup=2, iterations=30, store=folder, tag="unlabelled"))
    return folder


def _rows(store: Path) -> list[dict[str, Any]]:
    return Store(store, create=False).query(full=True)


def _faster(rows: list[dict[str, Any]], ids: set[int], factor: float) -> list[dict[str, Any]]:
    """The same rows with the given results made ``factor`` times faster (p50 and samples)."""
    out = copy.deepcopy(rows)
    for r in out:
        if r["id"] in ids:
            r["p50_ms"] /= factor
            r["samples_ms"] = [s / factor for s in r["samples_ms"]]
    return out


def test_a_variant_over_the_accuracy_budget_is_never_picked(store: Path) -> None:
    rows = _rows(store)
    assert len(rows) == 10
    for budget in (0.0, 0.5, 1.0, 5.0, 100.0):
        rep = pk.pick(rows, pk.PickOptions(max_accuracy_drop=budget))
        assert {m.model.split(":")[-1] for m in rep.models} == set(MODELS)
        for m in rep.models:
            assert m.pick is not None and m.pick.eligible
            claim = m.pick.claim  # the one verdict (edgekit.accuracy), its drop within budget
            assert claim["drop_kind"] in ("reference", "measured", "bound")
            assert claim["drop"] <= budget
            for v in m.rejected:
                assert v.p50_ms < m.pick.p50_ms and v.why
    # INT8 made 10x faster: picked exactly where its measured drop is within the budget
    int8 = {r["id"] for r in rows if r["precision"] == "int8" and r["top1"] is not None}
    rep = pk.pick(_faster(rows, int8, 10), pk.PickOptions(max_accuracy_drop=1.0))
    for m in rep.models:
        fast = [v for v in m.rejected + [m.pick] if v and v.id in int8]  # type: ignore[operator]
        for v in fast:
            if v.claim["drop"] > 1.0:
                assert v is not m.pick and "over the accuracy budget" in v.why
        best_ok = [v for v in fast if v.eligible]
        if best_ok:
            assert m.pick is not None and m.pick.id in {v.id for v in best_ok}
            assert m.speedup is not None and m.speedup > 3


def test_without_labels_only_the_bound_can_admit_a_variant(store: Path) -> None:
    rows = [r for r in _rows(store) if r["top1"] is None or r["precision"] == "fp32"]
    unlabelled = {r["id"] for r in rows if r["precision"] == "int8"}
    fast = _faster(rows, unlabelled, 10)
    tight = pk.pick(fast, pk.PickOptions(max_accuracy_drop=1.0))
    for m in tight.models:
        assert m.pick is not None and m.pick.precision == "fp32"
        (v,) = [v for v in m.rejected if v.id in unlabelled]
        assert v.claim["drop_kind"] == "bound" and v.claim["images"] == 14
        assert "over the accuracy budget" in v.why and "n=14" in v.why
        assert v.claim["drop"] == v.claim["bound_points"] > 1
    loose = pk.pick(fast, pk.PickOptions(max_accuracy_drop=30.0))
    for m in loose.models:  # 0 flips in 14 images bounds the drop at 21.5 points
        if m.pick is not None and m.pick.id in unlabelled:
            assert m.pick.claim["bound_points"] <= 30.0
    assert any(m.pick is not None and m.pick.id in unlabelled for m in loose.models)


def test_a_tie_within_the_noise_goes_to_fewer_moving_parts() -> None:
    def row(i: int, backend: str, precision: str, samples: list[float]) -> dict[str, Any]:
        return {"id": i, "model": "m", "backend": backend, "precision": precision, "device": "cpu",
                "device_name": "cpu0", "batch": 1, "artifact": f"m.{precision}.onnx",
                "artifact_sha256": precision, "settings_key": backend, "top1": 90.0,
                "p50_ms": sorted(samples)[len(samples) // 2], "samples_ms": samples,
                "result": {"accuracy": {"top1": 90.0, "folder": "d", "images": 1000}}}

    noisy = [1.0 + 0.1 * (i % 7) for i in range(40)]
    rows = [row(1, "ort", "fp32", noisy), row(2, "openvino", "int8", [x * 0.98 for x in noisy])]
    m = pk.pick(rows, pk.PickOptions()).models[0]
    assert m.pick is not None and (m.pick.backend, m.pick.precision) == ("ort", "fp32")
    assert "within the measured noise" in m.pick.why and "fewer moving parts" in m.pick.why
    assert m.rejected[0].id == 2 and "within the noise" in m.rejected[0].why
    rows[1] = row(2, "openvino", "int8", [x * 0.3 for x in noisy])  # clearly faster
    m = pk.pick(rows, pk.PickOptions()).models[0]
    assert m.pick is not None and m.pick.id == 2 and m.speedup == pytest.approx(1 / 0.3, rel=0.05)


def test_the_commands_reproduce_the_pick(store: Path, digits_int8: dict[str, Path]) -> None:
    int8 = {r["id"] for r in _rows(store) if r["precision"] == "int8"}
    rep = pk.pick(_faster(_rows(store), int8, 10), pk.PickOptions(max_accuracy_drop=100.0))
    m = next(m for m in rep.models if m.model.endswith("digits_cnn_plain"))
    assert m.pick is not None and m.pick.precision == "int8"
    export, quantize, profile = m.pick.commands
    assert export.startswith("edgekit export ") and "digits_model.py:digits_cnn_plain" in export
    assert "--weights" in export and "--input-size 32,32" in export
    assert quantize.startswith("edgekit quantize ") and "--int8 -o " in quantize
    assert str(digits_int8["digits_cnn_plain"]) in quantize
    assert profile.startswith(f"edgekit profile {digits_int8['digits_cnn_plain']} --backend ")
    assert "--batch 1" in profile and "--iterations 30" in profile


def test_pick_cli_json_and_a_latency_limit_nothing_meets(store: Path) -> None:
    ok = run_cli("pick", str(store), "--max-latency-ms", "1000", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["schema"] == "edgekit.pick/1" and len(doc["choices"]) == 1
    assert doc["choices"][0]["accuracy_kind"] == "measured"
    human = run_cli("pick", str(store))
    assert human.returncode == 0 and "reproduce: edgekit profile" in human.stdout
    none = run_cli("pick", str(store), "--max-latency-ms", "0.000001")
    assert none.returncode == 3
    assert "nothing meets --max-latency-ms 1e-06 on" in none.stderr
    missing = run_cli("pick", str(store), "--batch", "7")
    assert missing.returncode == 2 and "no results at --batch 7" in missing.stderr


def test_budget_init_from_pick_writes_budgets_for_the_picks_only(store: Path,
                                                                 tmp_path: Path) -> None:
    rep = pk.pick(_rows(store), pk.PickOptions())
    r = run_cli("budget", "init", "--store", str(store), "--from-pick", "-o",
                str(tmp_path / "b.yaml"), "--json")
    assert r.returncode == 0, r.stderr
    budgets = json.loads(r.stdout)["budgets"]
    assert sorted((b["model"], b["backend"], b["precision"]) for b in budgets) == sorted(
        (m.model, m.pick.backend, m.pick.precision) for m in rep.models if m.pick)
    assert "budget init --from-pick" in (tmp_path / "b.yaml").read_text()
    from edgekit import budget

    assert len(budget.load(tmp_path / "b.yaml")) == len(budgets)
    bad = run_cli("budget", "init", "--store", str(store), "--max-accuracy-drop", "2", "-o",
                  str(tmp_path / "c.yaml"))
    assert bad.returncode == 2 and "--max-accuracy-drop applies to --from-pick" in bad.stderr
