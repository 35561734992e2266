"""The Containerfile parser: text → :class:`~boxwright.build.containerfile.model.Containerfile`.

It reproduces BuildKit's ``frontend/dockerfile/parser`` line by line (docs/containerfile.md
lists the rules and the few places we are stricter):

* parser directives (``# syntax=``, ``# escape=``, ``# check=``; case-insensitive, each at
  most once) are read only until the first line that is not one: a comment, a blank line or
  an instruction ends them;
* a line ending in the escape character (optional trailing blanks) continues on the next
  line; comment lines and blank lines inside a continuation are skipped; an escaped escape
  character at the end does not continue;
* ``--flag[=value]`` words right after the keyword are flags (``--`` ends them);
* a JSON array of strings is the exec form; a malformed array falls back to the shell form,
  an array holding a non-string is an error;
* ``RUN``/``COPY``/``ADD`` in shell form (and as ``ONBUILD`` triggers) take heredocs: every
  ``[n]<<[-]WORD`` word on the line opens one, read in order from the following lines.

Expansion is not done here (it needs the build's variables): see
:mod:`boxwright.build.containerfile.shell`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

# The model's types the parser builds: the ones the package's __init__ re-exports.
from boxwright.build.containerfile.model import (
    Containerfile,
    Flag,
    Heredoc,
    Instruction,
    Location,
    Stage,
)
from boxwright.build.containerfile.shell import (
    WHITESPACE,
    ExpansionError,
    Lexer,
    parse_key_values,
)
from boxwright.errors import ContainerfileError, UsageError

#: Every instruction BuildKit knows.
KEYWORDS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)


def _no_constants(name: str) -> None:
    """Go's JSON has no ``NaN``/``Infinity``: such an array is not JSON (shell form)."""
    raise ValueError(name)


_JSON = json.JSONDecoder(parse_constant=_no_constants)
_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z")
_HEREDOC = re.compile(r"(\d*)<<(-?)([^<]*)\Z")
_HEALTH_SPLIT = re.compile(r"(\S+)\s*(.*)\Z", re.DOTALL)
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_MAYBE_JSON = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL"})
_MAYBE_JSON_LIST = frozenset({"ADD", "COPY", "VOLUME"})
_EXACTLY_ONE = frozenset({"MAINTAINER", "STOPSIGNAL", "USER", "WORKDIR"})
_AT_LEAST_ONE = frozenset({"ARG", "ENV", "EXPOSE", "LABEL", "VOLUME", "ONBUILD", "SHELL"})
_NOT_TRIGGERS = frozenset({"ONBUILD", "FROM", "MAINTAINER"})


class _NotStrings(ValueError):
    """A JSON array holding something other than strings (an error, not a fallback)."""


@dataclass(slots=True)
class _Directives:
    """The parser-directive state: which were seen, and whether we are past them."""

    escape: str = "\\"
    done: bool = False
    values: dict[str, str] = field(default_factory=dict)
    continuation: re.Pattern[str] = field(default_factory=lambda: _continuation("\\"))

    def check(self, line: str) -> str | None:
        """Record ``line`` if it is a directive; the error text if it is a bad one."""
        if self.done:
            return None
        match = _DIRECTIVE.match(line)
        if match is None or match[1].lower() not in _DIRECTIVES:
            self.done = True
            return None
        key, value = match[1].lower(), match[2]
        if key in self.values:
            return f"only one {key} parser directive can be used"
        self.values[key] = value
        if key == "escape":
            if value not in ("\\", "`"):
                return f"invalid escape token '{value}' does not match ` or \\"
            self.escape = value
            self.continuation = _continuation(value)
        return None


def _continuation(escape: str) -> re.Pattern[str]:
    """BuildKit's continuation rule: the escape character, not itself escaped, then blanks."""
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return _trim_newline(line).lstrip().startswith("#")


