"""Atomic file writes and hashing (ARCHITECTURE.md, rule 12).

Every artifact is written to a hidden temporary name in its target folder and renamed
into place with ``os.replace``, so a crash or Ctrl-C never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

_FAULT_COUNTS: dict[str, int] = {}


def fault(point: str) -> None:
    """Crash-test hook (tests/test_io.py), inert unless ``EDGEKIT_FAULT`` names this point:
    ``POINT`` kills the process (SIGKILL) there, ``POINT:sigint`` raises KeyboardInterrupt there
    (a Ctrl-C), ``POINT:N`` kills it the Nth time it gets there, ``POINT:signal`` sends SIGUSR1
    to the parent (the test) and waits there for the real signal the parent then sends."""
    spec = os.environ.get("EDGEKIT_FAULT")
    if not spec or spec.split(":")[0] != point:
        return
    arg = spec.partition(":")[2]
    if arg == "sigint":
        raise KeyboardInterrupt
    if arg == "signal":
        import signal
        import time

        os.kill(os.getppid(), signal.SIGUSR1)
        time.sleep(120)  # interrupted by the parent's signal
        return
    _FAULT_COUNTS[point] = _FAULT_COUNTS.get(point, 0) + 1
    if not arg or _FAULT_COUNTS[point] >= int(arg):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file; mkstemp gives 0600


def check_writable_dir(path: Path) -> None:
    """Raise a clear error if ``path``'s folder cannot take a new file."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise EdgekitError(f"output folder {folder} does not exist",
                           "create it first or pass -o with an existing folder", path=str(path))
    try:  # a real probe: os.access() says yes to root even on read-only mounts
        fd, probe = tempfile.mkstemp(prefix=".edgekit-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise EdgekitError(f"output folder {folder} is not writable ({e.strerror or e})",
                           "choose another folder with -o", path=str(path)) from e


@contextlib.contextmanager
def atomic_paths(*targets: Path) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``targets``; on success rename them all into place.

    On any exception (KeyboardInterrupt included) the temporaries are removed and the
    targets are untouched. Targets are renamed in the order given.
    """
    for t in targets:
        check_writable_dir(t)
        _remove_orphans(t)
    temps: list[Path] = []
    try:
        try:
            for t in targets:
                fd, name = tempfile.mkstemp(prefix=f".{t.name}.{os.getpid()}.", suffix=".tmp",
                                            dir=t.parent or ".")
                os.close(fd)
                os.chmod(name, _FILE_MODE)
                temps.append(Path(name))
            yield temps
            fault("rename")  # the worst moment: everything written, nothing renamed
            for tmp, t in zip(temps, targets, strict=True):
                os.replace(tmp, t)
        except OSError as e:
            raise EdgekitError(f"cannot write here ({e.strerror or e})",
                               "choose another output folder with -o", path=str(targets[0])) from e
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _remove_orphans(target: Path) -> None:
    """Delete temporaries of ``target`` left by a process that no longer exists (a kill -9
    between writing and renaming); a live writer's temporaries are left alone."""
    folder = target.parent if str(target.parent) else Path(".")
    for tmp in folder.glob(f".{target.name}.*.tmp"):
        parts = tmp.name[len(target.name) + 2 :].split(".")
        if not parts or not parts[0].isdigit():
            continue
        try:
            os.kill(int(parts[0]), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except PermissionError:
            pass  # alive, another user's


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_paths(path) as (tmp,):
        tmp.write_bytes(data)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def scratch_cwd(folder: Path | str) -> Iterator[Path]:
    """Run a third-party step with ``folder`` (a temporary directory) as the working directory,
    so the scratch files some libraries drop into it (ONNX Runtime's symbolic shape inference
    saves ``sym_shape_infer_temp.onnx`` plus a uuid-named ``.data`` file when it fails; ORT's
    calibrators, onnxslim and ModelOpt write beside relative names) never land in the user's
    folder (ARCHITECTURE.md, rule 12). Paths handed to the step must be absolute."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield Path(folder)
    finally:
        os.chdir(before)


@contextlib.contextmanager
def silenced_fds() -> Iterator[None]:
    """Send fds 1 and 2 to a scratch file: torch's exporters print whole IR graphs from C++."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
