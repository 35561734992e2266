"""Where everything of the local store lives under its root, and creating that skeleton.

The layout is the one described in ``docs/store.md``::

    R/boxwright-store      marker {"format": "boxwright-store", "version": 1}
    R/userns.json          the rootless mode the store was created in (root, ranges, single)
    R/lock                 flock target for metadata read-modify-write
    R/gc.lock              flock: writers shared, prune exclusive
    R/blobs/sha256/<hex>   content-addressed blobs
    R/images.json          image records
    R/signatures/ALG/HEX/  signature-N files of the manifest HEX
    R/referrers/ALG/HEX    the referrers index (an OCI index) of the manifest HEX
    R/snapshots/<hex>/     unpacked layers by chain ID
    R/containers.json      working container records
    R/containers/<id>/     a working container's files
    R/tmp/                 staging; garbage once no writer holds gc.lock

Paths are built only from validated :class:`~boxwright.oci.digest.Digest` objects and
container IDs of 64 hex digits, never from unchecked text.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from boxwright.errors import StoreError
from boxwright.oci.digest import Digest
from boxwright.transport.smallfile import atomic_write

MARKER_FORMAT: Final = "boxwright-store"
MARKER_VERSION: Final = 1
DIR_MODE: Final = 0o700
"""Every store directory is private to its owner, as podman's storage is."""

_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")

# FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (the kernel reads and writes an int) and FS_TOPDIR_FL.
_GETFLAGS: Final = 0x80086601
_SETFLAGS: Final = 0x40086602
_TOPDIR: Final = 0x00020000
_spread: set[str] = set()
_spread_lock = threading.Lock()


