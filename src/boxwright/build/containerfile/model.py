"""The parse tree of a Containerfile: what :func:`boxwright.build.containerfile.parser.parse`
returns and the build executor walks.

The tree keeps text unexpanded: variable expansion depends on build arguments and on the
stage's environment at that step, so it happens at execution time
(:class:`boxwright.build.containerfile.shell.Expander`). Every node carries its
:class:`Location` so that an error can name the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from boxwright._numbers import ascii_int

_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Location:
    """Where an instruction was written: 1-based, inclusive line range."""

    file: str
    line: int
    end_line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Flag:
    """One ``--name[=value]`` flag of an instruction; ``--link`` has value ``None``."""

    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A here-document of ``RUN``/``COPY``/``ADD``.

    ``content`` is the body as written, as BuildKit keeps it: the lines between the ``<<NAME``
    line and the terminator, each with its newline, leading tabs kept even for ``<<-``
    (``chomp``; :meth:`body` removes them). ``expand`` is false when any part of the
    delimiter was quoted: the body is then taken literally. ``fd`` is the ``3<<EOF`` number.
    """

    name: str
    content: str
    expand: bool
    chomp: bool
    fd: int = 0

    def body(self) -> str:
        """The content with ``<<-``'s leading tabs removed (what the file or script holds)."""
        if not self.chomp:
            return self.content
        return _LEADING_TABS.sub("", self.content)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction.

    ``args`` is the JSON list in exec form; in shell form a 1-tuple holding the rest of the
    line after the flags (continuations joined, unexpanded). ``original`` is the instruction
    as written with continuations joined, used for the image history (with heredocs, their
    bodies and terminators follow on the next lines, as BuildKit records it). ``escape`` is
    the file's escape character, needed to split ``ENV``/``LABEL``/``ARG`` words.
    """

    keyword: str
    flags: tuple[Flag, ...]
    args: tuple[str, ...]
    json_form: bool
    heredocs: tuple[Heredoc, ...]
    original: str
    location: Location
    onbuild: Instruction | None = None
    escape: str = "\\"

    def flag_values(self, name: str) -> list[str | None]:
        """Every value given for flag ``name``, in order (flags such as ``--mount`` repeat)."""
        return [f.value for f in self.flags if f.name == name]

    def flag(self, name: str) -> str | None:
        """The last value given for flag ``name``; ``None`` when absent or value-less."""
        values = self.flag_values(name)
        return values[-1] if values else None

    def has_flag(self, name: str) -> bool:
        """Whether flag ``name`` was given at all."""
        return any(f.name == name for f in self.flags)


@dataclass(frozen=True, slots=True)
class Stage:
    """A ``FROM`` and the instructions up to the next ``FROM``.

    ``name`` is the ``AS`` name lower-cased; ``base`` and ``platform`` are unexpanded (they
    may refer to meta ``ARG``\\ s declared before the first ``FROM``).
    """

    index: int
    name: str | None
    base: str
    platform: str | None
    from_instruction: Instruction
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True, slots=True)
class Containerfile:
    """A whole parsed file: its parser directives, the meta ``ARG``\\ s and the stages."""

    filename: str
    escape: str
    directives: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    meta_args: tuple[Instruction, ...] = ()
    stages: tuple[Stage, ...] = ()

    def stage(self, name_or_index: str) -> Stage | None:
        """The stage named ``name_or_index`` (case-insensitive; the last of that name, as
        BuildKit resolves a name several stages have) or with that index."""
        wanted = name_or_index.lower()
        for stage in reversed(self.stages):
            if stage.name == wanted:
                return stage
        index = ascii_int(wanted)
        if index is not None and index < len(self.stages):
            return self.stages[index]
        return None


__all__ = ["Containerfile", "Flag", "Heredoc", "Instruction", "Location", "Stage"]
