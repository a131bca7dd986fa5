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
from edgekit.backends import BackendSpec, Device, RunnerOptions
from edgekit.errors import (
    CalibrationError,
    ConfigError,
    EdgekitError,
    ExportError,
    SourceError,
    Unsupported,
)
from edgekit.images import Stated
from edgekit.precision import Precision
from edgekit.progress import Reporter


@dataclass(kw_only=True)
class SweepOptions:
    precisions: tuple[Precision, ...] = (Precision.FP32, Precision.INT8)
    backends: tuple[str, ...] | None = None  # None: every installed runtime of the default sweep
    batch: int = 1
    input_size: int | tuple[int, int] | None = None  # H (square) or (H, W)
    calib: Path | None = None
    data: Path | None = None
    labels: Path | None = None
    agreement: Path | None = None  # unlabelled images: each variant's agreement with FP32
    store: Path | str = Path("results")  # a folder, sqlite:///PATH or postgresql://...
    out: Path = Path("report")
    resume: bool = False
    warmup: int = 10
    iterations: int | None = None
    duration_s: float = 2.0
    threads: int = 0
    tag: str | None = None
    commit: str | None = None  # --commit: the code's commit, over what git or CI say
    title: str = "edgekit sweep"
    random_weights: bool = False  # named models with random initialisation
    allow_random: bool = False  # pretrained weights that cannot be fetched: random, with a notice
    strict: bool = False  # any failed variant fails the run (exit 3), not only "nothing measured"
    preprocess: Stated = field(default_factory=Stated)  # the preprocessing flags, for every model
    task: str | None = None  # --task for every model (edgekit.tasks)


@dataclass(kw_only=True)
class Variant:
    model: str
    backend: str
    precision: str
    status: str = "pending"  # ok | resumed | unsupported | export failed | verify failed
    #                          | quantize failed | profile failed
    error: str | None = None
    artifact: str | None = None
    result_id: int | None = None
    device_kind: str | None = None  # a lab sweep: the kind of device that ran it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class SweepReport:
    variants: list[Variant]
    store: str
    out: str
    files: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    peaks: dict[str, Any] = field(default_factory=dict)
    picks: dict[str, Any] | None = None  # edgekit.pick over this sweep's results
    notices: list[str] = field(default_factory=list)  # e.g. random weights after a failed download
    strict: bool = False

    def outcomes(self) -> tuple[list[Variant], list[Variant]]:
        """The variants measured (ok or resumed) and those that failed; the rest were
        unsupported."""
        return ([v for v in self.variants if v.status in ("ok", "resumed")],
                [v for v in self.variants if v.status.endswith("failed")])

    def verdict(self) -> tuple[int, str | None]:
        """The exit code and the one line that says why: nothing measured -> 3; some variants
        failed -> their names, and 3 only under ``strict``; else 0 and no line."""
        from edgekit.errors import EXIT_FAILED, EXIT_OK

        ok, failed = self.outcomes()
        unsupported = len(self.variants) - len(ok) - len(failed)
        names = ", ".join(f"{v.model} {v.precision}/{v.backend}"
                          f"{' on ' + v.device_kind if v.device_kind else ''} ({v.status})"
                          for v in failed[:6]) + (f" and {len(failed) - 6} more"
                                                   if len(failed) > 6 else "")
        if not ok:
            why = (f"{len(failed)} failed" + (f", {unsupported} unsupported" if unsupported
                                              else "")) if self.variants else "no variants"
            return EXIT_FAILED, (f"nothing was measured: {why}" + (f": {names}" if failed else "")
                                 + "; see each variant's error above or in --json")
        if failed:
            return (EXIT_FAILED if self.strict else EXIT_OK,
                    f"{len(failed)} of {len(self.variants)} variants failed: {names}"
                    + ("" if self.strict else " (--strict makes this exit 3)"))
        return EXIT_OK, None

    def to_dict(self) -> dict[str, Any]:
        (code, line), (ok, failed) = self.verdict(), self.outcomes()
        return {"schema": "edgekit.sweep/1", "store": self.store, "out": self.out,
                "notices": self.notices,
                "files": self.files, "variants": [v.to_dict() for v in self.variants],
                "table": self.rows, "peaks": self.peaks, "picks": self.picks,
                "ok": len(ok), "failed": len(failed), "exit_code": code, "verdict": line}


