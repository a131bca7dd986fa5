"""The commands that reproduce a stored result: the ``edgekit export`` (and ``quantize``) lines
that make its artifact, from the manifest's lineage, and the ``edgekit profile`` line, from the
result's settings. Plain data in (a store row with its result), strings out."""

from __future__ import annotations

import shlex
from typing import Any

from edgekit.identity import RunSettings
from edgekit.precision import Precision


def _q(text: Any) -> str:
    return shlex.quote(str(text))


def _export_line(man: dict[str, Any], out: str) -> str | None:
    """``edgekit export SPEC -o OUT ...`` for an FP32 ONNX made by export (None where the
    manifest does not record its source)."""
    src = (man.get("lineage") or {}).get("source") or {}
    spec = src.get("spec")
    if not spec:
        return None
    parts = ["edgekit", "export", _q(spec), "-o", _q(out)]
    shape = (man.get("input") or {}).get("shape") or []
    fused = bool((man.get("preprocess") or {}).get("fused"))
    hw = shape[1:3] if fused else shape[2:]  # a fused ONNX takes N x H x W x 3 pixels
    if len(shape) == 4 and all(isinstance(d, int) for d in hw):
        parts += ["--input-size", f"{hw[0]},{hw[1]}"]
    if fused:
        parts.append("--fuse-preprocess")
    if src.get("kind") == "onnx":  # a foreign ONNX: the flags are the only record of the recipe
        parts += recipe_flags(man.get("preprocess") or {})
    if shape and isinstance(shape[0], int) and shape[0] > 0:
        parts += ["--batch", str(shape[0])]
    weights = str(src.get("weights") or "")
    if weights.startswith("checkpoint:"):
        parts += ["--weights", _q(weights.removeprefix("checkpoint:"))]
    elif weights == "random" and src.get("kind") in ("catalog", "torchvision", "timm"):
        parts.append("--random-weights")  # pretrained weights are the default
    return " ".join(parts)


def recipe_flags(pp: dict[str, Any]) -> list[str]:
    """The preprocessing flags that state a recorded recipe (none for an assumed one)."""
    if not pp or pp.get("assumed"):
        return []

    def nums(v: Any) -> str:
        return ",".join(f"{float(x):g}" for x in v)

    out = ["--mean", nums(pp["mean"]), "--std", nums(pp["std"]),
           "--interpolation", str(pp["interpolation"]),
           "--channel-order", str(pp.get("channel_order", "rgb"))]
    mode = pp.get("resize_mode", "crop")
    if mode == "crop":
        out += ["--resize", str(pp["resize"])]
    else:
        out += ["--resize-mode", mode]
    if mode == "letterbox":
        out += ["--pad-value", nums(pp.get("pad_value", [114])), "--pad-side",
                str(pp.get("pad_side", "center"))]
    return out


def _quantize_line(man: dict[str, Any], parent: str, out: str) -> str:
    parts = ["edgekit", "quantize", _q(parent), f"--{man.get('precision', 'int8')}", "-o", _q(out)]
    q = man.get("quantization") or {}
    if q.get("method") and q["method"] != "minmax":
        parts += ["--calib-method", str(q["method"])]
    if q.get("per_channel") is False:
        parts.append("--per-tensor")
    if man.get("target") and man["target"] != "cpu":
        parts += ["--target", str(man["target"])]
    for node in q.get("exclude") or []:
        parts += ["--exclude", _q(node)]
    calib = q.get("calibration") or {}
    if calib.get("source") and calib.get("kind") not in (None, "bundled"):
        parts += ["--calib", _q(calib["source"])]
    return " ".join(parts)


def artifact_commands(row: dict[str, Any]) -> list[str]:
    """The lines that make the result's artifact (none for a model spec run by torch)."""
    result = row.get("result") or {}
    art = result.get("artifact") or {}
    man = result.get("manifest")
    if art.get("kind") != "onnx" or not isinstance(man, dict):
        return []
    path = str(art.get("path"))
    parent = ((man.get("lineage") or {}).get("parent") or {}).get("path")
    if man.get("precision", "fp32") == "fp32" or not parent:
        line = _export_line(man, path)
        return [line] if line else []
    # the parent's manifest was carried into this one: same source, input and batch
    first = _export_line(man, str(parent))
    return ([first] if first else []) + [_quantize_line(man, str(parent), path)]


def profile_command(row: dict[str, Any]) -> str:
    """``edgekit profile`` with exactly the settings the result asked for (its
    ``identity.RunSettings``), so the line measures under the same settings key; a row stored
    before that record existed gets the flags its settings still show."""
    result = row.get("result") or {}
    run = RunSettings.of_row(row) or _recovered(row)
    parts = ["edgekit", "profile", _q((result.get("artifact") or {}).get("path")),
             *(_q(a) for a in run.profile_args())]
    acc = result.get("accuracy") or {}
    if acc.get("folder"):
        parts += ["--data", _q(acc["folder"])]
    return " ".join(parts)


def _recovered(row: dict[str, Any]) -> RunSettings:
    """What an old row (no ``run`` record) still says it asked for."""
    result = row.get("result") or {}
    s = result.get("settings") or {}
    precision = str(row.get("precision") or "fp32")
    man_precision = (result.get("manifest") or {}).get("precision", "fp32")
    dtype = "fp32" if precision == man_precision else (
        Precision(precision).parts()[1].value if precision == Precision.INT8_BF16 else precision)
    threads = 0 if s.get("tune") else (s.get("intra_threads")
                                        or (s.get("requested") or {}).get("threads") or 0)
    return RunSettings(backend=str(row["backend"]), batch=int(row["batch"]), dtype=dtype,
                       device=str(result.get("device") or "cpu"), threads=int(threads),
                       tune=bool(s.get("tune")), ov_device=str(s.get("ov_device") or "CPU"),
                       warmup=int(s.get("warmup") or 10), iterations=s.get("iterations"),
                       duration_s=s.get("duration_s"))
