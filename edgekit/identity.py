"""One measurement's identity (ARCHITECTURE.md, "Same measurement"): the one place that decides
whether two results measured the same thing, and what a result belongs to over time.

- ``RunSettings``: everything asked of the runner for one result, typed (backend, device and
  its power mode, batch, dtype, threads, provider, input, timing scope, warm-up and duration),
  with what was bound and how. From it, here and nowhere else: the settings key
  (``RunSettings.key``), local and lab ``--resume`` (``key`` of the asked-for settings against
  the stored column), "newest per variant" (``newest_per_variant``, for pick, pareto and
  budget), the device filter (``device_matches``) and the reproduce command's profile flags
  (``RunSettings.profile_args``).
- ``series``: "this measurement over time": model, artifact lineage (its recipe, not its
  hash, so a retrained model stays in its series), precision, backend, the runtime's version,
  device, batch, input shape and timing scope; ``series_key`` names it.

A row stored before the record existed has no ``run`` and no ``series``: ``RunSettings.of_row``
gives None and ``series_of`` reconstructs what the row holds, the rest unknown; its stored
settings key is still the key this module computes for the same request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgekit.store_base import glob_match

if TYPE_CHECKING:
    from edgekit.profile import ProfileOptions

SCOPE_NETWORK = "network"  # the network alone; a detector adds its end-to-end figure beside it
# fields recorded but never keyed: they follow from the keyed ones on one machine
_OUTCOMES = ("bound", "input_shapes")


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    backend: str
    device: str = "cpu"
    device_name: str = ""  # device.label: the CPU or GPU model
    power_mode: str | None = None  # a Jetson's nvpmodel mode
    batch: int = 1
    dtype: str = "fp32"
    threads: int = 0  # 0: the runtime's default
    provider: str = "auto"
    cuda_graphs: bool = False
    compile: bool = False
    input_size: tuple[int, int] | None = None  # torch: H, W instead of the model's
    input: str | None = None  # the image input of a multi-input model
    ov_device: str = "CPU"
    tune: bool = False
    scope: str = SCOPE_NETWORK
    conf: float = 0.25  # a detector's score threshold for its end-to-end figure
    warmup: int = 10
    iterations: int | None = None
    duration_s: float | None = 3.0  # None when iterations are counted
    bound: str | None = None  # how the timed call got its inputs (RunnerBase.bound)
    input_shapes: dict[str, list[int]] | None = None  # what was fed, per input

    @classmethod
    def of(cls, backend: str, opts: ProfileOptions, batch: int, device_name: str,
           power_mode: str | None = None) -> RunSettings:
        """The settings ``opts`` asks for at ``batch`` on ``device_name`` (known before any
        work: the key of a --resume)."""
        r = opts.runner
        return cls(backend=backend, device=r.device.value, device_name=device_name,
                   power_mode=power_mode, batch=batch, dtype=r.dtype.value, threads=r.threads,
                   provider=r.provider.value, cuda_graphs=r.cuda_graphs, compile=r.compile,
                   input_size=tuple(r.input_size) if r.input_size else None,  # type: ignore[arg-type]
                   input=opts.input_name, ov_device=r.ov_device, tune=opts.tune, conf=opts.conf,
                   warmup=opts.warmup, iterations=opts.iterations,
                   duration_s=None if opts.iterations else opts.duration_s)

    def key(self) -> str:
        """Equal keys mean "the same measurement". The fields keyed before this record existed
        are hashed as they were, later ones only when set, so stored keys stay valid."""
        src: dict[str, Any] = {
            "backend": self.backend, "device": self.device, "device_name": self.device_name,
            "batch": self.batch, "threads": self.threads, "dtype": self.dtype,
            "cuda_graphs": self.cuda_graphs, "compile": self.compile, "provider": self.provider,
            "input_size": list(self.input_size) if self.input_size else None, "tune": self.tune,
            "warmup": self.warmup, "iterations": self.iterations,
            "duration_s": None if self.iterations else self.duration_s, "input": self.input}
        for name, default in (("ov_device", "CPU"), ("power_mode", None),
                              ("scope", SCOPE_NETWORK), ("conf", 0.25)):
            if getattr(self, name) != default:
                src[name] = getattr(self, name)
        return hashlib.sha256(json.dumps(src, sort_keys=True).encode()).hexdigest()[:16]

    def with_outcome(self, bound: str | None, input_shapes: dict[str, list[int]] | None
                     ) -> RunSettings:
        return dataclasses.replace(self, bound=bound, input_shapes=input_shapes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size) if self.input_size else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSettings:
        """The record as stored; fields a newer edgekit added are ignored, missing ones take
        their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if kw.get("input_size"):
            kw["input_size"] = tuple(kw["input_size"])
        return cls(**kw)

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> RunSettings | None:
        """A stored row's record (a store row with its result, or a result dict); None for a
        row written before the record existed."""
        res = row.get("result") if isinstance(row.get("result"), dict) else row
        run = (res or {}).get("run")
        return cls.from_dict(run) if isinstance(run, dict) else None

    def profile_args(self) -> list[str]:
        """The ``edgekit profile`` flags that ask for exactly these settings (the artifact and
        the data flags are the caller's)."""
        out = ["--backend", self.backend, "--batch", str(self.batch)]
        flags: list[tuple[bool, list[str]]] = [
            (self.dtype != "fp32", ["--dtype", self.dtype]),
            (self.device != "cpu", ["--device", self.device]),
            (bool(self.threads), ["--threads", str(self.threads)]),
            (self.tune, ["--tune"]),
            (self.provider != "auto", ["--provider", self.provider]),
            (self.cuda_graphs, ["--cuda-graphs"]),
            (self.compile, ["--compile"]),
            (bool(self.input_size), ["--input-size", ",".join(map(str, self.input_size or ()))]),
            (self.input is not None, ["--input", str(self.input)]),
            (self.ov_device != "CPU", ["--ov-device", self.ov_device]),
            (self.conf != 0.25, ["--conf", f"{self.conf:g}"]),
            (self.warmup != 10, ["--warmup", str(self.warmup)]),
            (self.iterations is not None, ["--iterations", str(self.iterations)]),
            (self.iterations is None and self.duration_s is not None,
             ["--duration", f"{self.duration_s or 0:g}"]),
        ]
        for on, args in flags:
            if on:
                out += args
        return out


