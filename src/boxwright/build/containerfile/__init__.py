"""Containerfile (Dockerfile) front end: the parse tree (:mod:`.model`), the parser
(:func:`parse`, :func:`find_containerfile`), BuildKit's word expansion (:class:`Expander`,
:func:`parse_key_values`) and ``.containerignore``/``.dockerignore`` matching
(:func:`load_ignore`, :class:`IgnoreMatcher`).

Names are re-exported lazily (PEP 562), so importing this package loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "Containerfile",
    "Expander",
    "Flag",
    "Heredoc",
    "IgnoreMatcher",
    "Instruction",
    "Location",
    "Stage",
    "find_containerfile",
    "load_ignore",
    "parse",
    "parse_key_values",
]

__getattr__, __dir__ = lazy_package(globals())

if TYPE_CHECKING:
    from boxwright.build.containerfile.ignore import IgnoreMatcher, load_ignore
    from boxwright.build.containerfile.model import (
        Containerfile,
        Flag,
        Heredoc,
        Instruction,
        Location,
        Stage,
    )
    from boxwright.build.containerfile.parser import find_containerfile, parse
    from boxwright.build.containerfile.shell import Expander, parse_key_values
