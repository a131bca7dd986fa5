"""Sidecar manifests: ``<artifact>.json`` beside every artifact, as one typed record.

``Manifest`` is written by export, quantize and build, and read by everything else. The writer
resolves lineage once: a quantized ONNX or an engine carries its base model (name, family,
published figures), input, preprocessing and original source, so no reader walks parents.
Parsed with json only, never evaluated. Schema ``edgekit.manifest/2``; files written as
``edgekit.manifest/1`` (before the typed record) still load, upgraded on read. See
ARCHITECTURE.md for where manifests sit in the pipeline.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.errors import ConfigError
from edgekit.images import Preprocess
from edgekit.precision import Precision

SCHEMA = "edgekit.manifest/2"
LEGACY = ("edgekit.manifest/1",)
_PACKAGES = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "onnxslim", "onnxscript")
# the step-specific sections a writer may add (kept as written, shown by `render`)
SECTIONS = ("export", "target", "quantization", "conversion", "accuracy_aware", "layer_report",
            "layer_report_skipped",
            "tensorrt", "gpu", "build", "strongly_typed", "profiles", "qdq_nodes", "layers",
            "build_seconds", "onnx_precision_flags", "quantized_by", "dla", "timing_cache",
            "opset_converted", "opset_conversion", "detect")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions(packages: tuple[str, ...] = _PACKAGES) -> dict[str, str | None]:
    """Installed versions, read from package metadata (imports nothing heavy)."""
    out: dict[str, str | None] = {"edgekit": __version__}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass(kw_only=True)
class ArtifactRef:
    path: str
    sha256: str | None = None
    size_bytes: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArtifactRef:
        return cls(**_known(cls, d))


@dataclass(kw_only=True)
class ModelInfo:
    """The base model an artifact descends from (the same for its INT8, FP16 and engine)."""

    name: str | None = None
    family: str | None = None
    num_classes: int | None = None
    params: int | None = None
    gmacs: float | None = None
    published: dict[str, Any] | None = None  # the catalog entry's figures (FP32 weights)
    task: str | None = None  # classify | detect | segment | tensor (edgekit.tasks)
    task_source: str | None = None  # where the task was found (tasks.determine)
    names: list[str] | None = None  # class names, where the model states them

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ModelInfo:
        return cls(**_known(cls, d or {}))


@dataclass(kw_only=True)
class InputInfo:
    name: str
    shape: list[int | str]
    dtype: str = "float32"
    dynamic_axes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> InputInfo | None:
        if not isinstance(d, dict) or "shape" not in d:
            return None
        return cls(name=str(d.get("name")), shape=list(d["shape"]), dtype=str(d.get("dtype")),
                   dynamic_axes=dict(d.get("dynamic_axes") or {}))

    @property
    def static_batch(self) -> int | None:
        b = self.shape[0] if self.shape else None
        return b if isinstance(b, int) and b > 0 else None


@dataclass(kw_only=True)
class Lineage:
    """Where an artifact comes from: the model source (spec, provider, weights) and, for a
    derived artifact, its parent file (an FP32 ONNX for INT8/FP16, the ONNX for an engine)."""

    source: dict[str, Any] | None = None
    parent: ArtifactRef | None = None
    parent_precision: Precision | None = None
    parent_manifest: bool = False  # whether the parent had a manifest

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source,
                "parent": _asdict(self.parent) if self.parent else None,
                "parent_precision": self.parent_precision.value if self.parent_precision
                else None, "parent_manifest": self.parent_manifest}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Lineage:
        d = d or {}
        parent = d.get("parent")
        prec = d.get("parent_precision")
        return cls(source=d.get("source"),
                   parent=ArtifactRef.from_dict(parent) if isinstance(parent, dict) else None,
                   parent_precision=Precision(prec) if prec else None,
                   parent_manifest=bool(d.get("parent_manifest")))


@dataclass(kw_only=True)
class Verification:
    """How the artifact was checked against its reference; ``details`` keeps the figures of
    the step that checked it (cosine, max_abs_diff, held-out set, top-1 with labels...)."""

    top1_agreement: float | None = None  # % of images whose top-1 matches the reference
    passed: bool | None = None
    skipped: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.details)
        out["skipped"] = self.skipped
        for k in ("top1_agreement", "passed"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Verification | None:
        if not isinstance(d, dict):
            return None
        rest = {k: v for k, v in d.items() if k not in ("top1_agreement", "passed", "skipped")}
        return cls(top1_agreement=d.get("top1_agreement"), passed=d.get("passed"),
                   skipped=bool(d.get("skipped", False)), details=rest)


def _asdict(ref: ArtifactRef) -> dict[str, Any]:
    return {"path": ref.path, "sha256": ref.sha256, "size_bytes": ref.size_bytes}


@dataclass(kw_only=True)
class Manifest:
    kind: str  # onnx | engine
    precision: Precision = Precision.FP32
    model: ModelInfo = field(default_factory=ModelInfo)
    input: InputInfo | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    preprocess: Preprocess | None = None
    lineage: Lineage = field(default_factory=Lineage)
    verification: Verification | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)  # SECTIONS, as the writer made them
    artifact: ArtifactRef | None = None  # set by `write`
    created: str = field(default_factory=_now)
    versions: dict[str, str | None] = field(default_factory=versions)
    schema: str = SCHEMA

    def derive(self, *, kind: str, precision: Precision, parent: ArtifactRef,
               **changes: Any) -> Manifest:
        """A child artifact's manifest (INT8/FP16 ONNX, engine): the model, input, outputs,
        preprocessing and source are carried over once, here."""
        child = Manifest(kind=kind, precision=precision, model=self.model, input=self.input,
                         outputs=self.outputs, preprocess=self.preprocess,
                         lineage=Lineage(source=self.lineage.source, parent=parent,
                                         parent_precision=self.precision,
                                         parent_manifest=self.artifact is not None))
        for k, v in changes.items():
            setattr(child, k, v)
        return child

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "kind": self.kind, "created": self.created,
                "versions": self.versions,
                "artifact": _asdict(self.artifact) if self.artifact else None,
                "precision": self.precision.value, "model": vars(self.model).copy(),
                "input": vars(self.input).copy() if self.input else None,
                "outputs": self.outputs,
                "preprocess": self.preprocess.to_dict() if self.preprocess else None,
                "lineage": self.lineage.to_dict(),
                "verification": self.verification.to_dict() if self.verification else None,
                "stages": self.stages, **self.sections}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        """A /2 document, or a /1 one upgraded (TypeError/ValueError/KeyError on a bad one)."""
        if d.get("schema") in LEGACY:
            d = _upgrade_v1(d)
        pp = d.get("preprocess")
        art = d.get("artifact")
        return cls(kind=str(d["kind"]), precision=Precision(d.get("precision") or "fp32"),
                   model=ModelInfo.from_dict(d.get("model")),
                   input=InputInfo.from_dict(d.get("input")),
                   outputs=list(d.get("outputs") or []),
                   preprocess=Preprocess.from_dict(pp) if isinstance(pp, dict) else None,
                   lineage=Lineage.from_dict(d.get("lineage")),
                   verification=Verification.from_dict(d.get("verification")),
                   stages=list(d.get("stages") or []),
                   sections={k: d[k] for k in SECTIONS if k in d},
                   artifact=ArtifactRef.from_dict(art) if isinstance(art, dict) else None,
                   created=str(d.get("created", "")), versions=dict(d.get("versions") or {}),
                   schema=SCHEMA)


def _upgrade_v1(d: dict[str, Any]) -> dict[str, Any]:
    """``edgekit.manifest/1`` -> the /2 layout. /1 kept lineage as nested documents: an INT8/
    FP16 ONNX had ``parent: {path, sha256, model, source, input}``, an engine had
    ``source: {path, sha256, manifest: <the ONNX's /1 manifest>}``; this is the only place
    that walks them."""
    out = dict(d)
    parent = d.get("parent")
    src = d.get("source")
    if d.get("kind") == "engine" and isinstance(src, dict) and "manifest" in src:
        inner = src.get("manifest")
        base = _upgrade_v1(inner) if isinstance(inner, dict) else {}
        out["model"] = base.get("model") or {}
        out["input"] = d.get("input") or base.get("input")
        out["outputs"] = d.get("outputs") or base.get("outputs")
        out["lineage"] = {"source": (base.get("lineage") or {}).get("source"),
                          "parent": {"path": src.get("path"), "sha256": src.get("sha256")},
                          "parent_precision": base.get("precision") or "fp32",
                          "parent_manifest": isinstance(inner, dict)}
    elif isinstance(parent, dict):
        out["model"] = d.get("model") or parent.get("model") or {}
        out["input"] = d.get("input") or parent.get("input")
        out["lineage"] = {"source": parent.get("source"),
                          "parent": {"path": parent.get("path"), "sha256": parent.get("sha256")},
                          "parent_precision": "fp32",
                          "parent_manifest": parent.get("manifest", True) is not None}
    else:
        out["lineage"] = {"source": src if isinstance(src, dict) else None}
    return out


def sidecar(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def write(out: Path, data: bytes, man: Manifest) -> Manifest:
    """Write an artifact and its sidecar manifest atomically (both or neither); the manifest
    gets the artifact's name, sha256 and size, and the time and versions of this write."""
    from edgekit._io import atomic_paths, sha256_file

    with atomic_paths(out, sidecar(out)) as (t_art, t_json):
        t_art.write_bytes(data)
        man.artifact = ArtifactRef(path=out.name, sha256=sha256_file(t_art), size_bytes=len(data))
        man.created, man.versions = _now(), versions()
        t_json.write_text(json.dumps(man.to_dict(), indent=2, default=str) + "\n")
    return man


def read(path: Path) -> Manifest:
    """Read a manifest (the sidecar of ``path`` if ``path`` is an artifact)."""
    p = path if path.suffix == ".json" else sidecar(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read manifest ({type(e).__name__}: {e})",
                          "re-export the artifact to write a new one", path=str(p)) from e
    found = data.get("schema") if isinstance(data, dict) else None
    if found != SCHEMA and found not in LEGACY:
        raise ConfigError(f"not an edgekit manifest (schema {found!r})",
                          f"expected schema {SCHEMA}; re-export the artifact", path=str(p))
    try:
        return Manifest.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"malformed manifest ({type(e).__name__}: {e})",
                          "re-export the artifact to write a new one", path=str(p)) from e


