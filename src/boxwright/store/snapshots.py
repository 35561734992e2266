"""Layer snapshots: each layer of the store unpacked once, keyed by its chain ID.

A snapshot is one layer alone, applied in overlay format into ``R/snapshots/<chain-hex>/diff``
(whiteouts as 0/0 character devices, opaque directories marked with the xattr
``user.overlay.opaque="y"``), so that a stack of snapshot diffs is directly the lower
directories of an overlay mount, and every image and container above the same layers shares
them. Beside the diff: ``info.json`` (chain ID, diff_id, parent chain ID, bytes of file
content, bytes of the layer's tar) and, when the layer holds what an unprivileged user cannot
write (other owners, devices, refused xattrs),
``ownership.json``, the rootless side record of :mod:`boxwright.layer.ownership`.

The chain ID is the OCI image spec's: ``ChainID(L0) = DiffID(L0)`` and
``ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))``, so a snapshot names its whole
stack below it, not just its own content.

A snapshot is built under ``R/tmp/`` and renamed into place: a snapshot directory that exists
is complete and is never modified afterwards. Two processes building the same snapshot at once
both succeed: one rename wins, the loser deletes its copy and uses the winner's. The layer is
read from the blob store through a verifying reader and its diff_id checked at the end of the
stream, before the rename; a worker thread reads, inflates and hashes it ahead of the applier
(:class:`~boxwright.layer.streams.LayerReader` ``threaded``), so the two run on two cores;
that applying half lives in :mod:`boxwright.store.snapshotapply`, loaded only when a snapshot
is missing (a run of a stored image opens this store and applies nothing).
The one other way in is :meth:`SnapshotStore.adopt`: a layer a build has
just committed from an overlay container, whose upper directory already holds exactly that
layer's files in this format, becomes its snapshot by a rename, under the same rules (built
under ``R/tmp``, flushed, renamed into place).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright.errors import BoxwrightError, LayerError, StoreError
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import remove_tree
from boxwright.oci.config import chain_ids
from boxwright.oci.digest import Digest
from boxwright.store.layout import spread_subtrees

if TYPE_CHECKING:
    from boxwright.store.images import ImageRecord
    from boxwright.store.store import Store

DIFF = "diff"
INFO = "info.json"
OWNERSHIP = "ownership.json"


@dataclass(frozen=True)
class Snapshot:
    """One applied layer: where its diff lives, what it is, and its rootless side record."""

    chain_id: Digest
    diff_id: Digest
    path: Path  #: the snapshot directory ``R/snapshots/<chain-hex>``
    diff: Path  #: the layer alone, in overlay format
    ownership: OwnershipRecord | None  #: what the diff's files could not hold (rootless)
    parent: Digest | None = None  #: the chain ID of the snapshot below, None for a base layer
    size: int = 0  #: bytes of file content in the diff
    tar_size: int | None = None  #: bytes of the layer's uncompressed tar (None: not recorded)


_Snapshots = list[Snapshot]


class SnapshotStore:
    """The snapshots of one store (``store.snapshots``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._layout = store.layout

    # -- reading --------------------------------------------------------------------------------

    def get(self, chain_id: Digest | str) -> Snapshot:
        """The complete snapshot ``chain_id``; :class:`StoreError` when it does not exist."""
        digest = chain_id if isinstance(chain_id, Digest) else Digest.parse(chain_id)
        path = self._layout.snapshot_dir(digest)
        try:
            raw = (path / INFO).read_bytes()
        except FileNotFoundError:
            raise StoreError(
                f"snapshot {digest} is not in the store at {self._store.root}: the image it "
                "belongs to was removed and pruned; pull or build the image again"
            ) from None
        return self._read(path, raw)

    def list(self) -> _Snapshots:
        """Every complete snapshot of the store, in chain ID order."""
        out: _Snapshots = []
        try:
            names = sorted(os.listdir(self._layout.snapshots_dir))
        except FileNotFoundError:
            return out
        for name in names:
            path = self._layout.snapshots_dir / name
            try:
                raw = (path / INFO).read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                continue  # not a snapshot (being removed)
            out.append(self._read(path, raw))
        return out

    def has(self, chain_id: Digest) -> bool:
        """Whether the snapshot ``chain_id`` exists (and so is complete)."""
        return (self._layout.snapshot_dir(chain_id) / INFO).is_file()

    def _read(self, path: Path, raw: bytes) -> Snapshot:
        try:
            info = json.loads(raw)
            chain = Digest.parse(info["chain_id"])
            diff_id = Digest.parse(info["diff_id"])
            parent = Digest.parse(info["parent"]) if info.get("parent") else None
            size = int(info.get("size", 0))
            tar_size = int(info["tar_size"]) if info.get("tar_size") is not None else None
        except (ValueError, KeyError, TypeError, BoxwrightError) as exc:
            raise StoreError(
                f"snapshot {path} has a corrupt {INFO} ({exc}); remove the directory and "
                "create the container again"
            ) from exc
        record_path = path / OWNERSHIP
        ownership = OwnershipRecord.load(record_path) if record_path.is_file() else None
        return Snapshot(chain, diff_id, path, path / DIFF, ownership, parent, size, tar_size)

    # -- writing --------------------------------------------------------------------------------

    def ensure(self, record: ImageRecord) -> _Snapshots:
        """The snapshots of every layer of ``record``, bottom first, applying the missing ones.

        Each missing layer is applied once, from its verified blob, on top of nothing (a
        snapshot holds its layer alone). Raises :class:`LayerError` or a digest error when a
        blob does not match the image record, leaving no snapshot behind.
        """
        if len(record.layers) != len(record.diff_ids):
            raise StoreError(
                f"image {record.id[:12]} has {len(record.layers)} layers but "
                f"{len(record.diff_ids)} diff_ids; remove it and pull it again"
            )
        out: _Snapshots = []
        with self._store.writing():
            chains = chain_ids(record.diff_ids)
            parent: Digest | None = None
            for blob, diff_id, chain in zip(record.layers, record.diff_ids, chains, strict=True):
                path = self._layout.snapshot_dir(chain)
                if not (path / INFO).is_file():
                    self._build(blob, diff_id, chain, parent, out)
                out.append(self.get(chain))
                parent = chain
        return out

    def _build(
        self,
        blob: Digest,
        diff_id: Digest,
        chain: Digest,
        parent: Digest | None,
        below: _Snapshots,
    ) -> None:
        """Apply layer ``blob`` into a fresh directory under R/tmp and rename it into place.

        ``below`` (bottom first) are the snapshots under it: an implicit parent directory
        takes their metadata and a hardlink to one of their files copies the file up, as an
        overlay mount would.
        """
        from boxwright.store.snapshotapply import apply_blob  # only a missing snapshot

        tmp_root = self._layout.tmp_dir
        tmp_root.mkdir(parents=True, exist_ok=True)
        spread_subtrees(tmp_root)
        work = Path(tempfile.mkdtemp(prefix=f"snapshot-{chain.hex[:12]}-", dir=tmp_root))
        try:
            ownership = OwnershipRecord(work / OWNERSHIP)
            lowers = [(snap.diff, snap.ownership) for snap in reversed(below)]
            with self._store.blobs.open(blob) as stream:
                size, tar_size = apply_blob(stream, diff_id, work / DIFF, lowers, ownership)
            if len(ownership):
                ownership.save()
            self._publish(work, chain, diff_id, parent, size, tar_size)
        except BaseException:
            remove_tree(work)
            raise

    def adopt(
        self,
        tree: Path,
        diff_id: Digest,
        parent: Digest | None,
        size: int,
        tar_size: int | None = None,
    ) -> bool:
        """Make ``tree`` the snapshot of layer ``diff_id`` over ``parent`` by renaming it.

        ``tree`` is a directory in the snapshot format (an overlay upper directory of a
        container on ``parent``'s snapshots) from which the layer ``diff_id`` was just
        written, so it holds that layer's files already: they are moved, never copied or
        applied from the blob again (containerd's snapshotter commits an active snapshot the
        same way). ``size``: bytes of file content; ``tar_size``: bytes of the layer's tar.
        ``tree`` must be on the store's file system and is consumed in every case:
        when the snapshot exists already (another process made it first) it is deleted.
        Returns whether ``tree`` became the snapshot. The caller holds ``Store.writing()``.
        """
        chain = chain_ids([parent, diff_id])[-1] if parent is not None else diff_id
        if self.has(chain):
            remove_tree(tree)
            return False
        tmp_root = self._layout.tmp_dir
        work = Path(tempfile.mkdtemp(prefix=f"snapshot-{chain.hex[:12]}-", dir=tmp_root))
        try:
            os.rename(tree, work / DIFF)
            return self._publish(work, chain, diff_id, parent, size, tar_size)
        except BaseException:
            remove_tree(work)
            raise

    def _publish(
        self,
        work: Path,
        chain: Digest,
        diff_id: Digest,
        parent: Digest | None,
        size: int,
        tar_size: int | None,
    ) -> bool:
        """Record the snapshot built in ``work`` (its info file), make it durable and rename
        it into place; False (and ``work`` gone) when another process renamed the same
        snapshot first."""
        info: dict[str, Any] = {
            "chain_id": str(chain),
            "diff_id": str(diff_id),
            "parent": str(parent) if parent is not None else None,
            "size": size,
            "tar_size": tar_size,
        }
        (work / INFO).write_text(json.dumps(info, sort_keys=True))
        _syncfs(work)
        final = self._layout.snapshot_dir(chain)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(work, final)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            remove_tree(work)
            return False
        return True

    def remove(self, chain_id: Digest | str) -> None:
        """Delete snapshot ``chain_id`` (nothing happens if it does not exist).

        The directory is first renamed into R/tmp, so a reader never sees half a snapshot.
        The caller makes sure nothing uses it (``prune`` does, under the exclusive gc lock).
        """
        digest = chain_id if isinstance(chain_id, Digest) else Digest.parse(chain_id)
        path = self._layout.snapshot_dir(digest)
        self._layout.tmp_dir.mkdir(parents=True, exist_ok=True)
        doomed = Path(tempfile.mkdtemp(prefix="removed-snapshot-", dir=self._layout.tmp_dir))
        try:
            os.rename(path, doomed / "snapshot")
        except FileNotFoundError:
            os.rmdir(doomed)
            return
        except OSError as exc:
            os.rmdir(doomed)
            raise LayerError(f"cannot remove snapshot {path}: {exc.strerror or exc}") from exc
        remove_tree(doomed)


def _syncfs(path: Path) -> None:
    """Flush the file system holding ``path`` (one call for the many files a layer wrote)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Snapshot", "SnapshotStore"]
