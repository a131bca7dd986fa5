"""Model specs -> Source: catalog short names, timm/torchvision names, ``file.py:factory``,
TorchScript files and ONNX files (issue: "any architecture").

``resolve(spec)`` is the one factory; each kind of spec has one small loader below.
torch/timm/torchvision are imported only when a spec needs them.
"""

from __future__ import annotations

import difflib
import enum
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit import checkpoints, tvdetect, tvsegment, weights, yolo
from edgekit._lazy import require
from edgekit.catalog import Entry, load_catalog
from edgekit.errors import SourceError
from edgekit.images import Preprocess
from edgekit.preprocessing import default_for, from_timm_cfg
from edgekit.weights import WeightsRecord

ENGINE_SUFFIXES = {".engine", ".plan", ".trt"}
TORCHSCRIPT_SUFFIXES = {".pt", ".ts", ".jit", ".pth", ".torchscript"}


class Kind(str, enum.Enum):
    CATALOG = "catalog"
    TORCHVISION = "torchvision"
    TIMM = "timm"
    FILE = "file"  # path/to/file.py:factory
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"


@dataclass(kw_only=True)
class Options:
    """What the user asked for beside the spec (validated at the CLI boundary)."""

    weights: Path | None = None  # a state_dict checkpoint (wins over pretrained weights)
    num_classes: int | None = None
    random_weights: bool = False  # named models: random initialisation instead of pretrained
    random_reason: str | None = None  # recorded with random weights (why they are random)
    trust_checkpoint: bool = False
    progress: bool = False  # the libraries' download progress bars on stderr


@dataclass(kw_only=True)
class Source:
    spec: str
    kind: Kind
    provider: str  # torchvision | timm | file | torchscript | onnx
    name: str
    preprocess: Preprocess
    model: Any = None  # torch.nn.Module in eval mode, for every kind but ONNX
    onnx_path: Path | None = None
    entry: Entry | None = None
    min_size: tuple[int, int] = (1, 1)
    notes: list[str] = field(default_factory=list)
    task: str | None = None  # as recorded beside an ONNX, or known from the builder (tasks)
    names: list[str] | None = None  # the class names recorded with it
    weights_record: WeightsRecord = field(default_factory=lambda: WeightsRecord(kind="random"))
    batch: int | None = None  # the batch the model exports at (None: a dynamic batch axis)
    symbolic_hw: bool = False  # exported with symbolic height and width (verified at two sizes)
    outputs: tuple[str, ...] = ("logits",)  # the exported graph's output names
    reported: dict[str, Any] | None = None  # the library's published figures for its weights

    @property
    def weights(self) -> str:
        """random | pretrained:<file> | checkpoint:<file> | embedded (the string before
        ``weights_record``, kept for readers of older manifests)."""
        return self.weights_record.legacy

    @property
    def family(self) -> str:
        return self.entry.family if self.entry else self.provider

    def published(self) -> dict[str, Any] | None:
        """The catalog entry's published figures, only when the model holds exactly the
        weights they describe (not random, a checkpoint, other weights or a new head)."""
        rec, entry = self.weights_record, self.entry
        if self.reported is not None and rec.kind == "pretrained" and not rec.head:
            return self.reported
        if entry is None or rec.kind != "pretrained" or rec.head:
            return None
        return entry.to_dict() if entry.weights in (rec.name, rec.url) else None

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind.value, "provider": self.provider,
                "name": self.name, "family": self.family, "weights": self.weights,
                "weights_record": self.weights_record.to_dict(),
                "catalog": self.entry.short if self.entry else None, "notes": self.notes}


def resolve(spec: str, options: Options | None = None) -> Source:
    """Turn a model spec into a Source (a module in eval mode, or an ONNX path)."""
    opts = options or Options()
    path = Path(spec.split(":")[0] if ".py:" in spec else spec)
    suffix = path.suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        raise SourceError("is a TensorRT engine, not a model to export",
                          "pass the model spec or .onnx it was built from", path=spec)
    if suffix == ".onnx":
        return _onnx(path, opts)
    if suffix == ".py":
        return _factory(spec, opts)
    if path.is_file() and suffix in (".pt", ".pth") and yolo.is_checkpoint(path):
        return _onnx(yolo.to_onnx(path, opts.trust_checkpoint), opts, spec=spec)
    if path.is_dir() or (path.is_file() and not _is_torchscript_archive(path)):
        raise SourceError(f"is {_what_is(path)}, not a model", ACCEPTED, path=spec)
    if suffix in TORCHSCRIPT_SUFFIXES or (("/" in spec or "\\" in spec) and suffix):
        return _torchscript(path, opts)
    provider, name, entry = _named_target(spec)
    src = _named(provider, name, spec, opts, entry)
    if entry is not None:
        src.kind, src.entry, src.min_size = Kind.CATALOG, entry, entry.min_size
    return src


