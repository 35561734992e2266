"""podman's ``--format`` for listings (containers/common's ``report``), on the one engine.

:func:`normalize` turns what a user typed into the template that runs: literal ``\\t`` and
``\\n`` become a tab and a newline, a final newline is added. :func:`render` runs it over the
rows of a listing: a ``table`` format prints a header row (the template run on ``headers``,
so a field with no header prints ``<no value>``, as podman's does) and aligns columns as Go's
``tabwriter`` does with podman's settings (cells at least 12 wide, 2 spaces of padding); any
other format runs once per row (``{{range .}}`` … ``{{end}}`` around it unless the template
ranges over ``.`` itself), unaligned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from boxwright.gotemplate.execute import Escape, Template

TABLE_PREFIX = "table"
#: A template that ranges over the rows itself (containers/common's ``EnforceRange`` test).
_RANGE_OVER_DOT = re.compile(r"(?s)\{\{-?\s*range\s*\.\s*-?\}\}.*\{\{-?\s*end\s*-?\s*\}\}")
MIN_WIDTH = 12
PADDING = 2


def normalize(text: str) -> str:
    """``text`` with ``\\t``/``\\n`` escapes made real and a final newline."""
    text = text.replace("\\t", "\t").replace("\\n", "\n")
    return text if text.endswith("\n") else text + "\n"


def is_table(text: str) -> bool:
    """Whether ``text`` is a ``table …`` format (header row and aligned columns)."""
    return text == TABLE_PREFIX or text.startswith((TABLE_PREFIX + " ", TABLE_PREFIX + "\t"))


def render(
    text: str,
    rows: Sequence[Any],
    *,
    headers: Mapping[str, str],
    noheading: bool = False,
    escape: Escape | None = None,
    escape_json: Escape | None = None,
) -> str:
    """The listing of ``rows`` in the format ``text`` (see the module docstring)."""
    if is_table(text):
        body = normalize(text[len(TABLE_PREFIX) :].lstrip(" \t"))
        template = Template(body)
        lines = [] if noheading else [template.execute(dict(headers))]
        lines += [template.execute(row, escape=escape, escape_json=escape_json) for row in rows]
        return tabwrite("".join(lines))
    body = normalize(text)
    if not _RANGE_OVER_DOT.search(body):
        template = Template(body)
        return "".join(
            template.execute(row, escape=escape, escape_json=escape_json) for row in rows
        )
    return Template(body).execute(list(rows), escape=escape, escape_json=escape_json)


def tabwrite(text: str, *, min_width: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """``text`` aligned as Go's ``tabwriter.NewWriter(w, min_width, _, padding, ' ', 0)``:
    each tab-terminated cell is a column cell, padded to its column block's width; the last
    cell of a line is written as it is."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[list[str]] = [[] for _ in lines]
    _format(lines, out, [], 0, len(lines), min_width, padding)
    return "\n".join("".join(parts) for parts in out)


def _format(
    lines: list[list[str]],
    out: list[list[str]],
    widths: list[int],
    line0: int,
    line1: int,
    min_width: int,
    padding: int,
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, out, widths, line0, this)
        line0 = this
        width = min_width
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _format(lines, out, [*widths, width], line0, this, min_width, padding)
        line0 = this
    _write(lines, out, widths, line0, line1)


def _write(
    lines: list[list[str]], out: list[list[str]], widths: list[int], line0: int, line1: int
) -> None:
    for i in range(line0, line1):
        if out[i]:
            continue
        cells = lines[i]
        out[i] = [
            cell.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1 else cell
            for j, cell in enumerate(cells)
        ]


__all__ = ["is_table", "normalize", "render", "tabwrite"]
