"""``.containerignore``/``.dockerignore``: which context paths a build does not see.

The file is found as buildah finds it (:func:`load_ignore`) and read as moby's
``ignorefile.ReadAll`` reads it: ``#`` lines are comments, blanks around a pattern are
dropped, a pattern is cleaned like Go's ``filepath.Clean`` and a leading ``/`` removed, and
``!`` makes an exception. Matching (:class:`IgnoreMatcher`) is moby/patternmatcher's
``MatchesOrParentMatches``: Go ``filepath.Match`` wildcards (``*`` ``?`` ``[...]`` ``\\``
escapes) plus ``**`` for any number of directories; a path is excluded when it or one of its
parent directories matches, and the last matching pattern decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from boxwright.errors import ContainerfileError

_REGEX_SPECIAL = frozenset(".+()|{}$")


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` (which differs from ``posixpath.normpath`` on ``//x``)."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern; ``kind`` is patternmatcher's fast path for it."""

    text: str
    exclusion: bool
    kind: str  # "exact", "prefix", "suffix" or "regexp"
    regex: re.Pattern[str] | None

    @classmethod
    def compile(cls, text: str, exclusion: bool, source: str) -> Pattern:
        """``text`` (already cleaned, without its ``!``) as a matcher."""
        out = ["^"]
        kind = "exact"
        in_class = False
        i, n = 0, len(text)
        while i < n:
            start = i
            ch = text[i]
            i += 1
            if ch == "*":
                if i < n and text[i] == "*":
                    i += 1
                    if i < n and text[i] == "/":
                        i += 1
                    if i == n:
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            out.append(".*")
                            kind = "regexp"
                    else:
                        out.append("(.*/)?")
                        kind = "regexp"
                    if start == 0:
                        kind = "suffix"
                else:
                    out.append("[^/]*")
                    kind = "regexp"
            elif ch == "?":
                out.append("[^/]")
                kind = "regexp"
            elif ch in _REGEX_SPECIAL:
                out.append("\\" + ch)
            elif ch == "\\":
                if i < n:
                    out.append(re.escape(text[i]))
                    i += 1
                    kind = "regexp"
                else:
                    out.append("\\\\")
            elif ch in "[]":
                in_class = ch == "["
                out.append(ch)
                kind = "regexp"
            else:
                out.append(ch if in_class else re.escape(ch))
        regex: re.Pattern[str] | None = None
        try:
            regex = re.compile("".join(out) + "$") if kind == "regexp" else None
            _check_brackets(text)
        except (re.error, ValueError):
            raise ContainerfileError(f"{source}: syntax error in pattern {text!r}") from None
        return cls(text, exclusion, kind, regex)

    def match(self, path: str) -> bool:
        """Whether ``path`` (slash-separated, cleaned) matches this pattern alone."""
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return self.regex.match(path) is not None


def _check_brackets(text: str) -> None:
    """Reject what Go's ``filepath.Match`` rejects: a trailing ``\\``, an unclosed or empty
    ``[`` class, a range missing an end (``[x-]``), an unescaped ``-`` or ``]`` as a bound."""
    n = len(text)

    def bound(i: int) -> int:
        if i >= n or text[i] in "-]":
            raise ValueError("bad range")
        if text[i] == "\\":
            i += 1
        i += 1
        if i > n or i == n:
            raise ValueError("unclosed character class")
        return i

    i = 0
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError("trailing backslash")
            i += 2
            continue
        if ch != "[":
            i += 1
            continue
        i += 1
        if i < n and text[i] == "^":
            i += 1
        ranges = 0
        while True:
            if i < n and text[i] == "]" and ranges:
                i += 1
                break
            i = bound(i)
            if text[i] == "-":
                i = bound(i + 1)
            ranges += 1


class IgnoreMatcher:
    """The patterns of one ignore file; :meth:`matches` tells whether a path is excluded."""

    def __init__(self, patterns: list[str] | tuple[str, ...] = (), source: str = "") -> None:
        self.source = source
        self.patterns: list[Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise ContainerfileError(f'{source}: illegal exclusion pattern: "!"')
                text = text[1:]
            self.patterns.append(Pattern.compile(text, exclusion, source))

    @property
    def has_exclusions(self) -> bool:
        """Whether any pattern starts with ``!`` (a directory may then be partly kept)."""
        return any(p.exclusion for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, relpath: str) -> bool:
        """Whether the context path ``relpath`` (relative, ``/``-separated) is ignored.

        The path is cleaned first; the context itself (``.``) is never ignored."""
        path = clean(relpath)
        if path == ".":
            return False
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit:
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched


def read_patterns(text: str) -> list[str]:
    """The patterns of an ignore file's text (moby's ``ignorefile.ReadAll``)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    out: list[str] = []
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def ignore_file(context: Path, containerfile: Path | None) -> Path | None:
    """The ignore file buildah would use, or ``None``.

    ``<Containerfile>.containerignore`` then ``<Containerfile>.dockerignore`` beside the
    Containerfile, then ``.containerignore`` then ``.dockerignore`` in the context.
    """
    candidates: list[Path] = []
    if containerfile is not None:
        candidates += [
            containerfile.with_name(containerfile.name + ".containerignore"),
            containerfile.with_name(containerfile.name + ".dockerignore"),
        ]
    candidates += [context / ".containerignore", context / ".dockerignore"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def load_ignore(context: Path, containerfile: Path | None) -> IgnoreMatcher:
    """The matcher of the build's ignore file (no patterns when there is none)."""
    path = ignore_file(context, containerfile)
    if path is None:
        return IgnoreMatcher()
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise ContainerfileError(f"{path}:1: cannot read ignore file: {err.strerror}") from None
    return IgnoreMatcher(read_patterns(text), str(path))


__all__ = ["IgnoreMatcher", "Pattern", "clean", "ignore_file", "load_ignore", "read_patterns"]
