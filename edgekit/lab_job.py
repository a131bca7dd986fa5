"""One lab job: the typed record the sweep driver enqueues and the agent reads back
(``edgekit.lab_job/1``). It carries the artifact by content hash, the same ``ProfileOptions``
the local sweep profiles with (built by ``sweep.profile_options``, so an option means one thing
on this machine and on an agent), and the image folders the profile reads (``--data`` with its
labels, ``--agreement-data``), shipped through the store by content hash. Only what is the
agent's own is left out: its store, its cache paths, its name.

A stored result matches a job (``--resume``) when its settings key, recomputed from the job's
options on the row's own device, is the row's: dtype, batch, threads, input size and timing
included (``matches``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.artifacts import ArtifactRef
from edgekit.backends import Device, OrtSettings, OvSettings, Provider, RunnerOptions
from edgekit.errors import ConfigError
from edgekit.images import Stated
from edgekit.precision import Precision
from edgekit.profile import ProfileOptions

SCHEMA = "edgekit.lab_job/1"
# ProfileOptions fields that are the machine's own, never shipped: the store, the job's uid
# and lab record (set from the job on the agent), the folders (shipped as folder artifacts)
_LOCAL = ("store", "uid", "lab", "data", "labels", "agreement")


def runner_to_dict(r: RunnerOptions) -> dict[str, Any]:
    if r.source is not None:
        raise ConfigError("--lab: a model spec runs on the agent only as an artifact",
                          "sweep ONNX runtimes (ort, openvino, tensorrt) in the lab")
    return {"device": r.device.value, "threads": r.threads, "dtype": r.dtype.value,
            "cuda_graphs": r.cuda_graphs, "compile": r.compile, "provider": r.provider.value,
            "ort": r.ort.to_dict() if r.ort else None,
            "openvino": r.openvino.to_dict() if r.openvino else None, "ov_device": r.ov_device,
            "input_size": list(r.input_size) if r.input_size else None}


def runner_from_dict(d: dict[str, Any]) -> RunnerOptions:
    return RunnerOptions(device=Device(d["device"]), threads=int(d["threads"]),
                         dtype=Precision(d["dtype"]), cuda_graphs=bool(d["cuda_graphs"]),
                         compile=bool(d["compile"]), provider=Provider(d["provider"]),
                         ort=OrtSettings(**d["ort"]) if d.get("ort") else None,
                         openvino=OvSettings(**d["openvino"]) if d.get("openvino") else None,
                         ov_device=d["ov_device"],
                         input_size=tuple(d["input_size"]) if d.get("input_size") else None)


def options_to_dict(p: ProfileOptions) -> dict[str, Any]:
    """Every ProfileOptions field but the machine's own (``_LOCAL``), as JSON."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if f.name in _LOCAL:
            continue
        if f.name == "runner":
            v = runner_to_dict(v)
        elif f.name == "preprocess":
            v = {k: list(x) if isinstance(x, tuple) else x for k, x in vars(v).items()}
        elif f.name == "batches":
            v = list(v)
        out[f.name] = v
    return out


def options_from_dict(d: dict[str, Any], **local: Any) -> ProfileOptions:
    """The ProfileOptions of ``options_to_dict``, with the machine's own fields (``local``)."""
    known = {f.name for f in dataclasses.fields(ProfileOptions)} - set(_LOCAL)
    unknown = set(d) - known
    if unknown:  # a newer driver: refuse rather than silently measure something else
        raise ConfigError(f"lab job has profile options this edgekit does not know: "
                          f"{', '.join(sorted(unknown))}", "install the driver's edgekit version "
                          "on the agent")
    kw = dict(d)
    kw["runner"] = runner_from_dict(d["runner"])
    kw["batches"] = tuple(d["batches"])
    stated: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in d["preprocess"].items()}
    kw["preprocess"] = Stated(**stated)
    return ProfileOptions(**kw, **local)


@dataclass(kw_only=True)
class Job:
    """What one agent runs: one artifact x profile options on one device kind."""

    uid: str
    sweep: str
    kind: str
    label: str
    artifact: ArtifactRef
    profile: ProfileOptions
    data: ArtifactRef | None = None  # --data (and its --labels file) as a folder artifact
    agreement: ArtifactRef | None = None  # --agreement-data as a folder artifact
    labels_name: str | None = None  # the labels file's name inside the data artifact

    @property
    def backend(self) -> str:
        return str(self.profile.backend)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "uid": self.uid, "sweep": self.sweep, "kind": self.kind,
                "label": self.label, "artifact": self.artifact.to_dict(),
                "profile": options_to_dict(self.profile),
                "data": self.data.to_dict() if self.data else None,
                "agreement": self.agreement.to_dict() if self.agreement else None,
                "labels_name": self.labels_name}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        if d.get("schema") != SCHEMA:
            raise ConfigError(f"lab job schema {d.get('schema')!r} is not {SCHEMA}",
                              "run the same edgekit version on the driver and the agents")
        return cls(uid=d["uid"], sweep=d["sweep"], kind=d["kind"], label=d["label"],
                   artifact=ArtifactRef.from_dict(d["artifact"]),
                   profile=options_from_dict(d["profile"]),
                   data=ArtifactRef.from_dict(d["data"]) if d.get("data") else None,
                   agreement=(ArtifactRef.from_dict(d["agreement"]) if d.get("agreement")
                              else None),
                   labels_name=d.get("labels_name"))

    def local_options(self, *, store: str, lab: dict[str, Any], data: Path | None,
                      agreement: Path | None) -> ProfileOptions:
        """The job's options on this agent: its store, the job's key, the fetched folders."""
        labels = data / self.labels_name if data is not None and self.labels_name else None
        return dataclasses.replace(self.profile, store=store, uid=self.uid, lab=lab,
                                   data=data / "images" if data is not None else None,
                                   labels=labels, agreement=agreement)


def matches(row: dict[str, Any], popts: ProfileOptions) -> bool:
    """Whether a stored row measured what ``popts`` asks for, on the row's own device and power
    mode: the settings key (``identity.RunSettings``) recomputed from ``popts``."""
    from edgekit.identity import RunSettings

    run = RunSettings.of_row(row)
    key = RunSettings.of(str(row["backend"]), popts, int(row["batch"]),
                         str(row.get("device_name") or ""),
                         run.power_mode if run is not None else None).key()
    return bool(row.get("settings_key") == key)
