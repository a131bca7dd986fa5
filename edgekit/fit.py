"""Tables that fit: a rich renderable that keeps whole cells and leaves out the columns that do
not fit the console's width (in priority order), saying which, instead of cutting every cell to
``mob…``. A non-TTY (a CI log) is 80 columns; ``--json``/``--csv`` always have every column."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Column:
    header: str
    cell: Callable[[dict[str, Any]], str]  # the row's text (rich markup allowed)
    priority: int  # lower is kept longer; 0 is never left out
    justify: str = "left"
    plain: Callable[[dict[str, Any]], str] | None = None  # the text's width, without markup


class FitTable:
    def __init__(self, columns: list[Column], rows: list[dict[str, Any]], title: str = "",
                 notes: list[Any] | None = None) -> None:
        self.columns, self.rows, self.title, self.notes = columns, rows, title, notes or []

    def _width(self, c: Column) -> int:
        texts = [(c.plain or c.cell)(r) for r in self.rows]
        return max([len(c.header), *(len(t) for t in texts)])

    def chosen(self, width: int) -> tuple[list[Column], list[Column]]:
        """The columns kept at ``width`` (in their order) and those left out."""
        kept = list(self.columns)
        dropped: list[Column] = []
        while sum(self._width(c) + 3 for c in kept) + 1 > width:
            candidates = [c for c in kept if c.priority > 0]
            if not candidates:
                break
            worst = max(candidates, key=lambda c: c.priority)
            kept.remove(worst)
            dropped.append(worst)
        return kept, dropped

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.table import Table

        kept, dropped = self.chosen(options.max_width)
        t = Table(title=self.title, title_justify="left")
        for c in kept:
            t.add_column(c.header, justify=c.justify, no_wrap=True,  # type: ignore[arg-type]
                         min_width=self._width(c))
        for r in self.rows:
            t.add_row(*(c.cell(r) for c in kept))
        yield t
        if dropped:
            names = ", ".join(c.header for c in sorted(dropped, key=lambda c: c.priority))
            yield f"not shown at this width: {names} (a wider terminal, --json or --csv has them)"
        yield from self.notes
