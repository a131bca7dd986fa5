"""``--fuse-preprocess``: the normalisation moved into the ONNX graph.

The fused graph takes the resized/centre-cropped pixels as they come from a camera or an image
decoder: ``uint8`` N x H x W x 3, in the contract's channel order (BGR when it says ``bgr``).
Four nodes in front of the model do the rest: Cast to float32 (first, as TensorRT converts a
uint8 network input only to float), Transpose to NCHW, one Mul and one Add that fold the
1/255 scale and mean/std (``x * 1/(255 std) + (-mean/std)``, float32). Done on the exported
ONNX, so it covers every source kind; the batch axis stays as the unfused export has it. The
nodes are named ``edgekit_preprocess/...`` so the INT8 quantizer leaves them in float (see
ARCHITECTURE.md, rule 8).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit._lazy import require
from edgekit.errors import SourceError
from edgekit.images import Preprocess

PREFIX = "edgekit_preprocess/"
INPUT = "pixels"  # the fused graph's input


def fold(pp: Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """(scale, bias), each 1 x 3 x 1 x 1 float32: ``x/255`` then ``(x - mean)/std`` as one
    multiply-add."""
    mean, std = np.asarray(pp.mean, np.float64), np.asarray(pp.std, np.float64)
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(1, 3, 1, 1)
    bias = (-mean / std).astype(np.float32).reshape(1, 3, 1, 1)
    return scale, bias


def nodes_of(model: Any) -> list[str]:
    """The names of the preprocessing nodes ``fuse`` put in ``model`` (none if unfused)."""
    return [n.name for n in model.graph.node if n.name.startswith(PREFIX)]


def check_input(model: Any, where: str) -> Any:
    """The one image input a fused graph can be put in front of: float NCHW with 3 channels
    (an error line otherwise); returns its ValueInfo."""
    onnx = require("onnx")
    inits = {i.name for i in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in inits]
    if len(inputs) != 1:
        raise SourceError(f"--fuse-preprocess: the model has {len(inputs)} inputs; it fuses "
                          "into a single-image-input classifier", "drop --fuse-preprocess",
                          path=where)
    v = inputs[0]
    tt = v.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
    if tt.elem_type == onnx.TensorProto.UINT8 or v.name == INPUT:
        raise SourceError("--fuse-preprocess: the model already takes uint8 pixels (its "
                          "preprocessing is fused)", "drop --fuse-preprocess", path=where)
    if tt.elem_type != onnx.TensorProto.FLOAT or len(dims) != 4 or dims[1] != 3:
        kind = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else "?"
        raise SourceError(f"--fuse-preprocess needs a float32 N x 3 x H x W image input; "
                          f"'{v.name}' is {kind} {dims}", "drop --fuse-preprocess (it is for "
                          "RGB/BGR image classifiers)", path=where)
    if not all(isinstance(d, int) and d > 0 for d in dims[2:]):
        raise SourceError(f"--fuse-preprocess needs a fixed H x W; '{v.name}' is {dims}",
                          "pass --input-size H,W", path=where)
    return v


def fuse(model: Any, pp: Preprocess, where: str) -> Any:
    """A copy of ``model`` (float NCHW input) that takes uint8 NHWC pixels instead."""
    onnx = require("onnx")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    v = check_input(model, where)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    old = v.name
    dims = list(v.type.tensor_type.shape.dim)  # N, C, H, W -> N, H, W, 3 (N kept as it is)
    pixels = helper.make_tensor_value_info(INPUT, onnx.TensorProto.UINT8, None)
    shape = pixels.type.tensor_type.shape
    for d in (dims[0], dims[2], dims[3]):
        shape.dim.add().CopyFrom(d)
    shape.dim.add().dim_value = 3
    scale, bias = fold(pp)
    g.initializer.extend([numpy_helper.from_array(scale, PREFIX + "scale"),
                          numpy_helper.from_array(bias, PREFIX + "bias")])
    pre = [helper.make_node("Cast", [INPUT], [PREFIX + "float"], name=PREFIX + "cast",
                            to=onnx.TensorProto.FLOAT),
           helper.make_node("Transpose", [PREFIX + "float"], [PREFIX + "nchw"],
                            name=PREFIX + "to_nchw", perm=[0, 3, 1, 2]),
           helper.make_node("Mul", [PREFIX + "nchw", PREFIX + "scale"], [PREFIX + "scaled"],
                            name=PREFIX + "scale"),
           helper.make_node("Add", [PREFIX + "scaled", PREFIX + "bias"], [old],
                            name=PREFIX + "normalise")]
    nodes = [*pre, *g.node]
    del g.node[:]
    g.node.extend(nodes)
    at = [i for i, x in enumerate(g.input) if x.name == old][0]
    g.input.insert(at, pixels)
    g.input.remove(g.input[at + 1])
    return out