def input_hw(opts: SweepOptions) -> tuple[int, int] | None:
    """``--input-size`` as (H, W): an int is square."""
    s = opts.input_size
    return None if s is None else (s, s) if isinstance(s, int) else (int(s[0]), int(s[-1]))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.split("/")[-1]).strip("_") or "model"


def _labelled(data: Path, labels: Path | None) -> None:
    """--data before the models' tasks are known (after their export): a class folder for
    classifiers, or a folder another task's row reads (detection labels, segmentation masks);
    none is one line."""
    from edgekit import tasks
    from edgekit.images import scan_image_folder

    try:
        scan_image_folder(data, labels)
    except EdgekitError as first:
        if not data.is_dir():
            raise
        for row in tasks.REGISTRY.values():
            if row.load_labels is None:
                continue
            try:
                row.load_labels(data, labels if row.name == "detect" else None)
                return
            except EdgekitError:
                continue
        raise type(first)(f"{first.message}; nor a detection folder (YOLO txt labels or COCO "
                          ".json) nor images with masks", first.hint, path=first.path) from first


def _check(models: list[str], opts: SweepOptions) -> None:
    from edgekit._io import check_writable_dir
    from edgekit._lazy import need
    from edgekit.images import unlabelled_paths
    from edgekit.store import store_preflight

    if not models:
        raise ConfigError("no models to sweep", "name one or more, e.g. edgekit sweep resnet18")
    if any(not m.lower().endswith(".onnx") for m in models):
        need("torch", "sweep")
    unknown = [p for p in opts.precisions if p not in {q.value for q in Precision}]
    if unknown or not opts.precisions:
        raise ConfigError(f"--precisions: unknown '{unknown[0] if unknown else ''}'",
                          f"use some of {','.join(p.value for p in Precision)}")
    if opts.batch < 1:
        raise ConfigError("--batch must be positive", "write --batch 1")
    if opts.calib is not None and not opts.calib.exists():
        raise CalibrationError("calibration data not found", "check the path",
                               path=str(opts.calib))
    if opts.data is not None:
        _labelled(opts.data, opts.labels)
    if opts.agreement is not None:
        unlabelled_paths(opts.agreement)
    store_preflight(opts.store)
    if not opts.out.exists() and opts.out.parent.is_dir():
        opts.out.mkdir()  # the last check: nothing is created before the others pass
    check_writable_dir(opts.out / "index.html")


RANDOM_NOTICE = ("pretrained weights could not be fetched for {models} ({why}); they run with "
                 "RANDOM weights, so their accuracy figures are meaningless")


def weights_options(models: list[str], opts: SweepOptions, rep: Reporter
                    ) -> tuple[dict[str, Any], list[str]]:
    """Each model's source options, its pretrained weights fetched first (one download per
    model, before any work). A model whose weights cannot be fetched stops the sweep with the
    offline error line, or with ``allow_random`` runs with random weights (recorded as such)
    under ONE notice, returned and shown once."""
    from edgekit.sources import Options, is_named, prefetch
    from edgekit.weights import WeightsUnavailable

    out, failed = {}, []
    for m in models:
        o = Options(random_weights=opts.random_weights and is_named(m))
        try:
            with rep.stage("weights") as st:
                rec = prefetch(m, o)
                st["note"] = f"{m}: {rec.name if rec else 'no download'}"
        except WeightsUnavailable as e:
            if not opts.allow_random:
                raise
            o = Options(random_weights=True, random_reason=f"download failed: {e.line()}")
            failed.append((m, e))
        except SourceError:
            pass  # an unknown name: its variants say so (resolve's error)
        out[m] = o
    if not failed:
        return out, []
    notice = RANDOM_NOTICE.format(models=", ".join(m for m, _ in failed),
                                  why=failed[0][1].cause)
    rep.warn(notice)
    return out, [notice]


