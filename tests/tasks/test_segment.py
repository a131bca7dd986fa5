"""tasks.segment and tasks.segment_miou: pixel agreement with FP32, mIoU and pixel accuracy
from one confusion matrix over the set, masks mapped back through the resize, the INT8 float
tail; torchvision's segmenters as sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from edgekit.errors import ConfigError
from edgekit.resize import geometry
from edgekit.tasks import segment, segment_miou


def test_miou_comes_from_one_confusion_matrix_not_a_mean_over_images() -> None:
    # image A: 1 pixel of class 1, predicted right; image B: 99 pixels of class 1, all wrong
    a_t, a_p = np.array([[1, 0, 0, 0]]), np.array([[1, 0, 0, 0]])
    b_t, b_p = np.ones((1, 99), int), np.zeros((1, 99), int)
    cm = segment.confusion(a_t, a_p, 2) + segment.confusion(b_t, b_p, 2)
    got = segment.scores(cm)
    # class 1: TP 1, union 100 -> 1 %; class 0: TP 3, union 102 -> 2.94 %
    assert got["miou"] == pytest.approx((1 / 100 + 3 / 102) / 2 * 100, abs=1e-3)
    per_image = np.mean([segment.scores(segment.confusion(a_t, a_p, 2))["miou"],
                         segment.scores(segment.confusion(b_t, b_p, 2))["miou"]])
    assert abs(per_image - got["miou"]) > 40  # what averaging per image would have said
    assert got["pixel_accuracy"] == pytest.approx(4 / 103 * 100, abs=1e-3)


def test_the_ignore_index_counts_nowhere_and_absent_classes_are_not_averaged() -> None:
    t = np.array([[0, 0, 255, 255], [2, 2, 2, 2]])
    p = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
    got = segment.scores(segment.confusion(t, p, 4))
    assert got["pixels"] == 6 and got["classes_present"] == 2  # class 1 is only under 255
    assert got["iou"][1] is None and got["iou"][3] is None
    assert got["miou"] == pytest.approx((2 / 3 + 3 / 4) / 2 * 100, abs=1e-3)


def test_pixel_agreement_compares_argmax_masks() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2, 3, 8, 8)).astype(np.float32)
    out = ref.copy()
    out[0, :, 0, :4] = out[0, ::-1, 0, :4]  # four pixels' scores reversed: another argmax
    changed = (segment.masks(ref) != segment.masks(out)).sum()
    cmp = segment.compare([ref], [out])
    assert cmp.segmentation is not None and changed > 0
    assert cmp.segmentation["pixel_agreement"] == pytest.approx(1 - changed / 128)
    assert segment.compare([ref[:, 0]], [out[:, 0]]).segmentation is None  # not class scores


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "crop"])
def test_masks_map_back_to_the_images_own_pixels(mode: str) -> None:
    t = geometry((40, 20), height=16, width=16, mode=mode, resize=16)
    # a mask in model-input pixels whose class is the original x coordinate's half
    xs = (np.arange(16) - t.offset_x + 0.5) / t.scale_x  # original x at each input column
    pred = np.tile((xs >= 20).astype(np.int64), (16, 1))
    back = segment_miou.to_original(pred, t)
    assert back.shape == (20, 40)
    seen = back[10] >= 0
    assert (back[10][seen] == (np.arange(40)[seen] >= 20)).mean() > 0.9
    if mode == "crop":
        assert not seen.all()  # the crop leaves the sides unseen: -1, ignored
    else:
        assert seen.all()


def _masks(folder: Path, layout: tuple[str, str]) -> Path:
    img_dir, mask_dir = folder / layout[0], folder / layout[1]
    img_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (12, 8)).save(img_dir / f"a{i}.jpg")
        Image.fromarray(np.full((8, 12), i, np.uint8), mode="L").save(mask_dir / f"a{i}.png")
    return folder


@pytest.mark.parametrize("layout", [("images", "masks"), ("JPEGImages", "SegmentationClass")])
def test_mask_folders_in_both_layouts_and_one_line_without_masks(
        tmp_path: Path, layout: tuple[str, str]) -> None:
    ds = segment_miou.load(_masks(tmp_path / "d", layout))
    assert len(ds.pairs) == 2 and ds.ignore_index == 255
    assert segment_miou.load(tmp_path / "d", ignore_index=0).ignore_index == 0
    (tmp_path / "e").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "e" / "x.jpg")
    with pytest.raises(ConfigError, match="no images with index-PNG masks"):
        segment_miou.load(tmp_path / "e")


def _graph_with_tail(path: Path) -> Path:
    """Conv -> Resize -> Add -> output (Resize's sizes from a Shape of the input)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 16, 16])
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 3, 1, 1], np.ones(6, np.float32))
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Resize", ["c", "", "scales"], ["r"], name="up", mode="linear"),
             helper.make_node("Add", ["r", "one"], ["y"], name="bias")]
    g = helper.make_graph(nodes, "g", [x], [y], [w, scales, one])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_the_float_tail_is_the_last_resize_and_what_follows(tmp_path: Path) -> None:
    model = onnx.load(_graph_with_tail(tmp_path / "m.onnx"))
    assert segment.float_tail(model) == ["bias", "up"]
    model.graph.node.remove(model.graph.node[1])  # no Resize: nothing kept
    model.graph.node[1].input[0] = "c"
    assert segment.float_tail(model) == []
