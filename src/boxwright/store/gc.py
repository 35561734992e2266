"""Reclaiming and reporting storage: ``prune`` and ``df``.

:func:`prune` holds the store's gc lock exclusively, so it runs only while no writer (a pull,
a commit, a container create) is between storing content and recording it; every such writer
holds the lock shared for its whole operation. Under that lock it removes:

* the signatures (``R/signatures``) and referrers lists (``R/referrers``) of manifests no
  image record has any more (an image ``rmi`` removed);
* blobs no image record references (manifest, config, layers) and no referrer of a stored
  image needs (:mod:`boxwright.store.referrers`);
* snapshots whose chain ID no image's layers and no working container's base layers use
  (each is first renamed into ``R/tmp``, so a half-deleted snapshot never looks complete);
* everything in ``R/tmp`` (staging left by killed processes);
* container directories no container record names (a ``container from`` killed before it
  recorded the container), unmounted first.

:func:`disk_usage` reports what the store holds and what prune would free, without a lock
(the figures are a snapshot of a moving store).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.errors import DigestError, StoreError
from boxwright.oci.config import chain_ids
from boxwright.oci.digest import Digest
from boxwright.store.containers import driver_of
from boxwright.store.locking import file_lock
from boxwright.store.referrers import referred_subjects, referrer_blobs
from boxwright.store.rootfs import driver_by_name

if TYPE_CHECKING:
    from boxwright.store.store import Store


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` removed: blob and snapshot counts, entries of ``R/tmp``, orphaned
    container directories, and bytes."""

    blobs: int
    snapshots: int
    bytes: int
    tmp: int
    containers: int = 0


@dataclass(frozen=True)
class DiskUsage:
    """What the store holds (counts and bytes on disk) and what prune would reclaim.

    ``images_bytes`` counts each blob of any image once; ``active_images`` are images a
    working container was made from; ``active_snapshots`` the snapshots an image or a
    container uses. ``blobs_reclaimable``, ``snapshots_reclaimable`` and ``tmp_bytes`` are
    what prune would free now, ``reclaimable`` their sum.
    """

    images: int
    active_images: int
    images_bytes: int
    blobs: int
    blobs_bytes: int
    blobs_reclaimable: int
    snapshots: int
    active_snapshots: int
    snapshots_bytes: int
    snapshots_reclaimable: int
    containers: int
    containers_bytes: int
    tmp_bytes: int
    reclaimable: int


