"""The record of one measurement (``edgekit.result/1``): what ``edgekit profile`` prints with
--json and the store keeps, and how it is put together from what was measured: the model it
describes (from the runner, the manifest, or the manifest's parents), the artifact, GFLOP/s,
and the settings key that says "the same measurement" for --resume and repeated runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit import manifest, timing
from edgekit.backends import RunnerOptions
from edgekit.device import fingerprint, label
from edgekit.manifest import Manifest
from edgekit.precision import Precision

if TYPE_CHECKING:
    from edgekit.profile import ProfileOptions

RESULT_SCHEMA = "edgekit.result/1"
MAX_SAMPLES_KEPT = 5000  # per result; a longer run keeps every k-th sample (order preserved)


@dataclass(kw_only=True)
class Measured:
    """What one profile run measured, before it is put into Results (one per batch size)."""

    per_batch: list[dict[str, Any]]
    create_ms: float
    first_ms: float
    peak_rss_mb: float
    rss_method: str
    gpu_peak_mb: float | None
    settings: dict[str, Any]
    accuracy: dict[str, Any] | None
    macs: int | None
    model: dict[str, Any] | None  # what the runner knows of the model (a source spec)
    probe: np.ndarray | None = None  # a --dtype run's logits on the probe photos (verified)


@dataclass(kw_only=True)
class Result:
    """One artifact x backend x device x batch size; ``to_dict()`` is what --json prints and
    the store keeps."""

    created: str
    tag: str | None
    artifact: dict[str, Any]
    model: dict[str, Any]
    backend: str
    device: str
    device_name: str
    batch: int
    latency: dict[str, Any]
    memory: dict[str, Any]
    accuracy: dict[str, Any] | None
    gflops: float | None
    settings: dict[str, Any]
    settings_key: str  # identity.RunSettings.key() of ``run``
    device_info: dict[str, Any]
    manifest: dict[str, Any] | None  # the artifact's manifest, as read
    samples_ms: list[float]
    energy: dict[str, Any] | None = None  # Jetson: tegrastats power over the timed runs
    uid: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)  # the store's key
    lab: dict[str, Any] | None = None  # measured by a lab agent: its kind, name and host
    run: dict[str, Any] | None = None  # identity.RunSettings: what was asked, and bound how
    series: dict[str, Any] | None = None  # identity.series_of: this measurement over time
    provenance: dict[str, Any] | None = None  # provenance.collect: commit, branch, CI run
    id: int | None = None

    def to_dict(self, samples: bool = True) -> dict[str, Any]:
        d = {"schema": RESULT_SCHEMA, **dataclasses.asdict(self)}
        if not samples:
            d.pop("samples_ms")
        return d


def _model_info(kind: str, target: str, man: Manifest | None, m: Measured,
                precision: str) -> dict[str, Any]:
    if m.model:
        info = dict(m.model)
    elif man is not None:  # the writer resolved the base model into every manifest
        info = {k: getattr(man.model, k) for k in ("name", "family", "params", "published",
                                                    "gmacs")}
    else:
        info = {"name": Path(target).stem, "family": None, "params": None, "published": None}
    if m.macs:
        info["gmacs"] = round(m.macs / 1e9, 4)
    elif info.get("gmacs") is None and kind == "onnx":
        info["gmacs"] = _onnx_gmacs(Path(target))
    info["precision"] = precision
    info["name"] = info.get("name") or Path(target).stem
    return info


def _onnx_gmacs(path: Path) -> float | None:
    try:
        from edgekit import graph

        n = graph.count_macs(graph.load_checked(path, full=False))
        return round(n / 1e9, 4) if n is not None else None
    except Exception:  # onnx may be absent on a Jetson; the figure is informative
        return None


def _precision(man: Manifest | None, ropts: RunnerOptions) -> str:
    """What ran: a runner computing in a chosen precision (--dtype) runs in it; otherwise the
    artifact's own precision (an INT8 ONNX, an FP16 engine)."""
    return Precision.of_run(man.precision if man is not None else Precision.FP32,
                            ropts.dtype).value


