import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgekit import graph


def _conv_gemm_model(batch: object = "N") -> onnx.ModelProto:
    """Conv 3->8 (3x3, pad 1) on 3x10x10, global pool, Gemm 8->5: known MACs."""
    w = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w")
    fw = numpy_helper.from_array(np.ones((5, 8), np.float32), "fw")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [batch, 3, 10, 10])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 5])],
                          [w, fw])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def test_count_macs_and_params_known_answer() -> None:
    m = _conv_gemm_model()
    assert graph.count_macs(m) == 8 * 10 * 10 * 3 * 3 * 3 + 5 * 8
    assert graph.count_params(m) == 8 * 27 + 40


def test_io_spec_reports_dynamic_batch() -> None:
    spec = graph.io_spec(_conv_gemm_model())
    assert spec["inputs"] == [{"name": "x", "shape": ["N", 3, 10, 10], "dtype": "float32"}]
    assert spec["outputs"][0]["shape"] == ["N", 5]


def test_ort_runs_the_model() -> None:
    sess = graph.ort_session(_conv_gemm_model())
    y = graph.ort_run(sess, np.ones((2, 3, 10, 10), np.float32))
    assert y.shape == (2, 5)
