"""The ``segment`` task: a class per pixel (torchvision's segmenters; Ultralytics' instance
masks). Judged against labels by mIoU (label masks) once its metric lands; until then compared
with FP32 by the tensor agreement (cosine, SQNR), never by a classifier's top-1."""

from __future__ import annotations

from edgekit.tasks import tensor

compare = tensor.compare