class ManifestMismatch(ConfigError):
    """A manifest beside an artifact records another file's sha256."""


def for_artifact(artifact: Path) -> Manifest | None:
    """The manifest beside ``artifact`` (else the contract inside an ONNX; None without
    either), checked to describe this very file:
    a manifest left beside another file (a crash between the artifact's and the manifest's
    renames, a copied file) is refused rather than trusted."""
    from edgekit._io import sha256_file

    if not sidecar(artifact).is_file():
        return embedded(artifact) if artifact.suffix.lower() == ".onnx" else None
    man = read(artifact)
    recorded = man.artifact.sha256 if man.artifact else None
    if recorded and artifact.is_file() and recorded != sha256_file(artifact):
        raise ManifestMismatch("its manifest describes another file (the sha256 differs)",
                               f"re-export it, or delete {sidecar(artifact).name} to use the "
                               "file without a manifest", path=str(artifact))
    return man


def artifact_sha256(artifact: Path, man: Manifest | None) -> str:
    """The artifact's sha256: the one its manifest records (``for_artifact`` has checked it
    against the file), else hashed now."""
    from edgekit._io import sha256_file

    recorded = man.artifact.sha256 if man is not None and man.artifact else None
    return str(recorded) if recorded else sha256_file(artifact)


def ref(artifact: Path, man: Manifest | None) -> ArtifactRef:
    """A reference to a parent artifact, for a child's lineage."""
    return ArtifactRef(path=str(artifact), sha256=artifact_sha256(artifact, man),
                       size_bytes=artifact.stat().st_size if artifact.is_file() else None)


