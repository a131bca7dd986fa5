"""``edgekit build MODEL.onnx``: a TensorRT engine for this GPU or Jetson, with its manifest.

One build path for TensorRT 10 and 11 (and 8.6), all TensorRT calls through ``trt_api``:

- Primary, strongly typed: precision comes from the ONNX (``NAME.fp16.onnx``, or
  ``NAME.int8.onnx`` with symmetric Q/DQ from ``edgekit quantize --target tensorrt``: ModelOpt's,
  with its unquantized layers in FP16, or ORT's; the manifest's ``quantized_by``). On 10.x the
  network is created STRONGLY_TYPED; on 11 every network is. 8.6 has no strongly typed networks:
  there the ONNX's precision is asked for with builder flags (``checks.py``) and the manifest
  says ``strongly_typed: false``.
- Legacy, weakly typed (``--precision fp16|int8|best``, INT8 calibrated from ``--calib`` with a
  cache file): TensorRT < 11 only; refused on 11 with what to do instead.

After the build the engine is read back with the engine inspector and the precision each layer
actually got is summarised, so an FP32 engine built when FP16 was asked for is visible.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit import manifest
from edgekit._io import atomic_paths, check_writable_dir
from edgekit.errors import ConfigError, ExportError, SourceError
from edgekit.precision import Precision
from edgekit.preprocessing import resolve
from edgekit.progress import Reporter
from edgekit.trt import calibrate, checks, trt_api

Shapes = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # min, opt, max
HW_COMPAT = {"none": None, "ampere+": "AMPERE_PLUS", "same-cc": "SAME_COMPUTE_CAPABILITY"}
LEGACY = ("fp16", "int8", "best")
DEFAULT_MAX_BATCH = 32


@dataclass(kw_only=True)
class BuildOptions:
    output: Path | None = None
    precision: str | None = None  # None: strongly typed (precision from the ONNX); else legacy
    shapes: dict[str, Shapes] = field(default_factory=dict)
    workspace_mib: int | None = None
    timing_cache: Path | None = None
    opt_level: int | None = None
    dla_core: int | None = None
    gpu_fallback: bool = False
    hardware_compatible: str = "none"
    version_compatible: bool = False
    calib: Path | None = None
    calib_cache: Path | None = None
    verbose: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        d["shapes"] = {k: [list(s) for s in v] for k, v in self.shapes.items()}
        return d


def parse_shapes(specs: list[str]) -> dict[str, Shapes]:
    """``input:1x3x224x224,8x3x224x224,32x3x224x224`` (min,opt,max) or ``input:1x3x224x224``."""
    out: dict[str, Shapes] = {}
    for spec in specs:
        name, _, dims = spec.rpartition(":")
        try:
            shapes = tuple(tuple(int(d) for d in s.lower().split("x")) for s in dims.split(","))
        except ValueError:
            shapes = ()
        if not name or len(shapes) not in (1, 3) or any(min(s) < 1 for s in shapes):
            raise ConfigError(f"--shapes '{spec}' is not NAME:MIN,OPT,MAX",
                              "write e.g. input:1x3x224x224,8x3x224x224,32x3x224x224")
        if len(shapes) == 1:
            shapes = shapes * 3
        if len({len(s) for s in shapes}) != 1 or any(
                not (a <= b <= c) for a, b, c in zip(*shapes, strict=True)):
            raise ConfigError(f"--shapes '{spec}': need the same rank and min <= opt <= max",
                              "write e.g. input:1x3x224x224,8x3x224x224,32x3x224x224")
        out[name] = (shapes[0], shapes[1], shapes[2])
    return out


def preflight(onnx_path: Path, opts: BuildOptions) -> Path:
    """Checks that need no TensorRT, before importing it."""
    if onnx_path.suffix.lower() != ".onnx":
        raise SourceError("edgekit build takes an .onnx file", "export one: edgekit export SPEC",
                          path=str(onnx_path))
    if not onnx_path.is_file() or onnx_path.stat().st_size == 0:
        raise SourceError("ONNX file not found or empty", "check the path", path=str(onnx_path))
    if opts.precision is not None and opts.precision not in LEGACY:
        raise ConfigError(f"--precision {opts.precision}: use fp16, int8 or best",
                          "or leave it out: the ONNX's own precision is built (strongly typed)")
    if opts.calib is not None and opts.precision not in ("int8", "best"):
        raise ConfigError("--calib calibrates the legacy INT8 build", "add --precision int8, or "
                          "quantize the ONNX with Q/DQ: edgekit quantize M.onnx --int8 "
                          "--target tensorrt")
    if opts.calib_cache is not None and opts.precision not in ("int8", "best"):
        raise ConfigError("--calib-cache belongs to the legacy INT8 build", "add --precision int8")
    if opts.gpu_fallback and opts.dla_core is None:
        raise ConfigError("--gpu-fallback needs --dla-core N", "add --dla-core 0")
    if opts.hardware_compatible not in HW_COMPAT:
        raise ConfigError(f"--hardware-compatible {opts.hardware_compatible}",
                          "use none, ampere+ or same-cc")
    if opts.opt_level is not None and not 0 <= opts.opt_level <= 5:
        raise ConfigError(f"--opt-level {opts.opt_level} is not 0-5", "TensorRT's default is 3")
    out = opts.output or onnx_path.with_suffix(".engine")
    check_writable_dir(out)
    for cache in (opts.timing_cache, opts.calib_cache):  # written after minutes of building
        if cache is not None:
            check_writable_dir(cache)
    return out


def refuse_on_11(trt: trt_api.TensorRT, opts: BuildOptions) -> None:
    if trt_api.has_weak_typing(trt) or opts.precision is None:
        return
    fix = ("convert the ONNX first: edgekit quantize MODEL.onnx --fp16, then build MODEL.fp16.onnx"
           if opts.precision == "fp16" else
           "quantize with Q/DQ first: edgekit quantize MODEL.onnx --int8 --target tensorrt, then "
           "build MODEL.int8.onnx")
    raise ConfigError(f"TensorRT {trt.__version__} builds strongly typed networks only: "
                      f"--precision {opts.precision} (builder flags, calibrators) is gone", fix)


def parse(trt: trt_api.TensorRT, onnx_path: Path, strongly_typed: bool, verbose: bool,
          rep: Reporter) -> tuple[Any, Any, Any]:
    builder, logger = trt_api.builder(trt, verbose)
    network = builder.create_network(trt_api.network_flags(trt, strongly_typed))
    parser = trt_api.parser(trt, network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        for e in errors:  # one line per node, then the one-line error
            rep.warn(f"TensorRT parser: {trt_api.parser_error(e)}")
        what = trt_api.parser_error(errors[0]) if errors else "no detail"
        raise ExportError(f"TensorRT cannot parse the ONNX: {len(errors)} error(s), first at "
                          f"{what}", "see the lines above; re-export with another --opset, or "
                          "simplify the graph", path=str(onnx_path))
    return builder, network, logger


def profiles(trt: trt_api.TensorRT, builder: Any, network: Any, config: Any,
             shapes: dict[str, Shapes], static: bool = False
             ) -> tuple[dict[str, list[list[int]]], Any]:
    """One optimisation profile: --shapes where given, else batch 1 / 1 / 32 on dynamic inputs.
    ``static`` (DLA, which has no dynamic dimensions): min = max = opt, opt batch 1 by default."""
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise ConfigError(f"--shapes names '{unknown[0]}', which is not an input",
                          f"the inputs are: {', '.join(names)}")
    profile = builder.create_optimization_profile()
    used: dict[str, list[list[int]]] = {}
    for i in range(network.num_inputs):
        t = network.get_input(i)
        dims = list(t.shape)
        if t.name in shapes:
            lo, opt, hi = shapes[t.name]
            if len(lo) != len(dims) or any(d > 0 and d != s for d, s in zip(dims, lo, strict=True)):
                raise ConfigError(f"--shapes {t.name}: {list(lo)} does not fit the input's "
                                  f"{dims}", "keep the static dimensions as they are")
        elif any(d < 0 for d in dims[1:]):
            raise ConfigError(f"input '{t.name}' has dynamic dimensions {dims}",
                              f"give them: --shapes {t.name}:MIN,OPT,MAX")
        elif dims and dims[0] < 0:
            rest = tuple(dims[1:])
            lo, opt, hi = (1, *rest), (1, *rest), (DEFAULT_MAX_BATCH, *rest)
        else:
            continue
        if static:
            lo = hi = opt
        profile.set_shape(t.name, lo, opt, hi)
        used[t.name] = [list(lo), list(opt), list(hi)]
    if used:
        config.add_optimization_profile(profile)
    return used, profile if used else None


def configure(trt: trt_api.TensorRT, builder: Any, config: Any, opts: BuildOptions,
              calib_batches: Any, onnx_flags: tuple[str, ...] = ()) -> None:
    """``onnx_flags``: the precision flags that stand for the ONNX's own types on 8.6."""
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if opts.workspace_mib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, opts.workspace_mib << 20)
    if opts.opt_level is not None:
        config.builder_optimization_level = opts.opt_level
    if opts.precision in ("fp16", "best") or "FP16" in onnx_flags:
        config.set_flag(trt.BuilderFlag.FP16)
    if opts.precision in ("int8", "best") or "INT8" in onnx_flags:
        config.set_flag(trt.BuilderFlag.INT8)
        if calib_batches is not None:
            config.int8_calibrator = calib_batches
    if opts.dla_core is not None:
        if builder.num_DLA_cores == 0:
            raise ConfigError(f"--dla-core {opts.dla_core}: this device has no DLA",
                              "drop --dla-core (DLA exists on Jetson AGX/NX Orin and Xavier)")
        if opts.dla_core >= builder.num_DLA_cores:
            raise ConfigError(f"--dla-core {opts.dla_core}: this device has "
                              f"{builder.num_DLA_cores} DLA core(s)",
                              f"use 0..{builder.num_DLA_cores - 1}")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = opts.dla_core
        if opts.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    level = HW_COMPAT[opts.hardware_compatible]
    if level:
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, level)
    if opts.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)


