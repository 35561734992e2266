"""Committing a working container: one new layer of what changed, a new config and manifest.

What :func:`commit_container` writes, as ``buildah commit`` does:

* **the layer**: the driver's ``write_changes`` (every change since the container was created,
  whiteouts included; a commit does not reset the container) streams through a
  :class:`~boxwright.layer.streams.LayerWriter` (compressed digest and diff_id in one pass)
  into a temporary file under ``R/tmp``, fsynced and renamed into the blob store. Nothing
  changed: no layer, and the history entry says ``empty_layer``. ``squash``: one layer holding the
  whole merged tree instead of the base layers plus the new one.
* **the config**: the container's pending config, ``rootfs.diff_ids`` extended, ``created``
  set, and history entries: first the container's pending notes marked ``empty_layer`` (as
  ``buildah copy --add-history`` keeps them), then the new layer's entry with ``created_by``
  from the argument, else the container's last layer note, else buildah's ``/bin/sh``, its
  ``comment`` ending with ``FROM <base image>`` when there is a base (buildah's; a build
  passes ``base_comment=False``: BuildKit records nothing of FROM), and the config's author.
  ``squash`` keeps that one entry only. ``history_entry=False`` adds no entry at all, for a
  commit that adds no layer (a build's stage that is only a FROM, as BuildKit records it).
  ``timestamp`` (seconds since the epoch) is the ``created`` of the config and every new
  entry, and clamps the mtimes in the new layer unless ``clamp_mtime`` is false (buildah's
  ``--source-date-epoch`` without ``--rewrite-timestamp``).
* **the manifest**: OCI or Docker schema 2 (``format``, else the container's), the base layers'
  media types converted to that format.

Then :meth:`ImageStore.add` records the image under ``name``. A build's commit
(``hand_over``), after which the container is dropped, also hands an overlay container's upper
directory over as the new layer's snapshot (:meth:`SnapshotStore.adopt`; the mtimes the layer
clamped are clamped on its files first): the next step's container finds it there instead of
applying the blob it was just written into. All of it runs inside ``Store.writing()``:
``prune`` cannot delete a blob between its write and the record naming it, and a process
killed in the middle leaves only unreferenced blobs and ``R/tmp`` files, which ``prune``
removes.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from boxwright.errors import ImageNotFoundError, StoreError, UsageError
from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.generate import GenerateOptions, tree_layer
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import RootDir, remove_tree, split_parent
from boxwright.layer.streams import LayerReader, write_layer_file
from boxwright.oci import mediatype as mt
from boxwright.oci.config import HistoryEntry, ImageConfig, created_time
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.manifest import ImageManifest
from boxwright.store.rootfs import OverlayDriver, driver_by_name

if TYPE_CHECKING:
    from boxwright.layer.generate import GenerateResult
    from boxwright.layer.streams import LayerDigests
    from boxwright.store.containerrecord import ContainerRecord
    from boxwright.store.images import ImageRecord
    from boxwright.store.snapshots import Snapshot
    from boxwright.store.store import Store

DEFAULT_CREATED_BY = "/bin/sh"


def commit_container(
    store: Store,
    record: ContainerRecord,
    name: str | None,
    *,
    squash: bool = False,
    format: str | None = None,
    timestamp: int | None = None,
    created_by: str | None = None,
    compression: str = "gzip",
    annotations: dict[str, str] | None = None,
    clamp_mtime: bool = True,
    base_comment: bool = True,
    history_entry: bool = True,
    hand_over: bool = False,
) -> ImageRecord:
    """Write the container ``record`` as a new image named ``name`` (none: an unnamed image).

    ``hand_over``: the caller drops the container after this commit (a build's step), so its
    changes may become the new layer's snapshot by a rename (:func:`_hand_over`), after which
    the container shows its base alone.

    Raises :class:`UsageError` for an unknown format or compression, zstd or annotations in
    a Docker image; :class:`StoreError` when the base image's blobs are gone.
    """
    if compression not in mt.COMPRESSIONS:
        raise UsageError(
            f"unknown compression {compression!r}: expected one of {', '.join(mt.COMPRESSIONS)}"
        )
    docker = _is_docker(record, format, annotations)
    if docker and compression == "zstd":
        raise UsageError("a Docker schema 2 image has no zstd layers: use --format oci or gzip")
    created = created_time(timestamp)

    with store.writing():
        store.layout.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="commit-", dir=store.layout.tmp_dir))
        try:
            return _commit(
                store,
                record,
                name,
                work,
                squash=squash,
                docker=docker,
                timestamp=timestamp,
                created=created,
                created_by=created_by,
                compression=compression,
                annotations=annotations,
                clamp=timestamp if clamp_mtime else None,
                entry=_EntryStyle(base_comment, history_entry),
                hand_over=hand_over,
            )
        finally:
            remove_tree(work)


def _commit(
    store: Store,
    record: ContainerRecord,
    name: str | None,
    work: Path,
    *,
    squash: bool,
    docker: bool,
    timestamp: int | None,
    created: str,
    created_by: str | None,
    compression: str,
    annotations: dict[str, str] | None,
    clamp: int | None,
    entry: _EntryStyle,
    hand_over: bool = False,
) -> ImageRecord:
    driver = driver_by_name(record.driver)
    cdir = store.layout.container_dir(record.id)
    snapshots = [store.snapshots.get(c) for c in record.layer_chain]
    base = _base_image(store, record)
    base_layers = [] if squash else _layers_of(store, base)

    layer_path = work / "layer"
    changes: GenerateResult | None = None
    if squash:
        digests: LayerDigests | None = _squashed_layer(
            store, driver, cdir, snapshots, base, work, layer_path, compression, clamp
        )
    else:
        digests, changes = _changes_layer(driver, cdir, snapshots, layer_path, compression, clamp)

    layer_type = (mt.docker_layer_type if docker else mt.oci_layer_type)(compression)
    layers = [_convert_layer(d, docker, i) for i, d in enumerate(base_layers)]
    if digests is not None:
        layer = Descriptor(layer_type, digests.digest, digests.size)
        store.blobs.adopt(layer_path, layer)
        layers.append(layer)

    config = _new_config(
        record,
        digests.diff_id if digests is not None else None,
        squash=squash,
        created=created,
        timestamp=timestamp,
        created_by=created_by,
        entry=entry,
    )
    sizes = {digests.digest: digests.uncompressed_size} if digests is not None else None
    image = _add_image(store, name, config, layers, docker, annotations, sizes)
    if hand_over and changes is not None and digests is not None:
        _hand_over(store, driver, cdir, snapshots, changes, digests, clamp)
    return image


def _hand_over(
    store: Store,
    driver: object,
    cdir: Path,
    snapshots: list[Snapshot],
    changes: GenerateResult,
    digests: LayerDigests,
    clamp: int | None,
) -> None:
    """Make the container's changes the new layer's snapshot, moved rather than applied again
    from the blob (what the next step's container needs first), when the driver can.

    The layer was written from those very files, every entry of them; a socket it left out
    would make the two differ, and then the snapshot is made from the blob when it is first
    needed, as for any image. The mtimes the layer clamped are clamped on the files first.
    """
    if not isinstance(driver, OverlayDriver) or changes.skipped:
        return
    tree = driver.movable_changes(cdir, snapshots)
    if tree is None:
        return
    if clamp is not None:
        _clamp_times(tree, changes, clamp)
    size = sum(e.size for e in changes.snapshot.entries.values() if stat.S_ISREG(e.mode))
    parent = snapshots[-1].chain_id if snapshots else None
    store.snapshots.adopt(tree, digests.diff_id, parent, size, digests.uncompressed_size)
    driver.renew_changes(cdir)


def _clamp_times(tree: Path, changes: GenerateResult, clamp: int) -> None:
    """Set the times of every entry the layer holds whose mtime it clamped to ``clamp``, as
    applying the layer sets them (atime and mtime); the rest keep theirs, which the layer
    holds to the second. Paths are resolved inside ``tree`` one directory handle at a time."""
    entries = changes.snapshot.entries
    late = [p for p in (*changes.added, *changes.modified) if entries[p].mtime_ns // 10**9 > clamp]
    if not late:
        return
    ns = clamp * 10**9
    handles = RootDir(tree)
    try:
        for rel in late:
            parent, name = split_parent(rel)
            pfd, _ = handles.open_dir(parent)
            os.utime(name, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
    finally:
        handles.close()


def _add_image(
    store: Store,
    name: str | None,
    config: ImageConfig,
    layers: list[Descriptor],
    docker: bool,
    annotations: dict[str, str] | None,
    unpacked_sizes: dict[Digest, int] | None = None,
) -> ImageRecord:
    """Store the config and a manifest naming it and ``layers``; the new image's record
    (``unpacked_sizes``: the uncompressed size of the layer the commit wrote)."""
    config_type = mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG
    config_desc = Descriptor(config_type, config.digest, len(config.raw))
    store.blobs.put_bytes(config.raw, config_desc)
    manifest = ImageManifest.build(
        mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
        config_desc,
        layers,
        annotations or None,
    )
    return store.images.add(
        manifest.raw, manifest.media_type, [name] if name else [], unpacked_sizes=unpacked_sizes
    )


def commit_with_layer(
    store: Store,
    record: ContainerRecord,
    name: str | None,
    layer: Descriptor,
    diff_id: Digest,
    *,
    format: str | None = None,
    timestamp: int | None = None,
    created_by: str | None = None,
    annotations: dict[str, str] | None = None,
    base_comment: bool = True,
) -> ImageRecord:
    """Like :func:`commit_container`, but the new layer is ``layer``, a blob the store already
    holds (made elsewhere: a build's linked ``COPY --link`` layer, reused on a new parent),
    not the container's changes: the container's files are never read.

    The config, history and manifest are made as :func:`commit_container` makes them (the
    base layers converted to ``format``; ``layer`` gets the format's media type for its
    compression). Raises :class:`StoreError` when the blob is not in the store.
    """

    docker = _is_docker(record, format, annotations)
    created = created_time(timestamp)
    with store.writing():
        if not store.blobs.has(layer.digest, layer.size):
            raise StoreError(f"layer {layer.digest} is not in the store: it cannot be reused")
        base_layers = _layers_of(store, _base_image(store, record))
        layers = [_convert_layer(d, docker, i) for i, d in enumerate(base_layers)]
        layers.append(_convert_layer(layer, docker, len(layers)))
        config = _new_config(
            record,
            diff_id,
            squash=False,
            created=created,
            timestamp=timestamp,
            created_by=created_by,
            entry=_EntryStyle(base_comment, True),
        )
        return _add_image(store, name, config, layers, docker, annotations)


def _layers_of(store: Store, image: ImageRecord | None) -> list[Descriptor]:
    """The layer descriptors of ``image`` (none for no image: a container from scratch)."""
    if image is None:
        return []
    return list(ImageManifest.parse(store.images.manifest(image)).layers)


def _is_docker(
    record: ContainerRecord, format: str | None, annotations: dict[str, str] | None
) -> bool:
    """Whether the image is written as Docker schema 2 (``format``, else the container's),
    refusing an unknown format and annotations a Docker image cannot hold."""
    fmt = mt.format_name(format or record.manifest_format)
    if fmt == "docker" and annotations:
        raise UsageError("a Docker schema 2 image has no annotations: use --format oci")
    return fmt == "docker"


def _base_image(store: Store, record: ContainerRecord) -> ImageRecord | None:
    if record.image_id is None:
        return None
    try:
        return store.images.get(record.image_id)
    except ImageNotFoundError:
        raise StoreError(
            f"the base image {record.image_id[:12]} of container {record.name} was removed; "
            "its layers cannot be written into a new image (remove the container)"
        ) from None


def _changes_layer(
    driver: Any,
    cdir: Path,
    snapshots: list[Snapshot],
    path: Path,
    compression: str,
    timestamp: int | None,
) -> tuple[LayerDigests | None, GenerateResult]:
    """The layer of every change since the container was made (None when nothing changed),
    and what the layer holds."""
    options = GenerateOptions(clamp_mtime=timestamp)
    digests, result = write_layer_file(
        path,
        compression,
        lambda out: driver.write_changes(cdir, snapshots, out, options),
    )
    return (None if result.empty else digests), result


def apply_image_layers(store: Store, image: ImageRecord, root: Path, options: ApplyOptions) -> None:
    """Apply the stored layers of ``image`` onto ``root``, bottom first, each verified
    against its diff_id as it streams."""
    for blob, diff_id in zip(image.layers, image.diff_ids, strict=True):
        with store.blobs.open(blob) as stream:
            reader = LayerReader(stream, None, diff_id)
            try:
                apply_layer(root, cast("IO[bytes]", reader), options)
            finally:
                reader.close()


def _squashed_layer(
    store: Store,
    driver: Any,
    cdir: Path,
    snapshots: list[Snapshot],
    base: ImageRecord | None,
    work: Path,
    path: Path,
    compression: str,
    timestamp: int | None,
) -> LayerDigests:
    """One layer of the whole merged tree: base layers and changes applied into ``work``.

    The tree is rebuilt from the verified base blobs and the uncompressed changes, whatever
    the driver, so both drivers (and root and rootless) give the same squashed layer.
    """
    changes = work / "changes.tar"
    options = GenerateOptions(clamp_mtime=None)
    with changes.open("wb") as out:
        driver.write_changes(cdir, snapshots, out, options)
    tree = work / "tree"
    ownership = OwnershipRecord()
    apply_options = ApplyOptions(ownership=ownership)
    if base is not None:
        apply_image_layers(store, base, tree, apply_options)
    with changes.open("rb") as stream:
        apply_layer(tree, stream, apply_options)
    tree_options = GenerateOptions(
        clamp_mtime=timestamp, ownership=ownership, rootless=apply_options.rootless
    )
    digests, _ = write_layer_file(
        path, compression, lambda out: tree_layer(tree, out, tree_options)
    )
    return digests


def _convert_layer(layer: Descriptor, docker: bool, index: int) -> Descriptor:
    """A base layer's descriptor with its media type in the target format."""
    compression = mt.layer_compression(layer.media_type)
    if compression is None:
        raise UsageError(
            f"base layer {index} has media type {layer.media_type!r}, which cannot be "
            "written into an image manifest"
        )
    foreign = mt.is_nondistributable(layer.media_type)
    if docker:
        if compression == "zstd":
            raise UsageError(
                f"base layer {index} is zstd-compressed, which a Docker schema 2 image cannot "
                "hold: commit with --format oci"
            )
        media_type = mt.docker_layer_type(compression, foreign)
    else:
        media_type = mt.oci_layer_type(compression, foreign)
    return layer.with_(media_type=media_type)


def _notes(record: ContainerRecord) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The container's pending history notes: the empty-layer ones, and the last layer note."""
    empty = [dict(n) for n in record.history if n.get("empty_layer")]
    layer_notes = [n for n in record.history if not n.get("empty_layer")]
    return empty, dict(layer_notes[-1]) if layer_notes else {}


@dataclass(frozen=True)
class _EntryStyle:
    """The new layer's history entry: with buildah's ``FROM <base>`` comment, or at all."""

    base_comment: bool = True
    added: bool = True


def _new_config(
    record: ContainerRecord,
    diff_id: Digest | None,
    *,
    squash: bool,
    created: str,
    timestamp: int | None,
    created_by: str | None,
    entry: _EntryStyle,
) -> ImageConfig:
    """The config of the new image (module docstring), key order of the base kept."""
    config = ImageConfig.from_data(record.config).with_changes(created=created)
    empty_notes, layer_note = _notes(record)
    if not entry.added:
        if diff_id is not None or squash or empty_notes or layer_note:
            raise UsageError("a commit without a history entry cannot add a layer or notes")
        return config
    comment = str(layer_note.get("comment", ""))
    if record.image_name and entry.base_comment:
        comment += f"FROM {record.image_name}"
    new = HistoryEntry(
        created=created,
        created_by=created_by or layer_note.get("created_by") or DEFAULT_CREATED_BY,
        author=config.author,
        comment=comment,
        empty_layer=diff_id is None,
    )
    if squash:
        assert diff_id is not None  # a squashed commit always writes its one layer
        return config.with_changes(diff_ids=[diff_id], history=[new])
    notes = [_empty_entry(note, created, timestamp) for note in empty_notes]
    return config.with_history_added([*notes, new], diff_id)


def _empty_entry(note: dict[str, Any], created: str, timestamp: int | None) -> HistoryEntry:
    """The history entry of an empty-layer note: its own ``created`` unless ``timestamp``
    makes every new entry's time the commit's."""
    noted = note.get("created")
    when = noted if timestamp is None and isinstance(noted, str) else created
    return HistoryEntry.from_dict({**note, "created": when, "empty_layer": True})


__all__ = ["DEFAULT_CREATED_BY", "apply_image_layers", "commit_container", "commit_with_layer"]
