"""The contexts of a build beyond one directory: a fetched main context, and named contexts.

:func:`prepared_contexts` is what a build runs inside: it fetches the main context when it is
not a directory (``options.context_source``: git, an http(s) URL, ``-``; see
:mod:`boxwright.build.remote`) and every named context (``--build-context NAME=VALUE``) into
private directories under the store's ``tmp``, and removes them when the build ends, failed
or not.

A named context (:class:`~boxwright.build.context.NamedContext`) is, as podman, buildah and
BuildKit take it:

* an image: ``docker-image://REF``, ``container-image://REF`` or ``docker://REF`` (REF is
  looked up as FROM looks an image up: the store, else its registry), or
  ``oci-layout://DIR[:TAG|@DIGEST]`` (an image of an OCI layout on disk; without TAG or
  DIGEST, the layout's only image);
* a directory: a local path, or a URL fetched as the main context is (git, a tarball). A
  local directory's own ``.containerignore`` or ``.dockerignore`` applies to what is taken
  from it, as buildah and BuildKit apply it.

``FROM NAME``, ``COPY --from=NAME`` and ``RUN --mount=from=NAME`` name it before any stage or
image of that name (:func:`~boxwright.build.context.find_named`): a named context overrides a
stage of the same name, which is then not built unless it is the target. ``FROM`` takes an
image context only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from boxwright.build.containerfile.ignore import load_ignore
from boxwright.build.context import BuildOptions, NamedContext
from boxwright.build.contextnames import is_remote
from boxwright.build.remote import fetch_context
from boxwright.build.sources import staged_copy
from boxwright.errors import BuildContextError, ImageNotFoundError, UsageError
from boxwright.layer.pathsafe import clean_entry_name, remove_tree
from boxwright.oci.digest import Digest
from boxwright.transport.oci_layout import DirectoryFiles, LayoutReader

_IMAGE_PREFIXES = ("docker-image://", "container-image://", "docker://")
_LAYOUT_PREFIX = "oci-layout://"


@contextlib.contextmanager
def prepared_contexts(
    options: BuildOptions, tmp: Path, stdin: IO[bytes] | None = None
) -> Iterator[tuple[BuildOptions, dict[str, NamedContext]]]:
    """The build's options with its main context a directory, and its named contexts; the
    fetched ones live in private directories under ``tmp``, removed on leaving."""
    made: list[Path] = []

    def work() -> Path:
        tmp.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="context-", dir=tmp))
        made.append(path)
        return path

    if stdin is None:
        stdin = getattr(sys.stdin, "buffer", None)
    try:
        if options.context_source is not None:
            options = _fetched_main(options, work, stdin)
        named = {
            name: _named(name, value, work, options.context_limit, stdin)
            for name, value in options.build_contexts.items()
        }
        yield options, named
    finally:
        for path in made:
            remove_tree(path)


def _fetched_main(
    options: BuildOptions, work: Callable[[], Path], stdin: IO[bytes] | None
) -> BuildOptions:
    """``options`` with the fetched main context (and a lone Containerfile's text, or the
    ``-f`` file inside the fetched context)."""
    source = options.context_source
    assert source is not None
    if source == "-" and options.containerfile == "-":
        raise UsageError("the context and the Containerfile cannot both be standard input")
    fetched = fetch_context(source, work(), options.context_limit, stdin)
    changes: dict[str, object] = {"context": fetched.directory}
    if fetched.containerfile_text is not None:
        if options.containerfile_text is None and options.containerfile in (None, "-"):
            changes["containerfile_text"] = fetched.containerfile_text
            changes["containerfile"] = source
        else:
            raise UsageError(
                f"{source} is a lone Containerfile: it takes no other Containerfile (-f)"
            )
    elif options.containerfile not in (None, "-") and options.containerfile_text is None:
        changes["containerfile"] = str(_inside(fetched.directory, options.containerfile, source))
    return dataclasses.replace(options, **changes)  # type: ignore[arg-type]


def _inside(directory: Path, name: str, source: str) -> Path:
    """``-f NAME`` of a fetched context: a file of that context (never outside it)."""
    rel = clean_entry_name(name, allow_root=True)
    real = Path(os.path.realpath(directory / rel))
    root = os.path.realpath(directory)
    if not str(real).startswith(root + os.sep) or not real.is_file():
        raise UsageError(f"no Containerfile {name!r} in the context {source}")
    return real


def _named(
    name: str, value: str, work: Callable[[], Path], limit: int, stdin: IO[bytes] | None
) -> NamedContext:
    """What ``--build-context NAME=VALUE`` names (module docstring)."""
    for prefix in _IMAGE_PREFIXES:
        if value.startswith(prefix):
            ref = value[len(prefix) :]
            if not ref:
                raise UsageError(f"--build-context {name}={value}: names no image")
            return NamedContext(name, value, image=ref)
    if value.startswith(_LAYOUT_PREFIX):
        return NamedContext(name, value, image=_layout_image(value[len(_LAYOUT_PREFIX) :]))
    if value == "-":
        raise UsageError(f"--build-context {name}=-: only the main context reads standard input")
    if is_remote(value):
        return NamedContext(name, value, directory=fetch_context(value, work(), limit).directory)
    path = Path(value)
    if not path.is_dir():
        raise BuildContextError(f"--build-context {name}={value}: no such directory")
    return NamedContext(name, value, directory=_filtered(path.resolve(), work))


def _layout_image(text: str) -> str:
    """``DIR[:TAG|@DIGEST]`` of ``oci-layout://`` as an ``oci:`` reference."""
    directory, at, digest = text.rpartition("@")
    if at and "/" not in digest:
        wanted = Digest.parse(digest)
        where = str(Path(directory).resolve())
        entries = LayoutReader(DirectoryFiles(where), where).index.manifests
        for number, entry in enumerate(entries):
            if entry.digest == wanted:
                return f"oci:{where}:@{number}"
        raise ImageNotFoundError(f"{where}: index.json has no entry {wanted}")
    head, colon, tag = text.rpartition(":")
    if colon and "/" not in tag and head:
        return f"oci:{Path(head).resolve()}:{tag}"
    return f"oci:{Path(text).resolve()}"


def _filtered(directory: Path, work: Callable[[], Path]) -> Path:
    """``directory``, or a copy of it (hard links) without what its own ignore file names."""
    ignore = load_ignore(directory, None)
    if not ignore:
        return directory
    target = work() / "filtered"

    def ignored(path: Path) -> bool:
        return ignore.matches(os.path.relpath(path, directory))

    staged_copy(directory, target, ignored)
    return target


__all__ = ["prepared_contexts"]
