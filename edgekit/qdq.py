"""Where a quantized ONNX graph holds its Q/DQ pairs, in a few figures (a pure function of the
graph, for the manifest of every INT8 file, whichever quantizer made it).

- ``activation_qdq_pairs``: QuantizeLinear nodes on computed tensors (not on weights) that feed
  a DequantizeLinear: what TensorRT turns into INT8 tensors.
- ``weight_dq``: DequantizeLinear nodes whose data is a constant (INT8 weights, or FP32 weights
  with a Q->DQ pair on them).
- ``quantized_inputs_by_op``: per op type, how many nodes take at least one activation through
  a Q/DQ pair (weights not counted).
- ``adds``: residual-style ``Add`` nodes (two computed inputs) by how many of their inputs come
  through an activation Q/DQ pair (``0``, ``1``, ``2``): TensorRT fuses an ``Add`` into the
  Conv that feeds it only when that branch's input is left unquantized.
- ``logits_float``: every graph output is FP32 and not produced by a DequantizeLinear (looking
  through Cast and Identity): the classifier's result is not re-quantized to INT8.
"""

from __future__ import annotations

from typing import Any

_PASS = ("Cast", "Identity")


def summary(model: Any) -> dict[str, Any]:
    """The Q/DQ placement summary of ``model`` (an ``onnx.ModelProto``)."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consts = {i.name for i in g.initializer} | {
        o for n in g.node if n.op_type == "Constant" for o in n.output}

    def constant(t: str) -> bool:
        """A weight: an initializer, a Constant, or one cast/quantized from them."""
        n = producer.get(t)
        while n is not None and n.op_type in (*_PASS, "QuantizeLinear") and n.input:
            if n.input[0] in consts:
                return True
            n = producer.get(n.input[0])
        return t in consts

    act_dq = {n.output[0] for n in g.node if n.op_type == "DequantizeLinear"
              and n.input[0] in producer and producer[n.input[0]].op_type == "QuantizeLinear"
              and not constant(producer[n.input[0]].input[0])}
    pairs = {producer[t].input[0] for t in act_dq}  # the Q outputs (one Q, many DQs)
    by_op: dict[str, int] = {}
    adds = {"0": 0, "1": 0, "2": 0}
    for n in g.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        quantized = [i for i in n.input if i in act_dq]
        if quantized:
            by_op[n.op_type] = by_op.get(n.op_type, 0) + 1
        if n.op_type == "Add" and len(n.input) == 2 and not any(constant(i) for i in n.input):
            adds[str(len(quantized))] += 1
    return {"activation_qdq_pairs": len(pairs),
            "weight_dq": sum(n.op_type == "DequantizeLinear" and constant(n.input[0])
                             for n in g.node),
            "quantized_inputs_by_op": dict(sorted(by_op.items())), "adds": adds,
            "logits_float": all(_float_output(o, producer) for o in g.output)}


def _float_output(out: Any, producer: dict[str, Any]) -> bool:
    if out.type.tensor_type.elem_type != 1:  # onnx.TensorProto.FLOAT
        return False
    n = producer.get(out.name)
    while n is not None and n.op_type in _PASS and n.input:
        n = producer.get(n.input[0])
    return n is None or n.op_type != "DequantizeLinear"
