"""Budgets: the YAML reader (errors at their line, fuzzed), matching, pass / fail / within noise,
a planted 20 % regression (real measurements: bench/budget_ab.py), JUnit XML and GitHub Actions output."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import run_cli
from support.store_writer import fake_result

from edgekit import budget, ci_report
from edgekit.errors import ConfigError
from edgekit.store import Store, Where

EXAMPLE = """\
budgets:
  - model: resnet18          # catalog/source name, artifact file name, or sha256 prefix
    precision: int8
    backend: ort
    batch: 1
    device: "*EPYC*"         # glob on the device fingerprint
    max_p50_ms: 20
    max_p95_ms: 25
    max_p99_ms: 30
    min_top1: 69.0
    max_peak_mem_mb: 200
    max_regression_pct: 10   # against --baseline TAG
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "budgets.yaml"
    p.write_text(text)
    return p


def test_the_documented_example_loads(tmp_path: Path) -> None:
    (b,) = budget.load(_write(tmp_path, EXAMPLE))
    assert b.line == 2 and b.model == "resnet18" and b.batch == 1 and b.device == "*EPYC*"
    assert b.max_p50_ms == 20.0 and b.min_top1 == 69.0 and b.max_regression_pct == 10.0


@pytest.mark.parametrize("text,line,message", [
    ("budgets:\n  - model: m\n    max_p50ms: 3\n", 3, "unknown key 'max_p50ms'; did you mean max_p50_ms?"),
    ("budgets:\n  - model: m\n    max_p95_ms: fast\n", 3,
     "max_p95_ms must be a number, got 'fast'; write max_p95_ms: 12.5"),
    ("budgets:\n  - precision: int8\n", 2, "budget has no model"),
    ("budgets:\n  - model: m\n    batch: 1.5\n", 3, "must be a positive whole number"),
    ("budgets:\n  - model: m\n    max_p50_ms: -1\n", 3, "must not be negative"),
    ("budgets:\n  - model: m\n    min_top1: true\n", 3, "must be a number"),
    ("budgets:\n  - model: [a, b]\n", 2, "model must be text"),
    ("budgets:\n  - model: m\n   max_p50_ms: 3\n", 3, "not valid YAML"),
    ("budget:\n  - model: m\n", 1, "unknown top-level key 'budget'"),
    ("budgets:\n  - just a string\n", 2, "a budget must be a mapping"),
    ("budgets:\n  - model: m\n    model: n\n", 3, "'model' is given twice"),
    ("budgets:\n  - model: !!python/name:os.system\n", 2, "model: cannot read the value"),
])
def test_bad_budgets_name_their_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        budget.load(path)
    assert e.value.line().startswith(f"{path}: line {line}: ") and message in e.value.line()


@pytest.mark.parametrize("text", ["", "[1, 2]", "budgets: 3\n", "budgets:\n  model: m\n"])
def test_a_file_without_a_budgets_list_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="budgets"):
        budget.load(_write(tmp_path, text))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200),
                 st.builds(lambda k, v: f"budgets:\n  - model: m\n    {k}: {v}\n",
                           st.sampled_from([*budget.KEYS, "x", "max_p50"]),
                           st.one_of(st.text(max_size=20), st.integers(), st.floats()))))
def test_fuzzed_yaml_is_budgets_or_a_config_error(tmp_path: Path, text: str) -> None:
    try:
        out = budget.load(_write(tmp_path, text))
    except ConfigError as e:
        assert "\n" not in e.line()
    else:
        assert all(isinstance(b, budget.Budget) for b in out)


def _row(store: Store, tag: str, i: int, samples: list[float] | None = None, **over: Any) -> int:
    r = fake_result(tag, i)
    r["model"] = {**r["model"], **over.pop("model", {})}
    r["latency"] = {**r["latency"], **over.pop("latency", {})}
    r.update(over)
    if samples is not None:
        r["samples_ms"] = samples
        r["latency"]["p50_ms"] = float(np.median(samples))
    return store.add(r)


def _check(tmp_path: Path, store: Store, text: str, baseline: str | None = None
           ) -> list[budget.Outcome]:
    path = _write(tmp_path, text)
    return budget.check(budget.load(path), store.query(full=True), baseline, path)


