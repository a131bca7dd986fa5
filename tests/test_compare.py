"""``edgekit compare`` and ``budget check --against``: the verdict's statistics on known
samples, an artifact against itself (no change) and against a planted slower one (slower, exit
3), one-line errors, JUnit and GitHub output, a side named by series and commit, and the
comparison with a branch's history (too few results fail, saying how many)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from support import FIX, digits_spec, run_cli
from support.store_writer import fake_result

from edgekit import abstats
from edgekit.store import Store


def _blocks(rng: np.random.Generator, centre: float, n: int = 20) -> list[np.ndarray]:
    return [centre * (1 + 0.02 * rng.standard_normal(50)) for _ in range(n)]


def test_the_verdict_needs_the_ratio_and_the_test_together() -> None:
    rng = np.random.default_rng(0)
    same = abstats.decide(_blocks(rng, 1.0), _blocks(rng, 1.0))
    assert same.verdict == "no change" and same.low < 1 < same.high
    slow = abstats.decide(_blocks(rng, 1.0), _blocks(rng, 1.1))
    assert slow.verdict == "slower" and slow.p_value is not None and slow.p_value < 1e-6
    assert 1.07 < slow.low < slow.ratio < slow.high < 1.13
    assert abstats.decide(_blocks(rng, 1.1), _blocks(rng, 1.0)).verdict == "faster"
    small = abstats.decide(_blocks(rng, 1.0), _blocks(rng, 1.03))
    assert small.p_value is not None and small.p_value < 0.01  # real, but under 5 %:
    assert small.verdict == "no change"
    two = abstats.decide(_blocks(rng, 1.0, 2), _blocks(rng, 1.5, 2))
    assert two.p_value is None and two.verdict == "no change"  # too few blocks to test


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The digits CNN at 32 px and the same network at 64 px (4x the MACs)."""
    from edgekit.export import ExportOptions, export
    from edgekit.sources import Options

    root = tmp_path_factory.mktemp("cmp")
    opts = Options(weights=FIX / "digits_cnn.pth")
    a = export(digits_spec(), ExportOptions(output=root / "a.onnx"), opts).path
    b = export(digits_spec(), ExportOptions(output=root / "a-larger.onnx", input_size=(64, 64)),
               opts).path
    return a, b


def test_an_artifact_against_itself_is_no_change(pair: tuple[Path, Path]) -> None:
    a, _ = pair
    r = run_cli("compare", str(a), str(a), "--duration", "1", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"]["verdict"] == "no change" and not doc["regressed"]
    assert doc["base"]["samples"] == doc["candidate"]["samples"] >= 20 * 3
    assert doc["verdict"]["blocks"] == [20, 20] and doc["machine"]["cpu_flags"]


def test_a_planted_slowdown_is_slower_and_exits_3(pair: tuple[Path, Path], tmp_path: Path
                                                  ) -> None:
    a, b = pair
    junit = tmp_path / "compare.xml"
    summary = tmp_path / "summary.md"
    r = run_cli("compare", str(a), str(b), "--duration", "1", "--threads", "1",
                "--max-regression-pct", "10", "--junit", str(junit), "--json",
                env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"]["verdict"] == "slower" and doc["regressed"]
    assert doc["candidate"]["input_shapes"] == {"input": [1, 3, 64, 64]}
    assert doc["verdict"]["ratio"] > 1.1 and doc["verdict"]["low"] > 1.1
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None and case.find("failure") is not None
    assert "::error" in r.stderr and "edgekit compare" in summary.read_text()
    r = run_cli("compare", str(b), str(a), "--duration", "1", "--threads", "1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"]["verdict"] == "faster"


@pytest.mark.parametrize("case,message", [
    ("missing", "file not found"),
    ("inputs", "the two artifacts take different inputs"),
    ("selection", "no stored result of series"),
])
def test_bad_input_is_one_line_and_exit_2(pair: tuple[Path, Path], tmp_path: Path, case: str,
                                          message: str) -> None:
    a, _ = pair
    other = {"missing": [str(tmp_path / "nope.onnx")],
             "inputs": [str(FIX / "yolo_digits.onnx")],
             "selection": ["abc123@def456", "--store", str(tmp_path / "empty")]}[case]
    if case == "selection":
        Store(tmp_path / "empty")
    r = run_cli("compare", str(a), *other, "--duration", "1")
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_side_named_by_series_and_commit(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    store = tmp_path / "r"
    r = run_cli("profile", str(a), "--iterations", "5", "--store", str(store), "--json",
                env={"GITHUB_SHA": "feed1234", "GITHUB_REF_NAME": "main"})
    assert r.returncode == 0, r.stderr
    series = json.loads(r.stdout)["results"][0]["series"]["key"]
    r = run_cli("compare", f"{series[:8]}@feed12", str(a), "--store", str(store),
                "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["base"]["target"] == str(a)


def _row(i: int, branch: str, commit: str, centre: float, rng: np.random.Generator) -> dict:
    d = fake_result("ci" if branch != "main" else "nightly", i)
    d.update(batch=1, settings_key="k", series={"key": "s1"},
             provenance={"commit": commit, "branch": branch},
             samples_ms=list(centre * (1 + 0.02 * rng.standard_normal(400))))
    d["latency"]["p50_ms"] = centre
    return d


@pytest.mark.parametrize("on_main,cand,code,note", [
    (5, 1.25, 3, "slower"),
    (5, 1.0, 0, "no change"),
    (2, 1.0, 3, "found 2 result(s) of its series on main; --against needs at least 3"),
])
def test_budget_check_against_a_branch(tmp_path: Path, on_main: int, cand: float, code: int,
                                       note: str) -> None:
    rng = np.random.default_rng(1)
    store = Store(tmp_path / "r")
    for i in range(on_main):
        store.add(_row(i, "main", f"{i:040x}", 1.0, rng))
    store.add(_row(9, "pr-7", "f" * 40, cand, rng))
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - model: m\n    max_regression_pct: 10\n")
    r = run_cli("budget", "check", str(budgets), "--store", str(tmp_path / "r"), "--against",
                "main", "--json")
    assert r.returncode == code, r.stderr
    (o,) = json.loads(r.stdout)["outcomes"]
    (c,) = [c for c in o["checks"] if c["name"] == "vs main (%)"]
    assert note in c["note"]
    if on_main >= 3:
        assert f"{on_main} results on main" in c["note"]
