"""The local store: one root directory holding blobs, image records, snapshots and containers.

:class:`Store` opens (and on first use creates) the store at ``root``, else at
:func:`boxwright.config.paths.store_root` (``$BOXWRIGHT_ROOT``, ``/var/lib/boxwright`` for
root, ``$XDG_DATA_HOME/boxwright`` otherwise). Opening repairs nothing because nothing needs
repair: every file is written atomically, so a store left by ``kill -9`` holds only complete
blobs and records plus garbage under ``R/tmp`` and unreferenced blobs, which
:func:`~boxwright.store.gc.prune` removes.

The snapshots and working containers of a rootless store in ranges mode are owned by the
user's subordinate IDs: they are used from inside the store's user namespace, which the first
use of :attr:`Store.snapshots` or :attr:`Store.containers` joins when the process has not
(:func:`boxwright.rootless.namespace.ensure_store_namespace`).

Two locks coordinate processes (see ``docs/store.md``): :meth:`Store.metadata_lock` around
every read-modify-write of ``images.json``/``containers.json``, and :meth:`Store.writing`
(shared) around every operation that stores blobs or snapshots before it records them, so
that prune (exclusive) never removes what a writer has stored but not yet recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright._closing import Closing
from boxwright.config.paths import is_rootless, store_root
from boxwright.errors import ImageNotFoundError
from boxwright.store.containerrecord import (
    ContainerRecord,
    find_container,
    read_container_records,
)
from boxwright.store.layout import StoreLayout
from boxwright.store.locking import file_lock

if TYPE_CHECKING:
    from boxwright.store.blobs import BlobStore
    from boxwright.store.containers import ContainerStore
    from boxwright.store.images import ImageStore
    from boxwright.store.manifests import ManifestListStore
    from boxwright.store.snapshots import SnapshotStore
    from boxwright.store.volumes import VolumeStore


class Store(Closing):
    """An open local store (see the module docstring)."""

    def __init__(self, root: Path | str | None = None, *, create: bool = True) -> None:
        """Open the store at ``root`` (default: the configured store root).

        With ``create`` false a missing store is not created:
        :class:`~boxwright.errors.ImageNotFoundError` says so (readers use this, so that
        looking for an image never creates a store as a side effect).
        """
        if root is None:
            root = store_root()
        self.root = Path(root).absolute()
        self.layout = StoreLayout(self.root)
        if create:
            self.layout.ensure()
        elif not self.layout.exists():
            raise ImageNotFoundError(
                f"there is no local store at {self.root} yet (it is created by the first "
                "pull, copy to store:, or commit)"
            )
        else:
            self.layout.check_marker()
        self._blobs: BlobStore | None = None
        self._images: ImageStore | None = None
        self._snapshots: SnapshotStore | None = None
        self._containers: ContainerStore | None = None
        self._manifest_lists: ManifestListStore | None = None

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # Each part of the store is made (and its module loaded) on first use, in the store's
    # user namespace where it needs one: a command that reads one container's record loads
    # none of the image machinery. The properties look alike and each makes its own part.
    @property
    def blobs(self) -> BlobStore:
        """The content-addressed blobs (:class:`~boxwright.store.blobs.BlobStore`)."""
        if self._blobs is None:
            from boxwright.store.blobs import BlobStore

            self._blobs = BlobStore(self.layout)
        return self._blobs

    @property
    def images(self) -> ImageStore:
        """The image records and names (:class:`~boxwright.store.images.ImageStore`)."""
        if self._images is None:
            from boxwright.store.images import ImageStore

            self._images = ImageStore(self)
        return self._images

    @property
    def snapshots(self) -> SnapshotStore:
        """The unpacked layer snapshots (:class:`~boxwright.store.snapshots.SnapshotStore`)."""
        if self._snapshots is None:
            from boxwright.store.snapshots import SnapshotStore

            _enter_namespace(self.root)
            self._snapshots = SnapshotStore(self)
        return self._snapshots

    @property
    def containers(self) -> ContainerStore:
        """The working containers (:class:`~boxwright.store.containers.ContainerStore`)."""
        if self._containers is None:
            from boxwright.store.containers import ContainerStore

            _enter_namespace(self.root)
            self._containers = ContainerStore(self)
        return self._containers

    def container_record(self, name_or_id: str) -> ContainerRecord:
        """The record of the working container ``name_or_id`` (name, ID or unique ID prefix),
        as ``containers.get`` finds it, without loading the container store: what a command
        that only looks a container up (``exec``, ``stop``, ``ps``) needs."""
        _enter_namespace(self.root)
        return find_container(read_container_records(self.layout.containers_file), name_or_id)

    @property
    def manifest_lists(self) -> ManifestListStore:
        """The manifest lists (:class:`~boxwright.store.manifests.ManifestListStore`)."""
        if self._manifest_lists is None:
            from boxwright.store.manifests import ManifestListStore

            self._manifest_lists = ManifestListStore(self)
        return self._manifest_lists

    @property
    def volumes(self) -> VolumeStore:
        """The named volumes (:class:`~boxwright.store.volumes.VolumeStore`)."""
        from boxwright.store.volumes import VolumeStore

        return VolumeStore(self.layout.volumes_dir)

    @contextlib.contextmanager
    def metadata_lock(self) -> Iterator[None]:
        """Hold ``R/lock`` exclusively: for one read-modify-write of a metadata file."""
        with file_lock(self.layout.lock_file):
            yield

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold ``R/gc.lock`` shared: for a whole operation that stores, then records."""
        with file_lock(self.layout.gc_lock_file, shared=True):
            yield

    def close(self) -> None:
        """Make the blobs written through this store durable; the store holds nothing open."""
        if self._blobs is not None:
            self._blobs.sync()


def _enter_namespace(root: Path) -> None:
    """Be in the store's user namespace (``ensure_store_namespace``); root on the host has
    none to join, and does not load the rootless machinery."""
    if not is_rootless():
        return
    from boxwright.rootless.namespace import ensure_store_namespace

    ensure_store_namespace(root)


def open_store(root: Path | str | None = None) -> Store:
    """Open (creating it if needed) the store at ``root`` or the configured store root."""
    return Store(root)


__all__ = ["Store", "open_store"]
