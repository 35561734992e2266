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
(each of them joins it when made: :func:`boxwright.rootless.namespace.ensure_store_namespace`),
so a process that only reads images and records never loads the namespace's machinery.

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
from boxwright.config.paths import store_root
from boxwright.errors import ImageNotFoundError
from boxwright.store.blobs import BlobStore
from boxwright.store.images import ImageStore
from boxwright.store.layout import StoreLayout
from boxwright.store.locking import file_lock
from boxwright.store.volumes import VolumeStore

if TYPE_CHECKING:
    from boxwright.store.containers import ContainerStore
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
        self.blobs = BlobStore(self.layout)
        self.images = ImageStore(self)
        self._snapshots: SnapshotStore | None = None
        self._containers: ContainerStore | None = None
        self._manifest_lists: ManifestListStore | None = None

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # Each part of the store is made on first use, in the store's user namespace where it
    # needs one: the properties look alike and each makes its own part.
    @property
    def snapshots(self) -> SnapshotStore:
        """The unpacked layer snapshots (:class:`~boxwright.store.snapshots.SnapshotStore`)."""
        if self._snapshots is None:
            from boxwright.store.snapshots import SnapshotStore  # the layer applier

            self._snapshots = SnapshotStore(self)
        return self._snapshots

    @property
    def containers(self) -> ContainerStore:
        """The working containers (:class:`~boxwright.store.containers.ContainerStore`)."""
        if self._containers is None:
            from boxwright.store.containers import ContainerStore

            self._containers = ContainerStore(self)
        return self._containers

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
        self.blobs.sync()


def open_store(root: Path | str | None = None) -> Store:
    """Open (creating it if needed) the store at ``root`` or the configured store root."""
    return Store(root)


__all__ = ["Store", "open_store"]
