"""Every figure in the README's benchmark tables comes from a bench result file: the tables
between ``<!-- table:NAME -->`` markers must equal what ``scripts/readme_tables.py`` renders from
``bench/results/NAME.json``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from support import ROOT


def _tables() -> Any:
    spec = importlib.util.spec_from_file_location("readme_tables",
                                                  ROOT / "scripts" / "readme_tables.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_tables_are_what_the_results_render() -> None:
    t = _tables()
    text = (ROOT / "README.md").read_text()
    names = set(t.BLOCK.findall(text) and [m.group("name") for m in t.BLOCK.finditer(text)])
    assert names == set(t.RENDERERS)  # every renderer has its table, and only those
    assert t.update(text) == text, "run: python scripts/readme_tables.py"


def test_every_result_file_has_a_fingerprint_and_a_date() -> None:
    for path in sorted((ROOT / "bench" / "results").glob("*.json")):
        doc = json.loads(path.read_text())
        assert doc["fingerprint"]["cpu"]["model"] and doc["date"], path.name
        assert doc["name"] == path.stem and doc["rows"], path.name


def test_a_hand_typed_figure_is_caught(tmp_path: Path) -> None:
    t = _tables()
    text = (ROOT / "README.md").read_text()
    rendered = t.render("performance")
    forged = text.replace(rendered, rendered.replace("|", "| 1.000", 1), 1)
    assert forged != text and t.update(forged) == text


def test_an_untimed_cell_says_so(tmp_path: Path) -> None:
    t = _tables()
    doc = {"name": "performance", "date": "2026-11-25", "command": "python bench/run_all.py",
           "fingerprint": {"cpu": {"model": "cpu", "logical_cores": 2, "flags": []}},
           "rows": [{"model": "m", "p1_bare_p50_ms": 1.0, "p1_edgekit_p50_ms": 1.01,
                     "p2_speedup": None, "tune_chose": None, "p3_edgekit_s": 2.0,
                     "p3_bare_s": 1.0}], "p4": None}
    (tmp_path / "performance.json").write_text(json.dumps(doc))
    out = t.render("performance", tmp_path)
    assert "untimed: `--tune` kept the defaults" in out and "1.000" not in out
    assert "P4 (`edgekit quickstart` wall time): untimed" in out