def _named_target(spec: str) -> tuple[str, str, Entry | None]:
    """(provider, name, catalog entry) of a named model: ``timm:NAME``/``torchvision:NAME``,
    a catalog short name, or a bare name found in exactly one of the two libraries."""
    provider, _, bare = spec.rpartition(":")
    if provider and provider not in ("timm", "torchvision"):
        raise SourceError(f"unknown provider '{provider}'",
                          "write timm:NAME or torchvision:NAME", path=spec)
    entry = None if provider else load_catalog().get(bare)
    if entry is not None:
        return entry.provider, entry.name, entry
    return provider or _which_provider(bare), bare, None


def is_named(spec: str) -> bool:
    """Whether ``spec`` names a catalog/torchvision/timm model (as ``resolve`` reads it)."""
    path = Path(spec.split(":")[0] if ".py:" in spec else spec)
    suffix = path.suffix.lower()
    return not (suffix in ENGINE_SUFFIXES | TORCHSCRIPT_SUFFIXES | {".onnx", ".py"}
                or path.exists() or (("/" in spec or "\\" in spec) and suffix))


def prefetch(spec: str, opts: Options) -> WeightsRecord | None:
    """Download (into the library's cache) the pretrained weights ``resolve(spec, opts)`` would
    use; None where it uses none. Raises ``WeightsUnavailable`` when they cannot be fetched;
    an unknown name is left for ``resolve`` to report."""
    if not is_named(spec) or opts.random_weights or opts.weights:
        return None
    try:
        provider, name, entry = _named_target(spec)
    except SourceError:
        return None
    known = (_torchvision_names() | _torchvision_tasks() if provider == "torchvision"
             else _timm_names())
    if name not in known:
        return None
    exact = entry.weights if entry else None
    if provider == "torchvision":
        tvm = require("torchvision.models")
        return weights.fetch_torchvision(weights.torchvision_enum(tvm, name, exact),
                                         opts.progress)
    return weights.fetch_timm(require("timm"), name, exact, opts.progress)[1]


ACCEPTED = ("SPEC takes a catalog name (edgekit models), timm:NAME, torchvision:NAME, "
            "file.py:factory, a TorchScript .pt/.ts file or an .onnx file")
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"BM", "a BMP image"), (b"%PDF", "a PDF document"), (b"\x1f\x8b", "a gzip archive"),
          (b"\x80", "a Python pickle (a legacy torch.save checkpoint?)"))


def _is_torchscript_archive(path: Path) -> bool:
    """A TorchScript file is a zip archive with a ``code/`` folder (torch.jit.save)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.startswith("code/") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _what_is(path: Path) -> str:
    """What a file given as SPEC is, in words, when it is not a model."""
    import zipfile

    if path.is_dir():
        return "a folder"
    head = path.read_bytes()[:16] if path.stat().st_size else b""
    if not head:
        return "an empty file"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            pickled = any(n.endswith("data.pkl") for n in z.namelist())
        return ("a PyTorch checkpoint (torch.save), not TorchScript: pass it with --weights to "
                "the architecture's SPEC" if pickled else "a zip archive")
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "a file edgekit does not recognise"


def _which_provider(name: str) -> str:
    in_tv = name in _torchvision_names() | _torchvision_tasks()
    in_timm = name in _timm_names()
    if in_tv and in_timm:
        raise SourceError(f"'{name}' is both a torchvision and a timm model",
                          f"write torchvision:{name} or timm:{name}", path=name)
    if in_tv or in_timm:
        return "torchvision" if in_tv else "timm"
    close = difflib.get_close_matches(name.lower(), _all_names(), n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "run `edgekit models` for short names"
    raise SourceError(f"unknown model '{name}' (not in the catalog, torchvision or timm)", hint,
                      path=name)


@functools.cache
def _torchvision_names() -> frozenset[str]:
    tvm = require("torchvision.models")
    return frozenset(tvm.list_models(module=tvm))


def _torchvision_tasks() -> frozenset[str]:
    """torchvision's detectors and segmenters (exported wrapped: ``_torchvision_task``)."""
    return tvdetect.names() | tvsegment.names()


@functools.cache
def _timm_names() -> frozenset[str]:
    return frozenset(require("timm").list_models())


def _all_names() -> list[str]:
    return [*load_catalog().names(), *_torchvision_names(), *_timm_names()]


def _named(provider: str, name: str, spec: str, opts: Options, entry: Entry | None) -> Source:
    if provider == "torchvision" and name in _torchvision_tasks():
        return _torchvision_task(name, spec, opts)
    known = _torchvision_names() if provider == "torchvision" else _timm_names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
        raise SourceError(f"unknown {provider} model '{name}'",
                          f"did you mean {', '.join(close)}?" if close
                          else f"list them with {provider}'s list_models()", path=spec)
    build = checkpoints.build_torchvision if provider == "torchvision" else checkpoints.build_timm
    model, record, default_pp, notes = build(name, opts, entry.weights if entry else None)
    src = Source(spec=spec, kind=Kind(provider), provider=provider, name=name,
                 preprocess=entry.preprocess if entry else default_pp, model=model,
                 weights_record=record, notes=notes)
    if opts.weights:
        src.weights_record = checkpoints.load_into(model, opts.weights, opts.trust_checkpoint,
                                                   name)
    return src