def layer_summary(info_json: str) -> dict[str, Any]:
    """Per-layer precision from the engine inspector's JSON (ProfilingVerbosity.DETAILED):
    each layer's first output "Format/Datatype", e.g. "Thirty-two wide channel vectorized row
    major Int8 format." / "Row major linear FP16 format" / "Float"; "Reformat" layers counted."""
    try:
        layers = json.loads(info_json).get("Layers", [])
    except (json.JSONDecodeError, AttributeError):
        return {"layers": 0, "note": "engine inspector output was not JSON"}
    counts: dict[str, int] = {}
    reformats = 0
    for layer in layers:
        if not isinstance(layer, dict):
            continue  # ProfilingVerbosity.LAYER_NAMES_ONLY gives names only
        if layer.get("LayerType") == "Reformat":
            reformats += 1
            continue
        outs = layer.get("Outputs") or [{}]
        kind = _precision(str(outs[0].get("Format/Datatype", "")))
        counts[kind] = counts.get(kind, 0) + 1
    n = sum(counts.values())
    return {"layers": n, "reformat_layers": reformats, "by_precision": counts,
            "percent": {k: round(100 * v / n, 1) for k, v in counts.items()} if n else {}}


def _precision(fmt: str) -> str:
    f = fmt.lower()
    for key, pats in (("unknown", ("n/a",)), ("int8", ("int8",)), ("fp8", ("fp8",)),
                      ("bf16", ("bf16", "bfloat16")), ("fp16", ("fp16", "half")),
                      ("fp32", ("fp32", "float")), ("int32", ("int32",)), ("bool", ("bool",))):
        if any(p in f for p in pats):
            return key
    return "unknown"