def _tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (hard links counted once; symlinks not followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    try:
        st = path.lstat()
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(os.path.join(dirpath, name))
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
    return total


def _remove_tree(path: Path) -> None:
    """Remove a file or a tree, even one with directories its owner made read-only."""

    def retry(function: object, failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        with contextlib.suppress(OSError):
            os.chmod(parent, 0o700)
        with contextlib.suppress(OSError):
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
                shutil.rmtree(failed, onerror=retry)
            else:
                os.unlink(failed)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=retry)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _used_chains(store: Store) -> set[str]:
    """Hex chain IDs of every image's layers and every container's base layers."""
    used = {c.hex for r in store.images.list() for c in chain_ids(r.diff_ids)}
    if store.layout.containers_file.exists():
        for container in store.containers.list():
            for chain in container.layer_chain:
                used.add(str(chain).removeprefix("sha256:"))
    return used


def _snapshot_names(store: Store) -> list[str]:
    try:
        return sorted(n for n in os.listdir(store.layout.snapshots_dir) if not n.startswith("."))
    except FileNotFoundError:
        return []


def _referenced_blobs(store: Store) -> set[Digest]:
    """The blobs of every image record and manifest list, and of the referrers of every
    stored image's manifest."""
    records = store.images.list()
    referenced = {d for r in records for d in r.digests}
    for record in records:
        referenced |= referrer_blobs(store, record.manifest)
    return referenced | {d for r in store.manifest_lists.list() for d in r.digests}


def _unreferenced_blobs(store: Store) -> list[Digest]:
    referenced = _referenced_blobs(store)
    return [d for d in store.blobs.iter_digests() if d not in referenced]


def _remove_orphan_attachments(store: Store) -> None:
    """Remove the signatures and referrers lists of manifests no image record or manifest
    list has (nor a referrer of a stored image: an artifact may have referrers and
    signatures too)."""
    manifests = {r.manifest for r in store.images.list()}
    manifests |= {d for r in store.manifest_lists.list() for d in r.digests}  # instances
    for manifest in list(manifests):
        manifests |= referrer_blobs(store, manifest)
    layout = store.layout
    for subject in list(referred_subjects(store)):
        if subject not in manifests:
            with contextlib.suppress(FileNotFoundError):
                layout.referrers_file(subject).unlink()
    top = layout.root / "signatures"
    for algorithm in sorted(top.iterdir()) if top.is_dir() else []:
        for entry in sorted(algorithm.iterdir()):
            try:
                digest = Digest.parse(f"{algorithm.name}:{entry.name}")
            except DigestError:
                continue
            if digest not in manifests:
                _remove_tree(layout.signatures_dir(digest))


def prune(store: Store) -> PruneResult:
    """Remove what nothing references (see the module docstring); say what went."""
    layout = store.layout
    with file_lock(layout.gc_lock_file):
        freed = 0
        blobs = 0
        _remove_orphan_attachments(store)
        for digest in _unreferenced_blobs(store):
            freed += store.blobs.delete(digest)
            blobs += 1
        used = _used_chains(store)
        snapshots = 0
        for name in _snapshot_names(store):
            if name in used:
                continue
            source = layout.snapshots_dir / name
            doomed = layout.tmp_dir / f".prune-{name}-{os.getpid()}"
            try:
                os.replace(source, doomed)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise StoreError(f"cannot remove the snapshot {source}: {e.strerror}") from None
            snapshots += 1
            freed += _tree_bytes(doomed)
        tmp = 0
        try:
            entries = sorted(os.listdir(layout.tmp_dir))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            path = layout.tmp_dir / entry
            if not entry.startswith(".prune-"):
                tmp += 1
                freed += _tree_bytes(path)
            _remove_tree(path)
        orphans, orphan_bytes = _remove_orphan_containers(store)
    return PruneResult(
        blobs=blobs, snapshots=snapshots, bytes=freed + orphan_bytes, tmp=tmp, containers=orphans
    )


def _remove_orphan_containers(store: Store) -> tuple[int, int]:
    """Remove container directories without a record; their count and bytes."""
    try:
        entries = sorted(os.listdir(store.layout.containers_dir))
    except FileNotFoundError:
        return 0, 0
    known = (
        {c.id for c in store.containers.list()} if store.layout.containers_file.exists() else set()
    )
    removed = freed = 0
    for entry in entries:
        if entry in known:
            continue
        cdir = store.layout.containers_dir / entry
        name = driver_of(cdir, "copy")
        driver = driver_by_name(name if name in ("overlay", "copy") else "copy")
        with contextlib.suppress(OSError, StoreError):
            driver.umount(cdir)
        freed += _tree_bytes(cdir)
        driver.remove(cdir)
        removed += 1
    return removed, freed


def disk_usage(store: Store) -> DiskUsage:
    """Counts and sizes of what the store holds, and the bytes prune would reclaim now."""
    layout = store.layout
    records = store.images.list()
    containers = store.containers.list() if layout.containers_file.exists() else []
    active = {c.image_id for c in containers if c.image_id}
    referenced = _referenced_blobs(store)
    blob_sizes: dict[Digest, int] = {}
    for digest in store.blobs.iter_digests():
        with contextlib.suppress(StoreError, DigestError, OSError):
            blob_sizes[digest] = store.blobs.path(digest).stat().st_size
    used = _used_chains(store)
    snapshot_sizes = {n: _tree_bytes(layout.snapshots_dir / n) for n in _snapshot_names(store)}
    tmp_bytes = _tree_bytes(layout.tmp_dir)
    container_bytes = 0
    for container in containers:
        with contextlib.suppress(StoreError):
            container_bytes += _tree_bytes(layout.container_dir(container.id))
    blobs_reclaimable = sum(size for d, size in blob_sizes.items() if d not in referenced)
    snapshots_reclaimable = sum(size for n, size in snapshot_sizes.items() if n not in used)
    return DiskUsage(
        images=len(records),
        active_images=len(active.intersection(r.id for r in records)),
        images_bytes=sum(size for d, size in blob_sizes.items() if d in referenced),
        blobs=len(blob_sizes),
        blobs_bytes=sum(blob_sizes.values()),
        blobs_reclaimable=blobs_reclaimable,
        snapshots=len(snapshot_sizes),
        active_snapshots=len(used.intersection(snapshot_sizes)),
        snapshots_bytes=sum(snapshot_sizes.values()),
        snapshots_reclaimable=snapshots_reclaimable,
        containers=len(containers),
        containers_bytes=container_bytes,
        tmp_bytes=tmp_bytes,
        reclaimable=blobs_reclaimable + snapshots_reclaimable + tmp_bytes,
    )


__all__ = ["DiskUsage", "PruneResult", "disk_usage", "prune"]