def _split_lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept; only ``\\n`` ends a line (as Go's scanner here)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def extract_flags(rest: str) -> tuple[list[str], str]:
    """The ``--flag[=value]`` words at the start of ``rest`` and the remainder.

    As BuildKit's ``extractBuilderFlags``: quotes group (and are removed), ``\\`` escapes,
    a lone ``--`` ends the flags and is dropped.
    """
    # One character-level state machine, kept whole (over 60 lines) so that it reads side by
    # side with BuildKit's: the states are in_word, quote and blank_ok. As there, a backslash
    # is handled twice, inside quotes and out, and shell.split_words has the same shape.
    words: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    in_word = False
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if not in_word:
            if ch.isspace():
                i += 1
                continue
            if ch != "-" or i + 1 == n or rest[i + 1] != "-":
                return words, rest[i:]
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
                i += 1
                continue
            if ch == "\\":
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        if ch.isspace():
            text = "".join(word)
            if text == "--":
                return words, rest[i:]
            if blank_ok or text:
                words.append(text)
            word = []
            blank_ok = False
            in_word = False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
            i += 1
            continue
        if ch == "\\":
            if i + 1 == n:
                i += 1
                continue
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    text = "".join(word)
    if in_word and text != "--" and (blank_ok or text):
        words.append(text)
    return words, ""


def _parse_json(rest: str) -> list[str] | None:
    """The JSON array of strings at the start of ``rest``; ``None`` when there is none.

    As BuildKit (a ``json.Decoder``): one JSON value is read and anything after it ignored,
    so ``["a"] b`` is the exec form ``["a"]``.
    """
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value, _ = _JSON.raw_decode(rest)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise _NotStrings("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _heredoc_words(line: str) -> list[Heredoc]:
    """The heredocs a line opens, in order (BuildKit's ``heredocsFromLine``)."""
    try:
        _, words = Lexer({}, raw_quotes=True, raw_escapes=True, skip_unset=True).process(line)
    except ExpansionError:
        return []
    docs: list[Heredoc] = []
    for word in words:
        match = _HEREDOC.match(word)
        if match is None or not match[3]:
            continue
        rest = match[3]
        _, names = Lexer({}, skip_unset=True).process(rest)
        if len(names) != 1:
            continue
        _, raw = Lexer({}, raw_quotes=True, skip_unset=True).process(rest)
        name = names[0]
        quotes = name.count("'") + name.count('"')
        raw_quotes = raw[0].count("'") + raw[0].count('"')
        docs.append(
            Heredoc(
                name=name,
                content="",
                expand=quotes == raw_quotes,
                chomp=match[2] == "-",
                fd=int(match[1] or "0"),
            )
        )
    return docs


class _Parser:
    """One parse: the lines, the position in them and the directive state."""

    def __init__(self, text: str, filename: str) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
        self.lines = _split_lines(text)
        self.pos = 0
        self.filename = filename
        self.directives = _Directives()

    def error(self, line: int, what: str) -> ContainerfileError:
        return ContainerfileError(f"{self.filename}:{line}: {what}")

    def _next_line(self) -> str | None:
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        self.pos += 1
        return line

    def _directive(self, token: str, line: int) -> None:
        problem = self.directives.check(token)
        if problem is not None:
            raise self.error(line, problem)

    def _trim_continuation(self, line: str) -> tuple[str, bool]:
        pattern = self.directives.continuation
        if pattern.search(line):
            return pattern.sub(r"\1", line), False
        return line, True

    def instructions(self) -> list[Instruction]:
        """Every instruction of the file, heredocs attached."""
        out: list[Instruction] = []
        while (raw := self._next_line()) is not None:
            start = self.pos
            token = _trim_newline(raw).lstrip()
            self._directive(token, start)
            if token.startswith("#"):
                continue
            line, done = self._trim_continuation(token)
            if done and not line:
                continue
            while not done:
                raw = self._next_line()
                if raw is None:
                    break
                token = _trim_newline(raw)
                self._directive(token, self.pos)
                if _is_comment(raw) or not token.strip():
                    continue
                piece, done = self._trim_continuation(token)
                line += piece
            out.append(self._instruction(line, start))
        return out

    def _instruction(self, line: str, start: int) -> Instruction:
        instruction = self._node(line, start)
        target = instruction.onbuild or instruction
        if target.keyword not in _HEREDOC_KEYWORDS or target.json_form:
            return _with_end(instruction, self.pos)
        docs = _heredoc_words(line)
        if not docs:
            return _with_end(instruction, self.pos)
        filled: list[Heredoc] = []
        for doc in docs:
            content: list[str] = []
            while True:
                raw = self._next_line()
                if raw is None:
                    raise self.error(start, "unterminated heredoc")
                candidate = _trim_newline(raw)
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                content.append(raw)
            filled.append(Heredoc(doc.name, "".join(content), doc.expand, doc.chomp, doc.fd))
        bodies = "".join(doc.content + doc.name + "\n" for doc in filled)
        end = self.pos
        if target is instruction:
            return _replace(
                instruction,
                heredocs=tuple(filled),
                original=f"{instruction.original}\n{bodies}",
                end=end,
            )
        inner = _replace(
            target, heredocs=tuple(filled), original=f"{target.original}\n{bodies}", end=end
        )
        return _replace(instruction, onbuild=inner, end=end)

    def _node(self, line: str, start: int) -> Instruction:
        """One instruction from its joined line (BuildKit's ``newNodeFromLine``)."""
        parts = WHITESPACE.split(line.strip(), maxsplit=1)
        word = parts[0]
        keyword = word.upper()
        if keyword not in KEYWORDS:
            raise self.error(start, f"unknown instruction: {word}")
        flag_words, rest = extract_flags(parts[1]) if len(parts) == 2 else ([], "")
        rest = rest.strip()
        flags = tuple(_flag(w) for w in flag_words)
        location = Location(self.filename, start, start)
        args: tuple[str, ...] = (rest,) if rest else ()
        json_form = False
        onbuild: Instruction | None = None
        try:
            if rest and (keyword in _MAYBE_JSON or keyword in _MAYBE_JSON_LIST):
                parsed = _parse_json(rest)
                if parsed is not None:
                    args, json_form = tuple(parsed), True
            elif keyword == "HEALTHCHECK" and rest:
                split = _HEALTH_SPLIT.match(rest)
                kind, command = split.groups() if split else (rest, "")
                parsed = _parse_json(command) if command else None
                if parsed is not None:
                    args, json_form = (kind, *parsed), True
        except _NotStrings as err:
            raise self.error(start, str(err)) from None
        if keyword == "ONBUILD" and rest:
            onbuild = self._node(rest, start)
            if onbuild.keyword == "ONBUILD":
                raise self.error(start, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if onbuild.keyword in _NOT_TRIGGERS:
                raise self.error(start, f"{onbuild.keyword} isn't allowed as an ONBUILD trigger")
        instruction = Instruction(
            keyword=keyword,
            flags=flags,
            args=args,
            json_form=json_form,
            heredocs=(),
            original=line,
            location=location,
            onbuild=onbuild,
            escape=self.directives.escape,
        )
        self._validate(instruction, rest)
        return instruction

    def _validate(self, instruction: Instruction, rest: str) -> None:
        """The argument-count and syntax checks BuildKit makes while parsing."""
        keyword = instruction.keyword
        line = instruction.location.line
        words = WHITESPACE.split(rest) if rest else []
        count = len(instruction.args) if instruction.json_form else len(words)
        if keyword in _AT_LEAST_ONE and count == 0:
            raise self.error(line, f"{keyword} requires at least one argument")
        if keyword in _EXACTLY_ONE and not rest:
            raise self.error(line, f"{keyword} requires exactly one argument")
        if keyword in ("ADD", "COPY") and count < 2:
            raise self.error(line, f"{keyword} requires at least two arguments")
        if keyword == "SHELL" and not instruction.json_form:
            raise self.error(line, "SHELL requires the arguments to be in JSON form")
        if keyword == "VOLUME" and any(not a.strip() for a in instruction.args):
            raise self.error(line, "VOLUME specified can not be an empty string")
        if keyword == "HEALTHCHECK":
            kind = (words or [""])[0].upper()
            if kind not in ("CMD", "NONE"):
                raise self.error(line, f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
            if kind == "NONE" and len(words) > 1:
                raise self.error(line, "HEALTHCHECK NONE takes no arguments")
        if keyword in ("ENV", "LABEL"):
            parse_key_values(instruction)
        if keyword == "ARG":
            for name, _ in parse_key_values(instruction):
                if not name:
                    raise self.error(line, f"ARG names can not be blank: {rest!r}")
        if keyword == "FROM":
            for flag in instruction.flags:
                if flag.name != "platform":
                    raise self.error(line, f"FROM has no flag --{flag.name}")


def _flag(word: str) -> Flag:
    name, sep, value = word[2:].partition("=")
    return Flag(name, value if sep else None)


def _replace(instruction: Instruction, *, end: int, **changes: Any) -> Instruction:
    """``instruction`` with ``changes`` (heredocs, original, onbuild), ending at line ``end``."""
    return replace(instruction, location=replace(instruction.location, end_line=end), **changes)


def _with_end(instruction: Instruction, end: int) -> Instruction:
    inner = instruction.onbuild
    if inner is not None:
        inner = _replace(inner, end=end)
    return _replace(instruction, end=end, onbuild=inner)


def _stage(parser: _Parser, instruction: Instruction) -> tuple[str, str | None]:
    """The base image and ``AS`` name of a ``FROM``."""
    words = WHITESPACE.split(instruction.args[0]) if instruction.args else []
    line = instruction.location.line
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise parser.error(
                line,
                f"invalid name for build stage: {words[2]!r}, "
                "name can't start with a number or contain symbols",
            )
        return words[0], name
    if len(words) != 1:
        raise parser.error(line, "FROM requires either one or three arguments")
    return words[0], None


def parse(text: str, filename: str = "Containerfile") -> Containerfile:
    """Parse a whole Containerfile; errors are :class:`ContainerfileError` naming the line."""
    parser = _Parser(text, filename)
    instructions = parser.instructions()
    if not instructions:
        raise parser.error(max(len(parser.lines), 1), "file with no instructions")
    meta: list[Instruction] = []
    stages: list[Stage] = []
    current: tuple[Instruction, list[Instruction]] | None = None

    def close() -> None:
        if current is None:
            return
        from_instruction, body = current
        base, name = _stage(parser, from_instruction)
        stages.append(
            Stage(
                index=len(stages),
                name=name,
                base=base,
                platform=from_instruction.flag("platform"),
                from_instruction=from_instruction,
                instructions=tuple(body),
            )
        )

    for instruction in instructions:
        if instruction.keyword == "FROM":
            close()
            current = (instruction, [])
        elif current is not None:
            current[1].append(instruction)
        elif instruction.keyword == "ARG":
            meta.append(instruction)
        else:
            raise parser.error(
                instruction.location.line,
                f"no build stage in current context: {instruction.keyword} before the first FROM",
            )
    close()
    if not stages:
        raise parser.error(instructions[-1].location.line, "no FROM instruction: nothing to build")
    return Containerfile(
        filename=filename,
        escape=parser.directives.escape,
        directives=MappingProxyType(dict(parser.directives.values)),
        meta_args=tuple(meta),
        stages=tuple(stages),
    )


def find_containerfile(context: Path, explicit: str | None) -> Path | Literal["-"]:
    """The Containerfile to build, as buildah finds it.

    ``explicit`` (``-f``): ``"-"`` for standard input; else the path as given (relative to the
    working directory), then relative to the context. Without it: ``Containerfile``, then
    ``Dockerfile`` in the context (a context that is itself a file is that file).
    """
    if explicit == "-":
        return "-"
    if explicit is not None:
        given = Path(explicit)
        for candidate in (given, context / given):
            if candidate.is_file():
                return candidate
        if given.is_dir():
            return find_containerfile(given, None)
        raise UsageError(
            f"no Containerfile at {explicit!r} (looked in {os.getcwd()} and {context})"
        )
    if context.is_file():
        return context
    for name in ("Containerfile", "Dockerfile"):
        candidate = context / name
        if candidate.is_file():
            return candidate
    raise UsageError(f"no Containerfile or Dockerfile in {context}: give one with -f")


__all__ = ["KEYWORDS", "extract_flags", "find_containerfile", "parse"]