# what the runner reports it ran with (``RunnerBase.settings``), in the order shown
EFFECTIVE = ("runtime", "providers", "intra_threads", "execution_mode", "graph_optimization",
             "dtype", "threads", "streams", "performance_hint", "inference_precision",
             "execution_devices", "cuda_graphs", "compile")


def effective(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the runtime reports it ran with (not what was asked: ``RunSettings``), for
    every table that shows them (profile's, pick's)."""
    return {k: settings[k] for k in EFFECTIVE if settings.get(k) is not None}


def newest_per_variant(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest row of each variant (artifact x settings key), newest first: the one answer
    to "which rows are current" for pick, pareto and budget."""
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: -int(r["id"])):
        seen.setdefault((r.get("artifact_sha256") or r.get("artifact"), r.get("settings_key")),
                        r)
    return list(seen.values())


def device_matches(row: dict[str, Any], pattern: str | None) -> bool:
    """``--device``/a budget's ``device:``: a glob on the device name (case-sensitive), or the
    device kind itself (cpu, cuda); None matches every row."""
    if pattern is None:
        return True
    name = row.get("device_name")
    return glob_match(pattern, None if name is None else str(name)) or row.get("device") == pattern


def _runtime_version(res: dict[str, Any]) -> str | None:
    from edgekit import backends

    spec = backends.REGISTRY.get(str(res.get("backend")))
    versions = (res.get("device_info") or {}).get("versions") or {}
    mod = spec.preload[0] if spec and spec.preload else None
    return f"{mod} {versions[mod]}" if mod and versions.get(mod) else None


def _lineage(res: dict[str, Any]) -> list[str]:
    """The artifact's recipe, not its hash: its source, then what it is (kind, precision, the
    quantizer's method and target), e.g. ["resnet18", "onnx int8 minmax"]."""
    man = res.get("manifest") or {}
    src = (((man.get("lineage") or {}).get("source") or {}).get("spec")
           or (res.get("model") or {}).get("name"))
    if not man:
        return [str(src)]
    q = man.get("quantization") or {}
    step = [man.get("kind", "onnx"), man.get("precision", "fp32"), q.get("method"),
            man.get("target") if man.get("target") not in (None, "cpu") else None]
    return [str(src), " ".join(str(x) for x in step if x)]


def series_of(res: dict[str, Any]) -> dict[str, Any]:
    """The series a result (``Result.to_dict()``) belongs to, with its key."""
    run = RunSettings.of_row(res)
    man = res.get("manifest") or {}
    shape = (man.get("input") or {}).get("shape")
    if run is not None and run.input_shapes:
        shape = next(iter(run.input_shapes.values()))
    s = {"model": (res.get("model") or {}).get("name"), "lineage": _lineage(res),
         "precision": (res.get("model") or {}).get("precision"), "backend": res.get("backend"),
         "runtime": _runtime_version(res), "device": res.get("device_name"),
         "batch": res.get("batch"), "input_shape": shape,
         "scope": run.scope if run is not None else None}
    return {**s, "key": series_key(s)}


def series_key(s: dict[str, Any]) -> str:
    fields = {k: v for k, v in s.items() if k != "key"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def described(row: dict[str, Any], keep_result: bool = False) -> dict[str, Any]:
    """A store row (queried in full) with its series, run settings and provenance beside the
    columns, as ``results --json`` shows it; a row stored before them says so with nulls (its
    series as far as the row tells)."""
    res = row.get("result") or {}
    out = {k: v for k, v in row.items() if keep_result or k not in ("result", "samples_ms")}
    out["series"] = res.get("series") or series_of(res)
    out["run"] = res.get("run")
    out["provenance"] = res.get("provenance")
    return out
