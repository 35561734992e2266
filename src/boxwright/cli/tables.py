"""Tables and trees drawn by rich on a terminal. The only module that imports rich's table and
tree; :func:`boxwright.cli.output.render_table` and ``explain``'s path import it only when
stdout is a terminal, so piped output never loads rich.

Every cell and label is given as :class:`rich.text.Text`, never as markup: callers escape the
text first, and ``[bold]`` in a file name is shown as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree


def print_table(headers: Sequence[str], body: Sequence[Sequence[str]], out: IO[str]) -> None:
    """``body`` under ``headers``, in rich's simple-head box, cells folded to fit."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header in headers:
        table.add_column(Text(header), overflow="fold")
    for row in body:
        table.add_row(*(Text(cell) for cell in row))
    Console(file=out, force_terminal=True).print(table)


def print_path_tree(root: str, steps: Sequence[tuple[str, bool]], out: IO[str]) -> None:
    """A tree under ``root`` of ``(label, is_leaf)`` steps: each step that is not a leaf
    becomes the parent of the steps after it (an index, then its manifest, then its layers)."""
    tree = Tree(Text(root))
    node = tree
    for label, leaf in steps:
        if leaf:
            node.add(Text(label))
        else:
            node = node.add(Text(label))
    Console(file=out, force_terminal=True).print(tree)


__all__ = ["print_path_tree", "print_table"]
