"""What a variant is and what it is checked against: a --dtype on an artifact (an FP32 ONNX in
bf16, OpenVINO's int8-bf16 on an INT8 ONNX) and the FP32 parent a variant's outputs are
compared with. Profile asks here before any work."""

from __future__ import annotations

from pathlib import Path

from edgekit.backends import BackendSpec, RunnerOptions
from edgekit.errors import ConfigError, SourceError
from edgekit.manifest import Manifest
from edgekit.precision import Precision


def check_dtype(man: Manifest | None, spec: BackendSpec, ropts: RunnerOptions,
                target: str) -> None:
    """A --dtype other than fp32 computes an FP32 artifact in that precision; an artifact of
    another precision (an INT8 ONNX) carries its own, and the result would be mislabelled,
    unless the pair is a precision the backend runs (OpenVINO's int8-bf16)."""
    if ropts.dtype is Precision.FP32 or man is None or man.precision is Precision.FP32:
        return
    try:
        ran = Precision.of_run(man.precision, ropts.dtype)
    except ValueError:
        ran = None
    if ran is None or ran not in spec.sweep:
        raise ConfigError(f"--dtype {ropts.dtype.value} runs an FP32 artifact; this one is "
                          f"{man.precision.value}", "profile its FP32 parent with --dtype, or "
                          "drop --dtype", path=target)


def fp32_reference(man: Manifest | None, ropts: RunnerOptions, agreement: Path | None,
                   target: str) -> Path | None:
    """The FP32 parent a variant is compared with: an --agreement-data run of a variant
    artifact's, and an INT8 artifact computed in a --dtype (int8-bf16) always (None: an FP32
    artifact's --dtype run, compared with the artifact itself in FP32)."""
    mixed = (man is not None and man.precision is not Precision.FP32
             and ropts.dtype is not Precision.FP32)
    if not mixed and (agreement is None or ropts.dtype is not Precision.FP32):
        return None
    what = (f"--dtype {ropts.dtype.value}" if mixed else "--agreement-data")
    par = man.lineage.parent if man is not None else None
    if (man is None or man.kind != "onnx" or man.precision is Precision.FP32 or par is None
            or man.lineage.parent_precision not in (None, Precision.FP32)):
        raise ConfigError(f"{what} compares a variant (an INT8/FP16 ONNX, or a --dtype "
                          "run) with its FP32 parent; this artifact has none",
                          f"drop {what}, or profile the variant", path=target)
    for p in (Path(par.path), Path(target).parent / Path(par.path).name):
        if p.is_file():
            return p
    raise SourceError(f"{what}: the FP32 parent {par.path} is not there",
                      f"keep the parent ONNX beside the variant, or drop {what}",
                      path=target)
