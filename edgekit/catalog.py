"""The model catalog (``models/catalog.yaml``): short names for the classic families."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import yaml

from edgekit._data import data_path
from edgekit.errors import ConfigError
from edgekit.images import Preprocess
from edgekit.preprocessing import from_catalog


@dataclass(frozen=True, kw_only=True)
class Entry:
    short: str
    family: str
    provider: str  # torchvision | timm
    name: str
    weights: str
    input_size: int
    preprocess: Preprocess
    min_size: tuple[int, int]
    top1: float | None
    top5: float | None
    params: int | None
    gmacs: float | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"short": self.short, "family": self.family, "provider": self.provider,
                "name": self.name, "weights": self.weights, "input_size": self.input_size,
                "preprocess": self.preprocess.to_dict(), "min_size": list(self.min_size),
                "top1": self.top1, "top5": self.top5, "params": self.params,
                "gmacs": self.gmacs, "source": self.source}


@dataclass(frozen=True)
class Catalog:
    entries: dict[str, Entry]
    aliases: dict[str, str]

    def get(self, name: str) -> Entry | None:
        key = name.lower()
        return self.entries.get(self.aliases.get(key, key))

    def names(self) -> list[str]:
        return sorted([*self.entries, *self.aliases])


def _entry(short: str, d: dict[str, Any]) -> Entry:
    size = int(d["input_size"])
    pp = from_catalog(d)
    return Entry(short=short, family=d["family"], provider=d["provider"], name=d["name"],
                 weights=str(d.get("weights", "")), input_size=size, preprocess=pp,
                 min_size=(int(d.get("min_size", (1, 1))[0]), int(d.get("min_size", (1, 1))[-1])),
                 top1=d.get("top1"), top5=d.get("top5"), params=d.get("params"),
                 gmacs=d.get("gmacs"), source=d["source"])


@functools.cache
def load_catalog() -> Catalog:
    path = data_path("models/catalog.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
        entries = {k: _entry(k, v) for k, v in raw["models"].items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"cannot read the model catalog ({e})", "reinstall edgekit",
                          path=str(path)) from e
    return Catalog(entries, dict(raw.get("aliases", {})))
