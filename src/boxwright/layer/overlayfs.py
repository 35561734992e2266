"""The on-disk overlay format: whiteout nodes, opaque markers, and lookups through lower dirs.

A store snapshot holds one layer alone in the format the kernel's overlayfs reads with the
``userxattr`` mount option (so the same directories serve root and rootless mounts):

* a deleted path is a character device ``0:0`` (a *whiteout node*);
* a directory whose lower content is hidden carries the xattr ``user.overlay.opaque="y"``.

:class:`LowerView` resolves paths through a stack of such directories (top first) with the
kernel's rules, without mounting anything: a whiteout hides the path below it, an opaque or
non-directory entry ends the merge of its directory. Every lookup goes one component at a
time through directories known to be real directories in that layer, so a symlink inside a
snapshot is never followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

#: The opaque marker (``userxattr`` form) and its value.
OPAQUE_XATTR = "user.overlay.opaque"
OPAQUE_VALUE = b"y"
#: Prefix of the attributes overlayfs keeps for itself (never carried into a layer).
OVERLAY_XATTR_PREFIX = "user.overlay."
#: The errors with which a filesystem (or an unprivileged caller) refuses an xattr: skipped.
XATTR_REFUSED = frozenset(
    {errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL}
)


def is_whiteout(st: os.stat_result) -> bool:
    """Whether ``st`` (an ``lstat`` result) is an overlay whiteout node (char device 0:0)."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | os.PathLike[str] | int) -> bool:
    """Whether the directory at ``path`` (or open fd) carries the opaque marker."""
    try:
        if isinstance(path, int):
            value = os.getxattr(path, OPAQUE_XATTR)
        else:
            value = os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT):
            return False
        raise
    return value == OPAQUE_VALUE


def set_xattr(target: int | str, attr: str, value: bytes) -> OSError | None:
    """Set ``attr`` on ``target`` (an fd, or a path whose last part is not followed); the
    error when the kernel or the filesystem refuses it (:data:`XATTR_REFUSED`), else None."""
    try:
        if isinstance(target, int):
            os.setxattr(target, attr, value)
        else:
            os.setxattr(target, attr, value, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in XATTR_REFUSED:
            raise
        return exc
    return None


def copy_xattrs(source: str, target: int | str) -> None:
    """Copy the xattrs of ``source`` (not followed) to ``target`` (an fd, or a path whose last
    part is not followed), leaving out overlay's own and those the target refuses
    (:data:`XATTR_REFUSED`): what a copy-up or a merge into a plain tree carries along."""
    try:
        names = os.listxattr(source, follow_symlinks=False)
    except OSError:
        return
    for attr in names:
        if attr.startswith(OVERLAY_XATTR_PREFIX):
            continue
        try:
            value = os.getxattr(source, attr, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in XATTR_REFUSED:
                raise
            continue
        set_xattr(target, attr, value)


def _split(rel: str) -> tuple[str, str]:
    head, _, base = rel.rpartition("/")
    return head, base


class LowerView:
    """The merged view of overlay-format directories ``lowers`` (top first), read lazily.

    Results are cached: the directories must not change while the view is used (snapshot
    diffs never change once complete).
    """

    def __init__(self, lowers: Sequence[Path | str]) -> None:
        self.lowers = [os.fspath(p) for p in lowers]
        self._dirs: dict[str, list[int]] = {"": list(range(len(self.lowers)))}

    def _lstat(self, index: int, rel: str) -> os.stat_result | None:
        try:
            return os.lstat(os.path.join(self.lowers[index], rel))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def dir_layers(self, rel: str) -> list[int]:
        """The layers (top first) whose directory ``rel`` is part of the merged directory."""
        found = self._dirs.get(rel)
        if found is not None:
            return found
        parent, _ = _split(rel)
        layers: list[int] = []
        for index in self.dir_layers(parent):
            st = self._lstat(index, rel)
            if st is None:
                continue
            if is_whiteout(st) or not stat.S_ISDIR(st.st_mode):
                break
            layers.append(index)
            if is_opaque(os.path.join(self.lowers[index], rel)):
                break
        self._dirs[rel] = layers
        return layers

    def lookup(self, rel: str) -> tuple[int, os.stat_result] | None:
        """The topmost layer holding ``rel`` and its ``lstat``, or None when it is not there."""
        if not rel:
            return None
        parent, _ = _split(rel)
        for index in self.dir_layers(parent):
            st = self._lstat(index, rel)
            if st is None:
                continue
            if is_whiteout(st):
                return None
            return index, st
        return None

    def path(self, rel: str) -> Path | None:
        """The real path of ``rel`` in the topmost layer holding it, or None."""
        found = self.lookup(rel)
        return None if found is None else Path(self.lowers[found[0]], rel)

    def children(self, rel: str) -> list[str]:
        """The names in the merged directory ``rel`` (empty when it is not a directory)."""
        names: set[str] = set()
        hidden: set[str] = set()
        for index in self.dir_layers(rel):
            directory = os.path.join(self.lowers[index], rel)
            with os.scandir(directory) as entries:
                for item in entries:
                    name = item.name
                    if name in names or name in hidden:
                        continue
                    st = item.stat(follow_symlinks=False)
                    (hidden if is_whiteout(st) else names).add(name)
        return sorted(names)


__all__ = [
    "OPAQUE_VALUE",
    "OPAQUE_XATTR",
    "OVERLAY_XATTR_PREFIX",
    "XATTR_REFUSED",
    "LowerView",
    "copy_xattrs",
    "is_opaque",
    "is_whiteout",
    "set_xattr",
]
