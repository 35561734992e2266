"""The local store: blobs, image records and names, layer snapshots, working containers.

See ``docs/store.md`` for the on-disk layout, the locks and the crash-safety rules. Names are
re-exported lazily: importing the package loads none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "BlobStore",
    "ContainerRecord",
    "ContainerStore",
    "DiskUsage",
    "ImageRecord",
    "ImageStore",
    "PruneResult",
    "RootfsDriver",
    "Snapshot",
    "SnapshotStore",
    "Store",
    "StoreDestination",
    "StoreLayout",
    "StoreSource",
    "disk_usage",
    "file_lock",
    "normalize_name",
    "open_store",
    "prune",
    "pull",
    "push",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.store.blobs import BlobStore
    from boxwright.store.containers import ContainerRecord, ContainerStore
    from boxwright.store.gc import DiskUsage, PruneResult, disk_usage, prune
    from boxwright.store.images import ImageRecord, ImageStore
    from boxwright.store.layout import StoreLayout
    from boxwright.store.locking import file_lock
    from boxwright.store.names import normalize_name
    from boxwright.store.pullpush import pull, push
    from boxwright.store.rootfs import RootfsDriver
    from boxwright.store.snapshots import Snapshot, SnapshotStore
    from boxwright.store.store import Store, open_store
    from boxwright.store.transport import StoreDestination, StoreSource
