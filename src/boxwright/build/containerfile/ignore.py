"""``.containerignore``/``.dockerignore``: which context paths a build does not see.

The file is found as buildah finds it (:func:`load_ignore`) and read as moby's
``ignorefile.ReadAll`` reads it: ``#`` lines are comments, blanks around a pattern are
dropped, a pattern is cleaned like Go's ``filepath.Clean`` and a leading ``/`` removed, and
``!`` makes an exception. Matching (:class:`IgnoreMatcher`) is moby/patternmatcher's
``MatchesOrParentMatches``: Go ``filepath.Match`` wildcards (``*`` ``?`` ``[...]`` ``\\``
escapes) plus ``**`` for any number of directories; a path is excluded when it or one of its
parent directories matches, and the last matching pattern decides.

An ignore file (``skip_excluded_dirs``) adds the rule of the context walk that the classic
builder (``pkg/archive``), BuildKit up to 0.9 (Docker 20.10) and buildah share: a directory
the patterns exclude is not walked at all unless an exception's text names a path inside it
(``!dir/...``), so ``subdir`` then ``!*/sub1*`` keeps ``subdir/sub1.txt`` out. ``--exclude``
patterns are matched path by path, as BuildKit's copy does.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from boxwright.build.containerfile.globmatch import Glob, GlobBuilder, any_char, literal, not_slash
from boxwright.errors import ContainerfileError


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` (which differs from ``posixpath.normpath`` on ``//x``)."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern; ``kind`` is patternmatcher's fast path for it.

    Wildcards are matched by a :class:`~.globmatch.Glob` (linear time), not a regular
    expression: a pattern from the context must not make matching backtrack for hours.
    """

    text: str
    exclusion: bool
    kind: str  # "exact", "prefix", "suffix" or "glob"
    glob: Glob | None

    @classmethod
    def compile(cls, text: str, exclusion: bool, source: str) -> Pattern:
        """``text`` (already cleaned, without its ``!``) as a matcher."""
        try:
            _check_brackets(text)
        except ValueError:
            raise ContainerfileError(f"{source}: syntax error in pattern {text!r}") from None
        glob = GlobBuilder()
        kind = "exact"
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
                            glob.star(any_char)
                            kind = "glob"
                    else:
                        glob.dirs()
                        kind = "glob"
                    if start == 0:
                        kind = "suffix"
                else:
                    glob.star(not_slash)
                    kind = "glob"
            elif ch == "?":
                glob.char(not_slash)
                kind = "glob"
            elif ch == "\\":
                glob.char(literal(text[i]))
                i += 1
                kind = "glob"
            elif ch == "[":
                i = _char_class(text, i, glob)
                kind = "glob"
            else:
                glob.char(literal(ch))
        return cls(text, exclusion, kind, glob.build() if kind == "glob" else None)

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
        assert self.glob is not None
        return self.glob.fullmatch(path)


def _char_class(text: str, i: int, glob: GlobBuilder) -> int:
    """Add the class ``[...]`` whose body starts at ``text[i]`` (validated by
    :func:`_check_brackets`); return the index after its ``]``."""
    parts = ["["]
    if text[i] == "^":
        parts.append("^")
        i += 1
    first = True
    while first or text[i] != "]":
        first = False
        ch = text[i]
        if ch == "\\":
            i += 1
            ch = text[i]
        parts.append("-" if ch == "-" and text[i - 1] != "\\" else re.escape(ch))
        i += 1
    parts.append("]")
    matcher = re.compile("".join(parts))
    glob.char(lambda c: matcher.fullmatch(c) is not None)
    return i + 1


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
    """The patterns of one ignore file; :meth:`matches` tells whether a path is excluded.

    ``skip_excluded_dirs``: an excluded directory hides everything under it unless an
    exception pattern's text starts with the directory's path and a ``/`` (module docstring).
    """

    def __init__(
        self,
        patterns: list[str] | tuple[str, ...] = (),
        source: str = "",
        *,
        skip_excluded_dirs: bool = False,
    ) -> None:
        self.source = source
        self.skip_excluded_dirs = skip_excluded_dirs
        self._hidden: dict[str, bool] = {}
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
        if self.skip_excluded_dirs and self._under_hidden_dir(path):
            return True
        return self._matches(path)

    def _under_hidden_dir(self, path: str) -> bool:
        """Whether a parent directory of ``path`` is excluded and not walked into: no
        exception pattern's text starts with ``DIR/`` (the classic builder's walk)."""
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            directory = "/".join(parts[:i])
            hidden = self._hidden.get(directory)
            if hidden is None:
                prefix = directory + "/"
                hidden = self._matches(directory) and not any(
                    p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns
                )
                self._hidden[directory] = hidden
            if hidden:
                return True
        return False

    def _matches(self, path: str) -> bool:
        """patternmatcher's ``MatchesOrParentMatches`` on the cleaned ``path``."""
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
    return IgnoreMatcher(read_patterns(text), str(path), skip_excluded_dirs=True)


__all__ = ["IgnoreMatcher", "Pattern", "clean", "ignore_file", "load_ignore", "read_patterns"]