def spread_subtrees(directory: Path) -> None:
    """Ask the file system to place each directory made in ``directory`` apart from the rest.

    The store makes whole trees (a snapshot under ``R/tmp``, a container's upper directory
    under ``R/containers``) next to trees it has just deleted. ext4 places a new directory near
    its parent and a file in its directory's block group, and when it has no journal its inode
    allocator skips every inode freed in the last minutes (``recently_deleted``), re-reading
    its inode table block for each one on every create: a tree made where another was just
    removed pays that scan per file (most of a base snapshot's time on such a disk).
    ``FS_TOPDIR_FL`` ("top of directory hierarchies", ``chattr +T``) makes ext4 spread the
    directories made in ``directory`` over the block groups with the most free inodes and
    the fewest directories, as it does for the file system's root, so a new tree starts in
    a group of its own. The flag only steers allocation; it is not inherited. Other file
    systems refuse it or have no such allocator: nothing is changed then. Once per
    directory and process (one ``ioctl`` pair).
    """
    key = os.fspath(directory)
    with _spread_lock:
        if key in _spread:
            return
        _spread.add(key)
    try:
        fd = os.open(key, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        flags = bytearray(4)
        fcntl.ioctl(fd, _GETFLAGS, flags, True)
        value = int.from_bytes(flags, sys.byteorder)
        if not value & _TOPDIR:
            fcntl.ioctl(fd, _SETFLAGS, (value | _TOPDIR).to_bytes(4, sys.byteorder))
    except OSError:
        pass  # not ext2/3/4 (no such flag), or not the directory's owner
    finally:
        os.close(fd)


# One property per path of the store (docs/store.md draws the tree): alike in shape to each
# other and to containers-storage's and the run state's path properties, each naming another
# file; the builders from a digest each check it is a validated Digest.
@dataclass(frozen=True)
class StoreLayout:
    """The paths of one store rooted at ``root`` (nothing is created until :meth:`ensure`)."""

    root: Path

    @property
    def marker(self) -> Path:
        """The file saying "this directory is a boxwright store" (format and version)."""
        return self.root / "boxwright-store"

    @property
    def lock_file(self) -> Path:
        """Held exclusively while images.json or containers.json is read, changed, replaced."""
        return self.root / "lock"

    @property
    def gc_lock_file(self) -> Path:
        """Held shared by writers for a whole operation, exclusively by prune."""
        return self.root / "gc.lock"

    @property
    def blobs_dir(self) -> Path:
        """``R/blobs``: content-addressed blobs under ``ALG/HEX``."""
        return self.root / "blobs"

    def blob_path(self, digest: Digest) -> Path:
        """``R/blobs/ALG/HEX`` for a validated digest."""
        if not isinstance(digest, Digest):
            raise TypeError("blob paths are built only from validated Digest objects")
        return self.blobs_dir / digest.algorithm / digest.hex

    def signatures_dir(self, digest: Digest) -> Path:
        """``R/signatures/ALG/HEX``: the ``signature-N`` files of the manifest ``digest``."""
        if not isinstance(digest, Digest):
            raise TypeError("signature paths are built only from validated Digest objects")
        return self.root / "signatures" / digest.algorithm / digest.hex

    def referrers_file(self, digest: Digest) -> Path:
        """``R/referrers/ALG/HEX``: the referrers index of the manifest ``digest``."""
        if not isinstance(digest, Digest):
            raise TypeError("referrer paths are built only from validated Digest objects")
        return self.root / "referrers" / digest.algorithm / digest.hex

    @property
    def images_file(self) -> Path:
        """``R/images.json``: every image record."""
        return self.root / "images.json"

    @property
    def snapshots_dir(self) -> Path:
        """``R/snapshots``: one directory per layer chain ID."""
        return self.root / "snapshots"

    def snapshot_dir(self, chain_id: Digest) -> Path:
        """``R/snapshots/<chain hex>`` for a validated chain ID."""
        if not isinstance(chain_id, Digest):
            raise TypeError("snapshot paths are built only from validated Digest objects")
        return self.snapshots_dir / chain_id.hex

    @property
    def containers_file(self) -> Path:
        """``R/containers.json``: every working container record."""
        return self.root / "containers.json"

    @property
    def containers_dir(self) -> Path:
        """``R/containers``: one directory per working container."""
        return self.root / "containers"

    def container_dir(self, container_id: str) -> Path:
        """``R/containers/<id>`` for a container ID of 64 lowercase hex digits."""
        if not isinstance(container_id, str) or not _CONTAINER_ID.fullmatch(container_id):
            raise StoreError(f"invalid container ID {container_id!r}: expected 64 hex digits")
        return self.containers_dir / container_id

    @property
    def volumes_dir(self) -> Path:
        """``R/volumes``: named volumes, one directory each (``store/volumes.py``)."""
        return self.root / "volumes"

    @property
    def tmp_dir(self) -> Path:
        """``R/tmp``: staging for blobs and snapshot builds."""
        return self.root / "tmp"

    def exists(self) -> bool:
        """Whether a store was created here already (its marker file exists)."""
        return self.marker.is_file()

    def ensure(self) -> None:
        """Create the directories and the marker when missing; check the marker when present.

        Every directory is mode 0700. Safe to run concurrently: ``mkdir`` tolerates a racing
        creator and the marker is written atomically with the same content by every racer.
        """
        if not self.exists():
            self._refuse_foreign_directory()
        try:
            for path in (
                self.root,
                self.blobs_dir,
                self.snapshots_dir,
                self.containers_dir,
                self.tmp_dir,
            ):
                path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            if not self.marker.exists():
                self._record_mode()
                marker = {"format": MARKER_FORMAT, "version": MARKER_VERSION}
                atomic_write(self.marker, json.dumps(marker).encode() + b"\n", 0o600)
            for lock in (self.lock_file, self.gc_lock_file):
                if not lock.exists():
                    os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError as e:
            raise StoreError(
                f"cannot create the store at {self.root}: {e.strerror} "
                "(choose another root with --root or $BOXWRIGHT_ROOT)"
            ) from None
        self.check_marker()

    def _record_mode(self) -> None:
        """A new store remembers its rootless mode (``R/userns.json``; see
        :mod:`boxwright.rootless.namespace`), written before the marker makes it a store."""
        from boxwright.rootless.namespace import (
            RECORD_FILE,
            current_mode,
            write_store_mode,
        )

        if not (self.root / RECORD_FILE).exists():
            write_store_mode(self.root, current_mode(self.root))

    def _refuse_foreign_directory(self) -> None:
        """A store is never created over a directory that holds something else."""
        ours = {
            self.marker.name,
            self.lock_file.name,
            self.gc_lock_file.name,
            self.blobs_dir.name,
            self.images_file.name,
            self.snapshots_dir.name,
            self.containers_file.name,
            self.containers_dir.name,
            self.tmp_dir.name,
            "userns.json",
        }
        try:
            entries = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as e:
            raise StoreError(f"cannot read the store directory {self.root}: {e.strerror}") from None
        foreign = sorted(e for e in entries if e not in ours and not e.startswith(".tmp-"))
        if foreign:
            raise StoreError(
                f"{self.root} is not empty and is not a boxwright store (it holds "
                f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); choose an "
                "empty or new directory for --root or $BOXWRIGHT_ROOT"
            )

    def check_marker(self) -> None:
        """Refuse a root whose marker is not a boxwright store of a version this code reads."""
        try:
            data = json.loads(self.marker.read_bytes())
        except (OSError, ValueError) as e:
            raise StoreError(f"{self.marker} is unreadable or damaged: {e}") from None
        if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
            raise StoreError(f"{self.root} is not a boxwright store ({self.marker} says otherwise)")
        if data.get("version") != MARKER_VERSION:
            raise StoreError(
                f"{self.root} is a boxwright store of version {data.get('version')!r}; this "
                f"boxwright reads version {MARKER_VERSION}"
            )


__all__ = ["DIR_MODE", "MARKER_FORMAT", "MARKER_VERSION", "StoreLayout", "spread_subtrees"]