class _Artifacts:
    """The ONNX files of one model, made on first use and shared by its variants."""

    def __init__(self, model: str, opts: SweepOptions, rep: Reporter, source: Any = None) -> None:
        self.model, self.opts, self.rep, self.source = model, opts, rep, source
        self.folder = opts.out / "artifacts"
        self.fp32 = self.folder / f"{_safe(model)}.onnx"
        self.error: EdgekitError | None = None
        self.made: set[Path] = set()  # exported or quantized in this sweep

    def onnx(self, precision: Precision) -> Path:
        from edgekit.export import ExportOptions, export
        from edgekit.quantize import QuantOptions, quantize

        if self.error is not None:
            raise self.error
        self.folder.mkdir(parents=True, exist_ok=True)
        size = input_hw(self.opts)
        if not self._have(self.fp32):
            try:
                export(self.model, ExportOptions(output=self.fp32, input_size=size,
                                                 preprocess=self.opts.preprocess,
                                                 task=self.opts.task),
                       self.source, rep=self.rep)
            except EdgekitError as e:
                self.error = e
                raise
            self.made.add(self.fp32)
        if precision is Precision.FP32:
            return self.fp32
        out = self.fp32.with_name(f"{self.fp32.stem}.{precision.value}.onnx")
        if not self._have(out):
            quantize(self.fp32, QuantOptions(precision=precision, output=out,
                                             calib=self.opts.calib,
                                             agreement=self.opts.agreement), self.rep)
            self.made.add(out)
        return out

    def _have(self, path: Path) -> bool:
        return path in self.made or (self.opts.resume and _ready(path))


def _ready(path: Path) -> bool:
    from edgekit import manifest

    return path.is_file() and manifest.sidecar(path).is_file()


def profile_options(opts: SweepOptions, spec: BackendSpec, dtype: Precision,
                    source: Any = None) -> Any:
    """The ProfileOptions of one variant: the one place a sweep option becomes a profile
    option, for the local sweep and for every lab job (``lab_job.Job`` carries the result)."""
    from edgekit import profile as pf

    # only a runner that builds the model takes the size; the others run the artifact, which
    # was exported at it
    size = input_hw(opts) if "input_size" in spec.options else None
    device = Device.CPU if Device.CPU in spec.devices else sorted(spec.devices)[0]
    ropts = RunnerOptions(device=device, threads=opts.threads, dtype=dtype, input_size=size,
                          source=source)
    return pf.ProfileOptions(backend=spec.name, runner=ropts, batches=(opts.batch,),
                             warmup=opts.warmup, iterations=opts.iterations,
                             duration_s=opts.duration_s, data=opts.data, labels=opts.labels,
                             store=opts.store, tag=opts.tag, commit=opts.commit,
                             agreement=opts.agreement if dtype is not Precision.FP32 else None)


def _already(target: str, backend: str, popts: Any) -> int | None:
    """The id of a stored result of this artifact with these settings on this device."""
    from edgekit._io import sha256_file
    from edgekit.device import fingerprint, label
    from edgekit.identity import RunSettings
    from edgekit.result import power_mode
    from edgekit.store import Where, open_store, store_exists

    if not store_exists(popts.store):
        return None
    fp = fingerprint()
    key = RunSettings.of(backend, popts, popts.batches[0],
                         label(fp, popts.runner.device.value), power_mode(fp)).key()
    p = Path(target)
    ident = (Where("artifact_sha256", "=", sha256_file(p)) if p.suffix == ".onnx" and p.is_file()
             else Where("artifact", "=", target))
    rows = open_store(popts.store).query([ident, Where("settings_key", "=", key)], limit=1)
    return rows[0]["id"] if rows else None


def _status(e: EdgekitError, stage: str, spec: BackendSpec) -> str:
    if isinstance(e, Unsupported):
        return "unsupported"  # this machine cannot run it (bf16 on a CPU without bf16)
    if stage == "export":
        return "verify failed" if "matching" in e.message else "export failed"
    if "source" in spec.artifacts and isinstance(e, SourceError):
        return "load failed"  # torch runs the spec itself: resolving it is its "export"
    return f"{stage} failed"


