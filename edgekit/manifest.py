"""Sidecar manifests: ``<artifact>.json`` beside every artifact (STYLE.md rule 9).

Parsed with json only, never evaluated. ``schema`` is versioned; readers reject others.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.errors import ConfigError
from edgekit.images import Preprocess

SCHEMA = "edgekit.manifest/1"
_PACKAGES = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "onnxslim", "onnxscript")


def sidecar(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def versions(packages: tuple[str, ...] = _PACKAGES) -> dict[str, str | None]:
    """Installed versions, read from package metadata (imports nothing heavy)."""
    out: dict[str, str | None] = {"edgekit": __version__}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def new(kind: str, **fields: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "kind": kind,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(), **fields}


def write(out: Path, data: bytes, kind: str, **body: Any) -> dict[str, Any]:
    """Write an artifact and its sidecar manifest atomically (both or neither); returns the
    manifest, which records the artifact's name, sha256 and size."""
    from edgekit._io import atomic_paths, sha256_file

    with atomic_paths(out, sidecar(out)) as (t_art, t_json):
        t_art.write_bytes(data)
        doc = new(kind, artifact={"path": out.name, "sha256": sha256_file(t_art),
                                  "size_bytes": len(data)}, **body)
        t_json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc


def read(path: Path) -> dict[str, Any]:
    """Read a manifest (the sidecar of ``path`` if ``path`` is an artifact)."""
    p = path if path.suffix == ".json" else sidecar(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read manifest ({type(e).__name__}: {e})",
                          "re-export the artifact to write a new one", path=str(p)) from e
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise ConfigError(f"not an edgekit manifest (schema {found!r})",
                          f"expected schema {SCHEMA}; re-export the artifact", path=str(p))
    return data


class ManifestMismatch(ConfigError):
    """A manifest beside an artifact records another file's sha256."""


def for_artifact(artifact: Path) -> dict[str, Any] | None:
    """The manifest beside ``artifact`` (None without one), checked to describe this very file:
    a manifest left beside another file (a crash between the artifact's and the manifest's
    renames, a copied file) is refused rather than trusted."""
    from edgekit._io import sha256_file

    if not sidecar(artifact).is_file():
        return None
    man = read(artifact)
    recorded = (man.get("artifact") or {}).get("sha256")
    if recorded and artifact.is_file() and recorded != sha256_file(artifact):
        raise ManifestMismatch("its manifest describes another file (the sha256 differs)",
                               f"re-export it, or delete {sidecar(artifact).name} to use the "
                               "file without a manifest", path=str(artifact))
    return man


def artifact_sha256(artifact: Path, man: dict[str, Any] | None) -> str:
    """The artifact's sha256: the one its manifest records (``for_artifact`` has checked it
    against the file), else hashed now."""
    from edgekit._io import sha256_file

    recorded = ((man or {}).get("artifact") or {}).get("sha256")
    return str(recorded) if recorded else sha256_file(artifact)


def preprocess_of(man: dict[str, Any] | None) -> Preprocess | None:
    try:
        return Preprocess.from_dict(man["preprocess"]) if man else None
    except (KeyError, TypeError, ValueError):
        return None


def preprocess_beside(artifact: Path) -> Preprocess | None:
    """The preprocessing recorded next to an artifact, if it has a readable manifest (one that
    describes another file is an error, not a silent default)."""
    try:
        return preprocess_of(for_artifact(artifact))
    except ManifestMismatch:
        raise
    except ConfigError:
        return None
