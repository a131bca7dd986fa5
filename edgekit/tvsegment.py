"""torchvision's semantic segmenters (LRASPP, DeepLabV3, FCN) as export sources.

Each returns a dict (``out``, and ``aux`` where the auxiliary head is built); ``wrap`` keeps
``out``: ``[N, classes, H, W]`` logits at the input's size (the model upsamples inside), the
layout ``tasks.segment`` reads (argmax per pixel). The recipe is torchvision's evaluation
preset (``SemanticSegmentation``: ImageNet's normalisation, the shorter side to 520) at a
fixed square: the image is stretched to 520 x 520, since an exported graph takes one size;
the published mIoU was measured with the aspect kept, so it is labelled as torchvision's.
"""

from __future__ import annotations

import functools
from typing import Any

from edgekit._lazy import require
from edgekit.images import Preprocess
from edgekit.weights import WeightsRecord

SIZE = 520  # torchvision's SemanticSegmentation resize_size


@functools.cache
def names() -> frozenset[str]:
    tvm = require("torchvision.models")
    return frozenset(tvm.list_models(module=tvm.segmentation))


def wrap(model: Any) -> Any:
    """The segmenter as ``[N, 3, H, W] -> out [N, classes, H, W]`` (its ``aux`` dropped)."""
    torch = require("torch")

    class TorchvisionSegmenter(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self, segmenter: Any) -> None:
            super().__init__()
            self.segmenter = segmenter

        def forward(self, x: Any) -> Any:
            return self.segmenter(x)["out"]

    return TorchvisionSegmenter(model).eval()


def preprocess() -> Preprocess:
    from edgekit.preprocessing import stretched_imagenet

    return stretched_imagenet(SIZE)


def build(name: str, opts: Any) -> tuple[Any, WeightsRecord, Preprocess, list[str],
                                         list[str] | None, dict[str, Any] | None]:
    """(wrapped module, weights record, recipe, notes, class names, published figures) of a
    torchvision segmenter; its published mIoU and pixel accuracy only for the exact
    pretrained weights."""
    from edgekit.checkpoints import build_torchvision_task, published_of

    model, record, enum, cats = build_torchvision_task(name, opts)
    published = published_of(enum, "COCO-val2017-VOC-labels",
                             {"miou": "miou", "pixel_acc": "pixel_accuracy"})
    notes = ["segmenter: its 'out' logits at the input's size; the aux head is not exported"]
    return wrap(model), record, preprocess(), notes, cats, published
