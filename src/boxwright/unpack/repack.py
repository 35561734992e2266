"""Directory → image: append what changed in an unpacked tree as one new layer.

The new layer holds exactly what differs from the snapshot taken at unpack (or at the last
repack): new and changed paths, and a whiteout per deleted path. It is appended to the very
image that was unpacked — its saved manifest and config — with a history entry
(``created_by: "boxwright repack"`` unless told otherwise, as ``umoci repack`` writes
``"umoci repack"``), and the result goes to any writable reference through the copy
pipeline, which copies the base layers from where the image was unpacked from when the
destination lacks them (and converts format and compression as the destination needs).

With nothing changed, the new layer is an empty tar (two zero blocks), as umoci writes it:
the image still gains one layer and one history entry, so every repack is visible in the
history and a script that counts layers never has to special-case "no changes".

Afterwards the state is refreshed: the snapshot becomes the tree as it was just packed, and
the base image becomes the new one at ``dst_ref``, so a second repack captures only newer
changes (umoci's ``--refresh-bundle``, always on here).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright._log import Logger
from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import BlobNotFoundError, UnpackError, UsageError
from boxwright.layer.generate import GenerateOptions, generate_layer
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.snapshot import Snapshot
from boxwright.layer.streams import write_layer_file
from boxwright.oci import mediatype as mt
from boxwright.oci.config import HistoryEntry, ImageConfig, created_time
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, VerifyingReader
from boxwright.oci.manifest import ImageManifest
from boxwright.transport.reference import parse_transport_reference
from boxwright.unpack.state import UnpackState, locate_rootfs
from boxwright.unpack.unpack import UnpackProgress, _absolute_reference

if TYPE_CHECKING:
    from boxwright.layer.generate import GenerateResult
    from boxwright.layer.streams import LayerDigests
    from boxwright.oci.readers import VerifyingStream
    from boxwright.transport.base import ImageSource

log = Logger(__name__)

DEFAULT_CREATED_BY = "boxwright repack"
#: Copy progress kinds as the unpack progress callback names them (a written manifest ends).
_EVENT_KINDS = {"started": "start", "manifest": "done"}


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """The history entry of the new layer (``created`` defaults to now, in UTC)."""

    created_by: str = DEFAULT_CREATED_BY
    author: str = ""
    comment: str = ""
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class RepackResult:
    """What :func:`repack_image` wrote."""

    reference: str  #: where the new image went
    manifest_digest: Digest
    layer: Descriptor  #: the new layer's descriptor (as in the written manifest)
    diff_id: Digest
    layers: int  #: layers of the new image
    added: tuple[str, ...] = ()  #: paths new since unpack (or the last repack)
    modified: tuple[str, ...] = ()  #: paths changed
    deleted: tuple[str, ...] = ()  #: paths whited out


class _OverlaySource:
    """An :class:`~boxwright.transport.base.ImageSource` of the repacked image.

    Its top manifest is the new one; the new config and layer come from local files; every
    other blob (the base layers) comes from the source the tree was unpacked from, opened
    only when the copy actually needs a blob the destination lacks.
    """

    def __init__(
        self,
        name: str,
        manifest: bytes,
        media_type: str,
        local: dict[Digest, Path],
        base_ref: str,
    ) -> None:
        self._name = name
        self._manifest = manifest
        self._media_type = media_type
        self._digest = Digest.from_bytes(manifest)
        self._local = local
        self._base_ref = base_ref
        self._base: ImageSource | None = None
        self._lock = threading.Lock()  # the copy pipeline asks for blobs from several threads

    @property
    def name(self) -> str:
        return self._name

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is not None and digest != self._digest:
            raise BlobNotFoundError(f"{self._name} has no manifest {digest}")
        return self._manifest, self._media_type

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        path = self._local.get(descriptor.digest)
        if path is not None:
            return VerifyingReader(path.open("rb"), descriptor.digest, descriptor.size)
        return self._base_source().get_blob(descriptor)

    def _base_source(self) -> ImageSource:
        with self._lock:
            return self._open_base()

    def _open_base(self) -> ImageSource:
        if self._base is None:
            try:
                self._base = parse_transport_reference(self._base_ref).open_source()
            except Exception as error:
                raise UnpackError(
                    f"cannot read the base layers from {self._base_ref} (where this tree was "
                    f"unpacked from): {error}"
                ) from error
        return self._base

    def close(self) -> None:
        with self._lock:
            if self._base is not None:
                self._base.close()
                self._base = None


def repack_image(
    unpacked: str | os.PathLike[str],
    dst_ref: str,
    *,
    history: HistoryOptions | None = None,
    compression: str = "gzip",
    clamp_mtime: int | None = None,
    rootless: bool | None = None,
    on_progress: UnpackProgress | None = None,
) -> RepackResult:
    """Append what changed in ``unpacked`` since unpack as a new layer; write to ``dst_ref``.

    ``unpacked`` is the directory given to unpack (a bundle or a rootfs). ``compression`` is
    the new layer's ("gzip", "zstd" or "none"); ``clamp_mtime`` (seconds since the epoch)
    caps the mtimes written into the layer and, unless ``history.created`` is set, is the
    history entry's time, for reproducible layers. ``rootless`` (default: as unpacked) writes
    the owners, modes and devices recorded at unpack instead of what the unprivileged files
    show. Raises :class:`UnpackError` when ``unpacked`` has no usable state.
    """
    if compression not in mt.COMPRESSIONS:
        raise UsageError(f"unknown compression {compression!r}: expected gzip, zstd or none")
    rootfs = locate_rootfs(Path(unpacked))
    state = UnpackState.load(rootfs)
    base_manifest, base_config, before, record = _load(state)
    entry = _history_entry(history or HistoryOptions(), clamp_mtime)
    layer_type = _layer_type(state.manifest_media_type, compression)
    rootless = state.rootless if rootless is None else rootless
    options = GenerateOptions(clamp_mtime=clamp_mtime, ownership=record, rootless=rootless)

    with tempfile.TemporaryDirectory(prefix="repack-", dir=state.directory) as tmp:
        work = Path(tmp)
        layer_path = work / "layer"
        digests, generated = _write_layer(
            rootfs, before, layer_path, compression, options, on_progress
        )
        layer = Descriptor(layer_type, digests.digest, digests.size)
        manifest, config = _new_image(base_manifest, base_config, layer, digests.diff_id, entry)
        (config_path := work / "config").write_bytes(config.raw)
        source = _OverlaySource(
            f"repack of {rootfs}",
            manifest.raw,
            manifest.media_type,
            {digests.digest: layer_path, config.digest: config_path},
            state.source,
        )
        written = _copy(source, dst_ref, layer, layer_path, compression, on_progress)

    _refresh(state, dst_ref, generated.snapshot, record, manifest, config)
    return RepackResult(
        reference=dst_ref,
        manifest_digest=written,
        layer=layer,
        diff_id=digests.diff_id,
        layers=len(manifest.layers),
        added=tuple(generated.added),
        modified=tuple(generated.modified),
        deleted=tuple(generated.deleted),
    )


def _new_image(
    manifest: ImageManifest,
    config: ImageConfig,
    layer: Descriptor,
    diff_id: Digest,
    entry: HistoryEntry,
) -> tuple[ImageManifest, ImageConfig]:
    """The unpacked image with ``layer`` appended: its new manifest and config (``created``
    and the layer's history entry dated alike)."""
    new_config = config.with_layer_added(diff_id, entry).with_changes(created=entry.created)
    config_desc = Descriptor(manifest.config.media_type, new_config.digest, len(new_config.raw))
    return manifest.with_layers([*manifest.layers, layer], config_desc), new_config


def _load(state: UnpackState) -> tuple[ImageManifest, ImageConfig, Snapshot, OwnershipRecord]:
    """What unpack (or the last repack) saved: the image's manifest and config, the snapshot
    of the tree and the ownership record."""
    manifest_raw = state.read_manifest()
    config = ImageConfig.parse(state.read_config())
    before = Snapshot.load(state.snapshot_path)
    record = OwnershipRecord.load(state.ownership_path)
    return _parse_manifest(manifest_raw, state.manifest_media_type), config, before, record


def _history_entry(history: HistoryOptions, clamp_mtime: int | None) -> HistoryEntry:
    """The new layer's history entry, dated ``history.created``, else ``clamp_mtime``, else
    now."""
    return HistoryEntry(
        created=created_time(history.created if history.created is not None else clamp_mtime),
        created_by=history.created_by,
        author=history.author,
        comment=history.comment,
    )


def _layer_type(manifest_media_type: str, compression: str) -> str:
    """The media type of the new layer in the unpacked image's format."""
    if manifest_media_type != mt.DOCKER_MANIFEST:
        return mt.oci_layer_type(compression)
    if compression == "zstd":
        raise UsageError(
            "the unpacked image is Docker schema 2, which has no zstd layers: "
            "use --compress gzip or none"
        )
    return mt.docker_layer_type(compression)


def _write_layer(
    rootfs: Path,
    before: Snapshot,
    path: Path,
    compression: str,
    options: GenerateOptions,
    on_progress: UnpackProgress | None,
) -> tuple[LayerDigests, GenerateResult]:
    """The layer file of what changed in ``rootfs`` since ``before``, reported as progress."""
    if on_progress is not None:
        on_progress("start", "layer", 0, None)
    digests, generated = write_layer_file(
        path, compression, lambda out: generate_layer(rootfs, before, out, options)
    )
    if on_progress is not None:
        on_progress("done", str(digests.digest), digests.size, digests.size)
    return digests, generated


def _refresh(
    state: UnpackState,
    dst_ref: str,
    after: Snapshot,
    record: OwnershipRecord,
    manifest: ImageManifest,
    config: ImageConfig,
) -> None:
    """Base the unpacked tree on the new image: its snapshot, ownership record and state."""
    for path in [p for p in record if p not in after]:
        record.remove(path)
    record.save(state.ownership_path)
    after.save(state.snapshot_path)
    state.with_image(
        _absolute_reference(dst_ref), manifest.digest, manifest.media_type, config.digest
    ).save(manifest=manifest.raw, config=config.raw)


def _parse_manifest(raw: bytes, media_type: str) -> ImageManifest:
    return ImageManifest.parse(raw, media_type)


def _copy(
    source: _OverlaySource,
    dst_ref: str,
    layer: Descriptor,
    layer_path: Path,
    compression: str,
    on_progress: UnpackProgress | None,
) -> Digest:
    """Copy the overlay image to ``dst_ref``; the digest of the manifest written there.

    The new layer is put first, as written, whenever the destination does not insist on
    another compression: the copy pipeline then finds it present and keeps it, so the
    compression asked for (``none`` included) is what the image gets, while base layers
    are copied by the pipeline's own rules.
    """

    def relay(event: Any) -> None:
        if on_progress is not None:
            kind = _EVENT_KINDS.get(event.kind, event.kind)
            on_progress(kind, str(event.digest), event.done, event.total)

    try:
        dest = parse_transport_reference(dst_ref).open_destination()
        try:
            if dest.required_compression in (None, compression) and not dest.has_blob(layer):
                with layer_path.open("rb") as stream:
                    dest.put_blob(stream, layer)
            result = copy_image(source, dest, CopyOptions(on_progress=relay))
        finally:
            dest.close()
    finally:
        source.close()
    return result.digest


__all__ = ["DEFAULT_CREATED_BY", "HistoryOptions", "RepackResult", "repack_image"]
