"""Third-party output, folded: warnings and log records from the libraries edgekit drives
(onnxruntime, onnx, torch, timm, onnxslim, ...) are captured while a command runs, counted and
deduplicated, and summarised in one line on stderr (ARCHITECTURE.md, rule 13).

``--verbose`` lists each distinct message once with its count; ``--debug`` leaves everything as
the libraries print it; ``-q`` prints no summary. Native (C++) logs of ONNX Runtime are turned
down to errors when it is first imported through ``_lazy.require``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_ACTIVE: list[Folded] = []


@dataclass(kw_only=True)
class Folded:
    """What was caught: (source, message) -> count."""

    caught: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, source: str, message: str) -> None:
        self.caught[(source, " ".join(message.split())[:300])] += 1

    def summary(self) -> str | None:
        """``12 warnings from onnxruntime.quantization (3 kinds); --verbose shows them``."""
        if not self.caught:
            return None
        by_source: dict[str, list[int]] = {}
        for (source, _), n in self.caught.items():
            by_source.setdefault(source, []).append(n)
        parts = [f"{sum(v)} from {s} ({len(v)} kind{'s' if len(v) > 1 else ''})"
                 for s, v in sorted(by_source.items(), key=lambda kv: -sum(kv[1]))]
        total = sum(self.caught.values())
        return (f"{total} warning{'s' if total > 1 else ''} from other libraries: "
                f"{'; '.join(parts)}; --verbose shows them")

    def details(self) -> list[str]:
        return [f"{source}: {msg}" + (f" (x{n})" if n > 1 else "")
                for (source, msg), n in self.caught.most_common()]


def source_of(path: str, fallback: str) -> str:
    """The package a file belongs to, two levels deep (``onnxruntime.quantization``)."""
    m = re.search(r"(?:site|dist)-packages[/\\](.+?)\.py$", path or "")
    if not m:
        return fallback
    parts = [p for p in re.split(r"[/\\]", m.group(1)) if p != "__init__"]
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


class _Handler(logging.Handler):
    def __init__(self, folded: Folded) -> None:
        super().__init__(logging.WARNING)
        self.folded = folded

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("edgekit"):
            return
        name = record.name if record.name != "root" else source_of(record.pathname, "root")
        self.folded.add(name, record.getMessage())


@contextlib.contextmanager
def folded(mode: str = "fold") -> Iterator[Folded]:
    """Capture third-party warnings and log records (mode ``fold`` or ``verbose``); ``all``
    captures nothing."""
    out = Folded()
    if mode == "all":
        yield out
        return
    root = logging.getLogger()
    handler = _Handler(out)
    saved = (root.handlers[:], root.level)
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    taken = _take_over(handler)
    _ACTIVE.append(out)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield out
            finally:
                for w in caught:
                    out.add(source_of(w.filename, w.category.__name__),
                            f"{w.category.__name__}: {w.message}")
    finally:
        _ACTIVE.remove(out)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for lg, handlers, propagate in taken:
            lg.handlers[:] = handlers
            lg.propagate = propagate


def _take_over(handler: logging.Handler) -> list[tuple[logging.Logger, list[Any], bool]]:
    """Loggers that print on their own (handlers of their own, or not propagating to the root,
    as torch's do) report to ``handler`` instead while folding; returns what to restore."""
    taken = []
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if (isinstance(lg, logging.Logger) and not name.startswith("edgekit")
                and (lg.handlers or not lg.propagate)):
            taken.append((lg, lg.handlers[:], lg.propagate))
            lg.handlers[:] = [handler]
            lg.propagate = False
    return taken


def add(source: str, message: str) -> None:
    """A line another library printed where it must not (stdout): folded into the summary
    while folding, else shown on stderr."""
    if _ACTIVE:
        _ACTIVE[-1].add(source, message)
    else:
        print(f"{source}: {message}", file=sys.stderr)


def on_import(module: Any) -> None:
    """Called by ``_lazy.require`` after an import: ONNX Runtime's native warnings go to its
    own logger, which only a severity can silence, so it is raised to errors while folding."""
    if _ACTIVE and "onnxruntime" in sys.modules and not getattr(on_import, "done", False):
        with contextlib.suppress(Exception):
            sys.modules["onnxruntime"].set_default_logger_severity(3)
            on_import.done = True  # type: ignore[attr-defined]
