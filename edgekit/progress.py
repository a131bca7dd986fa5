"""Progress on stderr (ARCHITECTURE.md, rule 10): one ``stage()`` for every step.

A status spinner while a stage runs, then one summary line with its time (and artifact
size, when the stage names one). Off when stderr is not a TTY, or with --quiet/--json;
stage timings are recorded either way, for the manifest and --json.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Reporter:
    enabled: bool = False
    quiet: bool = True
    stages: list[dict[str, Any]] = field(default_factory=list)
    _console: Any = None
    _said: set[str] = field(default_factory=set)  # warn_once's lines, shared with quiet copies

    @classmethod
    def for_cli(cls, quiet: bool, json_out: bool) -> Reporter:
        from rich.console import Console

        console = Console(stderr=True)
        return cls(enabled=not (quiet or json_out) and console.is_terminal, quiet=quiet,
                   _console=console)

    @contextlib.contextmanager
    def stage(self, name: str, artifact: Path | None = None) -> Iterator[dict[str, Any]]:
        """Time a step; the yielded dict may be filled with details (e.g. ``artifact``)."""
        info: dict[str, Any] = {"name": name}
        t0 = time.perf_counter()
        status = (self._console.status(f"{name}…") if self.enabled and self._console
                  else contextlib.nullcontext())
        with status:
            yield info
        info["seconds"] = round(time.perf_counter() - t0, 3)
        path = info.get("artifact") or artifact
        if path is not None and Path(path).is_file():
            info["artifact"] = str(path)
            info["size_mb"] = round(Path(path).stat().st_size / 1e6, 3)
        self.stages.append(info)
        if self.enabled and self._console:
            size = f"  {info['size_mb']:.1f} MB" if "size_mb" in info else ""
            note = f"  {info['note']}" if info.get("note") else ""
            self._console.print(f"[green]✓[/] {name:<12} {info['seconds']:6.2f} s{size}{note}")

    @contextlib.contextmanager
    def progress(self, total: int, name: str) -> Iterator[Callable[[str], None]]:
        """A bar over ``total`` counted steps; ``advance(label)`` starts the next one."""
        done = [-1]
        bar: Any = None
        if self.enabled and self._console:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), console=self._console, transient=True)
        task = bar.add_task(name, total=total) if bar else None

        def advance(label: str) -> None:
            done[0] += 1
            if bar is not None:
                bar.update(task, completed=done[0], description=f"{name}: {label}")

        with bar if bar is not None else contextlib.nullcontext():
            yield advance
            if bar is not None:
                bar.update(task, completed=total)

    def quiet_copy(self) -> Reporter:
        """For steps under a progress bar: no spinners of their own (rich allows one live
        display), warnings still shown."""
        return Reporter(enabled=False, quiet=self.quiet, _console=self._console,
                        _said=self._said)

    def warn_once(self, message: str) -> None:
        """``warn``, but a line already said in this command is not said again (export --int8
        resolves the recipe for the export and again for the quantization)."""
        if message not in self._said:
            self._said.add(message)
            self.warn(message)

    def warn(self, message: str) -> None:
        """A warning the user must see (also when progress is off, unless quiet)."""
        if self._console is not None and not self.quiet:
            self._console.print(f"[yellow]warning:[/] {message}", highlight=False,
                                soft_wrap=True)  # one line, however narrow the terminal
