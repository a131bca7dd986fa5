"""A tiny image classifier written with onnx.helper (no torch): 1x3x16x16 -> 4 logits,
dynamic batch. For store and lab tests that need a real profile, fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write(path: Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(rng.normal(size=(4, 4)).astype(np.float32), "fc")
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "fc"], ["logits"])]
    graph = helper.make_graph(
        nodes, f"tiny{seed}", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                              ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])], [w, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def write_symbolic_fails(path: Path) -> Path:
    """An image classifier with symbolic H, W whose ONNX Runtime symbolic shape inference
    fails (it adds the top and bottom halves of a feature map: floor(H/2) and H - floor(H/2)
    rows, equal for an even H, which sympy cannot prove), so ``quant_pre_process`` saves
    ``sym_shape_infer_temp.onnx`` and a uuid-named ``.data`` file into the working directory.
    The conv weights are over onnx's 1 KiB external-data threshold, so the ``.data`` file is
    written."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(16, 3, 3, 3)).astype(np.float32) * .2, "w"),
             numpy_helper.from_array(rng.normal(size=(16, 10)).astype(np.float32), "fc"),
             numpy_helper.from_array(np.array([2], np.int64), "two"),
             numpy_helper.from_array(np.array([2], np.int64), "axis"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([2**31], np.int64), "end")]
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Shape", ["input"], ["h"], start=2, end=3),
             helper.make_node("Div", ["h", "two"], ["half"]),
             helper.make_node("Slice", ["c", "zero", "half", "axis"], ["top"]),
             helper.make_node("Slice", ["c", "half", "end", "axis"], ["bottom"]),
             helper.make_node("Add", ["top", "bottom"], ["s"]),
             helper.make_node("Relu", ["s"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "fc"], ["logits"])]
    graph = helper.make_graph(
        nodes, "halves", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                        ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def write_two_inputs(path: Path) -> Path:
    """An ONNX with two float inputs (``image``, ``bias``; dynamic batch) added together."""
    import onnx
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 8, 8])
    b = helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["n", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 8, 8])
    g = helper.make_graph([helper.make_node("Add", ["image", "bias"], ["y"])], "two", [a, b], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def write_detector(path: Path, task: str = "detect", names: str = "{0: 'digit', 1: 'face'}"
                   ) -> Path:
    """A detector's raw head as Ultralytics exports it: 1x3x32x32 -> [1, 4 + 2 classes, 16
    anchors], with its ``task``/``names``/``imgsz``/``stride`` metadata_props (Python literals)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.normal(size=(6, 3, 8, 8)).astype(np.float32) * .2, "w")
    shape = numpy_helper.from_array(np.array([1, 6, 16], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["images", "w"], ["c"], name="/model.22/cv2/Conv",
                              strides=[8, 8]),
             helper.make_node("Reshape", ["c", "shape"], ["r"], name="/model.22/Reshape"),
             helper.make_node("Sigmoid", ["r"], ["output0"], name="/model.22/Sigmoid")]
    graph = helper.make_graph(
        nodes, "yolo_like", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                           [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 16])], [w, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in {"task": task, "names": names, "imgsz": "[32, 32]", "stride": "8",
                 "author": "Ultralytics"}.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, str(path))
    return path


def write_two_outputs(path: Path) -> Path:
    """1x3x16x16 -> a feature map [N, 4, 16, 16] and a pooled vector [N, 4]: two outputs,
    no classifier."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(6)
    w = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["features"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["features"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["pooled"])]
    graph = helper.make_graph(
        nodes, "two_outputs", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                             ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 4, 16, 16]),
         helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["N", 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
