"""What a build's context arguments name, read before anything is fetched: a local directory,
or a context fetched from elsewhere (:func:`is_remote`): a git repository (:func:`parse_git`),
an http(s) URL or ``-`` (standard input); and ``--build-context NAME=VALUE``
(:func:`parse_build_context`). Fetching them is :mod:`boxwright.build.remote`'s and
:mod:`boxwright.build.contexts`', which a build of a local directory never loads.

A git context (the forms :mod:`boxwright.build.remote` fetches): ``git://…``, ``ssh://…``,
``git@HOST:PATH``, an http(s) URL whose path ends in ``.git``, and ``github.com/USER/REPO``
(as https); its fragment is ``#REF:SUBDIR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from boxwright.errors import UsageError

_SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^:].*")


def parse_build_context(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--build-context`` as its two parts."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value or "/" in name or name != name.strip():
        raise UsageError(f"--build-context {text!r}: expected NAME=VALUE")
    return name, value


@dataclass(frozen=True)
class GitSource:
    """A git context: the repository URL, the ref to check out, the subdirectory used."""

    url: str
    ref: str = ""
    subdir: str = ""


def parse_git(text: str) -> GitSource | None:
    """The git source ``text`` names (module docstring), or None when it names none."""
    base, _, fragment = text.partition("#")
    if base.startswith("github.com/"):
        base = "https://" + base
    elif base.startswith(("http://", "https://")):
        if not urlsplit(base).path.endswith(".git"):
            return None
    elif not base.startswith(("git://", "ssh://")) and not _SCP_LIKE.fullmatch(base):
        return None
    ref, _, subdir = fragment.partition(":")
    if ref.startswith("-") or any(c.isspace() or ord(c) < 0x20 for c in ref):
        raise UsageError(f"git context {text!r}: {ref!r} is not a ref")
    return GitSource(base, ref, subdir)


def is_remote(text: str) -> bool:
    """Whether the context ``text`` is fetched (git, an http(s) URL, ``-``), not a directory."""
    return text == "-" or text.startswith(("http://", "https://")) or parse_git(text) is not None


__all__ = ["GitSource", "is_remote", "parse_build_context", "parse_git"]
