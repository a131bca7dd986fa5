"""Building torch models and loading weights into them, safely.

- Pretrained weights by default, through the libraries' own download-and-cache paths
  (``edgekit/weights.py``); ``--random-weights`` asks for random initialisation.
- ``--weights`` checkpoints load with ``weights_only=True`` unless ``--trust-checkpoint``.
- ``file.py:factory`` imports and runs the user's file (said plainly in the README).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit import weights
from edgekit._lazy import require
from edgekit.errors import SourceError
from edgekit.images import Preprocess
from edgekit.preprocessing import from_timm_cfg, from_torchvision, imagenet
from edgekit.weights import WeightsRecord

_HEAD_KEYS = ("fc.", "classifier", "head", "last_linear")


@contextlib.contextmanager
def _quiet_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def build_torchvision(name: str, opts: Any, exact: str | None = None
                      ) -> tuple[Any, WeightsRecord, Preprocess, list[str]]:
    """A torchvision model with pretrained weights (the catalog entry's ``exact`` ones, else
    DEFAULT) through its weights enum, or random ones (``--random-weights``, ``--weights``)."""
    tvm = require("torchvision.models")
    notes: list[str] = []
    if opts.random_weights or opts.weights:
        kw = {"num_classes": opts.num_classes} if opts.num_classes else {}
        with _quiet_warnings():  # e.g. GoogLeNet's FutureWarning about init_weights
            model = tvm.get_model(name, weights=None, **kw)
        return model.eval(), _random(opts), _torchvision_preprocess(tvm, name), notes
    enum = weights.torchvision_enum(tvm, name, exact)
    record = weights.fetch_torchvision(enum, opts.progress)
    with _quiet_warnings():  # cached now: torch.hub loads the file, no download
        model = tvm.get_model(name, weights=enum)
    if opts.num_classes and opts.num_classes != len(enum.meta["categories"]):
        replace_head(model, opts.num_classes)
        record.head = f"re-initialised for {opts.num_classes} classes"
        notes.append(f"classifier head {record.head}")
    return model.eval(), record, _torchvision_preprocess(tvm, name), notes


def build_torchvision_task(name: str, opts: Any) -> tuple[Any, WeightsRecord, Any,
                                                          list[str] | None]:
    """A torchvision detector or segmenter (``edgekit.tvdetect``, ``edgekit.tvsegment``):
    (model in eval mode, weights record, the weights enum where pretrained, class names). Its
    COCO weights through torchvision's download path, or random ones (``--random-weights``,
    ``--weights``; the backbone's ImageNet weights are not fetched either). Pretrained weights
    keep their head: ``--num-classes`` needs random weights or a checkpoint."""
    tvm = require("torchvision.models")
    kw = {"num_classes": opts.num_classes} if opts.num_classes else {}
    enum = weights.torchvision_enum(tvm, name, None)
    cats = list(enum.meta.get("categories") or []) or None
    if opts.random_weights or opts.weights:
        with _quiet_warnings():
            model = tvm.get_model(name, weights=None, weights_backbone=None, **kw)
        same = not opts.num_classes or (cats is not None and opts.num_classes == len(cats))
        return model.eval(), _random(opts), None, cats if same else None
    if opts.num_classes:
        raise SourceError(f"--num-classes cannot re-head torchvision's {name}",
                          "pass --random-weights with --num-classes, or --weights with your own "
                          "checkpoint", path=name)
    record = weights.fetch_torchvision(enum, opts.progress)
    with _quiet_warnings():  # cached now: torch.hub loads the file, no download
        model = tvm.get_model(name, weights=enum, weights_backbone=None)
    return model.eval(), record, enum, cats


def published_of(enum: Any, dataset: str, keys: dict[str, str]) -> dict[str, Any] | None:
    """torchvision's published figures for exactly ``enum``'s weights (its metadata's
    ``_metrics[dataset]``, renamed by ``keys``); None where it has none."""
    metrics = (enum.meta.get("_metrics") or {}).get(dataset) or {} if enum is not None else {}
    got = {ours: float(metrics[theirs]) for theirs, ours in keys.items()
           if metrics.get(theirs) is not None}
    return {**got, "dataset": dataset, "weights": str(enum),
            "source": "torchvision's weights metadata"} if got else None


def _random(opts: Any) -> WeightsRecord:
    reason = opts.random_reason or ("--weights" if opts.weights else "--random-weights")
    return WeightsRecord(kind="random", reason=reason)


def _torchvision_preprocess(tvm: Any, name: str) -> Preprocess:
    try:
        t = tvm.get_model_weights(name).DEFAULT.transforms()
    except (ValueError, AttributeError, KeyError):
        return imagenet()
    return from_torchvision(t)


def build_timm(name: str, opts: Any, exact: str | None = None
               ) -> tuple[Any, WeightsRecord, Preprocess, list[str]]:
    """A timm model with pretrained weights (downloaded through huggingface_hub, or torch.hub
    for older URL weights), loaded by timm (which re-initialises a head of another size)."""
    timm = require("timm")
    kw: dict[str, Any] = {"exportable": True}
    if opts.num_classes:
        kw["num_classes"] = opts.num_classes
    notes: list[str] = []
    if opts.random_weights or opts.weights:
        record = _random(opts)
    else:
        name, record = weights.fetch_timm(timm, name, exact, opts.progress)
        kw.update(pretrained=True, pretrained_cfg_overlay={"file": record.file})
        classes = timm.models.get_pretrained_cfg(name).num_classes
        if opts.num_classes and opts.num_classes != classes:
            record.head = f"re-initialised for {opts.num_classes} classes"
            notes.append(f"classifier head {record.head}")
    with _quiet_warnings():
        model = timm.create_model(name, **kw).eval()
    pp = from_timm_cfg(timm.data.resolve_model_data_config(model)) or imagenet()
    return model, record, pp, notes


def replace_head(model: Any, num_classes: int) -> None:
    """Swap the last Linear (or 1x1 Conv2d classifier) for a fresh one with num_classes outputs."""
    nn = require("torch.nn")
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear | nn.Conv2d):
            last = (name, mod)
    if last is None:
        raise SourceError("cannot find a classifier layer to resize", "drop --num-classes")
    name, mod = last
    new = (nn.Linear(mod.in_features, num_classes) if isinstance(mod, nn.Linear)
           else nn.Conv2d(mod.in_channels, num_classes, mod.kernel_size))
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)


def read_state_dict(path: Path, trust: bool) -> dict[str, Any]:
    torch = require("torch")
    if not path.is_file():
        raise SourceError("checkpoint not found", "check the --weights path", path=str(path))
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=not trust)
    except Exception as e:  # pickle refusals, truncated zips, non-torch files
        fix = ("if you trust this file, pass --trust-checkpoint" if "weights_only" in str(e)
               else "save it with torch.save(model.state_dict(), PATH)")
        raise SourceError(f"cannot load checkpoint ({type(e).__name__})", fix, path=str(path)) from e
    for key in ("state_dict", "model_state_dict", "model", "state_dict_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise SourceError("checkpoint is not a state_dict of tensors",
                          "save it with torch.save(model.state_dict(), PATH)", path=str(path))
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in obj.items()}


def load_into(model: Any, path: Path, trust: bool, what: str) -> WeightsRecord:
    """Load a state_dict strictly; a mismatch names counts and an example of each kind."""
    sd = read_state_dict(path, trust)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                 (f"{len(shapes)} of another shape (e.g. {shapes[0]}: checkpoint "
                  f"{tuple(sd[shapes[0]].shape)} vs model {tuple(own[shapes[0]].shape)})")
                 if shapes else ""]
        head_only = shapes and not missing and not unexpected and all(
            any(h in k for h in _HEAD_KEYS) for k in shapes)
        hint = (f"pass --num-classes {tuple(sd[shapes[0]].shape)[0]}" if head_only
                else f"check that the checkpoint was trained from {what}")
        raise SourceError(f"checkpoint does not fit {what}: keys "
                          + ", ".join(p for p in parts if p), hint, path=str(path))
    model.load_state_dict(sd, strict=True)
    from edgekit._io import sha256_file

    return WeightsRecord(kind="checkpoint", sha256=sha256_file(path), file=str(path))


def call_factory(path: Path, factory: str, num_classes: int | None) -> Any:
    nn = require("torch.nn")
    mod_name = f"edgekit_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise SourceError("cannot import this file", "pass a .py file", path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise SourceError(f"importing the file failed ({type(e).__name__}: {e})",
                          "fix the error in the file", path=str(path)) from e
    fn = getattr(module, factory, None)
    if not callable(fn):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                 and getattr(v, "__module__", None) == mod_name]
        raise SourceError(f"has no factory '{factory}'",
                          f"choose one of: {', '.join(names)}" if names else "define it",
                          path=str(path))
    try:
        model = fn(num_classes=num_classes) if num_classes else fn()
    except Exception as e:
        raise SourceError(f"factory {factory}() raised {type(e).__name__}: {e}",
                          "fix the factory (it must return an nn.Module)", path=str(path)) from e
    if not isinstance(model, nn.Module):
        raise SourceError(f"factory {factory}() returned {type(model).__name__}, not an nn.Module",
                          "return the model object from the factory", path=str(path))
    return model.eval()
