"""The ``detect`` task: boxes and classes (Ultralytics YOLO's raw head, torchvision's
detectors). Judged against labels by mAP@0.5:0.95 (COCO JSON or YOLO txt labels) once box
decoding lands; until then compared with FP32 by the tensor agreement (cosine, SQNR), never
by a classifier's top-1."""

from __future__ import annotations

from edgekit.tasks import tensor

compare = tensor.compare
