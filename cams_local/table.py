"""Plain-text tables for a terminal: aligned columns, a rule under the header, and long
cells wrapped onto further lines within their column."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any


def cell(value: Any) -> str:
    """How one JSON value reads in a table: null as '-', booleans as yes/no."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())  # one line, whatever the value held


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    wrap: dict[str, int] | None = None,
    indent: str = "  ",
) -> str:
    """The table as lines of text (no trailing newline). Columns named in `wrap` are
    wrapped at the given width (words longer than that are broken)."""
    limits = wrap or {}
    cells = [
        [
            _lines(cell(value), limits.get(header))
            for header, value in zip(headers, row, strict=True)
        ]
        for row in rows
    ]
    widths = [
        max([len(header), *(len(line) for row in cells for line in row[column])])
        for column, header in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        padded = (value.ljust(width) for value, width in zip(values, widths, strict=True))
        return (indent + "  ".join(padded)).rstrip()

    out = [line(headers), line(["-" * width for width in widths])]
    for row in cells:
        height = max(len(lines) for lines in row)
        out.extend(
            line([lines[i] if i < len(lines) else "" for lines in row]) for i in range(height)
        )
    return "\n".join(out)


def _lines(text: str, width: int | None) -> list[str]:
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width=width, break_long_words=True) or [""]
