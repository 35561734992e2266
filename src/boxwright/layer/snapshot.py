"""Snapshots: the metadata of every path under a root at one moment, for change detection.

``unpack`` takes a snapshot right after it applied the layers; ``repack`` compares the tree
with it and puts into the new layer exactly what changed (see :mod:`boxwright.layer.generate`).

The change rule (:meth:`SnapshotEntry.differs`): a path changed when its type, mode, uid, gid,
size, ``mtime_ns``, symlink target, ``rdev``, inode number or ``ctime_ns`` differ. The kernel
sets ``ctime`` on every write, chmod, chown, link, rename and xattr change, and no user can set
it back, so a file rewritten with the same size and its mtime restored by ``os.utime`` is still
seen; a path replaced by another file shows a new inode. Extended attributes are therefore not
stored: a ``setxattr``/``removexattr`` updates ``ctime`` too, and a changed path has its xattrs
read afresh when its tar entry is written. ``nlink`` and ``dev`` are recorded (hardlink
tracking and reports) but not compared: a link count change also moves ``ctime``.

Timestamps come from the kernel's coarse clock (one tick, a few milliseconds, on many kernels),
so a change made in the same tick as the last change before the snapshot could leave ``ctime``
equal. :meth:`Snapshot.take` therefore returns only once that clock has moved past the newest
``ctime`` it recorded (at most one tick of waiting, and only when the tree was just changed),
so every later change shows. The tree must not change while the snapshot is taken.

The tree is walked with directory file descriptors (``openat`` with ``O_NOFOLLOW``), so a
symlink swapped into the tree while it is walked is never followed out of the root.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from boxwright._atomic import replace_file
from boxwright.errors import LayerError, UnpackError
from boxwright.layer.pathsafe import DIR_FLAGS

#: Written into every saved snapshot; ``load`` refuses anything else.
FORMAT = "boxwright-snapshot"
VERSION = 1

#: The clock the kernel stamps inodes with (``CLOCK_REALTIME_COARSE`` is 5 on Linux).
_COARSE_CLOCK: int = getattr(time, "CLOCK_REALTIME_COARSE", 5)
_MAX_WAIT_NS = 50_000_000

#: What ``exclude`` may be: relative paths to leave out (with their subtrees), or a predicate
#: called with each relative path (``"a/b"``) that returns true to leave the path out.
Exclude = Callable[[str], bool] | Collection[str] | None


class SnapshotEntry(NamedTuple):
    """The metadata of one path (``lstat``; symlinks are never followed)."""

    mode: int  #: ``st_mode`` with the type bits
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int
    nlink: int
    rdev: int
    target: str | None  #: the symlink target, ``None`` for every other type

    @property
    def kind(self) -> int:
        """The file type bits (``stat.S_IFMT(mode)``)."""
        return stat.S_IFMT(self.mode)

    def is_dir(self) -> bool:
        """Whether this path is a directory."""
        return stat.S_ISDIR(self.mode)

    def differs(self, other: SnapshotEntry) -> bool:
        """Whether ``other`` (the same path, later) counts as changed (module docstring rule)."""
        return (
            self.mode != other.mode
            or self.ctime_ns != other.ctime_ns
            or self.mtime_ns != other.mtime_ns
            or self.size != other.size
            or self.ino != other.ino
            or self.uid != other.uid
            or self.gid != other.gid
            or self.rdev != other.rdev
            or self.target != other.target
        )


def entry_from_stat(st: os.stat_result, target: str | None) -> SnapshotEntry:
    """A :class:`SnapshotEntry` from an ``lstat`` result (and the link target of a symlink)."""
    return SnapshotEntry(
        st.st_mode,
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_dev,
        st.st_nlink,
        st.st_rdev,
        target,
    )


def exclude_predicate(exclude: Exclude) -> Callable[[str], bool] | None:
    """Turn an :data:`Exclude` value into a predicate on relative paths (or ``None``)."""
    if exclude is None:
        return None
    if callable(exclude):
        return exclude
    names = frozenset(p.strip("/") for p in exclude)
    if not names:
        return None
    return names.__contains__


@dataclass(frozen=True)
class Snapshot:
    """Metadata of every path under a root, keyed by relative path (``"etc/passwd"``).

    The root itself is not an entry: a layer never carries the root directory. Names that are
    not valid UTF-8 are kept as ``str`` with surrogate escapes (``os.fsdecode``).
    """

    entries: Mapping[str, SnapshotEntry] = field(default_factory=dict)

    @classmethod
    def take(cls, root: str | os.PathLike[str], exclude: Exclude = None) -> Snapshot:
        """Walk ``root`` (never following symlinks) and record every path under it.

        ``exclude`` leaves out paths (and, for directories, everything under them).
        Raises :class:`LayerError` when ``root`` is not a directory or cannot be read.
        """
        skip = exclude_predicate(exclude)
        entries: dict[str, SnapshotEntry] = {}
        latest = 0
        for rel, st, target in walk(root, skip):
            entries[rel] = entry_from_stat(st, target)
            if st.st_ctime_ns > latest:
                latest = st.st_ctime_ns
        _wait_past(latest)
        return cls(entries)

    def get(self, path: str) -> SnapshotEntry | None:
        """The entry for relative ``path``, or ``None`` when the path did not exist."""
        return self.entries.get(path)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, path: object) -> bool:
        return path in self.entries

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the snapshot to ``path`` atomically (temp name, fsync, rename) as compact JSON."""
        rows = [[name, *entry] for name, entry in sorted(self.entries.items())]
        doc = {"format": FORMAT, "version": VERSION, "entries": rows}
        data = json.dumps(doc, separators=(",", ":")).encode("ascii")
        try:
            replace_file(path, data, 0o600)
        except OSError as exc:
            raise UnpackError(f"cannot write snapshot {path}: {exc.strerror or exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Snapshot:
        """Read a snapshot written by :meth:`save`; raise :class:`UnpackError` if it is corrupt."""
        name = os.fspath(path)
        try:
            with open(name, "rb") as handle:
                doc = json.loads(handle.read())
        except FileNotFoundError as exc:
            raise UnpackError(f"snapshot {name} is missing: unpack the image again") from exc
        except OSError as exc:
            raise UnpackError(f"cannot read snapshot {name}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise UnpackError(f"snapshot {name} is corrupt (not JSON): {exc}") from exc
        return cls(_parse(doc, name))


def _parse(doc: Any, name: str) -> dict[str, SnapshotEntry]:
    """Validate a loaded snapshot document and build its entries."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UnpackError(f"snapshot {name} is corrupt: not a {FORMAT} file")
    if doc.get("version") != VERSION:
        raise UnpackError(
            f"snapshot {name} has version {doc.get('version')!r}; this boxwright reads {VERSION}"
        )
    rows = doc.get("entries")
    if not isinstance(rows, list):
        raise UnpackError(f"snapshot {name} is corrupt: 'entries' is not a list")
    entries: dict[str, SnapshotEntry] = {}
    for row in rows:
        if (
            not isinstance(row, list)
            or len(row) != 12
            or not isinstance(row[0], str)
            or not all(type(v) is int for v in row[1:11])
            or not (row[11] is None or isinstance(row[11], str))
        ):
            raise UnpackError(f"snapshot {name} is corrupt: bad entry {str(row)[:80]}")
        entries[row[0]] = SnapshotEntry(*row[1:])
    return entries


def walk(
    root: str | os.PathLike[str], skip: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, os.stat_result, str | None]]:
    """Yield ``(relative path, lstat result, symlink target)`` for every path under ``root``.

    Directories are opened relative to their parent's descriptor with ``O_NOFOLLOW``, so the
    walk stays inside ``root`` even if the tree changes under it. A parent is yielded before
    its children; siblings come in directory order (callers sort what they need sorted).
    """
    rootname = os.fspath(root)
    try:
        root_fd = os.open(rootname, DIR_FLAGS)
    except OSError as exc:
        raise LayerError(f"cannot read directory {rootname}: {exc.strerror or exc}") from exc
    # Each frame: (directory fd, its relative prefix, subdirectory names still to enter).
    stack: list[tuple[int, str, list[str]]] = []
    try:
        stack.append((root_fd, "", []))
        yield from _scan(root_fd, "", stack[-1][2], skip, rootname)
        while stack:
            fd, prefix, pending = stack[-1]
            if not pending:
                stack.pop()
                os.close(fd)
                continue
            name = pending.pop()
            rel = prefix + name
            try:
                child = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise LayerError(
                    f"cannot read directory {os.path.join(rootname, rel)}: {exc.strerror or exc}"
                ) from exc
            stack.append((child, rel + "/", []))
            yield from _scan(child, rel + "/", stack[-1][2], skip, rootname)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def _scan(
    fd: int,
    prefix: str,
    subdirs: list[str],
    skip: Callable[[str], bool] | None,
    rootname: str,
) -> Iterator[tuple[str, os.stat_result, str | None]]:
    """Yield the entries of one open directory; collect its subdirectories into ``subdirs``."""
    try:
        with os.scandir(fd) as it:
            for item in it:
                name = item.name
                rel = prefix + name
                if skip is not None and skip(rel):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                    mode = st.st_mode
                    target = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(mode) else None
                except FileNotFoundError:
                    # Removed between readdir and lstat: not part of this moment.
                    continue
                if stat.S_ISDIR(mode):
                    subdirs.append(name)
                yield rel, st, target
    except OSError as exc:
        path = os.path.join(rootname, prefix)
        raise LayerError(f"cannot read directory {path}: {exc.strerror or exc}") from exc


def _wait_past(ctime_ns: int) -> None:
    """Sleep until the clock file timestamps come from has passed ``ctime_ns`` (module doc)."""
    for _ in range(100):
        now = time.clock_gettime_ns(_COARSE_CLOCK)
        if now > ctime_ns or ctime_ns - now > _MAX_WAIT_NS:
            return  # passed already, or a timestamp from the future: waiting cannot help
        time.sleep(0.001)


__all__ = ["Exclude", "Snapshot", "SnapshotEntry", "entry_from_stat", "exclude_predicate", "walk"]