def test_pass_fail_and_nothing_measured(tmp_path: Path) -> None:
    s = Store(tmp_path / "r")
    _row(s, "t", 0, model={"name": "mobilenet_v3_large"}, accuracy={"top1": 75.0, "top5": 92.0})
    out = _check(tmp_path, s, "budgets:\n"
                 "  - model: mobilenetv3\n    max_p50_ms: 1.5\n    min_top1: 74\n"  # alias
                 "  - model: mobilenetv3\n    max_p50_ms: 0.5\n    min_top1: 76\n"
                 "  - model: resnet50\n    max_p50_ms: 10\n"
                 "  - model: m0.onnx\n    max_peak_mem_mb: 5\n")
    assert [o.status for o in out] == ["pass", "fail", "fail", "fail"]
    assert "p50 latency (ms) 1 breaks the limit 0.5" in out[1].message
    assert "top-1 (%) 75 breaks the limit 76" in out[1].message
    assert out[2].result_id is None and "nothing was measured" in out[2].message
    assert "peak RSS growth (MB) 10 breaks the limit 5" in out[3].message


def test_matching_by_sha_prefix_device_glob_batch_and_tag(tmp_path: Path) -> None:
    s = Store(tmp_path / "r")
    _row(s, "nightly", 3)  # sha 000...3, batch 4, device "test cpu"
    sha = f"{3:064x}"[:8]
    out = _check(tmp_path, s, f"budgets:\n  - model: '{sha}'\n    device: 'test*'\n    batch: 4\n"
                 f"    tag: nightly\n  - model: '{sha}'\n    device: '*EPYC*'\n"
                 f"  - model: '{sha}'\n    batch: 1\n  - model: '{sha}'\n    tag: other\n")
    assert [o.status for o in out] == ["pass", "fail", "fail", "fail"]


def test_the_newest_matching_result_is_checked(tmp_path: Path) -> None:
    s = Store(tmp_path / "r")
    _row(s, "t", 0, latency={"p50_ms": 9.0})
    newest = _row(s, "t", 0, latency={"p50_ms": 1.0})
    (o,) = _check(tmp_path, s, "budgets:\n  - model: m\n    max_p50_ms: 2\n")
    assert o.status == "pass" and o.result_id == newest


def test_regression_needs_a_baseline(tmp_path: Path) -> None:
    s = Store(tmp_path / "r")
    _row(s, "t", 0)
    with pytest.raises(ConfigError, match="line 2: max_regression_pct needs a baseline"):
        _check(tmp_path, s, "budgets:\n  - model: m\n    max_regression_pct: 10\n")
    (o,) = _check(tmp_path, s, "budgets:\n  - model: m\n    max_regression_pct: 10\n", "base")
    assert o.status == "fail" and "no result tagged base" in o.message


def test_noise_rule_flags_a_clear_regression_and_not_a_noisy_one() -> None:
    rng = np.random.default_rng(1)
    base = [list(rng.normal(10.0, 0.2, 500))]
    slow = [list(rng.normal(12.0, 0.2, 500))]  # +20 %, tight
    c = budget.regression(slow, base, 10)
    assert not c.passed and "1 vs 1 runs" in c.note
    same = [list(rng.normal(10.0, 0.2, 500))]
    assert budget.regression(same, base, 10).passed
    # +12 % in the median, but 40 samples drifting from 5 to 20 ms: inside the noise
    noisy = [list(np.linspace(5.0, 20.0, 40) * 1.12)]
    drift = [list(np.linspace(5.0, 20.0, 40))]
    c = budget.regression(noisy, drift, 10)
    assert c.value is not None and c.value > 10 and c.passed and "within noise" in c.note


def test_runs_that_disagree_widen_the_interval() -> None:
    """Three runs per side: the same +15 % is significant when the runs agree, and not when
    the runs themselves differ by +-20 % (a machine whose state shifts between runs)."""
    rng = np.random.default_rng(2)
    steady = [list(rng.normal(10.0, 0.1, 300)) for _ in range(3)]
    shifted = [list(rng.normal(10.0 * f, 0.1, 300)) for f in (0.8, 1.0, 1.2)]
    up = [[v * 1.15 for v in r] for r in steady]
    assert not budget.regression(up, steady, 10).passed
    up_shifted = [[v * 1.15 for v in r] for r in shifted]
    c = budget.regression(up_shifted, shifted, 10)
    assert c.passed and "3 vs 3 runs" in c.note


