"""``save`` and ``load``: images of the store to and from archives, as podman does them.

Both are copies through the one pipeline, between the store's own source and destination and
the existing transports; nothing here writes an archive format itself.

:func:`save_images` writes one of podman's four formats: ``docker-archive`` (the default: a
``docker save`` tar; Docker schema 2 manifests, uncompressed layers), ``oci-archive`` (an OCI
layout in a tar), ``oci-dir`` (an OCI layout directory), ``docker-dir`` (a ``dir:`` directory
of a Docker schema 2 image). With ``multi`` (``-m``) every name is an image of its own (only
``docker-archive`` holds several); otherwise the first names the image and the others are
more tags for it in the archive. Each image is written under the stored name its argument
matched; an image given by ID gets no name.

:func:`load_images` reads what podman's ``load`` reads: a docker archive (every image of its
``manifest.json``, named by its ``RepoTags``), an OCI archive or OCI layout directory (every
entry of ``index.json``, named by its ``org.opencontainers.image.ref.name`` normalized as a
name, ``latest`` → ``localhost/latest:latest``, as podman names it), or a ``dir:`` directory
(unnamed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from boxwright.copy.pipeline import CopyOptions, copy_image
from boxwright.errors import InvalidReferenceError, TransportError, UsageError
from boxwright.store.endpoints import StoreDestination, StoreSource
from boxwright.store.names import normalize_name
from boxwright.transport.dir import DirDestination, DirSource
from boxwright.transport.docker_archive import (
    MANIFEST_FILE,
    MAX_MANIFEST_JSON,
    DockerArchiveSource,
    DockerArchiveWriter,
    parse_manifest_json,
)
from boxwright.transport.oci_archive import OCIArchiveDestination, open_archive_source
from boxwright.transport.oci_layout import (
    INDEX_FILE,
    LAYOUT_FILE,
    REF_NAME_ANNOTATION,
    OCILayoutDestination,
    OCILayoutSource,
)
from boxwright.transport.tarindex import TarIndex

if TYPE_CHECKING:
    from boxwright.copy.progress import ProgressCallback
    from boxwright.store.images import ImageRecord
    from boxwright.store.store import Store
    from boxwright.transport.base import ImageDestination, ImageSource

DOCKER_ARCHIVE: Final = "docker-archive"
OCI_ARCHIVE: Final = "oci-archive"
OCI_DIR: Final = "oci-dir"
DOCKER_DIR: Final = "docker-dir"
SAVE_FORMATS: Final = (DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR, DOCKER_DIR)


@dataclass(frozen=True)
class LoadedImage:
    """One image :func:`load_images` stored: its ID and the names it was given."""

    id: str
    names: tuple[str, ...]


def save_images(
    store: Store,
    images: Sequence[str],
    path: str | Path,
    *,
    format: str = DOCKER_ARCHIVE,
    multi: bool = False,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Write ``images`` (names or IDs) of ``store`` to ``path`` (see the module docstring)."""
    if format not in SAVE_FORMATS:
        raise UsageError(f"unknown save format {format!r}: expected {', '.join(SAVE_FORMATS)}")
    if not images:
        raise UsageError("save needs at least one image")
    if multi and len(images) > 1 and format != DOCKER_ARCHIVE:
        raise UsageError(
            f"unsupported format {format!r} for saving multiple images (only docker-archive)"
        )
    if not multi and len(images) > 1 and format != DOCKER_ARCHIVE:
        raise UsageError(
            "more names than one are more tags for the image, which only docker-archive holds;"
            " save several images with --multi-image-archive"
        )
    resolved = [store.images.resolve(name) for name in (images if multi else images[:1])]
    options = CopyOptions(
        format="oci" if format in (OCI_ARCHIVE, OCI_DIR) else "v2s2",
        on_progress=on_progress,
    )
    if format == DOCKER_ARCHIVE:
        _save_docker_archive(store, resolved, Path(path), multi, options, images)
        return
    record, matched = resolved[0]
    dest: ImageDestination
    if format == OCI_ARCHIVE:
        dest = OCIArchiveDestination(path, matched or "")
    elif format == OCI_DIR:
        dest = OCILayoutDestination(path, matched or "")
    else:
        dest = DirDestination(path)
    _copy(StoreSource(store, record.id, f"store:{matched or record.id}"), dest, options)


