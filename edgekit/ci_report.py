"""What a CI system reads from ``edgekit budget check``: JUnit XML, and on GitHub Actions
``::error`` annotations (on stderr, so ``--json`` stays one object on stdout) and a markdown
table appended to ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from edgekit._io import atomic_paths
from edgekit.budget import Budget, Check, Outcome


def junit(outcomes: list[Outcome], out: Path, budgets_path: Path,
          suite_name: str = "edgekit budgets") -> None:
    fails = sum(o.status == "fail" for o in outcomes)
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(outcomes)),
                       failures=str(fails), errors="0", skipped="0")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"edgekit.budget.{budgets_path.name}",
                             name=o.budget.name, file=str(budgets_path), line=str(o.budget.line))
        if o.status == "fail":
            f = ET.SubElement(case, "failure", message=o.message, type="BudgetBroken")
            f.text = "\n".join(f"{c.name}: value {c.value}, limit {c.limit} "
                               f"{'ok' if c.passed else 'BROKEN'} {c.note}".rstrip()
                               for c in o.checks) or o.message
        else:
            out_text = ET.SubElement(case, "system-out")
            out_text.text = "\n".join(f"{c.name}: {c.value} (limit {c.limit}) {c.note}".rstrip()
                                      for c in o.checks)
    root = ET.Element("testsuites")
    root.append(suite)
    with atomic_paths(out) as (tmp,):
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)


def markdown(outcomes: list[Outcome]) -> str:
    lines = ["| budget | status | result | checks |", "|---|---|---|---|"]
    for o in outcomes:
        checks = "; ".join(f"{c.name} {c.value if c.value is not None else '-'} / {c.limit:g}"
                           f"{'' if c.passed else ' ❌'}" for c in o.checks) or o.message
        lines.append(f"| {o.budget.name} | {'✅ pass' if o.status == 'pass' else '❌ fail'} | "
                     f"{o.result_id if o.result_id is not None else '-'} | {checks} |")
    return "\n".join(lines) + "\n"


def github(outcomes: list[Outcome], budgets_path: Path, title: str = "edgekit budget") -> None:
    """Annotations and the step summary, only when GITHUB_ACTIONS is set."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for o in outcomes:
        if o.status == "fail":
            print(f"::error file={_prop(str(budgets_path))},line={o.budget.line},"
                  f"title={_prop(title)}::{_data(o.budget.name + ': ' + o.message)}",
                  file=sys.stderr)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(f"### {title}\n\n" + markdown(outcomes) + "\n")


def _data(s: str) -> str:
    """GitHub workflow-command escaping of a message."""
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    """... and of a property value."""
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def compare_outcome(rep: Any) -> Outcome:
    """``edgekit compare``'s verdict as one outcome (a check of the regression against the
    limit), for the same JUnit and GitHub output as budgets."""
    v, limit = rep.verdict, rep.max_regression_pct
    name = f"{Path(rep.base['target']).name} -> {Path(rep.candidate['target']).name}"
    check = Check(name="regression (%)", limit=limit if limit is not None else v.threshold_pct,
                  value=round(v.change_pct, 2), passed=not rep.regressed, note=v.describe())
    return Outcome(budget=Budget(line=0, model=name), status="fail" if rep.regressed else "pass",
                   result_id=None, checks=[check], message=v.describe())
