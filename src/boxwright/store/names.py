"""Image names in the local store, normalized as podman does, and matched as podman matches.

* A name whose first component is a registry host (it has a ``.`` or a ``:``, or is
  ``localhost``) keeps that host; any other name is local and gets ``localhost/``
  (``app`` → ``localhost/app:latest``, ``myns/app:1`` → ``localhost/myns/app:1``).
* ``docker.io/busybox`` is ``docker.io/library/busybox`` (Docker Hub's official images).
* A name with neither tag nor digest gets ``:latest``.

A short name (no host) also matches a stored name whose path is the same or ``library/`` plus
it, on any host, when exactly one image matches (:meth:`ImageStore.get`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import Field, dataclass, replace
from typing import Any, ClassVar, Protocol, TypeVar

from boxwright.errors import InvalidReferenceError
from boxwright.oci.digest import Digest
from boxwright.oci.reference import Reference

LOCAL_HOST = "localhost"
_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ImageName:
    """A parsed image name: ``host/path[:tag][@digest]``; ``qualified`` if the host was given."""

    host: str
    path: str
    tag: str
    digest: Digest | None
    qualified: bool

    @property
    def repository(self) -> str:
        """``host/path``."""
        return f"{self.host}/{self.path}"

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += ":" + self.tag
        if self.digest is not None:
            out += f"@{self.digest}"
        return out


def _looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == LOCAL_HOST


def parse_name(name: str) -> ImageName:
    """Parse and normalize ``name``; :class:`InvalidReferenceError` says what is wrong."""
    if not isinstance(name, str) or not name:
        raise InvalidReferenceError("an image name must not be empty")
    if _ID.fullmatch(name):
        raise InvalidReferenceError(
            f"invalid image name {name!r}: 64 hexadecimal digits are an image ID, not a name"
        )
    ref = Reference.parse(name)
    first, slash, rest = ref.name.partition("/")
    if slash and _looks_like_host(first):
        host, path, qualified = first, rest, True
    else:
        host, path, qualified = LOCAL_HOST, ref.name, False
    if host == "index.docker.io":
        host = "docker.io"
    if host == "docker.io" and "/" not in path:
        path = "library/" + path
    tag = ref.tag or ("" if ref.digest is not None else "latest")
    return ImageName(host, path, tag, ref.digest, qualified)


def name_or_none(text: str) -> ImageName | None:
    """``text`` parsed as an image name, or None when it is not one (an ID, a prefix)."""
    try:
        return parse_name(text)
    except InvalidReferenceError:
        return None


def normalize_name(name: str) -> str:
    """The stored form of an image name (see the module docstring)."""
    return str(parse_name(name))


def normalized_names(names: Iterable[str]) -> list[str]:
    """``names`` in their stored form, each once, in the order given."""
    return list(dict.fromkeys(normalize_name(name) for name in names))


def new_tags(names: Iterable[str]) -> list[str]:
    """The names ``tag`` gives an image or a manifest list, in their stored form; an
    :class:`~boxwright.errors.InvalidReferenceError` for none at all or a digest reference."""
    wanted = normalized_names(names)
    if not wanted:
        raise InvalidReferenceError("tag needs at least one new name")
    for name in wanted:
        if "@" in name:
            raise InvalidReferenceError(f"cannot tag with a digest reference {name!r}")
    return wanted


class Named(Protocol):
    """A stored record with names (an image, a manifest list): a frozen dataclass."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def names(self) -> tuple[str, ...]: ...


NamedT = TypeVar("NamedT", bound=Named)


def without_names(records: Iterable[NamedT], names: Iterable[str]) -> list[NamedT]:
    """``records`` with ``names`` taken off every record that has them (a name given to one
    image or list moves off the others, as podman's store moves it)."""
    taken = set(names)
    return [
        replace(r, names=tuple(n for n in r.names if n not in taken))
        if taken.intersection(r.names)
        else r
        for r in records
    ]


def short_name_matches(wanted: ImageName, stored: str) -> bool:
    """Whether the short name ``wanted`` (no host given) matches the stored name ``stored``."""
    try:
        have = parse_name(stored)
    except InvalidReferenceError:
        return False
    if have.path not in (wanted.path, "library/" + wanted.path):
        return False
    if wanted.digest is not None:
        return False  # digest references are matched against manifests, not names
    return have.tag == wanted.tag and have.digest is None


__all__ = ["LOCAL_HOST", "ImageName", "normalize_name", "parse_name", "short_name_matches"]
