"""``edgekit sweep``: every model x backend x precision through export -> quantize -> verify ->
profile -> store, one variant's failure recorded and the rest going on; then the report.

Artifacts go to ``OUT/artifacts/`` (one FP32 export per model, shared by its variants). With
``--resume`` a variant whose artifact, settings and device are already in the store is skipped
(and an artifact already on disk with its manifest is not exported again).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit import backends
from edgekit.backends import Backend, Device, Dtype, RunnerOptions
from edgekit.errors import (
    CalibrationError,
    ConfigError,
    EdgekitError,
    ExportError,
    SourceError,
)
from edgekit.progress import Reporter

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# what each backend can run, by precision (the rest is "unsupported", not an error)
SUPPORTED: dict[Backend, frozenset[str]] = {
    Backend.ORT: frozenset({"fp32", "fp16", "int8"}),
    Backend.TORCH: frozenset({"fp32", "fp16", "bf16"}),
    Backend.TENSORRT: frozenset(),  # engines are built by `edgekit build`, not by sweep yet
}


@dataclass
class SweepOptions:
    precisions: tuple[str, ...] = ("fp32", "int8")
    backends: tuple[Backend, ...] = (Backend.ORT,)
    batch: int = 1
    input_size: int | None = None
    calib: Path | None = None
    data: Path | None = None
    labels: Path | None = None
    store: Path = Path("results")
    out: Path = Path("report")
    resume: bool = False
    warmup: int = 10
    iterations: int | None = None
    duration_s: float = 2.0
    threads: int = 0
    tag: str | None = None
    title: str = "edgekit sweep"


@dataclass
class Variant:
    model: str
    backend: str
    precision: str
    status: str = "pending"  # ok | resumed | unsupported | export failed | verify failed
    #                          | quantize failed | profile failed
    error: str | None = None
    artifact: str | None = None
    result_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SweepReport:
    variants: list[Variant]
    store: str
    out: str
    files: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    peaks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "edgekit.sweep/1", "store": self.store, "out": self.out,
                "files": self.files, "variants": [v.to_dict() for v in self.variants],
                "table": self.rows, "peaks": self.peaks,
                "ok": sum(v.status in ("ok", "resumed") for v in self.variants),
                "failed": sum(v.status.endswith("failed") for v in self.variants)}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.split("/")[-1]).strip("_") or "model"


def _check(models: list[str], opts: SweepOptions) -> None:
    from edgekit._io import check_writable_dir
    from edgekit.images import scan_image_folder
    from edgekit.store import store_preflight

    if not models:
        raise ConfigError("no models to sweep", "name one or more, e.g. edgekit sweep resnet18")
    unknown = [p for p in opts.precisions if p not in PRECISIONS]
    if unknown or not opts.precisions:
        raise ConfigError(f"--precisions: unknown '{unknown[0] if unknown else ''}'",
                          f"use some of {','.join(PRECISIONS)}")
    if opts.batch < 1:
        raise ConfigError("--batch must be positive", "write --batch 1")
    if opts.calib is not None and not opts.calib.exists():
        raise CalibrationError("calibration data not found", "check the path",
                               path=str(opts.calib))
    if opts.data is not None:
        scan_image_folder(opts.data, opts.labels)
    store_preflight(opts.store)
    if not opts.out.exists() and opts.out.parent.is_dir():
        opts.out.mkdir()  # the last check: nothing is created before the others pass
    check_writable_dir(opts.out / "index.html")


class _Artifacts:
    """The ONNX files of one model, made on first use and shared by its variants."""

    def __init__(self, model: str, opts: SweepOptions, rep: Reporter) -> None:
        self.model, self.opts, self.rep = model, opts, rep
        self.folder = opts.out / "artifacts"
        self.fp32 = self.folder / f"{_safe(model)}.onnx"
        self.error: EdgekitError | None = None
        self.made: set[Path] = set()  # exported or quantized in this sweep

    def onnx(self, precision: str) -> Path:
        from edgekit.export import ExportOptions, export
        from edgekit.quantize import Precision, QuantOptions, quantize

        if self.error is not None:
            raise self.error
        self.folder.mkdir(parents=True, exist_ok=True)
        size = (self.opts.input_size,) * 2 if self.opts.input_size else None
        if not self._have(self.fp32):
            try:
                export(self.model, ExportOptions(self.fp32, input_size=size), rep=self.rep)
            except EdgekitError as e:
                self.error = e
                raise
            self.made.add(self.fp32)
        if precision == "fp32":
            return self.fp32
        out = self.fp32.with_name(f"{self.fp32.stem}.{precision}.onnx")
        if not self._have(out):
            quantize(self.fp32, QuantOptions(Precision(precision), out, self.opts.calib),
                     self.rep)
            self.made.add(out)
        return out

    def _have(self, path: Path) -> bool:
        return path in self.made or (self.opts.resume and _ready(path))


def _ready(path: Path) -> bool:
    from edgekit import manifest

    return path.is_file() and manifest.sidecar(path).is_file()


def _profile_options(opts: SweepOptions, backend: Backend, precision: str) -> Any:
    from edgekit import profile as pf

    dtype = Dtype(precision) if backend is Backend.TORCH else Dtype.FP32
    size = (opts.input_size,) * 2 if opts.input_size and backend is Backend.TORCH else None
    return pf.ProfileOptions(backend, RunnerOptions(Device.CPU, opts.threads, dtype,
                                                    input_size=size),
                             (opts.batch,), opts.warmup, opts.iterations, opts.duration_s,
                             opts.data, opts.labels, store=opts.store, tag=opts.tag)


def _already(target: str, backend: Backend, popts: Any) -> int | None:
    """The id of a stored result of this artifact with these settings on this device."""
    from edgekit._io import sha256_file
    from edgekit.device import fingerprint, label
    from edgekit.result import settings_key
    from edgekit.store import Store, Where, db_path

    if not db_path(popts.store).is_file():
        return None
    key = settings_key(backend, popts, popts.batches[0], label(fingerprint(), "cpu"))
    p = Path(target)
    ident = (Where("artifact_sha256", "=", sha256_file(p)) if p.suffix == ".onnx" and p.is_file()
             else Where("artifact", "=", target))
    rows = Store(popts.store).query([ident, Where("settings_key", "=", key)], limit=1)
    return rows[0]["id"] if rows else None


def _status(e: EdgekitError, stage: str, backend: Backend) -> str:
    if stage == "export":
        return "verify failed" if "matching" in e.message else "export failed"
    if backend is Backend.TORCH and isinstance(e, SourceError):
        return "load failed"  # torch runs the spec itself: resolving it is its "export"
    return f"{stage} failed"


def run_variant(v: Variant, arts: _Artifacts, opts: SweepOptions, rep: Reporter) -> None:
    from edgekit import profile as pf

    backend = Backend(v.backend)
    stage = "export"
    try:
        if backend is Backend.ORT:
            if v.precision != "fp32":
                arts.onnx("fp32")
                stage = "quantize"
            target = str(arts.onnx(v.precision))
        else:
            target = v.model
        v.artifact = target
        stage = "profile"
        popts = _profile_options(opts, backend, v.precision)
        done = _already(target, backend, popts) if opts.resume else None
        if done is not None:
            v.status, v.result_id = "resumed", done
            return
        res = pf.profile(target, popts, rep).results[0]
        v.status, v.result_id = "ok", res.id
    except (SourceError, ExportError, CalibrationError, EdgekitError) as e:
        v.status, v.error = _status(e, stage, backend), e.line()
    except Exception as e:  # an unexpected error in one variant must not end the sweep
        if os.environ.get("EDGEKIT_DEBUG") == "1":
            raise
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        v.status = f"{stage} failed"
        v.error = f"unexpected {type(e).__name__}: {first} (EDGEKIT_DEBUG=1 shows the traceback)"


def sweep(models: list[str], opts: SweepOptions, rep: Reporter | None = None) -> SweepReport:
    from edgekit import report

    rep = rep or Reporter()
    _check(models, opts)
    for b in opts.backends:
        backends.check(b, "source" if b is Backend.TORCH else "onnx", RunnerOptions())
    variants = [Variant(m, b.value, p) for m in models for b in opts.backends
                for p in opts.precisions]
    arts = {m: _Artifacts(m, opts, rep.quiet_copy()) for m in models}
    with rep.progress(len(variants), "sweep") as advance:
        for v in variants:
            advance(f"{v.model} {v.precision} {v.backend}")
            if v.precision not in SUPPORTED[Backend(v.backend)]:
                v.status = "unsupported"
                v.error = f"{v.backend} does not run {v.precision} in a sweep"
                continue
            run_variant(v, arts[v.model], opts, rep.quiet_copy())
    with rep.stage("report") as st:
        out = report.write(variants, opts)
        st["note"] = str(out.files.get("html"))
    return out
