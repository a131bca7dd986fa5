"""What a TensorRT version can build, decided before any work (``engine.build`` calls these).

Each rule comes from the TensorRT bindings and documentation at the release tags:

- ``--hardware-compatible same-cc`` needs ``HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY``,
  added in 10.9 (8.6 and 10.0-10.8, JetPack 6's 10.3 included, have NONE and AMPERE_PLUS only).
- DLA (``--dla-core``): no dynamic dimensions (the profile's min = opt = max), and FP16 or INT8
  only, so TensorRT < 11 needs ``--precision fp16|int8|best`` (trtexec forces FP16 with
  ``--useDLACore``). 10.7 was the last 10.x with DLA, and JetPack's 11.x has it from 11.4.1.
- 8.6 has no strongly typed networks: on the default path the precision the ONNX carries is
  asked for with builder flags (INT8 when it has Q/DQ nodes, which 8.6 refuses to build
  otherwise; FP16 when it is an FP16 ONNX or has Q/DQ), and the manifest says
  ``strongly_typed: false``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError
from edgekit.trt import trt_api

NO_DLA = ((10, 8, 0), (11, 4, 1))  # [from, to): TensorRT releases without DLA on Jetson


def refuse_unsupported(trt: trt_api.TensorRT, opts: Any) -> None:
    """One line naming the version and what to do, for what this TensorRT cannot build."""
    v = trt_api.version(trt)
    if opts.hardware_compatible == "same-cc" and not hasattr(
            trt.HardwareCompatibilityLevel, "SAME_COMPUTE_CAPABILITY"):
        raise ConfigError(f"--hardware-compatible same-cc needs TensorRT >= 10.9, this is "
                          f"{trt.__version__}", "use --hardware-compatible ampere+, or none")
    if opts.dla_core is None:
        return
    if NO_DLA[0] <= v < NO_DLA[1]:
        raise ConfigError(f"--dla-core: TensorRT {trt.__version__} has no DLA support (10.7 was "
                          "the last 10.x with DLA; JetPack's 11.x has it from 11.4.1)",
                          "build on JetPack 6's TensorRT 10.3, or drop --dla-core")
    if trt_api.has_weak_typing(trt) and opts.precision is None:
        raise ConfigError("--dla-core needs --precision fp16 or int8: DLA runs FP16 and INT8 "
                          "layers only", "add --precision fp16 (or int8 with --calib DIR)")


def onnx_facts(onnx_path: Path) -> dict[str, Any]:
    """Q/DQ node count and whether the ONNX holds FP16 tensors (None/False without onnx)."""
    try:
        import onnx
    except ImportError:
        return {"qdq_nodes": None, "fp16": False}
    m = onnx.load(str(onnx_path), load_external_data=False)
    fp16 = onnx.TensorProto.FLOAT16
    has_fp16 = any(t.data_type == fp16 for t in m.graph.initializer) or any(
        v.type.tensor_type.elem_type == fp16 for v in [*m.graph.input, *m.graph.value_info])
    return {"qdq_nodes": sum(n.op_type in ("QuantizeLinear", "DequantizeLinear")
                             for n in m.graph.node), "fp16": has_fp16}


def flags_without_strong_typing(trt: trt_api.TensorRT, facts: dict[str, Any],
                                parent_precision: str | None) -> list[str]:
    """The builder flags that make 8.6 build what the ONNX says (the default path there)."""
    if trt_api.major(trt) >= 10:
        return []
    flags = []
    if facts.get("fp16") or parent_precision == "fp16" or facts.get("qdq_nodes"):
        flags.append("FP16")
    if facts.get("qdq_nodes"):
        flags.append("INT8")
    return flags


def dla_layers(network: Any, config: Any) -> dict[str, int]:
    """How many of the network's layers DLA can run (``config.can_run_on_DLA``)."""
    n = network.num_layers
    on = sum(bool(config.can_run_on_DLA(network.get_layer(i))) for i in range(n))
    return {"layers": n, "on_dla": on}