def _file_of(target: str) -> Path:
    """The file behind a target: the .py of a ``file.py:factory`` spec, else the path."""
    return Path(target.split(".py:")[0] + ".py") if ".py:" in target else Path(target)


def _artifact(kind: str, target: str, info: dict[str, Any],
              man: Manifest | None) -> dict[str, Any]:
    """Path, sha256 and size. A model spec's size is its parameter bytes at the precision it
    ran in (its .py file's size would mean nothing); its sha256 is the file's, if any (an
    artifact's manifest records it, checked against the file when the manifest was read)."""
    p = _file_of(target)
    sha = (manifest.artifact_sha256(p, man if kind != "source" else None) if p.is_file()
           else None)
    if kind != "source":
        return {"path": target, "kind": kind, "sha256": sha,
                "size_mb": round(p.stat().st_size / 1e6, 3)}
    bytes_per = {"fp32": 4, "fp16": 2, "bf16": 2}.get(info["precision"], 4)
    size = round(info["params"] * bytes_per / 1e6, 3) if info.get("params") else None
    return {"path": target, "kind": kind, "sha256": sha, "size_mb": size,
            "size_note": "parameter bytes at the precision it ran in"}


def assemble(target: str, kind: str, backend: str, opts: ProfileOptions,
             man: Manifest | None, m: Measured, tuned: dict[str, Any] | None
             ) -> list[Result]:
    from edgekit import provenance
    from edgekit.identity import RunSettings, series_of

    fp = fingerprint()
    dev = opts.runner.device.value
    info = _model_info(kind, target, man, m, _precision(man, opts.runner))
    art = _artifact(kind, target, info, man)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    settings = {**m.settings, "warmup": opts.warmup, "iterations": opts.iterations,
                "duration_s": None if opts.iterations else opts.duration_s, "tune": tuned}
    prov = {**provenance.collect(_file_of(target), opts.commit),
            "versions": provenance.versions(fp)}
    out = []
    for pb in m.per_batch:
        ms, b = pb["samples"], pb["batch"]
        lat: dict[str, Any] = timing.stats(ms)
        lat.update(images_per_s=round(b * 1000.0 / lat["mean_ms"], 2),
                   session_create_ms=round(m.create_ms, 3), first_infer_ms=round(m.first_ms, 3),
                   split_ms=pb["split"])
        if pb.get("end_to_end"):  # a detector: network + decode + NMS (edgekit.e2e)
            lat["end_to_end"] = pb["end_to_end"]
        gmacs = info.get("gmacs")
        gflops = round(2 * gmacs * b / (lat["p50_ms"] / 1e3), 3) if gmacs else None
        run = RunSettings.of(backend, opts, b, label(fp, dev), power_mode(fp)).with_outcome(
            m.settings.get("timed_call"), pb.get("input_shapes"))
        res = Result(
            created=created, tag=opts.tag, artifact=art, model=info, backend=backend, device=dev,
            device_name=label(fp, dev), batch=b, latency=lat,
            memory={"peak_rss_growth_mb": m.peak_rss_mb, "rss_method": m.rss_method,
                    "gpu_peak_mb": m.gpu_peak_mb, "model_size_mb": art.get("size_mb")},
            accuracy=m.accuracy, gflops=gflops, settings=settings, settings_key=run.key(),
            device_info=fp, manifest=man.to_dict() if man is not None else None,
            samples_ms=thin(ms), energy=pb["energy"], run=run.to_dict(), provenance=prov)
        res.series = series_of(res.to_dict(samples=False))
        out.append(res)
    return out


def power_mode(fp: dict[str, Any]) -> str | None:
    """A Jetson's nvpmodel mode, part of what was measured (None elsewhere)."""
    return (fp.get("jetson") or {}).get("power_mode")


def thin(ms: np.ndarray) -> list[float]:
    step = max(1, -(-len(ms) // MAX_SAMPLES_KEPT))
    return [round(float(v), 5) for v in ms[::step]]
