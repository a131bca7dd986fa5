"""yolo: an Ultralytics .pt checkpoint is recognised, refused without --trust-checkpoint, and
exported through Ultralytics' own exporter into edgekit's ONNX path (where it is installed)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from support import import_ultralytics, run_cli

from edgekit import yolo


def _fake_checkpoint(path: Path, marker: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02c" + marker + b"\nDetectionModel\n")
    return path


def test_a_checkpoint_is_recognised_by_its_pickle_and_needs_trust(tmp_path: Path) -> None:
    pt = _fake_checkpoint(tmp_path / "best.pt", b"ultralytics.nn.tasks")
    assert yolo.is_checkpoint(pt)
    assert not yolo.is_checkpoint(_fake_checkpoint(tmp_path / "other.pt", b"torchvision.models"))
    assert not yolo.is_checkpoint(tmp_path / "missing.pt")
    r = run_cli("export", str(pt), cwd=tmp_path)
    assert r.returncode == 2 and "runs code in it" in r.stderr and "--trust-checkpoint" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "other.pt"]


@pytest.mark.slow
def test_an_ultralytics_checkpoint_exports_through_its_own_exporter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ul = import_ultralytics("ultralytics", monkeypatch)
    monkeypatch.chdir(tmp_path)
    ul.YOLO("yolov8n.yaml").save(str(tmp_path / "v8n.pt"))  # untrained: no download
    r = run_cli("export", str(tmp_path / "v8n.pt"), "--trust-checkpoint", "-o",
                str(tmp_path / "v8n.onnx"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    man = json.loads(r.stdout)["manifest"]  # stdout is one JSON object: Ultralytics silenced
    assert man["model"]["task"] == "detect" and len(man["model"]["names"]) == 80
    assert man["preprocess"]["resize_mode"] == "letterbox" and not man["preprocess"]["assumed"]
    assert man["lineage"]["source"]["provider"] == "ultralytics"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".onnx", ".json")) == [
        "v8n.onnx", "v8n.onnx.json"]
