"""The local store: blobs, image records and names, layer snapshots, working containers.

See ``docs/store.md`` for the on-disk layout, the locks and the crash-safety rules. Names are
re-exported lazily: importing the package loads none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BlobStore": "boxwright.store.blobs",
    "ContainerRecord": "boxwright.store.containers",
    "ContainerStore": "boxwright.store.containers",
    "DiskUsage": "boxwright.store.gc",
    "ImageRecord": "boxwright.store.images",
    "ImageStore": "boxwright.store.images",
    "PruneResult": "boxwright.store.gc",
    "RootfsDriver": "boxwright.store.rootfs",
    "Snapshot": "boxwright.store.snapshots",
    "SnapshotStore": "boxwright.store.snapshots",
    "Store": "boxwright.store.store",
    "StoreDestination": "boxwright.store.transport",
    "StoreLayout": "boxwright.store.layout",
    "StoreSource": "boxwright.store.transport",
    "disk_usage": "boxwright.store.gc",
    "file_lock": "boxwright.store.locking",
    "normalize_name": "boxwright.store.names",
    "open_store": "boxwright.store.store",
    "prune": "boxwright.store.gc",
    "pull": "boxwright.store.pullpush",
    "push": "boxwright.store.pullpush",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from boxwright.store.blobs import BlobStore
    from boxwright.store.containers import ContainerRecord, ContainerStore
    from boxwright.store.gc import DiskUsage, PruneResult, disk_usage, prune
    from boxwright.store.images import ImageRecord, ImageStore
    from boxwright.store.layout import StoreLayout
    from boxwright.store.locking import file_lock
    from boxwright.store.names import normalize_name
    from boxwright.store.pullpush import pull, push
    from boxwright.store.snapshots import Snapshot, SnapshotStore
    from boxwright.store.store import Store, open_store
    from boxwright.store.transport import StoreDestination, StoreSource
