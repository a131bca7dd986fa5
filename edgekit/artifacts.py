"""Artifacts through the store (ARCHITECTURE.md, rules 9 and 12): an ONNX file and its manifest
kept content-addressed by sha256 (``store_base.MAX_ARTIFACT_MB`` at most each, a clear error
beyond), so a lab agent needs no shared disk. An agent fetches them into its local cache
(``EDGEKIT_CACHE``, default ``~/.cache/edgekit/artifacts/SHA/NAME``), checks the hash of what
it received and of what it finds cached, and reuses the cached copy. TensorRT engines are never
kept here: they are built on the device that runs them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgekit._io import sha256_file, write_bytes_atomic
from edgekit.errors import StoreError
from edgekit.store_base import StoreBase


@dataclass(kw_only=True)
class ArtifactRef:
    """What a job carries: the ONNX file's name and sha256, and its manifest's."""

    name: str
    sha256: str
    manifest_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArtifactRef:
        return cls(name=d["name"], sha256=d["sha256"], manifest_sha256=d.get("manifest_sha256"))


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit"
                ) / "artifacts"


def publish(store: StoreBase, path: Path) -> ArtifactRef:
    """Keep ``path`` and its manifest sidecar (if any) in the store; their reference."""
    from edgekit import manifest

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    data = path.read_bytes()
    ref = ArtifactRef(name=path.name, sha256=hashlib.sha256(data).hexdigest())
    store.put_blob(ref.sha256, path.name, data, now)
    side = manifest.sidecar(path)
    if side.is_file():
        mdata = side.read_bytes()
        ref.manifest_sha256 = hashlib.sha256(mdata).hexdigest()
        store.put_blob(ref.manifest_sha256, side.name, mdata, now)
    return ref


def _get(store: StoreBase, sha256: str, target: Path) -> None:
    if target.is_file() and sha256_file(target) == sha256:
        return  # cached, and still what it should be
    got = store.get_blob(sha256)
    if got is None:
        raise StoreError(f"artifact {sha256[:12]} is not in the store",
                         "run the sweep again: the driver publishes its artifacts first",
                         path=target.name)
    if hashlib.sha256(got[1]).hexdigest() != sha256:
        raise StoreError(f"artifact {sha256[:12]} arrived damaged (its sha256 differs)",
                         "check the store's disk; nothing was cached", path=target.name)
    write_bytes_atomic(target, got[1])


def fetch(store: StoreBase, ref: ArtifactRef, cache: Path | None = None) -> Path:
    """The artifact as a local file (with its manifest beside it), hash-checked."""
    from edgekit import manifest

    folder = (cache or cache_dir()) / ref.sha256
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ref.name
    _get(store, ref.sha256, target)
    if ref.manifest_sha256 is not None:
        _get(store, ref.manifest_sha256, manifest.sidecar(target))
    return target


def publish_folder(store: StoreBase, folder: Path, extra: tuple[Path, ...] = ()) -> ArtifactRef:
    """An image folder (its files under ``images/``, recursively) and ``extra`` files (under
    ``labels/``) kept in the store as one tar, named by its sha256: the same files give the
    same bytes (sorted, no times or owners), so a folder is stored once."""
    import io
    import tarfile

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    members = [(p, f"images/{p.relative_to(folder).as_posix()}")
               for p in sorted(folder.rglob("*")) if p.is_file()]
    members += [(p, f"labels/{p.name}") for p in extra]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, arcname in members:
            data = path.read_bytes()
            info = tarfile.TarInfo(arcname)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    ref = ArtifactRef(name=f"{folder.name or 'images'}.tar",
                      sha256=hashlib.sha256(blob).hexdigest())
    store.put_blob(ref.sha256, ref.name, blob, now)
    return ref


def fetch_folder(store: StoreBase, ref: ArtifactRef, cache: Path | None = None) -> Path:
    """A folder artifact unpacked in the cache (hash-checked, unpacked once, atomically): the
    folder that holds ``images/`` and ``labels/``."""
    import shutil
    import tarfile
    import tempfile

    tar = fetch(store, ref, cache)
    done = tar.parent / "unpacked"
    if done.is_dir():
        return done
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=tar.parent))
    try:
        with tarfile.open(tar) as t:
            t.extractall(scratch, filter="data")  # no links, no paths outside it
        os.replace(scratch, done)
    except OSError:
        if not done.is_dir():  # another agent unpacked it first: theirs is the same bytes
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return done
