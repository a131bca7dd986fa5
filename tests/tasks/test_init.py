"""tasks: the registry, where a model's task comes from, and a toy task added as one row."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import run_cli, tiny_onnx

from edgekit import tasks
from edgekit.errors import ConfigError
from edgekit.tasks import tensor

YOLO_PROPS = {"task": "detect", "names": "{0: 'person', 1: 'bicycle', 2: 'car'}",
              "imgsz": "[320, 320]", "stride": "32"}


def test_the_task_comes_from_the_flag_then_the_record_then_metadata_then_outputs() -> None:
    assert tasks.determine("segment", recorded="classify", props=YOLO_PROPS).source == "--task"
    assert tasks.determine(recorded="classify", props=YOLO_PROPS).name == "classify"
    found = tasks.determine(props=YOLO_PROPS, outputs=[[1, 7, 2100]])
    assert (found.name, found.source) == ("detect", "onnx metadata (ultralytics)")
    assert found.names == ["person", "bicycle", "car"]
    assert found.metadata == {"imgsz": [320, 320], "stride": 32}
    assert tasks.determine(source="segment", outputs=[["N", 10]]).name == "segment"
    clf = tasks.determine(outputs=[["N", 1000]])
    assert (clf.name, clf.source, clf.note) == ("classify", "outputs", None)


def test_outputs_that_are_not_a_classifiers_are_tensor_and_say_so() -> None:
    for outs in ([[1, 1, 320, 320]], [["N", 40, 18710]], [["N", 4], ["N", 4, 16, 16]],
                 [["N", 1]]):
        t = tasks.determine(outputs=outs)
        assert t.name == "tensor" and t.note and "SQNR" in t.note and str(outs[0]) in t.note
    pose = tasks.determine(props={**YOLO_PROPS, "task": "pose"})
    assert pose.name == "tensor" and "pose" in (pose.note or "")


def test_an_unknown_task_is_one_line() -> None:
    with pytest.raises(ConfigError, match="--task count: unknown"):
        tasks.get("count")


def test_a_new_task_is_one_module_and_one_row(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """A toy task (a counter: its agreement is how often the rounded sum matches FP32's) is
    registered as one row; export verifies with its comparison and records it, and --task
    accepts it, with no other change."""
    def count_compare(ref: list[np.ndarray], out: list[np.ndarray],
                      names: list[str] | None = None) -> tensor.Comparison:
        base = tensor.compare(ref, out, names)
        same = np.round(ref[0].sum(1)) == np.round(out[0].sum(1))
        return dataclasses.replace(base, top1_agreement=float(same.mean()),
                                   decisive_top1_agreement=float(same.mean()))

    spec = tasks.TaskSpec(name="count", what="a counter", agreement=tasks.TOP1_AGREEMENT,
                          labelled=None, compare=count_compare, top1=True)
    monkeypatch.setitem(tasks.REGISTRY, "count", spec)
    model = tiny_onnx.write(tmp_path / "tiny.onnx")
    r = run_cli("export", str(model), "--task", "count", "-o", str(tmp_path / "t.onnx"),
                "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    man: dict[str, Any] = json.loads(r.stdout)["manifest"]
    assert man["model"]["task"] == "count" and man["model"]["task_source"] == "--task"
    assert man["verification"]["task"] == "count"
    assert man["verification"]["top1_agreement"] == 100.0