def _save_docker_archive(
    store: Store,
    resolved: Sequence[tuple[ImageRecord, str | None]],
    path: Path,
    multi: bool,
    options: CopyOptions,
    asked: Sequence[str],
) -> None:
    writer = DockerArchiveWriter(path)
    try:
        if multi:
            jobs = [(r, [m] if m else []) for r, m in resolved]
        else:
            record, matched = resolved[0]
            tags = [matched] if matched else []
            tags += [_tag_name(name) for name in asked[1:]]
            jobs = [(record, tags)]
        for record, tags in jobs:
            dest = writer.destination(tags[0] if tags else "", tags[1:])
            source = StoreSource(store, record.id, f"store:{tags[0] if tags else record.id}")
            _copy(source, dest, options)
        writer.write()
    finally:
        writer.close()


def _tag_name(name: str) -> str:
    try:
        return normalize_name(name)
    except InvalidReferenceError:
        raise UsageError(f"{name!r} is not a name to tag the saved image with") from None


def _copy(source: ImageSource, dest: ImageDestination, options: CopyOptions) -> None:
    try:
        copy_image(source, dest, options)
    finally:
        source.close()
        dest.close()


def archive_format(path: str | Path) -> str:
    """Which of podman's load formats ``path`` is: ``docker-archive``, ``oci-archive``,
    ``oci-dir`` or ``docker-dir``; :class:`TransportError` when it is none of them."""
    where = Path(path)
    if where.is_dir():
        if (where / LAYOUT_FILE).is_file() and (where / INDEX_FILE).is_file():
            return OCI_DIR
        if (where / "manifest.json").is_file():
            return DOCKER_DIR
        raise TransportError(f"{where} is neither an OCI layout nor a dir: image directory")
    index = TarIndex(where)
    if index.find(MANIFEST_FILE) is not None:
        return DOCKER_ARCHIVE
    if index.find(INDEX_FILE) is not None:
        return OCI_ARCHIVE
    raise TransportError(
        f"{where} is not an image archive: it holds neither {MANIFEST_FILE} (docker-archive) "
        f"nor {INDEX_FILE} (oci-archive)"
    )


def _sources(path: Path, kind: str) -> list[tuple[ImageSource, list[str]]]:
    """One source per image of the archive or directory, with the names it carries."""
    if kind == DOCKER_DIR:
        return [(DirSource(path), [])]
    if kind == DOCKER_ARCHIVE:
        items = parse_manifest_json(
            TarIndex(path).read(MANIFEST_FILE, MAX_MANIFEST_JSON), str(path)
        )
        return [
            (DockerArchiveSource(path, source_index=i), [_name(t) for t in item.repo_tags])
            for i, item in enumerate(items)
        ]
    first = open_archive_source(path, source_index=0) if kind == OCI_ARCHIVE else None
    reader = (
        first.reader if first is not None else OCILayoutSource.open(path, source_index=0).reader
    )
    out: list[tuple[ImageSource, list[str]]] = []
    for i, entry in enumerate(reader.index.manifests):
        source = (
            open_archive_source(path, source_index=i)
            if kind == OCI_ARCHIVE
            else OCILayoutSource.open(path, source_index=i)
        )
        ref_name = entry.annotations.get(REF_NAME_ANNOTATION, "")
        out.append((source, [_name(ref_name)] if ref_name else []))
    return out


def _name(text: str) -> str:
    try:
        return normalize_name(text)
    except InvalidReferenceError:
        return ""


def load_images(
    store: Store, path: str | Path, *, on_progress: ProgressCallback | None = None
) -> list[LoadedImage]:
    """Store every image of the archive or directory ``path``; what was stored, in order."""
    where = Path(path)
    kind = archive_format(where)
    loaded: list[LoadedImage] = []
    for source, names in _sources(where, kind):
        wanted = [n for n in names if n]
        dest = StoreDestination(store, wanted, f"store:{wanted[0] if wanted else '<none>'}")
        _copy(source, dest, CopyOptions(on_progress=on_progress))
        assert dest.record is not None  # copy_image committed, or raised
        loaded.append(LoadedImage(dest.record.id, tuple(wanted)))
    return loaded


__all__ = [
    "DOCKER_ARCHIVE",
    "DOCKER_DIR",
    "OCI_ARCHIVE",
    "OCI_DIR",
    "SAVE_FORMATS",
    "LoadedImage",
    "archive_format",
    "load_images",
    "save_images",
]