def test_planted_regression_fails_and_a_rerun_passes(tmp_path: Path) -> None:
    """A/B alternated five times, with run-to-run noise, through the store and the budget file:
    the same latency as 'new' passes a 10 % regression budget against 'base'; the 'new' runs
    slowed by 20 % (planted) fail it. Seeded samples: the same check on real measurements is
    ``bench/budget_ab.py`` (timing does not belong in the suite)."""
    rng = np.random.default_rng(3)
    s = Store(tmp_path / "r")
    for _ in range(5):
        for tag in ("base", "new"):
            level = 0.05 * rng.normal(1.0, 0.01)  # a 0.05 ms model, +-1 % between runs
            _row(s, tag, 0, list(rng.normal(level, 0.002, 1500)))
    text = "budgets:\n  - model: m\n    max_regression_pct: 10\n"
    (ok,) = _check(tmp_path, s, text, "base")
    assert ok.status == "pass", ok.checks
    assert "5 vs 5 runs" in ok.checks[0].note
    for new in sorted(s.query([Where.parse("tag=new")], full=True), key=lambda r: r["id"]):
        planted = {**new["result"], "samples_ms": [v * 1.2 for v in new["samples_ms"]],
                   "tag": "slow"}
        planted["latency"] = {**planted["latency"], "p50_ms": new["p50_ms"] * 1.2}
        s.add(planted)
    (bad,) = _check(tmp_path, s, text, "base")
    assert bad.status == "fail" and bad.result_id != ok.result_id, bad.checks
    assert bad.checks[0].value is not None and bad.checks[0].value > 10


def test_junit_xml_and_github_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    s = Store(tmp_path / "r")
    _row(s, "t", 0)
    path = _write(tmp_path, "budgets:\n  - model: m\n    max_p50_ms: 2\n"
                            "  - model: m\n    max_p50_ms: 0.5\n")
    out = budget.check(budget.load(path), s.query(full=True), None, path)
    ci_report.junit(out, tmp_path / "junit.xml", path)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert cases[0].find("failure") is None and cases[1].find("failure") is not None
    assert cases[1].get("line") == "4"
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    ci_report.github(out, path)
    err = capsys.readouterr().err
    assert err.count("::error ") == 1 and ",line=4,title=edgekit budget::" in err
    assert "| m | ❌ fail |" in summary.read_text()


def test_cli_exit_codes_json_junit_and_init(tmp_path: Path) -> None:
    s = Store(tmp_path / "r")
    _row(s, "t", 0, accuracy={"top1": 80.0, "top5": 95.0})
    good = _write(tmp_path, "budgets:\n  - model: m\n    max_p50_ms: 2\n")
    r = run_cli("budget", "check", str(good), "--store", str(s.folder), "--json", "--junit",
                str(tmp_path / "j.xml"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["passed"] is True and (tmp_path / "j.xml").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("budgets:\n  - model: m\n    max_p50_ms: 0.1\n")
    r = run_cli("budget", "check", str(bad), "--store", str(s.folder))
    assert r.returncode == 3 and "FAIL" in r.stdout
    typo = tmp_path / "typo.yaml"
    typo.write_text("budgets:\n  - model: m\n    p95_ms: fast\n")
    r = run_cli("budget", "check", str(typo), "--store", str(s.folder))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {typo}: line 3: unknown key 'p95_ms'; did you mean max_p95_ms?")
    out = tmp_path / "init.yaml"
    r = run_cli("budget", "init", "--store", str(s.folder), "-o", str(out), "--headroom", "50")
    assert r.returncode == 0, r.stderr
    (b,) = budget.load(out)
    assert b.max_p50_ms == pytest.approx(1.5) and b.min_top1 == 79.0 and b.max_regression_pct is None
    r = run_cli("budget", "check", str(out), "--store", str(s.folder))
    assert r.returncode == 0, r.stdout
    r = run_cli("budget", "init", "--store", str(s.folder), "-o", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr


def test_a_tagged_budget_finds_its_baseline_under_the_other_tag(tmp_path: Path) -> None:
    s = Store(tmp_path / "r")
    rng = np.random.default_rng(3)
    _row(s, "main", 0, samples=list(rng.normal(10.0, 0.1, 400)))
    _row(s, "candidate", 0, samples=list(rng.normal(10.0, 0.1, 400)))
    (o,) = _check(tmp_path, s, "budgets:\n  - model: m\n    tag: candidate\n"
                  "    max_regression_pct: 10\n", "main")
    assert o.status == "pass" and o.baseline_id == 1 and o.result_id == 2, o.message
