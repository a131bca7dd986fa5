"""Weights for a torchvision detector that make an honest test or bench input, without a
download: random initialisation with the BatchNorm statistics recalibrated on the bundled
photos. Fresh random weights give SSD/SSDlite the same output for every image (the initial
running statistics wash the input out) and tied scores; recalibrated, the boxes depend on the
image and the scores differ, the property a verification needs (COCO weights have it). They
detect nothing meaningful: figures made with them are labelled so.

    .venv/bin/python scripts/tv_detector_weights.py ssdlite320_mobilenet_v3_large out.pth
"""

from __future__ import annotations

import sys
from typing import Any


def recalibrated(name: str, count: int = 8, seed: int = 0,
                 background_logit: float = 0.0) -> dict[str, Any]:
    """The state dict of torchvision's ``name`` (random weights, ``seed``) with its
    BatchNorm running statistics set to the averages over ``count`` bundled photos.
    ``background_logit``: added to SSD/SSDlite's background score, so that, as in a trained
    detector, most anchors give the other classes almost nothing (random weights spread the
    softmax evenly: every class of every anchor passes the 0.001 score threshold, and the NMS
    in the graph then sorts tens of thousands of boxes)."""
    import torch
    import torchvision.models as tvm

    from edgekit import tvdetect
    from edgekit.images import photo_batch

    torch.manual_seed(seed)
    m = tvm.get_model(name, weights=None, weights_backbone=None)
    x = torch.from_numpy(photo_batch(tvdetect.preprocess(m), count=count))
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None  # a cumulative average over the batches seen
            mod.reset_running_stats()
    m.train()
    with torch.no_grad():
        images, _ = m.transform(list(x))
        feats = m.backbone(images.tensors)
        feats = list(feats.values()) if isinstance(feats, dict) else [feats]
        m.head(feats) if hasattr(m, "head") else None
    head = getattr(getattr(m, "head", None), "classification_head", None)
    if background_logit and head is not None:
        with torch.no_grad():
            for seq in head.module_list:
                conv = seq[-1] if isinstance(seq, torch.nn.Sequential) else seq
                conv.bias[::head.num_columns] += background_logit  # [anchor][class] channels
    return m.eval().state_dict()


if __name__ == "__main__":
    import torch

    torch.save(recalibrated(sys.argv[1]), sys.argv[2])
    print(sys.argv[2])