def build(onnx_path: Path, opts: BuildOptions, rep: Reporter | None = None) -> dict[str, Any]:
    """Build, inspect and write ``NAME.engine`` and ``NAME.engine.json``; returns the manifest."""
    rep = rep or Reporter()
    out = preflight(onnx_path, opts)
    trt = trt_api.load()
    refuse_on_11(trt, opts)
    checks.refuse_unsupported(trt, opts)
    facts = checks.onnx_facts(onnx_path)
    if opts.precision in ("int8", "best") and opts.calib is None and opts.calib_cache is None \
            and not facts["qdq_nodes"]:
        raise ConfigError(f"--precision {opts.precision} needs calibration: the ONNX has no Q/DQ "
                          "scales, and TensorRT would quietly leave those layers in FP32/FP16",
                          "add --calib DIR (and --calib-cache FILE to reuse it), or quantize "
                          "with Q/DQ: edgekit quantize MODEL.onnx --int8 --target tensorrt",
                          path=str(onnx_path))
    parent = manifest.for_artifact(onnx_path)
    strongly = opts.precision is None
    onnx_flags = tuple(checks.flags_without_strong_typing(
        trt, facts, parent.precision.value if parent else None)) if strongly else ()
    with rep.stage("parse"):
        builder, network, logger = parse(trt, onnx_path, strongly, opts.verbose, rep)
    config = builder.create_builder_config()
    used, profile = profiles(trt, builder, network, config, opts.shapes,
                             static=opts.dla_core is not None)
    cal, cuda = None, None
    if opts.calib is not None or opts.calib_cache is not None:
        cal, cuda = calibrate.calibrator(trt, onnx_path, opts.calib, opts.calib_cache, network,
                                         calibrate.calib_batch(network, used))
        if profile is not None:
            config.set_calibration_profile(profile)  # calibrate at the profile's OPT shape
    configure(trt, builder, config, opts, cal, onnx_flags)
    body = {"strongly_typed": strongly and trt_api.major(trt) >= 10, "profiles": used,
            "qdq_nodes": facts["qdq_nodes"], "onnx_precision_flags": list(onnx_flags),
            "quantized_by": _quantized_by(parent), "dla": _dla(network, config, opts, onnx_path)}
    try:
        return _build_and_write(trt, builder, network, logger, config, onnx_path, out, opts,
                                parent, body, cal, rep)
    finally:
        if cuda is not None:
            cuda.free_all()


