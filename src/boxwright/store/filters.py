"""Which images a listing shows: ``podman images``'s ``--filter`` rules, on the store's records.

Filters are ``KEY=VALUE`` texts: ``dangling=true|false`` (an image with no name and no image
built on it), ``intermediate=true|false`` (no name, but another image is built on it: a
build's layer cache), ``label=KEY`` or ``label=KEY=VALUE`` (the config's labels),
``before=IMAGE`` and ``since=IMAGE`` (created before or after that image), and
``reference=PATTERN``. A reference pattern is matched as Go's ``path.Match`` (``*`` and ``?``
stop at ``/``) against each name of an image in six forms, as podman's libimage matches
them: ``localhost/app:1``, ``app``, ``app:1``, ``localhost/app``, ``app:1`` and ``app``
(the full name, the path, the last component, each with and without the tag). Filters of
one key select an image that matches any of them (``reference=a --filter reference=b``:
either name; two ``label`` filters: either label), filters of different keys must all
hold, as in podman 4. A listing without ``all`` hides intermediate images whatever the filters say.
Manifest lists, which podman lists as images, are selected by the same filters
(:func:`select_lists`).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from boxwright.errors import InvalidReferenceError, UsageError
from boxwright.oci._json import epoch
from boxwright.store.images import ImageRecord, ImageStore
from boxwright.store.names import parse_name

if TYPE_CHECKING:
    from boxwright.oci.config import ImageConfig
    from boxwright.store.manifests import ManifestListRecord

KEYS = ("before", "dangling", "intermediate", "label", "reference", "since")


@dataclass(frozen=True)
class ImageFilter:
    """One ``KEY=VALUE`` filter."""

    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> ImageFilter:
        """``KEY=VALUE`` → a filter; :class:`UsageError` for an unknown key or bad value."""
        key, eq, value = text.partition("=")
        if not eq or key not in KEYS:
            raise UsageError(
                f"invalid image filter {text!r}: use KEY=VALUE with KEY one of {', '.join(KEYS)}"
            )
        if key in ("dangling", "intermediate") and value not in ("true", "false"):
            raise UsageError(f"invalid image filter {text!r}: {key} takes true or false")
        if not value:
            raise UsageError(f"invalid image filter {text!r}: {key} needs a value")
        return cls(key, value)


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    """Go's ``path.Match`` syntax as a regular expression (``*``/``?`` never match ``/``)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            close = pattern.find("]", i + 2)
            if close < 0:
                raise UsageError(f"invalid reference filter {pattern!r}: unclosed [")
            body = pattern[i + 1 : close]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append("[" + ("^/" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def reference_forms(name: str) -> list[str]:
    """The forms of a stored name a reference pattern is matched against (module docstring)."""
    try:
        parsed = parse_name(name)
    except InvalidReferenceError:
        return [name]
    full = str(parsed)
    trimmed = parsed.repository
    forms = [full, parsed.path, full[full.rfind("/") + 1 :]]
    if full != trimmed:
        suffix = full[len(trimmed) :]
        forms += [trimmed, parsed.path + suffix, trimmed[trimmed.rfind("/") + 1 :]]
    return forms


def matches_reference(pattern: str, names: Sequence[str]) -> bool:
    """Whether any of ``names`` matches the reference ``pattern``."""
    regex = _pattern(pattern)
    return any(regex.fullmatch(form) for n in names for form in reference_forms(n))


def select_images(
    images: ImageStore,
    filters: Sequence[ImageFilter] = (),
    *,
    all: bool = False,
) -> list[ImageRecord]:
    """The images a listing shows, in the store's order (see the module docstring)."""
    records = images.list()
    intermediate = images.intermediate_ids(records)
    configs: dict[str, ImageConfig | None] = {}

    def config(record: ImageRecord) -> ImageConfig | None:
        if record.id not in configs:
            configs[record.id] = images._config_if_readable(record)
        return configs[record.id]

    groups: dict[str, list[Callable[[ImageRecord], bool]]] = {}
    for f in filters:
        groups.setdefault(f.key, []).append(_test(images, f, intermediate, config))
    shown = [r for r in records if all or r.id not in intermediate]
    return [
        r
        for r in shown
        if builtins.all(any(test(r) for test in tests) for tests in groups.values())
    ]


def _test(
    images: ImageStore,
    f: ImageFilter,
    intermediate: set[str],
    config: Callable[[ImageRecord], ImageConfig | None],
) -> Callable[[ImageRecord], bool]:
    """The test of one filter other than ``reference``."""
    if f.key == "reference":
        return lambda r: matches_reference(f.value, r.names)
    if f.key in ("dangling", "intermediate"):
        want = f.value == "true"
        if f.key == "dangling":
            return lambda r: (not r.names and r.id not in intermediate) == want
        return lambda r: (r.id in intermediate) == want
    if f.key == "label":
        key, eq, value = f.value.partition("=")
        return lambda r: _has_label(config(r), key, eq, value)
    when = epoch(images.get(f.value).created) or 0.0
    if f.key == "before":
        return lambda r: (epoch(r.created) or 0.0) < when
    return lambda r: (epoch(r.created) or 0.0) > when


def select_lists(
    images: ImageStore, lists: Sequence[ManifestListRecord], filters: Sequence[ImageFilter] = ()
) -> list[ManifestListRecord]:
    """The manifest lists a listing shows, by the same filters as images: a list has no
    labels and is never intermediate; it is dangling when it has no name."""
    groups: dict[str, list[Callable[[ManifestListRecord], bool]]] = {}
    for f in filters:
        groups.setdefault(f.key, []).append(_list_test(images, f))
    return [
        r
        for r in lists
        if builtins.all(any(test(r) for test in tests) for tests in groups.values())
    ]


def _list_test(images: ImageStore, f: ImageFilter) -> Callable[[ManifestListRecord], bool]:
    if f.key == "reference":
        return lambda r: matches_reference(f.value, r.names)
    if f.key == "dangling":
        return lambda r: (not r.names) == (f.value == "true")
    if f.key == "intermediate":
        return lambda r: f.value == "false"
    if f.key == "label":
        return lambda r: False
    when = epoch(images.get(f.value).created) or 0.0
    if f.key == "before":
        return lambda r: (epoch(r.created) or 0.0) < when
    return lambda r: (epoch(r.created) or 0.0) > when


def _has_label(config: ImageConfig | None, key: str, eq: str, value: str) -> bool:
    labels = config.config.labels if config is not None else {}
    if key not in labels:
        return False
    return not eq or not value or labels[key] == value


__all__ = [
    "KEYS",
    "ImageFilter",
    "epoch",
    "matches_reference",
    "reference_forms",
    "select_images",
    "select_lists",
]
