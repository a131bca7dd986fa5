"""Pretrained weights through the libraries' own download-and-cache paths (ARCHITECTURE.md,
rule 2): torchvision's weights enums and torch.hub (sha256-prefix checked, into
``$TORCH_HOME/hub/checkpoints``), timm's Hugging Face repos through huggingface_hub (into
``$HF_HOME/hub``), timm's older URL weights through torch.hub.

No network and nothing cached is one ``WeightsUnavailable`` line naming the file, the cache
folder and the URL; a download (or a cached copy) whose sha256 does not match is refused and
nothing is left in the cache. Every build records what it used as a ``WeightsRecord``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from edgekit._io import sha256_file
from edgekit._lazy import require
from edgekit.errors import SourceError

RANDOM_FIX = ", or pass --random-weights"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(kw_only=True)
class WeightsRecord:
    """Which weights a model was built with (the manifest's ``lineage.source.weights_record``)."""

    kind: str  # pretrained | random | checkpoint | embedded
    name: str | None = None  # ResNet18_Weights.IMAGENET1K_V1, timm/resnet18.a1_in1k
    url: str | None = None
    sha256: str | None = None  # of the file the weights were read from
    file: str | None = None
    head: str | None = None  # the classifier head re-initialised (pretrained, --num-classes)
    reason: str | None = None  # random: why (asked for, or the download failed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def legacy(self) -> str:
        """The old ``Source.weights`` string: random | pretrained:<file> | checkpoint:<file>."""
        return f"{self.kind}:{self.file}" if self.file else self.kind


class WeightsUnavailable(SourceError):
    """Pretrained weights could not be downloaded (no network, a bad download) and are not
    cached; ``sweep --allow-random`` and ``quickstart`` fall back to random weights on it."""

    def __init__(self, message: str, hint: str = "", *, path: str | None = None,
                 cause: str = "") -> None:
        super().__init__(message, hint, path=path)
        self.cause = cause or message  # short: "offline", "sha256 mismatch"


def _why(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    text = str(reason).strip().splitlines()[0][:160] if str(reason).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def hub_checkpoints() -> Path:
    return Path(require("torch").hub.get_dir()) / "checkpoints"


def fetch_url(url: str, name: str, progress: bool) -> WeightsRecord:
    """The torch.hub checkpoint for ``url``: downloaded unless cached, by the function
    torchvision's ``Weights.get_state_dict`` and ``torch.hub.load_state_dict_from_url`` use
    (``download_url_to_file``, with the sha256 prefix in the file's name checked as
    ``check_hash=True`` does), into the same file; then its sha256 checked against the name."""
    hub = require("torch").hub
    folder = hub_checkpoints()
    file = folder / os.path.basename(urlparse(url).path)
    prefix = hub.HASH_REGEX.search(file.name)
    if not file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            hub.download_url_to_file(url, str(file), prefix.group(1) if prefix else None,
                                     progress=progress)
        except RuntimeError as e:
            if "invalid hash value" not in str(e):
                raise
            raise WeightsUnavailable(
                f"the download of {name} from {url} does not match its sha256 ({e}); nothing "
                "was cached", f"try again, or put a good copy in {folder}{RANDOM_FIX}",
                path=file.name, cause="a download that failed its sha256 check") from e
        except Exception as e:  # urllib's URLError/HTTPError, socket and SSL errors
            raise WeightsUnavailable(
                f"cannot download the pretrained weights {name} ({_why(e)}) and they are not "
                f"cached", f"put {url} in {folder}{RANDOM_FIX}", path=file.name,
                cause=_why(e)) from e
    sha = sha256_file(file)
    if prefix and not sha.startswith(prefix.group(1)):
        raise SourceError(f"the cached weights do not match the sha256 prefix in their name "
                          f"(got {sha[:12]}...)", f"delete the file; it is downloaded again "
                          f"from {url}", path=str(file))
    return WeightsRecord(kind="pretrained", name=name, url=url, sha256=sha, file=str(file))


def torchvision_enum(tvm: Any, name: str, exact: str | None) -> Any:
    """The catalog entry's exact weights (``ResNet50_Weights.IMAGENET1K_V2``), else DEFAULT."""
    try:
        return tvm.get_weight(exact) if exact else tvm.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError, KeyError) as e:
        raise SourceError(f"torchvision has no pretrained weights for {name}",
                          "pass --random-weights", path=name) from e


def fetch_torchvision(enum: Any, progress: bool) -> WeightsRecord:
    return fetch_url(enum.url, str(enum), progress)


def fetch_timm(timm: Any, name: str, exact: str | None, progress: bool) -> tuple[str, WeightsRecord]:
    """(timm's model name with the weights' tag, the record): the catalog entry's tag when it
    names one (``timm/inception_v4.tf_in1k``), else timm's default for ``name``."""
    model_name = exact.removeprefix("timm/") if exact and exact.startswith("timm/") else name
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise SourceError(f"timm has no pretrained weights for {model_name}",
                          "pass --random-weights", path=f"timm:{model_name}")
    if cfg.hf_hub_id:
        return model_name, fetch_hf(cfg.hf_hub_id, cfg.hf_hub_filename)
    return model_name, fetch_url(cfg.url, f"timm:{model_name}", progress)


def fetch_hf(hub_id: str, filename: str | None) -> WeightsRecord:
    """A timm repo's weights file through huggingface_hub (model.safetensors, else
    pytorch_model.bin, as timm looks for them), its sha256 checked against the LFS ETag."""
    hub = require("huggingface_hub")
    repo, _, rev = hub_id.partition("@")
    names = [filename] if filename else ["model.safetensors", "pytorch_model.bin"]
    for i, fn in enumerate(names):
        url = hub.hf_hub_url(repo, fn, revision=rev or None)
        try:
            with _quiet_logger("huggingface_hub"):  # its retry warnings: the error says it all
                path = Path(hub.hf_hub_download(repo, fn, revision=rev or None))
        except hub.errors.RemoteEntryNotFoundError as e:
            if i + 1 < len(names):
                continue
            raise SourceError(f"the Hugging Face repo has no {fn}", "pass --random-weights",
                              path=repo) from e
        except Exception as e:  # offline (LocalEntryNotFoundError), HTTP and proxy errors
            why = _why(e)
            if isinstance(e, hub.errors.LocalEntryNotFoundError):
                why = ("HF_HUB_OFFLINE is set" if hub.constants.HF_HUB_OFFLINE
                       else "the Hub cannot be reached")
            raise WeightsUnavailable(
                f"cannot download the pretrained weights {repo} ({why}) and they are not "
                f"cached", f"fetch {url} into the Hugging Face cache {hub.constants.HF_HUB_CACHE} "
                f"(`hf download {repo} {fn}` does it){RANDOM_FIX}", path=fn, cause=why) from e
        return _checked_blob(path, WeightsRecord(kind="pretrained", name=hub_id, url=url))
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _checked_blob(path: Path, rec: WeightsRecord) -> WeightsRecord:
    """An LFS blob is stored under its sha256: a blob that does not hash to its name is a bad
    download, removed (with its snapshot link) so that the next run fetches it again."""
    blob = path.resolve()
    sha = sha256_file(blob)
    if _SHA256.fullmatch(blob.name) and sha != blob.name:
        for p in (path, blob):
            p.unlink(missing_ok=True)
        raise WeightsUnavailable(f"the download of {rec.name} from {rec.url} does not match its "
                                 f"sha256 (expected {blob.name[:12]}..., got {sha[:12]}...); "
                                 "removed from the cache", f"try again{RANDOM_FIX}",
                                 path=path.name, cause="a download that failed its sha256 check")
    rec.sha256, rec.file = sha, str(path)
    return rec
