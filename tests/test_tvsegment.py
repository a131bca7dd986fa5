"""torchvision's segmenters as sources: their 'out' exported, task segment with the class
names, verified against torch with the pixel agreement; the published mIoU only for exactly
the pretrained weights (served on 127.0.0.1, never downloaded)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from test_weights import _cli, _Server, server  # noqa: F401 (the fixture)

LRASPP = tvm.segmentation.LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1
NAME = "lraspp_mobilenet_v3_large"


def test_segmenter_exports_its_out_with_names_published_miou_and_pixel_agreement(
        server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(tvm.get_model(NAME, weights=None, weights_backbone=None).state_dict(), buf)
    body = buf.getvalue()
    name = f"{NAME}-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    server.files[f"/{name}"] = (body, {})
    monkeypatch.setattr(LRASPP.value, "url", f"{server.url}/{name}")
    out = tmp_path / "lr.onnx"
    code, stdout, err = _cli(capsys, "export", f"torchvision:{NAME}", "--input-size", "128",
                             "-o", str(out), "--json")
    assert code == 0, err[-2000:]
    man = json.loads(stdout)["manifest"]
    assert server.gets == [f"/{name}"]
    assert man["model"]["task"] == "segment" and man["model"]["names"][15] == "person"
    assert man["model"]["published"] == {"miou": 57.9, "pixel_accuracy": 91.2,
                                         "dataset": "COCO-val2017-VOC-labels",
                                         "weights": str(LRASPP),
                                         "source": "torchvision's weights metadata"}
    assert [o["name"] for o in man["outputs"]] == ["out"]  # the aux head is not exported
    assert man["preprocess"]["resize_mode"] == "stretch"
    ver = man["verification"]
    assert ver["passed"] and ver["metric"] == "pixel_agreement"
    assert ver["pixel_agreement"] == 1.0 and ver["segmentation"]["pixels"] == 5 * 128 * 128