def _quantized_by(parent: manifest.Manifest | None) -> dict[str, Any] | None:
    """Which quantizer wrote the ONNX's Q/DQ (from its manifest): ModelOpt's file, built
    strongly typed, runs its INT8 layers where the Q/DQ are and the rest in the ONNX's FP16."""
    q = parent.sections.get("quantization") if parent is not None else None
    if not isinstance(q, dict):
        return None
    keys = ("quantizer", "quantizer_version", "onnxruntime_version", "fp16_rest", "qdq")
    return {k: q.get(k) for k in keys} | {"quantizer": q.get("quantizer", "ort")}


def _dla(network: Any, config: Any, opts: BuildOptions, onnx_path: Path) -> dict[str, Any] | None:
    """DLA layer counts (``can_run_on_DLA``); all of them must run there without --gpu-fallback."""
    if opts.dla_core is None:
        return None
    counts = checks.dla_layers(network, config)
    if counts["on_dla"] < counts["layers"] and not opts.gpu_fallback:
        raise ConfigError(f"--dla-core: {counts['layers'] - counts['on_dla']} of "
                          f"{counts['layers']} layers cannot run on DLA", "add --gpu-fallback "
                          "to run them on the GPU", path=str(onnx_path))
    return {"core": opts.dla_core, **counts}


def _timing_cache(trt: trt_api.TensorRT, config: Any, opts: BuildOptions, gpu: dict[str, Any],
                  rep: Reporter) -> Path | None:
    """Load --timing-cache; returns where to save it. A cache TensorRT rejects (another GPU or
    version: ``set_timing_cache`` returns False) is left as it is: the build starts empty and
    its cache goes to a file keyed by TensorRT version and compute capability."""
    if opts.timing_cache is None:
        config.set_timing_cache(config.create_timing_cache(b""), False)
        return None
    data = opts.timing_cache.read_bytes() if opts.timing_cache.is_file() else b""
    if config.set_timing_cache(config.create_timing_cache(data), False):
        return opts.timing_cache
    cc = str(gpu.get("compute_capability") or "unknown").replace(".", "")
    keyed = opts.timing_cache.with_name(f"{opts.timing_cache.stem}.trt{trt.__version__}.sm{cc}"
                                        f"{opts.timing_cache.suffix}")
    rep.warn(f"{opts.timing_cache}: TensorRT rejected this timing cache (another GPU or "
             f"TensorRT version); building without it and saving the new one to {keyed}")
    config.set_timing_cache(config.create_timing_cache(b""), False)
    return keyed