def _torchvision_task(name: str, spec: str, opts: Options) -> Source:
    """A torchvision detector (with its NMS, ``edgekit.tvdetect``) or segmenter (its ``out``,
    ``edgekit.tvsegment``), wrapped for ONNX."""
    det = name in tvdetect.names()
    model, record, pp, notes, cats, published = (tvdetect if det else tvsegment).build(name, opts)
    src = Source(spec=spec, kind=Kind.TORCHVISION, provider="torchvision", name=name,
                 preprocess=pp, model=model, weights_record=record, notes=notes,
                 task="detect" if det else "segment", names=cats, reported=published,
                 **({"batch": 1, "symbolic_hw": True, "outputs": ("detections",)} if det
                    else {"outputs": ("out",)}))
    if opts.weights:  # a checkpoint of the model itself, not of edgekit's wrapper
        inner = model.detector if det else model.segmenter
        src.weights_record = checkpoints.load_into(inner, opts.weights, opts.trust_checkpoint,
                                                   name)
    return src


def module_preprocess(model: Any) -> Preprocess:
    """Preprocessing a module declares timm-style (``pretrained_cfg``), else ImageNet's
    (marked ``assumed``)."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    return (from_timm_cfg(cfg) if isinstance(cfg, dict) else None) or default_for()


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise SourceError(f"{what} not found", "check the path", path=str(path))
    if path.stat().st_size == 0:
        raise SourceError(f"{what} is empty", "export or save it again", path=str(path))


def _no_torch_options(opts: Options, path: Path, what: str) -> None:
    if opts.weights or opts.num_classes or opts.random_weights:
        raise SourceError(f"--weights/--num-classes/--random-weights do not apply to {what}",
                          "drop them; the file already holds its weights", path=str(path))


def _onnx(path: Path, opts: Options, spec: str | None = None) -> Source:
    """An ONNX file (``spec``: the checkpoint it was exported from, where edgekit did)."""
    _require_file(path, "ONNX file")
    if spec is None:
        _no_torch_options(opts, path, "an ONNX file")
    from edgekit import manifest
    man = manifest.beside(path)  # sidecar, else the contract
    pp = (man.preprocess if man else None) or _ultralytics_recipe(path) or default_for()
    return Source(spec=spec or str(path), kind=Kind.ONNX, name=Path(spec or path).stem,
                  provider="ultralytics" if spec else "onnx", preprocess=pp,
                  onnx_path=path, weights_record=WeightsRecord(kind="embedded"),
                  task=man.model.task if man else None, names=man.model.names if man else None)


def _ultralytics_recipe(path: Path) -> Preprocess | None:
    """The model's own recipe where its ONNX metadata says Ultralytics made it (its task row's,
    at its ``imgsz``: letterbox 114 for a detector); None otherwise."""
    from edgekit import tasks

    try:
        model = require("onnx").load(str(path), load_external_data=False)
    except Exception:  # not readable: the ONNX loader says so later, in one line
        return None
    found = tasks.ultralytics({p.key: p.value for p in model.metadata_props})
    size = found.metadata.get("imgsz") if found else None
    recipe = found.spec.recipe if found else None
    if recipe is None or not isinstance(size, list) or len(size) != 2:
        return None
    return recipe(int(size[0]), int(size[1]))


def _torchscript(path: Path, opts: Options) -> Source:
    _require_file(path, "TorchScript file")
    _no_torch_options(opts, path, "a TorchScript file")
    torch = require("torch")
    try:
        model = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:  # torch raises RuntimeError/ValueError/zipfile errors alike
        raise SourceError(f"not a TorchScript archive ({type(e).__name__})",
                          "save it with torch.jit.save; a state_dict goes to --weights with an "
                          "architecture name", path=str(path)) from e
    return Source(spec=str(path), kind=Kind.TORCHSCRIPT, provider="torchscript", name=path.stem,
                  preprocess=default_for(), model=model,
                  weights_record=WeightsRecord(kind="embedded"),
                  notes=["TorchScript runs the code saved in the file"])


def _factory(spec: str, opts: Options) -> Source:
    file_part, _, factory = spec.rpartition(":") if ".py:" in spec else (spec, "", "")
    path = Path(file_part)
    if not factory:
        raise SourceError("no factory named", f"write {path}:FACTORY_FUNCTION", path=str(path))
    _require_file(path, "Python file")
    model = checkpoints.call_factory(path, factory, opts.num_classes)
    src = Source(spec=spec, kind=Kind.FILE, provider="file", name=f"{path.stem}:{factory}",
                 preprocess=module_preprocess(model), model=model,
                 weights_record=WeightsRecord(kind="embedded"),  # whatever the factory made
                 notes=["file.py:factory runs your code"])
    if opts.weights:
        src.weights_record = checkpoints.load_into(model, opts.weights, opts.trust_checkpoint, spec)
    return src