def run_variant(v: Variant, arts: _Artifacts, opts: SweepOptions, rep: Reporter) -> None:
    from edgekit import profile as pf

    spec = backends.get(v.backend)
    art_precision, dtype = spec.sweep_target(Precision(v.precision))
    stage = "export"
    try:
        if "onnx" in spec.artifacts:
            if art_precision is not Precision.FP32:
                arts.onnx(Precision.FP32)
                stage = "quantize"
            target = str(arts.onnx(art_precision))
        else:  # the runner takes the model spec itself (torch)
            target = v.model
        v.artifact = target
        stage = "profile"
        popts = profile_options(opts, spec, dtype, arts.source)
        done = _already(target, spec.name, popts) if opts.resume else None
        if done is not None:
            v.status, v.result_id = "resumed", done
            return
        res = pf.profile(target, popts, rep).results[0]
        v.status, v.result_id = "ok", res.id
    except (SourceError, ExportError, CalibrationError, EdgekitError) as e:
        v.status, v.error = _status(e, stage, spec), e.line()
    except Exception as e:  # an unexpected error in one variant must not end the sweep
        if os.environ.get("EDGEKIT_DEBUG") == "1":
            raise
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        v.status = f"{stage} failed"
        v.error = f"unexpected {type(e).__name__}: {first} (EDGEKIT_DEBUG=1 shows the traceback)"


def sweep(models: list[str], opts: SweepOptions, rep: Reporter | None = None) -> SweepReport:

    rep = rep or Reporter()
    _check(models, opts)
    opts.precisions = tuple(Precision(p) for p in opts.precisions)  # "int8" is fine too
    specs = _backends(opts)
    # named backends get every precision (a pair they cannot run is listed as unsupported);
    # the default ones only the precisions they run in a sweep
    variants = [Variant(model=m, backend=b.name, precision=p.value) for m in models
                for b in specs for p in opts.precisions
                if opts.backends is not None or p in b.sweep]
    sources, notices = weights_options(models, opts, rep)
    arts = {m: _Artifacts(m, opts, rep.quiet_copy(), sources[m]) for m in models}
    with rep.progress(len(variants), "sweep") as advance:
        for v in variants:
            advance(f"{v.model} {v.precision} {v.backend}")
            if Precision(v.precision) not in backends.get(v.backend).sweep:
                v.status = "unsupported"
                v.error = f"{v.backend} does not run {v.precision} in a sweep"
                continue
            run_variant(v, arts[v.model], opts, rep.quiet_copy())
    with rep.stage("report") as st:
        out = _report(variants, opts, notices)
        st["note"] = str(out.files.get("html"))
    return out


def _backends(opts: SweepOptions) -> tuple[BackendSpec, ...]:
    specs = (tuple(backends.get(b) for b in opts.backends) if opts.backends is not None
             else backends.default_sweep())
    for spec in specs:
        kind = "onnx" if "onnx" in spec.artifacts else sorted(spec.artifacts)[0]
        backends.check(spec, kind, RunnerOptions())
    return specs


def _report(variants: list[Variant], opts: SweepOptions,
            notices: list[str] | None = None) -> SweepReport:
    """Write the report folder from plain data: the variants' rows and the stored results."""
    from edgekit import pick, report
    from edgekit.device import fingerprint
    from edgekit.peak import estimate
    from edgekit.store import display, open_store

    ids = [v.result_id for v in variants if v.result_id is not None]
    stored = [r for r in open_store(opts.store).query(full=True) if r["id"] in ids] if ids else []
    fp = fingerprint()
    peaks = estimate(fp)
    picks = pick.pick(stored, pick.PickOptions(batch=opts.batch)).to_dict() if stored else None
    picked = {m["pick"]["id"] for m in (picks or {}).get("models", []) if m["pick"]}
    rows = report.table([v.to_dict() for v in variants], {r["id"]: r for r in stored}, peaks,
                        picked)
    out = SweepReport(variants=variants, store=display(opts.store), out=str(opts.out), rows=rows,
                      peaks=peaks, picks=picks, notices=list(notices or []), strict=opts.strict)
    page = report.Page(title=opts.title, batch=opts.batch, data=opts.data, device=fp,
                       peaks=peaks, picks=pick.describe(picks) if picks else [])
    out.files = report.write(rows, stored, page, opts.out, out.to_dict())
    return out