def _build_and_write(trt: trt_api.TensorRT, builder: Any, network: Any, logger: Any, config: Any,
                     onnx_path: Path, out: Path, opts: BuildOptions,
                     parent: manifest.Manifest | None,
                     body: dict[str, Any], cal: Any, rep: Reporter) -> dict[str, Any]:
    from edgekit.backends.trt import gpu_identity

    gpu = gpu_identity()
    cache_out = _timing_cache(trt, config, opts, gpu, rep)
    t0 = time.perf_counter()
    with rep.stage("build") as st:
        plan = builder.build_serialized_network(network, config)
        if cal is not None and cal.error is not None:  # TensorRT printed it and went on
            raise ExportError(f"INT8 calibration failed: {cal.error}", "fix the cause above and "
                              "build again", path=str(onnx_path)) from cal.error
        if plan is None:
            raise ExportError("TensorRT could not build an engine (build_serialized_network "
                              "returned None)", "run with --verbose for TensorRT's log; on a "
                              "Jetson 'Could not find any implementation' often means out of "
                              "memory: lower --workspace", path=str(onnx_path))
        st["note"] = f"{time.perf_counter() - t0:.1f} s"
    build_s = round(time.perf_counter() - t0, 2)
    data = bytes(plan)
    with rep.stage("inspect"):
        summary = _inspect(trt, logger, data, body["profiles"], opts.version_compatible)
    if cache_out is not None:
        with atomic_paths(cache_out) as (tmp,):
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    base = parent or _bare_parent(onnx_path)
    man = base.derive(
        kind="engine", precision=Precision(_engine_precision(base, opts, summary)),
        parent=manifest.ref(onnx_path, parent), stages=rep.stages,
        sections={"tensorrt": trt.__version__, "gpu": gpu, "build": opts.to_dict(), **body,
                  "layers": summary, "build_seconds": build_s,
                  "timing_cache": str(cache_out) if cache_out else None})
    with rep.stage("write") as st:
        doc = manifest.write(out, data, man).to_dict()
        st["note"] = str(out)
    return {"path": str(out), **doc}


def _bare_parent(onnx_path: Path) -> manifest.Manifest:
    """The lineage of an ONNX without an edgekit manifest: its name, and ImageNet's
    preprocessing at its input size (recorded as what the engine's runner will use)."""
    return manifest.Manifest(kind="onnx", model=manifest.ModelInfo(name=onnx_path.stem),
                             preprocess=resolve(input_shape=_input_shape(onnx_path),
                                                warn=False).preprocess)


def _input_shape(onnx_path: Path) -> list[int | str] | None:
    try:
        from edgekit import graph

        return list(graph.io_spec(graph.load_checked(onnx_path, full=False))["inputs"][0]["shape"])
    except Exception:  # the build itself reports an unreadable ONNX; this is only a default
        return None


def _engine_precision(parent: manifest.Manifest, opts: BuildOptions,
                      summary: dict[str, Any]) -> str:
    if opts.precision in ("fp16", "int8"):
        return opts.precision
    if opts.precision == "best":
        return "int8"
    return parent.precision.value


def _inspect(trt: trt_api.TensorRT, logger: Any, plan: bytes,
             used: dict[str, list[list[int]]], version_compatible: bool) -> dict[str, Any]:
    runtime = trt_api.runtime(trt, logger)
    if version_compatible:  # a version-compatible plan carries its own runtime code
        runtime.engine_host_code_allowed = True
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        return {"layers": 0, "note": "the new engine did not deserialize for inspection"}
    inspector = engine.create_engine_inspector()
    if used:  # dynamic shapes: formats read "N/A" unless a context with shapes is attached
        ctx = engine.create_execution_context()
        for name, (_, opt, _) in used.items():
            ctx.set_input_shape(name, opt)
        inspector.execution_context = ctx
    return layer_summary(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