def beside(artifact: Path) -> Manifest | None:
    """The manifest recorded next to an artifact (or inside it), if readable (one that
    describes another file is an error, not a silent default)."""
    try:
        return for_artifact(artifact)
    except ManifestMismatch:
        raise
    except ConfigError:
        return None


def preprocess_beside(artifact: Path) -> Preprocess | None:
    """The preprocessing recorded next to an artifact (``beside``)."""
    man = beside(artifact)
    return man.preprocess if man is not None else None


CONTRACT_KEY = "edgekit.contract"  # one JSON value in an ONNX's metadata_props
CONTRACT_SCHEMA = "edgekit.contract/1"


def contract(man: Manifest) -> dict[str, Any]:
    """What an ONNX carries inside itself, so it keeps its meaning without the sidecar: the
    preprocessing, the input, the base model (class count) and the source (weights)."""
    return {"schema": CONTRACT_SCHEMA, "kind": man.kind, "precision": man.precision.value,
            "preprocess": man.preprocess.to_dict() if man.preprocess else None,
            "model": {k: v for k, v in vars(man.model).items() if k != "published"},
            "input": vars(man.input).copy() if man.input else None, "outputs": man.outputs,
            "source": man.lineage.source}


def embed(model: Any, man: Manifest) -> None:
    """Write ``contract(man)`` into an ONNX ModelProto's metadata_props (replacing an old one)."""
    kept = [p for p in model.metadata_props if p.key != CONTRACT_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = CONTRACT_KEY, json.dumps(contract(man), default=str)


def embedded(path: Path) -> Manifest | None:
    """The manifest an ONNX's own contract gives (None when it has none, or a malformed one)."""
    from edgekit._lazy import require

    if not path.is_file():
        return None
    try:
        model = require("onnx").load(str(path), load_external_data=False)
    except Exception:  # not readable as ONNX: the loaders that need it say so
        return None
    value = next((p.value for p in model.metadata_props if p.key == CONTRACT_KEY), None)
    try:
        d = json.loads(value) if value else None
        if not isinstance(d, dict) or d.get("schema") != CONTRACT_SCHEMA:
            return None
        pp = d.get("preprocess")
        return Manifest(kind=str(d.get("kind", "onnx")),
                        precision=Precision(d.get("precision") or "fp32"),
                        model=ModelInfo.from_dict(d.get("model")),
                        input=InputInfo.from_dict(d.get("input")),
                        outputs=list(d.get("outputs") or []),
                        preprocess=Preprocess.from_dict(pp) if isinstance(pp, dict) else None,
                        lineage=Lineage(source=d.get("source")))
    except (json.JSONDecodeError, TypeError, ValueError, KeyError):
        return None
